"""Validate and import exchange files, all or nothing.

``validate_file`` checks a file without touching the database's records; ``import_file`` writes
it inside one transaction that is rolled back if anything at all is wrong. Every problem names
the file, the row (line), the column and the reason, and all problems of a file are reported
at once (up to ``MAX_PROBLEMS``; the total is still counted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from tnr.accounts.models import Organisation
from tnr.exchange import readers
from tnr.exchange import spec as s
from tnr.exchange.flat import BY_NAME, FLAT_COLUMN_NAMES, REQUIRED_COLUMNS
from tnr.exchange.readers import FileProblem
from tnr.exchange.spec import FieldSpec, ResourceSpec, ValueProblem, make_converter
from tnr.exchange.writer import Writer

MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", row {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    file: str
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    written: bool = False

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, line: int | None, column: str | None, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.file, line, column, message))

    def summary(self) -> str:
        if self.ok:
            parts = ", ".join(f"{n:,} {k}" for k, n in self.counts.items())
            verb = "imported" if self.written else "valid"
            return f"{self.file}: {verb}: {self.rows:,} rows ({parts})"
        more = self.problem_count - len(self.problems)
        tail = f"\n... and {more:,} more problems" if more > 0 else ""
        lines = "\n".join(str(p) for p in self.problems)
        return f"{self.file}: {self.problem_count:,} problems, nothing imported\n{lines}{tail}"


class ImportFailed(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.summary())
        self.report = report


# --- record checks shared by the flat and the JSON paths -------------------------------------


_CONVERTERS: dict[int, Callable[[Any], Any]] = {}


def converter(f: FieldSpec) -> Callable[[Any], Any]:
    key = id(f)
    conv = _CONVERTERS.get(key)
    if conv is None:
        conv = _CONVERTERS[key] = make_converter(f)
    return conv


def check_incident_dates(incident: dict[str, Any], raw_start: Any, add: Callable[[str, str], None]) -> None:
    start = incident.get("start_date")
    end = incident.get("end_date")
    if start is None:
        return
    if not incident.get("_precision_given"):
        implied = s.parse_date(raw_start)[1] if isinstance(raw_start, str) else None
        if implied:
            incident["date_precision"] = implied
    if end is not None and end < start:
        add("end_date", f"end date {end} is before start date {start}")
    if start.year < 1900 or start > dt.date.today() + dt.timedelta(days=1):  # noqa: DTZ011
        add("start_date", f"{start} is outside 1900 to today")


# --- flat rows (CSV, XLSX, crosswalk output) -------------------------------------------------


class FlatAssembler:
    """Turn validated flat rows into incident bundles, checking ids and consistency."""

    def __init__(self, report: ImportReport, header: list[str]) -> None:
        self.report = report
        self.columns = [c for c in header if c in BY_NAME]
        self.compiled = [(c, BY_NAME[c], converter(BY_NAME[c].field)) for c in self.columns]
        self.seen_incidents: set[str] = set()
        self.person_profiles: dict[str, tuple[Any, ...]] = {}
        self.actor_profiles: dict[str, tuple[Any, ...]] = {}
        self.current: dict[str, Any] | None = None
        self.current_line = 0
        self.acts_by_id: dict[str, dict[str, Any]] = {}
        self.source_keys: dict[tuple[Any, ...], str] = {}

    def check_header(self, header: list[str]) -> bool:
        ok = True
        unknown = [h for h in header if h not in BY_NAME]
        for h in unknown:
            self.report.add(1, h or "(empty)", f"unknown column; expected some of: {', '.join(FLAT_COLUMN_NAMES)}")
            ok = False
        for required in REQUIRED_COLUMNS:
            if required not in header:
                self.report.add(1, required, "required column is missing")
                ok = False
        dupes = {h for h in header if header.count(h) > 1}
        for h in sorted(dupes):
            self.report.add(1, h, "column appears more than once")
            ok = False
        return ok

    def parse_row(self, line: int, row: dict[str, str]) -> dict[str, dict[str, Any]] | None:
        parts: dict[str, dict[str, Any]] = {"incident": {}, "act": {}, "target": {}, "actor": {}, "involvement": {}, "source": {}}
        bad = False
        for name, col, conv in self.compiled:
            raw = row[name]
            if raw == "" or raw.isspace():
                if col.required:
                    self.report.add(line, name, "required value is empty")
                    bad = True
                continue
            if col.field.kind == "string":
                raw = s.restore_formula(raw)
            try:
                parts[col.part][col.field.name] = conv(raw)
            except ValueProblem as exc:
                self.report.add(line, name, str(exc))
                bad = True
        inc = parts["incident"]
        if "date_precision" in inc:
            inc["_precision_given"] = True
        before = self.report.problem_count
        check_incident_dates(inc, row.get("start_date"), lambda c, m: self.report.add(line, c, m))
        if bad or self.report.problem_count > before:
            return None
        return parts

    def feed(self, line: int, row: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Consume one row; yield a finished incident bundle when a new incident starts."""
        parts = self.parse_row(line, row)
        incident_id = row.get("incident_id", "").strip()
        if self.current is not None and incident_id != self.current["incident"]["id"]:
            yield self.finish()
        if parts is None:
            if self.current is None and incident_id:
                self.seen_incidents.add(incident_id)
            return
        inc = parts["incident"]
        if self.current is None:
            if incident_id in self.seen_incidents:
                self.report.add(line, "incident_id", f"duplicate incident id {incident_id!r} (its rows must be consecutive)")
                self.seen_incidents.add(incident_id)
                return
            self.seen_incidents.add(incident_id)
            self.current = {"incident": inc, "acts": [], "sources": [], "persons": [], "actors": [], "line": line}
            self.current_line = line
            self.acts_by_id = {}
            self.source_keys = {}
        else:
            first = self.current["incident"]
            for key, value in inc.items():
                if key.startswith("_"):
                    continue
                if key in first and first[key] != value:
                    self.report.add(line, key, f"differs from row {self.current_line} of the same incident ({first[key]!r} vs {value!r})")
                elif key not in first:
                    first[key] = value
        self._add_act(line, parts)

    def _add_act(self, line: int, parts: dict[str, dict[str, Any]]) -> None:
        assert self.current is not None
        act = parts["act"]
        n = len(self.current["acts"]) + 1
        act_id = act.get("id") or f"A{n}"
        act["id"] = act_id
        act["secondary_tactics"] = [t for t in act.get("secondary_tactics", []) if t != act["primary_tactic"]]
        act["involvements"] = []
        earlier = self.acts_by_id.get(act_id)
        if earlier is not None:
            # a further row of the same act: it may add an actor or a source, nothing else
            same = all(earlier.get(k) == act.get(k) for k in ("primary_tactic", "secondary_tactics", "pretext", "outcome", "target"))
            if not same:
                self.report.add(line, "act_id", f"duplicate act id {act_id!r} in incident {self.current['incident']['id']!r} with different content")
                return
            act = earlier
        else:
            self.acts_by_id[act_id] = act
        target = parts["target"]
        if "target" in act:
            target["id"] = act["target"]
            profile = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in target.items()))
            known = self.person_profiles.get(act["target"])
            if known is None:
                self.person_profiles[act["target"]] = profile
                self.current["persons"].append(target)
            elif profile != known and len(profile) > 1:
                self.report.add(line, "target_id", f"person {act['target']!r} has a different profile on an earlier row")
        elif len(target) > 0:
            self.report.add(line, "target_id", "target profile given without a target_id")
        actor = parts["actor"]
        involvement = parts["involvement"]
        if actor:
            actor_id = actor.get("id") or f"{actor.get('type', 'unknown')}:{actor.get('state') or ''}:{actor.get('name', '')}"[:100]
            actor["id"] = actor_id
            if "type" not in actor:
                self.report.add(line, "actor_type", "an actor needs a type")
            else:
                profile = tuple(sorted(actor.items()))
                known = self.actor_profiles.get(actor_id)
                if known is None:
                    self.actor_profiles[actor_id] = profile
                    self.current["actors"].append(actor)
                elif known != profile:
                    self.report.add(line, "actor_id", f"actor {actor_id!r} is described differently on an earlier row")
                act["involvements"].append({"actor": actor_id, "degree": involvement.get("degree", "unknown")})
        elif involvement:
            self.report.add(line, "involvement_degree", "involvement degree given without an actor")
        source = parts["source"]
        if source:
            if "type" not in source:
                self.report.add(line, "source_type", "a source needs a type")
            else:
                key = tuple(sorted((k, v) for k, v in source.items() if k != "id"))
                if key not in self.source_keys:
                    sid = source.get("id") or f"S{len(self.source_keys) + 1}"
                    if sid in self.source_keys.values():
                        self.report.add(line, "source_id", f"duplicate source id {sid!r}")
                    source["id"] = sid
                    self.source_keys[key] = sid
                    self.current["sources"].append(source)
        if earlier is None:
            self.current["acts"].append(act)

    def finish(self) -> dict[str, Any]:
        assert self.current is not None
        bundle = self.current
        inc = bundle["incident"]
        inc.pop("_precision_given", None)
        if "mass_event" not in inc:
            targets = {a.get("target") for a in bundle["acts"] if a.get("target")}
            inc["mass_event"] = len(targets) >= 3
        self.current = None
        return bundle

    def close(self) -> Iterator[dict[str, Any]]:
        if self.current is not None:
            yield self.finish()


def iter_flat_bundles(
    report: ImportReport, header: list[str], rows: Iterable[tuple[int, dict[str, str]]]
) -> Iterator[dict[str, Any]]:
    assembler = FlatAssembler(report, header)
    if not assembler.check_header(header):
        return
    for line, row in rows:
        report.rows += 1
        yield from assembler.feed(line, row)
    yield from assembler.close()


# --- JSON documents ----------------------------------------------------------------------------


def clean_object(
    resource: ResourceSpec, raw: Any, path: str, report: ImportReport, line: int | None = None
) -> dict[str, Any] | None:
    """Check one JSON object against its resource spec (recursively)."""
    if not isinstance(raw, dict):
        report.add(line, path, f"expected an object, got {type(raw).__name__}")
        return None
    out: dict[str, Any] = {}
    allowed = {f.name for f in resource.fields} | set(resource.children)
    for key in raw:
        if key not in allowed:
            report.add(line, f"{path}.{key}", "unknown field")
    for f in resource.fields:
        value = raw.get(f.name)
        if value is None or (isinstance(value, str) and not value.strip()) or value == []:
            if f.required:
                report.add(line, f"{path}.{f.name}", "required value is missing")
            continue
        try:
            out[f.name] = converter(f)(value)
        except ValueProblem as exc:
            report.add(line, f"{path}.{f.name}", str(exc))
    for child_name, child in resource.children.items():
        items = raw.get(child_name, [])
        if not isinstance(items, list):
            report.add(line, f"{path}.{child_name}", "expected a list")
            continue
        cleaned = []
        for i, item in enumerate(items):
            c = clean_object(child, item, f"{path}.{child_name}[{i}]", report, line)
            if c is not None:
                cleaned.append(c)
        out[child_name] = cleaned
    return out


def iter_json_bundles(report: ImportReport, document: Any) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """Check a whole exchange document; return its header and the incident bundles."""
    meta: dict[str, Any] = {}
    if not isinstance(document, dict):
        report.add(None, "(document)", "expected a JSON object with format, version and incidents")
        return meta, iter(())
    if document.get("format") != s.FORMAT_NAME:
        report.add(None, "format", f"expected {s.FORMAT_NAME!r}, got {document.get('format')!r}")
    if document.get("version") != s.FORMAT_VERSION:
        report.add(None, "version", f"expected {s.FORMAT_VERSION!r}, got {document.get('version')!r}")
    known = {"format", "version", "synthetic", "organisation", "exported_at", "vocabularies", *s.TOP_LEVEL}
    for key in document:
        if key not in known:
            report.add(None, key, "unknown top-level field")
    meta["synthetic"] = bool(document.get("synthetic", False))
    persons: dict[str, dict[str, Any]] = {}
    actors: dict[str, dict[str, Any]] = {}
    for key, resource, store in (("persons", s.PERSON, persons), ("actors", s.ACTOR, actors)):
        items = document.get(key, [])
        if not isinstance(items, list):
            report.add(None, key, "expected a list")
            continue
        for i, raw in enumerate(items):
            obj = clean_object(resource, raw, f"{key}[{i}]", report)
            if obj is None or "id" not in obj:
                continue
            if obj["id"] in store:
                report.add(None, f"{key}[{i}].id", f"duplicate id {obj['id']!r}")
            store[obj["id"]] = obj
    for pid, person in persons.items():
        for rel in person.get("relations", []):
            if rel.get("person") not in persons:
                report.add(None, f"persons[{pid}].relations", f"unknown person {rel.get('person')!r}")
            elif rel.get("person") == pid:
                report.add(None, f"persons[{pid}].relations", "a person cannot be related to themself")
    incidents = document.get("incidents", [])
    if not isinstance(incidents, list):
        report.add(None, "incidents", "expected a list")
        incidents = []

    def bundles() -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        first = True
        for i, raw in enumerate(incidents):
            report.rows += 1
            path = f"incidents[{i}]"
            inc = clean_object(s.INCIDENT, raw, path, report)
            if inc is None:
                continue
            if isinstance(raw, dict) and raw.get("date_precision"):
                inc["_precision_given"] = True
            check_incident_dates(inc, raw.get("start_date") if isinstance(raw, dict) else None,
                                 lambda c, m, p=path: report.add(None, f"{p}.{c}", m))
            inc.pop("_precision_given", None)
            iid = inc.get("id")
            if iid in seen:
                report.add(None, f"{path}.id", f"duplicate incident id {iid!r}")
            seen.add(iid)
            acts = inc.pop("acts", [])
            sources = inc.pop("sources", [])
            act_ids: set[str] = set()
            for j, act in enumerate(acts):
                if act.get("id") in act_ids:
                    report.add(None, f"{path}.acts[{j}].id", f"duplicate act id {act.get('id')!r}")
                act_ids.add(act.get("id"))
                if act.get("target") and act["target"] not in persons:
                    report.add(None, f"{path}.acts[{j}].target", f"unknown person {act['target']!r}")
                act["secondary_tactics"] = [t for t in act.get("secondary_tactics", []) if t != act.get("primary_tactic")]
                for k, inv in enumerate(act.get("involvements", [])):
                    if inv.get("actor") not in actors:
                        report.add(None, f"{path}.acts[{j}].involvements[{k}].actor", f"unknown actor {inv.get('actor')!r}")
            source_ids = [src.get("id") for src in sources]
            for sid in {x for x in source_ids if source_ids.count(x) > 1}:
                report.add(None, f"{path}.sources", f"duplicate source id {sid!r}")
            yield {
                "incident": inc,
                "acts": acts,
                "sources": sources,
                # the writer creates persons/actors on first use; relations need all persons
                "persons": [persons[a["target"]] for a in acts if a.get("target") in persons],
                "actors": [actors[v["actor"]] for a in acts for v in a.get("involvements", []) if v.get("actor") in actors],
            }
            first = False
        # persons and actors that no incident references still belong to the document
        if not first or not incidents:
            yield {"incident": None, "persons": list(persons.values()), "actors": list(actors.values())}

    return meta, bundles()


# --- the two entry points ----------------------------------------------------------------------


def _bundles_for(
    path: Path, report: ImportReport, *, mapping: Path | None, progress: Callable[[int], None] | None
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    readers.check_size(path)
    if mapping is not None:
        from tnr.exchange.crosswalk_import import mapped_rows

        header, rows = mapped_rows(path, mapping, report, progress)
        return {}, iter_flat_bundles(report, header, rows)
    fmt = readers.detect_format(path)
    if fmt == "json":
        return iter_json_bundles(report, readers.read_json(path))
    if fmt == "xlsx":
        header, rows = readers.read_xlsx(path, progress)
    else:
        header, rows = readers.read_csv(path, progress)
    return {}, iter_flat_bundles(report, header, rows)


def validate_file(
    path: Path | str, *, mapping: Path | str | None = None, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Check a file completely without writing anything."""
    path = Path(path)
    report = ImportReport(path.name)
    try:
        _meta, bundles = _bundles_for(path, report, mapping=Path(mapping) if mapping else None, progress=progress)
        counts = {"incidents": 0, "acts": 0}
        for bundle in bundles:
            if bundle.get("incident") is not None:
                counts["incidents"] += 1
                counts["acts"] += len(bundle["acts"])
        report.counts = counts
    except FileProblem as exc:
        report.add(exc.line, exc.column, exc.message)
    return report


def import_file(
    path: Path | str,
    organisation: Organisation,
    *,
    mapping: Path | str | None = None,
    synthetic: bool | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
) -> ImportReport:
    """Import a file into ``organisation``; raise ImportFailed (nothing written) on any problem."""
    path = Path(path)
    report = ImportReport(path.name)
    with transaction.atomic():
        try:
            meta, bundles = _bundles_for(path, report, mapping=Path(mapping) if mapping else None, progress=progress)
            writer = Writer(organisation, report, synthetic=meta.get("synthetic", False) if synthetic is None else synthetic)
            for bundle in bundles:
                if report.ok:
                    writer.add(bundle)
                    if writer.pending >= batch_size:
                        writer.flush()
            if report.ok:
                writer.flush(final=True)
                report.counts = writer.counts
        except FileProblem as exc:
            report.add(exc.line, exc.column, exc.message)
        if not report.ok:
            transaction.set_rollback(True)
            raise ImportFailed(report)
        report.written = True
    return report
