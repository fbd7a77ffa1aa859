"""``tnr reports purge``: delete reports past their retention period (run it daily, e.g. from
cron or a systemd timer); ``tnr reports status``: counts per organisation and status."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count

from tnr.reporting import actions
from tnr.reporting.models import Report


class Command(BaseCommand):
    help = "Retention and counts of sealed reports."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        purge = sub.add_parser("purge", help="delete reports past retention and those the reporter asked to delete")
        purge.add_argument("--dry-run", action="store_true", help="only say how many would be deleted")
        sub.add_parser("status", help="reports per organisation and status")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "purge":
            if options["dry_run"]:
                self.stdout.write(f"{len(actions.expired_reports())} report(s) would be deleted")
                return
            self.stdout.write(f"{actions.purge()} report(s) deleted")
            return
        rows = Report.objects.values("organisation__name", "status").annotate(n=Count("id")).order_by(
            "organisation__name", "status"
        )
        for row in rows:
            self.stdout.write(f"{row['organisation__name']:<40} {row['status']:<10} {row['n']:>6}")
