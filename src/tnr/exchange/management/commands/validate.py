from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.exchange.importer import validate_file
from tnr.exchange.management.commands._common import DATA_COMMAND_CHECKS, progress_bar


class Command(BaseCommand):
    help = "Check an exchange file (CSV, XLSX or JSON; or any file with --mapping) without importing it."
    requires_system_checks = DATA_COMMAND_CHECKS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--mapping", type=Path, help="crosswalk mapping file for an outside dataset")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument(
            "--list-flagged", action="store_true",
            help="with --mapping: list every row the mapping leaves out, with its reason",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        bar, progress = progress_bar(path, options["quiet"])
        report = validate_file(path, mapping=options["mapping"], progress=progress)
        if bar:
            bar.close()
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(report.summary())
        if options["list_flagged"]:
            for line, flags in report.flag_details:
                self.stdout.write(f"row {line}: {'; '.join(flags)}")
