from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.accounts.models import Organisation
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.exchange import export
from tnr.exchange.management.commands._common import DATA_COMMAND_CHECKS, get_organisation
from tnr.records.models import Incident


class Command(BaseCommand):
    help = "Export an organisation's incidents as JSON, flat CSV or a Frictionless Data Package."
    requires_system_checks = DATA_COMMAND_CHECKS

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["json", "csv", "datapackage"], default="json")
        parser.add_argument("--organisation", "-o", required=True, help="slug of the organisation")
        parser.add_argument(
            "--output", type=Path,
            help="file (json, csv; default: standard output) or folder (datapackage, required)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = get_organisation(options["organisation"])
        incidents = Incident.objects.filter(organisation=organisation)
        fmt, output = options["format"], options["output"]
        if fmt == "datapackage":
            if output is None:
                raise CommandError("--output FOLDER is required for a data package")
            path = export.write_datapackage(incidents, output, title=f"{organisation.name}: TNR incidents")
            self._record(organisation, fmt, {"incidents": incidents.count()})
            self.stderr.write(f"wrote {path}")
            return
        out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            if fmt == "json":
                counts = export.write_json(incidents, out, organisation=organisation.name)
                message = f"{counts['incidents']:,} incidents"
            else:
                counts = {"rows": export.write_flat_csv(incidents, out)}
                message = f"{counts['rows']:,} rows"
        finally:
            if output:
                out.close()
        self._record(organisation, fmt, counts)
        self.stderr.write(f"exported {message}" + (f" to {output}" if output else ""))

    def _record(self, organisation: Organisation, fmt: str, counts: dict[str, int]) -> None:
        """One audit entry per export, with its counts (after success: a failed export
        raised before this; a failure to record fails the command loudly)."""
        audit.record(
            None, AuditAction.EXPORT, organisation=organisation, object_type="records.incident",
            summary="Exported from the command line", data={"counts": counts, "format": fmt, "via": "cli"},
        )
