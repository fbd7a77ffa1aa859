from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.exchange.importer import ImportFailed, import_file
from tnr.exchange.management.commands._common import (
    DATA_COMMAND_CHECKS,
    get_organisation,
    progress_bar,
)


class Command(BaseCommand):
    help = "Import an exchange file into an organisation, all or nothing."
    requires_system_checks = DATA_COMMAND_CHECKS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--organisation", "-o", required=True, help="slug of the receiving organisation")
        parser.add_argument("--mapping", type=Path, help="crosswalk mapping file for an outside dataset")
        parser.add_argument("--synthetic", action="store_true", help="mark the incidents as synthetic demo data")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        organisation = get_organisation(options["organisation"])
        bar, progress = progress_bar(path, options["quiet"])
        try:
            # The import and its audit entry commit together, or neither does.
            with transaction.atomic():
                report = import_file(
                    path, organisation, mapping=options["mapping"],
                    synthetic=True if options["synthetic"] else None, progress=progress,
                )
                audit.record(
                    None, AuditAction.CREATE, organisation=organisation, object_type="records.incident",
                    summary="Imported from the command line",
                    data={"counts": report.counts, "rows": report.rows, "via": "cli"},
                )
        except ImportFailed as exc:
            raise CommandError(exc.report.summary()) from None
        finally:
            if bar:
                bar.close()
        self.stdout.write(report.summary())
