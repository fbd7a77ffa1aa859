from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tnr.exchange import schema


class Command(BaseCommand):
    help = "Print or write the exchange JSON Schema and the data package table schemas."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output-dir", type=Path, help="write exchange.schema.json and <table>.schema.json here")

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path | None = options["output_dir"]
        if folder is None:
            self.stdout.write(json.dumps(schema.json_schema(), indent=2))
            return
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "exchange.schema.json").write_text(json.dumps(schema.json_schema(), indent=2) + "\n")
        for name, _r, _p in schema.TABLES:
            (folder / f"{name}.schema.json").write_text(json.dumps(schema.table_schema(name), indent=2) + "\n")
        self.stdout.write(f"wrote schemas to {folder}")
