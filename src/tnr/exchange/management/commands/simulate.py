from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.exchange.flatten import write_flat
from tnr.methods.simulate import SimulationConfig, simulate


class Command(BaseCommand):
    help = (
        "Generate synthetic TNR incidents as documented by several simulated organisations, "
        "calibrated to Freedom House figures. Writes one exchange file per organisation, the "
        "hidden ground truth apart (truth.json, links.csv) and the capture-history table."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--incidents", "-n", type=int, default=1219, help="true incidents (default 1,219)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--years", default="2014-2024", help="inclusive range, e.g. 2014-2024")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--output", "-O", type=Path, required=True, help="folder to write into")
        parser.add_argument(
            "--merged", action="store_true",
            help="also write all organisations' records as one file (merged.json / merged.csv)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            first, last = (int(y) for y in options["years"].split("-"))
            config = SimulationConfig(seed=options["seed"], n_incidents=options["incidents"], years=(first, last))
        except ValueError as exc:
            raise CommandError(f"bad simulation settings: {exc}") from None
        result = simulate(config)
        folder: Path = options["output"]
        folder.mkdir(parents=True, exist_ok=True)
        fmt = options["format"]
        datasets = dict(result.documented)
        if options["merged"]:
            datasets["merged"] = result.merged()
        for code, dataset in datasets.items():
            path = folder / f"{code}.{fmt}"
            with open(path, "w", encoding="utf-8", newline="") as out:
                if fmt == "json":
                    json.dump(dataset.to_exchange(code), out, ensure_ascii=False)
                else:
                    write_flat(out, dataset.incidents, dataset.persons, dataset.actors)
            self.stdout.write(f"{path}: {len(dataset.incidents):,} incidents (synthetic)")
        truth = folder / "truth"
        truth.mkdir(exist_ok=True)
        with open(truth / "truth.json", "w", encoding="utf-8") as out:
            json.dump(result.truth.to_exchange("truth"), out, ensure_ascii=False)
        with open(truth / "links.csv", "w", encoding="utf-8", newline="") as out:
            w = csv.writer(out)
            w.writerow(["organisation", "record_id", "true_incident_id"])
            for (org, rid), tid in sorted(result.links.items()):
                w.writerow([org, rid, tid])
        with open(truth / "capture_histories.csv", "w", encoding="utf-8", newline="") as out:
            w = csv.writer(out)
            w.writerow([*result.organisations, "count"])
            for history, count in result.capture_histories():
                w.writerow([*history, count])
        self.stdout.write(
            f"truth: {len(result.truth.incidents):,} true incidents, {result.n_undocumented:,} documented by nobody "
            f"(kept apart in {truth})"
        )
