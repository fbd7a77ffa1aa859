"""``tnr estimate TABLE.csv``: multiple systems estimation from a capture-history table.

A thin adapter over :mod:`tnr.methods.mse`: it reads the table, runs the estimate and prints it
as text or JSON. Every problem with the table or the estimate becomes a ``CommandError``, so
the command prints the message on stderr and exits non-zero instead of printing a number.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.methods.mse import CRITERIA, SEARCHES, CaptureTable, MSEError, estimate


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 (1 = main effects only)")
    return value


class Command(BaseCommand):
    # Reads a file and computes; it touches neither the database nor the URLs, so Django's
    # system checks (which import every view) would only delay the first line of output.
    requires_system_checks: list[str] = []
    help = (
        "Estimate the total number of cases, recorded or not, from a capture-history table "
        "(one 0/1 column per list, then 'count'; one row per history) by multiple systems "
        "estimation with Poisson log-linear models."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("table", type=Path, help="CSV: one 0/1 column per list, then 'count'")
        parser.add_argument("--criterion", choices=CRITERIA, default="bic", help="model selection criterion (default bic)")
        parser.add_argument(
            "--max-order", type=_positive, default=None, metavar="N",
            help="highest interaction order (default: 1 for 2 lists, 2 for 3, 3 for 4-5, 2 beyond)",
        )
        parser.add_argument("--search", choices=SEARCHES, default="exhaustive", help="model search (default exhaustive)")
        parser.add_argument(
            "--bootstrap", type=_non_negative, default=1000, metavar="N",
            help="bootstrap replicates for the interval, re-selecting the model in each (default 1000; 0 = none)",
        )
        parser.add_argument("--seed", type=_non_negative, default=None, metavar="S", help="random seed for the bootstrap (default: drawn and reported)")
        parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["table"]
        try:
            table = CaptureTable.from_csv(path)
            result = estimate(
                table,
                criterion=options["criterion"],
                max_order=options["max_order"],
                search=options["search"],
                bootstrap=options["bootstrap"],
                seed=options["seed"],
            )
        except MSEError as exc:
            raise CommandError(str(exc)) from None
        if options["format"] == "json":
            self.stdout.write(result.to_json())
        else:
            self.stdout.write(result.to_text())
