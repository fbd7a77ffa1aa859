"""``tnr docs``: write docs/data-model.md from the model, the choice sets and the vocabularies."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.core.datadocs import DOC_PATH, generate


def default_output() -> Path:
    return Path(settings.PROJECT_DIR) / "docs" / "data-model.md"


class Command(BaseCommand):
    help = (
        f"Generate {DOC_PATH} (every field, code and crosswalk of the data model) from the "
        "exchange specs, the models and the vocabulary files. With --check, only say whether "
        "the file is up to date (exit status 1 when it is not)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="do not write; fail if the file differs from what would be generated",
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help=f"file to write or check (default: {DOC_PATH} in the project folder)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["output"] or default_output()
        text = generate()
        shown = _shown(path)
        if options["check"]:
            try:
                current = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CommandError(
                    f"{shown} does not exist: run `tnr docs` to generate it"
                ) from None
            if current != text:
                diff = list(
                    difflib.unified_diff(
                        current.splitlines(),
                        text.splitlines(),
                        "committed",
                        "generated",
                        n=0,
                        lineterm="",
                    )
                )
                excerpt = "\n".join(diff[:20]) + ("\n..." if len(diff) > 20 else "")
                raise CommandError(
                    f"{shown} is out of date: run `tnr docs` to regenerate it.\n{excerpt}"
                )
            self.stdout.write(f"{shown} is up to date.")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            self.stdout.write(f"{shown} is already up to date.")
            return
        with path.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        self.stdout.write(f"Wrote {shown} ({len(text.splitlines()):,} lines).")


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(settings.PROJECT_DIR).resolve()))
    except ValueError:
        return str(path)
