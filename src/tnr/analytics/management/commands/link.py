"""``tnr link``: record linkage of an organisation's incidents, or of files, from the command line.

    tnr link --organisation orga                       # a stored run, as from the staff page
    tnr link --exchange sim/ORGA.json sim/ORGB.json    # simulator or `tnr export` JSON files
    tnr link --csv records.csv [--kind persons]        # one record per row (docs/linkage.md)
    tnr link --print-config > settings.json            # the default settings, to edit
    tnr link --csv records.csv --config settings.json --output out/ --truth truth.csv

Files are linked in memory and nothing is stored; ``--output`` writes pairs.csv,
clusters.csv, settings.json (as used) and model.json (trained parameters, reusable with
``--model``). ``--truth`` (record id → true id; the simulator's truth/links.csv works as it
is) prints pairwise precision and recall of the clusters.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tnr.methods import linkage
from tnr.methods.linkage_settings import (
    BACKENDS,
    KINDS,
    LinkageSettings,
    SettingsError,
    default_settings,
)


class Command(BaseCommand):
    help = (
        "Find the records that describe the same incident (or person) across lists: for an "
        "organisation's incidents (stored as a run, reviewable in the staff zone) or for files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--organisation", "-o", metavar="SLUG", help="link this organisation's incidents and store the run")
        source.add_argument("--csv", type=Path, metavar="FILE", help="a CSV file, one record per row")
        source.add_argument("--exchange", type=Path, nargs="+", metavar="FILE", help="exchange-format JSON files (tnr simulate, tnr export)")
        parser.add_argument("--kind", choices=KINDS, default="incidents", help="what the records are (files only; default incidents)")
        parser.add_argument("--config", type=Path, metavar="FILE", help="linkage settings as JSON (see --print-config)")
        parser.add_argument("--print-config", action="store_true", help="print the default settings of --kind as JSON and stop")
        parser.add_argument("--model", type=Path, metavar="FILE", help="a trained model.json from an earlier --output: score without training")
        parser.add_argument("--backend", choices=BACKENDS, default="duckdb")
        parser.add_argument("--spark-master", default="local[2]", help="Spark master URL for --backend spark (default local[2])")
        parser.add_argument("--match-threshold", type=float, help="link pairs at or above this probability")
        parser.add_argument("--review-threshold", type=float, help="pairs from here to the match threshold are uncertain")
        parser.add_argument("--output", type=Path, metavar="DIR", help="write pairs.csv, clusters.csv, settings.json, model.json here")
        parser.add_argument("--truth", type=Path, metavar="FILE", help="CSV of record id → true id, to measure precision and recall")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["verbosity"] < 2:
            logging.getLogger("splink").setLevel(logging.WARNING)
        settings = self._settings(options)
        if options["print_config"]:
            self.stdout.write(settings.to_json())
            return
        if not (options["organisation"] or options["csv"] or options["exchange"]):
            raise CommandError("give --organisation, --csv or --exchange (or --print-config)")
        spark = None
        if options["backend"] == "spark":
            try:
                spark = linkage.spark_session(options["spark_master"])
            except ImportError:
                raise CommandError("--backend spark needs pyspark (pip install 'tnr-observatory[spark]') and Java 17+") from None
        if options["organisation"]:
            self._organisation(options, settings, spark)
        else:
            self._files(options, settings, spark)

    # --- settings -------------------------------------------------------------------------------

    def _settings(self, options: dict[str, Any]) -> LinkageSettings:
        try:
            if options["config"]:
                try:
                    text = options["config"].read_text(encoding="utf-8")
                except OSError as error:
                    raise CommandError(f"{options['config']}: cannot be read ({error.strerror})") from None
                settings = LinkageSettings.from_json(text)
            else:
                settings = default_settings("incidents" if options["organisation"] else options["kind"])
            changes = {}
            if options["match_threshold"] is not None:
                changes["match_threshold"] = options["match_threshold"]
            if options["review_threshold"] is not None:
                changes["review_threshold"] = options["review_threshold"]
            return replace(settings, **changes) if changes else settings
        except SettingsError as error:
            where = f"{options['config']}: " if options["config"] else ""
            raise CommandError(f"{where}{error}") from None

    # --- an organisation ----------------------------------------------------------------------

    def _organisation(self, options: dict[str, Any], settings: LinkageSettings, spark: Any) -> None:
        from tnr.analytics.actions import run_linkage
        from tnr.exchange.management.commands._common import get_organisation

        if settings.kind != "incidents":
            raise CommandError("an organisation's runs link incidents: use settings of kind 'incidents'")
        if options["model"]:
            raise CommandError("--model applies to files; an organisation's run trains on its own incidents")
        organisation = get_organisation(options["organisation"])
        run = run_linkage(organisation, settings=settings, backend=options["backend"], spark=spark, via="cli")
        summary = {
            "run": str(run.uid), "organisation": organisation.slug, "status": run.status, "error": run.error,
            "records": run.n_records, "pairs": run.n_pairs, "uncertain": run.n_uncertain,
            "clusters": run.n_clusters, "decisions_applied": run.n_decisions, "seconds": round(run.seconds, 2),
        }  # fmt: skip
        if options["output"]:
            self._write_run(options["output"], run)
        self._report(summary, options)
        if run.status != "done":
            raise CommandError(f"the run failed: {run.error}")

    def _write_run(self, folder: Path, run: Any) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "pairs.csv", "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["left", "right", "match_probability", "match_weight"])
            for left, right, p, w in run.pairs.order_by("-probability").values_list("left__uid", "right__uid", "probability", "match_weight"):
                writer.writerow([left, right, p, w])
        with open(folder / "clusters.csv", "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["incident", "cluster"])
            for uid, cluster in run.members.order_by("cluster", "incident_id").values_list("incident__uid", "cluster"):
                writer.writerow([uid, cluster])
        (folder / "settings.json").write_text(json.dumps(run.settings, indent=2), encoding="utf-8")
        (folder / "model.json").write_text(json.dumps(run.model, indent=2), encoding="utf-8")

    # --- files --------------------------------------------------------------------------------

    def _frame(self, options: dict[str, Any], kind: str) -> Any:
        try:
            if options["csv"]:
                return linkage.read_frame_csv(options["csv"], kind)
            from tnr.methods.simulate import Dataset

            incidents: list[dict[str, Any]] = []
            persons: list[dict[str, Any]] = []
            for path in options["exchange"]:
                try:
                    document = json.loads(path.read_text(encoding="utf-8"))
                    dataset = Dataset.from_exchange(document)
                except OSError as error:
                    raise CommandError(f"{path}: cannot be read ({error.strerror})") from None
                except (ValueError, KeyError) as error:
                    raise CommandError(f"{path}: not an exchange-format JSON file ({error})") from None
                list_name = str(document.get("organisation") or path.stem)
                incidents += [i | {"sources": [{"organisation": list_name}]} for i in dataset.incidents]
                persons += [p | {"source_dataset": list_name} for p in dataset.persons]
            if kind == "persons":
                return linkage.person_frame(persons, incidents)
            return linkage.incident_frame(incidents, persons)
        except linkage.FrameError as error:
            raise CommandError(str(error)) from None

    def _files(self, options: dict[str, Any], settings: LinkageSettings, spark: Any) -> None:
        frame = self._frame(options, settings.kind)
        model = None
        if options["model"]:
            try:
                model = json.loads(options["model"].read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise CommandError(f"{options['model']}: not a readable model file ({error})") from None
        try:
            result = linkage.link(frame, settings, backend=options["backend"], spark=spark, model=model)
        except (linkage.FrameError, SettingsError) as error:
            raise CommandError(str(error)) from None
        summary: dict[str, Any] = {
            "records": result.n_records, "lists": int(frame["source_dataset"].nunique()),
            "pairs": len(result.pairs), "uncertain": len(result.uncertain()), "clusters": result.n_clusters,
            "match_threshold": result.settings.match_threshold, "review_threshold": result.settings.review_threshold,
            "backend": result.backend, "seconds": round(result.seconds, 2),
        }  # fmt: skip
        if options["truth"]:
            truth = self._truth(options["truth"])
            scores = linkage.pairwise_scores(result.clusters, truth)
            summary |= {f"pairwise_{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in scores.items()}
        if options["output"]:
            folder: Path = options["output"]
            folder.mkdir(parents=True, exist_ok=True)
            result.pairs.to_csv(folder / "pairs.csv", index=False)
            result.clusters.to_csv(folder / "clusters.csv", index=False)
            (folder / "settings.json").write_text(result.settings.to_json(), encoding="utf-8")
            (folder / "model.json").write_text(json.dumps(result.model, indent=2), encoding="utf-8")
        self._report(summary, options)

    def _truth(self, path: Path) -> dict[str, str]:
        """record id → true id, from a two-column CSV or the simulator's links.csv."""
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                columns = reader.fieldnames or []
                if {"record_id", "true_incident_id"} <= set(columns):
                    key, value = "record_id", "true_incident_id"
                elif {"record_id", "true_id"} <= set(columns):
                    key, value = "record_id", "true_id"
                else:
                    raise CommandError(f"{path}: needs the columns record_id and true_id (or true_incident_id), got {columns}")
                return {row[key]: row[value] for row in reader}
        except OSError as error:
            raise CommandError(f"{path}: cannot be read ({error.strerror})") from None

    def _report(self, summary: dict[str, Any], options: dict[str, Any]) -> None:
        if options["format"] == "json":
            self.stdout.write(json.dumps(summary, indent=2))
            return
        for key, value in summary.items():
            if value not in ("", None):
                self.stdout.write(f"{key.replace('_', ' '):<22} {value}")
