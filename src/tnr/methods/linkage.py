"""Record linkage and deduplication of TNR records across organisations, on Splink.

Several organisations document the same incident (or the same person) in their own lists,
with their own ids, typos, shifted or coarsened dates and missing fields. This module finds
those records, without labels: Splink's Fellegi-Sunter model with u probabilities from random
pairs and m probabilities by expectation maximisation (see ``linkage_settings``), then match
probabilities for the pairs that blocking admits, then clusters.

    frame = incident_frame(incidents, persons)            # exchange-format dicts → a frame
    result = link(frame)                                   # DuckDB, default settings
    result.pairs                                           # pairs ≥ review threshold, with probabilities
    result.clusters                                        # unique_id → cluster_id
    result.uncertain()                                     # pairs for a caseworker to review
    link(frame, decisions=[Decision(a, b, same=False)])    # caseworkers' decisions override the model
    link(frame, backend="spark", spark=session)            # the same settings on Spark

A trained model (``LinkageResult.model``: the prior and each level's m and u) is plain JSON,
independent of the backend: ``link(frame, model=result.model)`` scores without training again,
on DuckDB or on Spark.

This module never imports Django: the Django app (``tnr.analytics``) adapts its querysets to
the frames here. Spark is optional (``pyspark``); DuckDB is the default.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import logging
import math
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tnr.methods.linkage_settings import (
    BACKENDS,
    ComparisonSpec,
    LinkageSettings,
    SettingsError,
    default_settings,
)

__all__ = [
    "INCIDENT_COLUMNS",
    "PERSON_COLUMNS",
    "TACTIC_FAMILIES",
    "ComparisonSpec",
    "Decision",
    "FrameError",
    "LinkageResult",
    "LinkageSettings",
    "SettingsError",
    "cluster_pairs",
    "date_interval",
    "default_settings",
    "incident_frame",
    "link",
    "pairwise_scores",
    "person_frame",
    "read_frame_csv",
    "truth_pairs",
]

logger = logging.getLogger(__name__)
EPOCH = dt.date(1970, 1, 1)
#: Days per blocking window of ``date_bucket``: about a month.
BUCKET_DAYS = 30
PRECISIONS = ("day", "month", "year")

# Tactic families of the taxonomy (DESIGN §4): a confused tactic usually stays in its family.
TACTIC_FAMILIES: Mapping[str, str] = {
    **dict.fromkeys(("killing", "abduction_rendition", "assault", "intimidation_surveillance"), "direct"),
    **dict.fromkeys(("detention_on_request", "unlawful_deportation", "legal_process_abuse"), "co_opted_host"),
    **dict.fromkeys(("document_denial", "citizenship_travel_ban"), "mobility"),
    "coercion_by_proxy": "proxy",
    **dict.fromkeys(("spyware_account_compromise", "online_threats_smear", "monitoring_infiltration"), "digital"),
    "asset_financial_measures": "economic",
}

# Columns of the frames, with their types: "str", "int" or "list" (of strings). ``unique_id``
# must be unique across the whole frame; ``source_dataset`` names the list a record comes
# from (the documenting organisation).
_DATE_COLUMNS = {"date_lo": "int", "date_hi": "int", "date_precision": "str", "date_bucket": "int", "year": "int"}
INCIDENT_COLUMNS: Mapping[str, str] = {
    "unique_id": "str", "source_dataset": "str", **_DATE_COLUMNS,
    "country": "str", "city": "str", "location_type": "str", "origin_state": "str", "host_state": "str",
    "host_state_role": "str", "tactic": "str", "tactics": "list", "tactic_family": "str",
    "target_categories": "list", "n_targets": "int",
}  # fmt: skip
PERSON_COLUMNS: Mapping[str, str] = {
    "unique_id": "str", "source_dataset": "str", "full_name": "str", "birth_year": "int",
    "document_id": "str", "address": "str", "sex": "str",
    "age_group": "str", "nationality": "list", "host_status": "str", "categories": "list",
    "origin_state": "str", "host_state": "str", "country": "str", "city": "str", **_DATE_COLUMNS,
}  # fmt: skip
_COLUMNS = {"incidents": INCIDENT_COLUMNS, "persons": PERSON_COLUMNS}
#: Values that mean "not recorded": compared as missing, never as agreeing.
UNKNOWN = frozenset({"", "unknown"})


class FrameError(ValueError):
    """Input records that cannot be linked; the message names the record and the field."""


# --- frames ---------------------------------------------------------------------------------


def date_interval(value: str | dt.date | None, precision: str | None) -> tuple[int, int] | None:
    """The days (since 1970-01-01) a date known to ``precision`` may fall on, first and last.

    ``("2019-03-01", "month")`` → every day of March 2019; ``"year"`` → the whole year.
    """
    if value is None or value == "":
        return None
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    precision = precision or "day"
    if precision == "day":
        first = last = day
    elif precision == "month":
        first = day.replace(day=1)
        last = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    elif precision == "year":
        first, last = dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    else:
        raise ValueError(f"date precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return (first - EPOCH).days, (last - EPOCH).days


def _text(value: Any) -> str | None:
    """A code or name for comparison: trimmed, lower case, accents dropped; None if unknown."""
    if value is None:
        return None
    text = " ".join(str(value).split()).casefold()
    if text in UNKNOWN:
        return None
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)) or None


def _code(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return None if text.casefold() in UNKNOWN else text


def _codes(values: Iterable[Any] | None) -> list[str] | None:
    out = sorted({c for c in (_code(v) for v in values or ()) if c is not None})
    return out or None  # an empty list is "not recorded", compared as missing


def _date_fields(value: Any, precision: Any, where: str) -> dict[str, Any]:
    try:
        interval = date_interval(value, precision)
    except ValueError as error:
        raise FrameError(f"{where}: {error}") from None
    if interval is None:
        return dict.fromkeys(_DATE_COLUMNS)
    lo, hi = interval
    return {"date_lo": lo, "date_hi": hi, "date_precision": precision or "day", "date_bucket": lo // BUCKET_DAYS,
            "year": (EPOCH + dt.timedelta(days=lo)).year}  # fmt: skip


def _main_tactic(tactics: Sequence[str], order: Mapping[str, int]) -> str | None:
    known = [t for t in tactics if t]
    if not known:
        return None
    return min(known, key=lambda t: order.get(t, len(order)))


_TACTIC_ORDER = {t: i for i, t in enumerate(TACTIC_FAMILIES)}  # precedence order of the taxonomy


def incident_frame(
    incidents: Iterable[Mapping[str, Any]],
    persons: Iterable[Mapping[str, Any]] = (),
    *,
    source: str | None = None,
) -> pd.DataFrame:
    """One row per incident, in the columns of ``INCIDENT_COLUMNS``, from exchange-format
    incident dicts (``tnr.methods.simulate``, ``tnr export``; the Django adapter builds the
    same shape).

    ``unique_id`` is the incident's ``id``; ``source_dataset`` is ``source`` if given, else the
    documenting organisation of the incident's first source. ``persons`` (exchange-format
    person dicts) give the targets' categories.
    """
    categories = {p["id"]: p.get("categories") or () for p in persons}
    rows = []
    for n, incident in enumerate(incidents, start=1):
        where = f"incident {incident.get('id') or f'#{n}'}"
        uid = incident.get("id")
        if not uid:
            raise FrameError(f"incident #{n}: no id")
        list_name = source
        if list_name is None:
            sources = incident.get("sources") or ()
            list_name = next((s.get("organisation") for s in sources if s.get("organisation")), None)
        if not list_name:
            raise FrameError(f"{where}: no documenting organisation (give a source)")
        acts = incident.get("acts") or ()
        primaries = [a.get("primary_tactic") for a in acts if a.get("primary_tactic")]
        every = [*primaries, *(t for a in acts for t in a.get("secondary_tactics") or ())]
        main = _main_tactic(primaries, _TACTIC_ORDER)
        targets = [a.get("target") for a in acts if a.get("target")]
        row = {
            "unique_id": str(uid),
            "source_dataset": str(list_name),
            **_date_fields(incident.get("start_date"), incident.get("date_precision"), where),
            "country": _code(incident.get("location_country")),
            "city": _text(incident.get("city")),
            "location_type": _code(incident.get("location_type")),
            "origin_state": _code(incident.get("origin_state")),
            "host_state": _code(incident.get("host_state")),
            "host_state_role": _code(incident.get("host_state_role")),
            "tactic": main,
            "tactics": _codes(every),
            "tactic_family": TACTIC_FAMILIES.get(main, main) if main else None,
            "target_categories": _codes(c for t in targets for c in categories.get(t, ())),
            "n_targets": len(acts) or None,
        }
        rows.append(row)
    return _typed(pd.DataFrame.from_records(rows, columns=list(INCIDENT_COLUMNS)), INCIDENT_COLUMNS)


def person_frame(
    persons: Iterable[Mapping[str, Any]],
    incidents: Iterable[Mapping[str, Any]] = (),
    *,
    source: str | None = None,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per person, in the columns of ``PERSON_COLUMNS``, from exchange-format person
    dicts and the incidents that name them as targets (their first incident gives the
    context: states, place and date). ``names`` maps a person id to a name when the caller
    holds one (names are sealed in the database and never part of an export)."""
    first: dict[str, Mapping[str, Any]] = {}
    for incident in incidents:
        for act in incident.get("acts") or ():
            target = act.get("target")
            if target and (target not in first or str(incident.get("start_date")) < str(first[target].get("start_date"))):
                first[target] = incident
    rows = []
    for n, person in enumerate(persons, start=1):
        pid = person.get("id")
        if not pid:
            raise FrameError(f"person #{n}: no id")
        where = f"person {pid}"
        incident = first.get(pid, {})
        list_name = source or person.get("source_dataset") or next(
            (s.get("organisation") for s in incident.get("sources") or () if s.get("organisation")), None
        )
        if not list_name:
            raise FrameError(f"{where}: no documenting organisation (give a source)")
        rows.append({
            "unique_id": str(pid),
            "source_dataset": str(list_name),
            "full_name": _text((names or {}).get(pid)),
            "birth_year": None, "document_id": None, "address": None,
            "sex": _code(person.get("sex")),
            "age_group": _code(person.get("age_group")),
            "nationality": _codes(person.get("nationality")),
            "host_status": _code(person.get("host_status")),
            "categories": _codes(person.get("categories")),
            "origin_state": _code(incident.get("origin_state")),
            "host_state": _code(incident.get("host_state")),
            "country": _code(incident.get("location_country")),
            "city": _text(incident.get("city")),
            **_date_fields(incident.get("start_date"), incident.get("date_precision"), where),
        })
    frame = pd.DataFrame.from_records(rows, columns=list(PERSON_COLUMNS))
    if names is None:
        frame = frame.drop(columns=["full_name"])
    # Birth year, document number and address are never exported; CSV frames may carry them.
    return _typed(frame.drop(columns=["birth_year", "document_id", "address"]), PERSON_COLUMNS)


def _typed(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    """Fixed dtypes (nullable integers, object strings): the same frame gives the same SQL
    types on DuckDB and Spark whatever its first rows hold."""
    for name in frame.columns:
        if columns.get(name) == "int":
            frame[name] = frame[name].astype("Int64")
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def read_frame_csv(path: str | Path, kind: str = "incidents") -> pd.DataFrame:
    """A frame from a CSV file with one record per row (the columns of the kind, see
    docs/linkage.md): ``unique_id``, ``source_dataset`` and any of the compared fields. Dates
    are given as ``date`` (ISO) with ``date_precision``; lists are separated by ``|``.

    Every problem names the row and the column; all problems of the file are listed at once
    (the first 50).
    """
    columns = _COLUMNS.get(kind)
    if columns is None:
        raise FrameError(f"kind must be incidents or persons, got {kind!r}")
    path = Path(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as error:
        raise FrameError(f"{path}: cannot be read ({error.strerror})") from None
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    allowed = (set(columns) - set(_DATE_COLUMNS)) | {"date", "date_precision"}
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in allowed]
        if unknown:
            raise FrameError(f"{path}: unknown column(s) {unknown}; the columns are {sorted(allowed)}")
        for required in ("unique_id", "source_dataset"):
            if required not in header:
                raise FrameError(f"{path}: the column {required!r} is required")
        seen: dict[str, int] = {}
        try:
            for line, raw in enumerate(reader, start=2):
                row = _csv_row(raw, columns, kind, line, problems)
                uid = row["unique_id"]
                if uid in seen:
                    problems.append(f"row {line}, column unique_id: {uid!r} already used on row {seen[uid]}")
                elif uid:
                    seen[uid] = line
                rows.append(row)
        except (csv.Error, UnicodeDecodeError) as error:
            raise FrameError(f"{path}: not a readable UTF-8 CSV file ({error})") from None
    if problems:
        shown = "\n  ".join(problems[:50])
        raise FrameError(f"{path}: {len(problems)} problem(s):\n  {shown}")
    if not rows:
        raise FrameError(f"{path}: no records")
    keep = [c for c in columns if c in rows[0]]
    return _typed(pd.DataFrame.from_records(rows, columns=keep), columns)


def _csv_row(raw: Mapping[str, str | None], columns: Mapping[str, str], kind: str, line: int,
             problems: list[str]) -> dict[str, Any]:  # fmt: skip
    row: dict[str, Any] = {}
    for name, value in raw.items():
        if name is None:
            problems.append(f"row {line}: more cells than columns")
            continue
        text = (value or "").strip()
        if name in ("date", "date_precision"):
            continue
        kind_of = columns[name]
        if name in ("unique_id", "source_dataset"):
            if not text:
                problems.append(f"row {line}, column {name}: empty")
            row[name] = text
        elif kind_of == "list":
            row[name] = _codes(text.split("|")) if text else None
        elif kind_of == "int":
            try:
                row[name] = int(text) if text else None
            except ValueError:
                problems.append(f"row {line}, column {name}: {text!r} is not a whole number")
                row[name] = None
        elif name in ("city", "full_name", "address"):
            row[name] = _text(text)
        else:
            row[name] = _code(text)
    if "date" in raw:
        precision = (raw.get("date_precision") or "").strip() or "day"
        text = (raw.get("date") or "").strip()
        if precision not in PRECISIONS:
            problems.append(f"row {line}, column date_precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
        else:
            try:
                dt.date.fromisoformat(text) if text else None
            except ValueError:
                problems.append(f"row {line}, column date: {text!r} is not a date (YYYY-MM-DD)")
            else:
                row.update(_date_fields(text or None, precision, f"row {line}"))
    if kind == "incidents" and row.get("tactic") and "tactic_family" not in raw:
        row["tactic_family"] = TACTIC_FAMILIES.get(row["tactic"], row["tactic"])
    return row


def check_frame(frame: pd.DataFrame, settings: LinkageSettings) -> None:
    """Raise ``FrameError`` when ``frame`` cannot be linked with ``settings``."""
    for required in ("unique_id", "source_dataset"):
        if required not in frame.columns:
            raise FrameError(f"the frame needs a {required!r} column")
        if frame[required].isna().any():
            first = int(np.flatnonzero(frame[required].isna().to_numpy())[0])
            raise FrameError(f"record #{first + 1}: {required} is empty")
    duplicated = frame["unique_id"].duplicated()
    if duplicated.any():
        raise FrameError(f"unique_id {frame['unique_id'][duplicated].iloc[0]!r} is used by more than one record")
    if len(frame) < 2:
        raise FrameError(f"linkage needs at least 2 records, got {len(frame)}")
    expected = _COLUMNS[settings.kind]
    for name in frame.columns:
        if name not in expected:
            raise FrameError(f"unknown column {name!r} for {settings.kind}; the columns are {list(expected)}")


# --- results --------------------------------------------------------------------------------


class Decision(NamedTuple):
    """A caseworker's decision on a pair: the same record (``same=True``) or not."""

    a: str
    b: str
    same: bool


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


@dataclass
class LinkageResult:
    """What a linkage run produced."""

    settings: LinkageSettings  # as used (comparisons without data dropped)
    model: dict[str, Any]  # trained parameters, backend-independent JSON (see ``link``)
    #: unique_id_l < unique_id_r, match_probability, match_weight, and gamma_<comparison>
    #: (the level each comparison fell into; -1 = missing). Pairs ≥ the review threshold,
    #: plus every pair a decision covers.
    pairs: pd.DataFrame
    clusters: pd.DataFrame  # unique_id, cluster_id (every record, singletons included)
    backend: str
    n_records: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def uncertain(self) -> pd.DataFrame:
        """Pairs between the review and the match threshold: for a caseworker to decide."""
        p = self.pairs["match_probability"]
        band = (p >= self.settings.review_threshold) & (p < self.settings.match_threshold)
        return self.pairs[band & self.pairs["decision"].isna()].sort_values("match_probability", ascending=False)

    @property
    def n_clusters(self) -> int:
        return int(self.clusters["cluster_id"].nunique())

    def level_labels(self) -> dict[str, dict[int, tuple[str, float]]]:
        """For each comparison, its levels by gamma value: (label, match weight in bits)."""
        return level_labels(self.model)


def level_labels(model: Mapping[str, Any]) -> dict[str, dict[int, tuple[str, float]]]:
    """Labels and match weights (log2 m/u) of each comparison level, by gamma value."""
    out: dict[str, dict[int, tuple[str, float]]] = {}
    for comparison in model["comparisons"]:
        levels = comparison["levels"]
        by_gamma: dict[int, tuple[str, float]] = {-1: ("missing", 0.0)}
        n = len(levels)
        for index, level in enumerate(levels):
            m, u = level["m"], level["u"]
            weight = math.log2(m / u) if m and u else 0.0
            by_gamma[n - 1 - index] = (level["label"], weight)
        out[comparison["name"]] = by_gamma
    return out


# --- the run --------------------------------------------------------------------------------


def _db_api(backend: str, spark: Any) -> Any:
    if backend == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI()
    if backend == "spark":
        if spark is None:
            raise ValueError("backend 'spark' needs a SparkSession (spark=...); see spark_session()")
        from splink import SparkAPI

        return SparkAPI(spark_session=spark)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def spark_session(master: str = "local[2]", app_name: str = "tnr-linkage") -> Any:
    """A local Spark session with Splink's similarity functions (Jaro-Winkler…) registered.

    The jar ships inside the splink package; nothing is downloaded. For a cluster, build the
    session yourself with ``spark.jars`` set to ``splink.backends.spark.similarity_jar_location()``.
    """
    import tempfile

    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    session = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        # A local session listens on the loopback interface only.
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    # Splink breaks long query lineages with checkpoints, which need a directory.
    session.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="tnr-spark-checkpoints-"))
    return session


def _spark_tables(frame: pd.DataFrame, spark: Any, columns: Mapping[str, str]) -> list[Any]:
    """Spark DataFrames with an explicit schema (inference fails on all-null columns)."""
    from pyspark.sql.types import ArrayType, LongType, StringType, StructField, StructType

    types = {"str": StringType(), "int": LongType(), "list": ArrayType(StringType())}
    schema = StructType([StructField(c, types[columns[c]], True) for c in frame.columns])
    records = [
        tuple(None if v is None or v is pd.NA else (int(v) if columns[c] == "int" else v) for c, v in zip(frame.columns, row, strict=True))
        for row in frame.itertuples(index=False, name=None)
    ]
    return [spark.createDataFrame(records, schema=schema)]


def _tables(frame: pd.DataFrame, backend: str, spark: Any, columns: Mapping[str, str]) -> list[Any]:
    if backend == "spark":
        return _spark_tables(frame, spark, columns)
    return [frame]


def _link_type(settings: LinkageSettings, frame: pd.DataFrame) -> str:
    """Splink's link type: one table with its ``source_dataset`` column. With one list only,
    linking across lists means nothing, so it falls back to deduplication."""
    if frame["source_dataset"].nunique() < 2:
        if settings.link_type == "link_only":
            raise FrameError("link_only needs records from at least two lists (source_dataset)")
        return "dedupe_only"
    return settings.link_type


def _trained_model(linker: Any, settings: LinkageSettings) -> dict[str, Any]:
    """The trained parameters from Splink's model JSON, keyed by our comparison names."""
    splink_model = linker.misc.save_model_to_json()
    comparisons = []
    for spec, comparison in zip(settings.comparisons, splink_model["comparisons"], strict=True):
        levels = []
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            levels.append({
                "label": level.get("label_for_charts") or level["sql_condition"],
                "m": level.get("m_probability"),
                "u": level.get("u_probability"),
            })
        comparisons.append({"name": spec.name, "levels": levels})
    return {
        "probability_two_random_records_match": splink_model["probability_two_random_records_match"],
        "comparisons": comparisons,
    }


def _check_model(model: Mapping[str, Any], settings: LinkageSettings) -> None:
    try:
        names = [c["name"] for c in model["comparisons"]]
        prior = float(model["probability_two_random_records_match"])
    except (KeyError, TypeError, ValueError):
        raise SettingsError("model: not a trained linkage model (see LinkageResult.model)") from None
    wanted = [c.name for c in settings.comparisons]
    if names != wanted:
        raise SettingsError(f"model: trained for comparisons {names}, the settings have {wanted}")
    if not 0 < prior < 1:
        raise SettingsError(f"model: probability_two_random_records_match must be in (0, 1), got {prior}")


def _configured_settings(settings: LinkageSettings, link_type: str, model: Mapping[str, Any] | None) -> Any:
    creator = settings.splink_settings(link_type)
    if model is None:
        return creator
    for comparison, trained in zip(creator.comparisons, model["comparisons"], strict=True):
        m, u = [], []
        for level in trained["levels"]:
            # A level no training pair fell into has no estimate, and Splink gives it a Bayes
            # factor of 1; m = u gives the same factor, so predictions do not change.
            m_value, u_value = level["m"], level["u"]
            if m_value is None or u_value is None:
                m_value = u_value = m_value if m_value is not None else (u_value if u_value is not None else 0.5)
            m.append(float(m_value))
            u.append(float(u_value))
        comparison.configure(m_probabilities=m, u_probabilities=u)
    creator.probability_two_random_records_match = float(model["probability_two_random_records_match"])
    return creator


def _train(linker: Any, settings: LinkageSettings) -> dict[str, float]:
    from splink import block_on

    timings = {}
    t = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*rule) for rule in settings.deterministic_rules], recall=settings.deterministic_recall
    )
    timings["prior"] = time.perf_counter() - t
    t = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=settings.u_max_pairs, seed=settings.seed)
    timings["u"] = time.perf_counter() - t
    t = time.perf_counter()
    for rule in settings.training_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), estimate_without_term_frequencies=True
        )
    timings["em"] = time.perf_counter() - t
    return timings



def link(
    frame: pd.DataFrame,
    settings: LinkageSettings | None = None,
    *,
    backend: str = "duckdb",
    spark: Any = None,
    decisions: Iterable[Decision] = (),
    model: Mapping[str, Any] | None = None,
) -> LinkageResult:
    """Find the records of ``frame`` that describe the same incident (or person).

    Trains the model without labels unless a trained ``model`` is given, scores the pairs
    that the blocking rules admit, keeps those at or above the review threshold, and clusters
    those at or above the match threshold. ``decisions`` override the model: a confirmed
    pair is linked whatever its score, a rejected pair is never in one cluster (see
    ``cluster_pairs``).
    """
    started = time.perf_counter()
    if settings is None:
        kind = "persons" if "sex" in frame.columns else "incidents"
        settings = default_settings(kind)
    columns = _COLUMNS[settings.kind]
    check_frame(frame, settings)
    settings = settings.for_columns(frame.columns)
    if model is not None:
        _check_model(model, settings)
    link_type = _link_type(settings, frame)
    decided = list(decisions)
    known = set(frame["unique_id"])
    for decision in decided:
        for uid in (decision.a, decision.b):
            if uid not in known:
                raise FrameError(f"a decision names record {uid!r}, which is not in the frame")

    from splink import Linker

    db_api = _db_api(backend, spark)
    tables = _tables(frame, backend, spark, columns)
    timings: dict[str, float] = {}
    if model is None:
        trainer = Linker(tables, _configured_settings(settings, link_type, None), db_api=db_api, set_up_basic_logging=False)
        timings = _train(trainer, settings)
        model = _trained_model(trainer, settings)
    # Scores always come from the model as stored (levels no training pair reached included,
    # see _configured_settings), so a run and a later run with its model agree exactly.
    linker = Linker(tables, _configured_settings(settings, link_type, model), db_api=db_api, set_up_basic_logging=False)
    trained = dict(model)

    t = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=settings.review_threshold)
    wanted = ["unique_id_l", "unique_id_r", "match_probability", "match_weight",
              *(f"gamma_{c.name}" for c in settings.comparisons)]  # fmt: skip
    pairs = predictions.as_pandas_dataframe()[wanted]
    timings["predict"] = time.perf_counter() - t
    pairs = _with_decisions(_normalised_pairs(pairs), decided)

    t = time.perf_counter()
    clusters = cluster_pairs(frame["unique_id"], pairs, settings.match_threshold, decided, db_api=db_api)
    timings["cluster"] = time.perf_counter() - t
    for table in (predictions,):
        table.drop_table_from_database_and_remove_from_cache()
    return LinkageResult(
        settings=settings, model=trained, pairs=pairs, clusters=clusters, backend=backend,
        n_records=len(frame), seconds=time.perf_counter() - started, timings=timings,
    )


def _normalised_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs with ``unique_id_l < unique_id_r`` (so a pair has one spelling), ids as strings."""
    left = pairs["unique_id_l"].astype(str)
    right = pairs["unique_id_r"].astype(str)
    swap = left > right
    pairs = pairs.assign(unique_id_l=left.where(~swap, right), unique_id_r=right.where(~swap, left))
    return pairs.sort_values(["unique_id_l", "unique_id_r"], ignore_index=True)


def _with_decisions(pairs: pd.DataFrame, decisions: Sequence[Decision]) -> pd.DataFrame:
    """Add a ``decision`` column (True same, False different, None undecided) and a row for each
    decided pair the model did not score high enough to keep."""
    pairs = pairs.assign(decision=pd.Series([None] * len(pairs), dtype=object))
    if not decisions:
        return pairs
    by_pair = {_ordered(d.a, d.b): d.same for d in decisions}
    keys = list(zip(pairs["unique_id_l"], pairs["unique_id_r"], strict=True))
    pairs["decision"] = pd.Series([by_pair.get(k) for k in keys], dtype=object)
    missing = [k for k in by_pair if k not in set(keys)]
    if missing:
        extra = pd.DataFrame({
            "unique_id_l": [a for a, _ in missing], "unique_id_r": [b for _, b in missing],
            "match_probability": np.nan, "match_weight": np.nan,
            "decision": pd.Series([by_pair[k] for k in missing], dtype=object),
        })
        pairs = pd.concat([pairs, extra], ignore_index=True)
    return pairs


# --- clusters -------------------------------------------------------------------------------


def cluster_pairs(
    ids: Iterable[str],
    pairs: pd.DataFrame,
    threshold: float,
    decisions: Iterable[Decision] = (),
    *,
    db_api: Any = None,
) -> pd.DataFrame:
    """Clusters of records: connected components of the pairs at or above ``threshold``,
    with caseworkers' decisions applied.

    A confirmed pair is an edge whatever its probability; a rejected pair is removed. Removing
    an edge is not enough when the two records are still connected through others (A–C–B), so
    a cluster that holds both ends of a rejected pair is split again: its edges are added from
    the most to the least probable (confirmed first), skipping any edge that would join two
    records a caseworker said are different. Connected components run on the backend through
    Splink (``db_api``; a new DuckDB one by default); only those rare conflicting clusters are
    handled here, in Python, because Splink's clustering knows no cannot-link constraint.
    """
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    ids = [str(i) for i in ids]
    decided = {_ordered(d.a, d.b): d.same for d in decisions}
    keep = pairs["match_probability"].fillna(0.0) >= threshold
    edges = pairs.loc[keep, ["unique_id_l", "unique_id_r", "match_probability"]].copy()
    if decided:
        key = list(zip(edges["unique_id_l"], edges["unique_id_r"], strict=True))
        edges = edges[[decided.get(k) is not False for k in key]]
        confirmed = [k for k, same in decided.items() if same]
        if confirmed:
            edges = pd.concat([edges, pd.DataFrame({
                "unique_id_l": [a for a, _ in confirmed], "unique_id_r": [b for _, b in confirmed],
                "match_probability": 1.0,
            })], ignore_index=True).drop_duplicates(["unique_id_l", "unique_id_r"], keep="last")
    nodes = pd.DataFrame({"unique_id": ids})
    if edges.empty:
        clusters = nodes.assign(cluster_id=nodes["unique_id"])
    else:
        if db_api is None:
            from splink import DuckDBAPI

            db_api = DuckDBAPI()
        result = cluster_pairwise_predictions_at_threshold(
            nodes, edges.reset_index(drop=True), db_api=db_api, node_id_column_name="unique_id",
            threshold_match_probability=0.0,
        )
        clusters = result.as_pandas_dataframe()[["unique_id", "cluster_id"]]
        result.drop_table_from_database_and_remove_from_cache()
        clusters = clusters.assign(unique_id=clusters["unique_id"].astype(str), cluster_id=clusters["cluster_id"].astype(str))
    rejected = [k for k, same in decided.items() if not same]
    if rejected:
        clusters = _split_conflicts(clusters, edges, rejected)
    return clusters.sort_values("unique_id", ignore_index=True)


def _split_conflicts(clusters: pd.DataFrame, edges: pd.DataFrame, rejected: list[tuple[str, str]]) -> pd.DataFrame:
    cluster_of = dict(zip(clusters["unique_id"], clusters["cluster_id"], strict=True))
    conflicted = {cluster_of[a] for a, b in rejected if cluster_of.get(a) is not None and cluster_of.get(a) == cluster_of.get(b)}
    if not conflicted:
        return clusters
    cannot: dict[str, set[str]] = {}
    for a, b in rejected:
        cannot.setdefault(a, set()).add(b)
        cannot.setdefault(b, set()).add(a)
    in_conflict = edges[edges["unique_id_l"].map(cluster_of).isin(conflicted)]
    # Union-find with, per root, the members; an edge is skipped if it would join two records
    # that must stay apart.
    parent: dict[str, str] = {}
    members: dict[str, set[str]] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        members.setdefault(x, {x})
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in in_conflict.sort_values("match_probability", ascending=False, kind="stable")[
        ["unique_id_l", "unique_id_r"]
    ].itertuples(index=False, name=None):
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        if any(cannot.get(x, set()) & members[rb] for x in members[ra]):
            continue
        if len(members[ra]) < len(members[rb]):
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra] |= members.pop(rb)
    new_id = {}
    for uid, cid in cluster_of.items():
        if cid in conflicted:
            new_id[uid] = min(members[root(uid)])
    clusters = clusters.copy()
    clusters["cluster_id"] = [new_id.get(u, c) for u, c in zip(clusters["unique_id"], clusters["cluster_id"], strict=True)]
    return clusters


# --- evaluation ---------------------------------------------------------------------------


def truth_pairs(truth: Mapping[str, str]) -> set[tuple[str, str]]:
    """Every pair of records that share a true entity id (``truth``: record id → entity id)."""
    groups: dict[str, list[str]] = {}
    for uid, entity in truth.items():
        groups.setdefault(entity, []).append(uid)
    out = set()
    for members in groups.values():
        members.sort()
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                out.add((a, b))
    return out


def _pairs_in_groups(count: pd.Series) -> int:
    n = count.to_numpy(dtype=np.int64)
    return int((n * (n - 1) // 2).sum())


def pairwise_scores(clusters: pd.DataFrame, truth: Mapping[str, str]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of ``clusters`` (unique_id, cluster_id) against
    ``truth`` (record id → true entity id; records missing from it are their own entity).

    Counted without listing pairs (sizes of cluster × entity cells), so it stays fast for
    large clusters.
    """
    entity = clusters["unique_id"].map(truth)
    entity = entity.where(entity.notna(), "record:" + clusters["unique_id"])
    table = pd.DataFrame({"cluster": clusters["cluster_id"], "entity": entity})
    predicted = _pairs_in_groups(table.groupby("cluster").size())
    actual = _pairs_in_groups(table.groupby("entity").size())
    correct = _pairs_in_groups(table.groupby(["cluster", "entity"]).size())
    precision = correct / predicted if predicted else 1.0
    recall = correct / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "predicted_pairs": predicted,
            "true_pairs": actual, "correct_pairs": correct}  # fmt: skip
