"""``tnr directory import FILE`` / ``export [--output FILE]`` / ``seed``: the directory from the shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.cases import actions
from tnr.exchange.importer import ImportFailed
from tnr.exchange.readers import FileProblem


class Command(BaseCommand):
    help = "Import, export or seed the protection mechanisms directory."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{import,export,seed}")
        imp = sub.add_parser("import", help="import a directory CSV file, all or nothing")
        imp.add_argument("file", type=Path)
        exp = sub.add_parser("export", help="export every entry (active or not) as CSV")
        exp.add_argument("--output", type=Path, help="file to write (default: standard output)")
        seed = sub.add_parser("seed", help="add the starter list of well-known public organisations")
        seed.add_argument("--file", type=Path, default=actions.SEED_FILE, help="seed YAML file")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "import":
            self._import(options["file"])
        elif action == "export":
            self._export(options["output"])
        else:
            self._seed(options["file"])

    def _import(self, path: Path) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            report = actions.import_mechanisms(path, display_name=str(path), via="cli_import")
        except ImportFailed as exc:
            raise CommandError(exc.report.summary()) from None
        self.stdout.write(report.summary())

    def _export(self, output: Path | None) -> None:
        out = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
        try:
            n = actions.export_mechanisms(out, via="cli")
        finally:
            if output:
                out.close()
        self.stderr.write(f"exported {n:,} entr{'y' if n == 1 else 'ies'}" + (f" to {output}" if output else ""))

    def _seed(self, path: Path) -> None:
        try:
            report = actions.seed_mechanisms(path)
        except ImportFailed as exc:
            raise CommandError(exc.report.summary()) from None
        except (OSError, FileProblem) as exc:
            raise CommandError(f"{path}: {exc}") from None
        self.stdout.write(report.summary())
        self.stdout.write(
            "Seed entries are written from general knowledge and are marked unverified: "
            "check each with its provider and record the date in 'last verified'."
        )
