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

from django.db import DatabaseError, transaction

from tnr.accounts.models import Organisation
from tnr.exchange import readers
from tnr.exchange import spec as s
from tnr.exchange.flat import BY_NAME, FLAT_COLUMN_NAMES, REQUIRED_COLUMNS
from tnr.exchange.readers import FileProblem
from tnr.exchange.spec import FieldSpec, ResourceSpec, ValueProblem, make_converter
from tnr.exchange.writer import Writer
from tnr.records.models import EXTERNAL_ID_MAX

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
    importing: bool = True  # False for a validation: the summary says "not valid", not "nothing imported"

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
        tail = f"\n... and {more:,} more problem{'s' if more != 1 else ''}" if more > 0 else ""
        lines = "\n".join(str(p) for p in self.problems)
        n = self.problem_count
        outcome = "nothing imported" if self.importing else "not valid"
        return f"{self.file}: {n:,} problem{'s' if n != 1 else ''}, {outcome}\n{lines}{tail}"


class ImportFailed(Exception):
    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.summary())
        self.report = report


# --- record checks shared by the flat and the JSON paths -------------------------------------


_CONVERTERS: dict[tuple[int, bool], Callable[[Any], Any]] = {}


def converter(f: FieldSpec, *, strict: bool = False) -> Callable[[Any], Any]:
    key = (id(f), strict)
    conv = _CONVERTERS.get(key)
    if conv is None:
        conv = _CONVERTERS[key] = make_converter(f, strict=strict)
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
        add("start_date", f"start date {start} is outside 1900 to today")


def check_consents(consents: list[dict[str, Any]], add: Callable[[str, str], None]) -> None:
    scopes: set[str] = set()
    for i, c in enumerate(consents):
        scope = c.get("scope")
        if scope in scopes:
            add(f"consents[{i}].scope", f"a second consent for scope {scope!r}; give each scope once")
        scopes.add(scope)  # type: ignore[arg-type]
        obtained, withdrawn = c.get("obtained_on"), c.get("withdrawn_on")
        if obtained and withdrawn and withdrawn < obtained:
            add(f"consents[{i}].withdrawn_on", f"withdrawn on {withdrawn}, before it was obtained on {obtained}")


# --- flat rows (CSV, XLSX, crosswalk output) -------------------------------------------------


def _profile_conflict(known: dict[str, Any], given: dict[str, Any]) -> str | None:
    """The first field ``given`` states differently from ``known``, if any."""
    for key, value in given.items():
        if key != "id" and known.get(key) != value:
            return key
    return None


class FlatAssembler:
    """Turn validated flat rows into incident bundles, checking ids and consistency.

    The rows of one incident are consecutive; rows repeating an act id add actors or sources
    to that act. Persons and actors are identified by their ids across the whole file.
    """

    def __init__(self, report: ImportReport, header: list[str]) -> None:
        self.report = report
        self.columns = [c for c in header if c in BY_NAME]
        self.compiled = [
            (c, BY_NAME[c], converter(BY_NAME[c].field), BY_NAME[c].field.kind in {"string", "ref"})
            for c in self.columns
        ]
        self.seen_incidents: dict[str, int] = {}
        self.last_incident_id: str | None = None
        self.broken = False  # the current incident's first row was refused
        self.persons: dict[str, dict[str, Any]] = {}
        self.actors: dict[str, dict[str, Any]] = {}
        self.current: dict[str, Any] | None = None
        self.current_line = 0
        self.acts_by_id: dict[str, dict[str, Any]] = {}
        self.sources_by_id: dict[str, tuple[Any, ...]] = {}
        self.source_ids_by_content: dict[tuple[Any, ...], str] = {}

    def check_header(self, header: list[str]) -> bool:
        ok = True
        for h in header:
            if h not in BY_NAME:
                self.report.add(1, h or "(empty)", f"unknown column; the columns of the template are: {', '.join(FLAT_COLUMN_NAMES)}")
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
        before = self.report.problem_count
        add = self.report.add
        for name, col, conv, textual in self.compiled:
            raw = row[name]
            if not raw or raw.isspace():
                if col.required:
                    add(line, name, "required value is empty")
                continue
            if textual:
                raw = s.restore_formula(raw)
            try:
                parts[col.part][col.field.name] = conv(raw)
            except ValueProblem as exc:
                add(line, name, str(exc))
        inc = parts["incident"]
        if "date_precision" in inc:
            inc["_precision_given"] = True
        check_incident_dates(inc, row.get("start_date"), lambda c, m: add(line, c, m))
        if self.report.problem_count > before:
            return None
        return parts

    def feed(self, line: int, row: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Consume one row; yield a finished incident bundle when a new incident starts."""
        parts = self.parse_row(line, row)
        incident_id = (row.get("incident_id") or "").strip()
        if incident_id != self.last_incident_id:
            if self.current is not None:
                yield self.finish()
            self.last_incident_id = incident_id
            self.broken = parts is None
            if incident_id:
                earlier = self.seen_incidents.get(incident_id)
                if earlier is not None:
                    self.report.add(
                        line, "incident_id",
                        f"duplicate incident id {incident_id!r}: already used on row {earlier} "
                        "(the rows of one incident must be consecutive)",
                    )
                    self.broken = True
                else:
                    self.seen_incidents[incident_id] = line
            if self.broken or parts is None:
                return
            self.current = {"incident": parts["incident"], "acts": [], "sources": [], "persons": [], "actors": [],
                            "line": line, "where": (line, "incident_id")}
            self.current_line = line
            self.acts_by_id = {}
            self.sources_by_id = {}
            self.source_ids_by_content = {}
        else:
            if self.broken or parts is None or self.current is None:
                return
            first = self.current["incident"]
            for key, value in parts["incident"].items():
                if key.startswith("_"):
                    continue
                if key in first and first[key] != value:
                    self.report.add(line, key, f"differs from row {self.current_line} of the same incident ({first[key]!r} there, {value!r} here)")
                elif key not in first:
                    first[key] = value
        self._add_act(line, parts)

    def _add_act(self, line: int, parts: dict[str, dict[str, Any]]) -> None:
        assert self.current is not None
        add = self.report.add
        act = parts["act"]
        act_id = act.get("id") or f"A{len(self.current['acts']) + 1}"
        act["id"] = act_id
        act["secondary_tactics"] = [t for t in act.get("secondary_tactics", []) if t != act["primary_tactic"]]
        act["involvements"] = []
        earlier = self.acts_by_id.get(act_id)
        if earlier is not None:
            # a further row of the same act: it may add an actor or a source, nothing else
            for key in ("primary_tactic", "secondary_tactics", "pretext", "outcome", "target"):
                if earlier.get(key) != act.get(key):
                    column = {"target": "target_id"}.get(key, key)
                    add(line, "act_id", f"duplicate act id {act_id!r} in incident {self.current['incident']['id']!r} "
                                        f"with different content ({column}: {earlier.get(key)!r} vs {act.get(key)!r})")
                    return
            act = earlier
        else:
            self.acts_by_id[act_id] = act
            self.current["acts"].append(act)
        target = parts["target"]
        if "target" in act:
            pid = act["target"]
            known = self.persons.get(pid)
            if known is None:
                target["id"] = pid
                self.persons[pid] = target
                self.current["persons"].append(target)
            elif (key := _profile_conflict(known, target)) is not None:
                add(line, f"target_{key}", f"person {pid!r} is described differently on an earlier row "
                                          f"({known.get(key)!r} there, {target.get(key)!r} here)")
        elif target:
            add(line, "target_id", "target profile given without a target_id")
        actor = parts["actor"]
        involvement = parts["involvement"]
        if actor:
            actor_id = actor.get("id") or f"{actor.get('type', 'unknown')}:{actor.get('state') or ''}:{actor.get('name', '')}"[:EXTERNAL_ID_MAX]
            actor["id"] = actor_id
            known = self.actors.get(actor_id)
            if known is None:
                if "type" not in actor:
                    add(line, "actor_type", f"actor {actor_id!r} needs a type")
                    return
                self.actors[actor_id] = actor
                self.current["actors"].append(actor)
            elif (key := _profile_conflict(known, actor)) is not None:
                add(line, f"actor_{key}", f"actor {actor_id!r} is described differently on an earlier row "
                                         f"({known.get(key)!r} there, {actor.get(key)!r} here)")
            act["involvements"].append({"actor": actor_id, "degree": involvement.get("degree", "unknown")})
        elif involvement:
            add(line, "involvement_degree", "involvement degree given without an actor")
        source = parts["source"]
        if source:
            if "type" not in source:
                add(line, "source_type", "a source needs a type")
                return
            content = tuple(sorted((k, v) for k, v in source.items() if k != "id"))
            sid = source.get("id")
            if sid is None:
                # no id: the same description is the same source
                sid = self.source_ids_by_content.get(content)
                if sid is None:
                    n = len(self.sources_by_id) + 1
                    while f"S{n}" in self.sources_by_id:
                        n += 1
                    sid = f"S{n}"
                source["id"] = sid
            known_content = self.sources_by_id.get(sid)
            if known_content is None:
                self.sources_by_id[sid] = content
                self.source_ids_by_content.setdefault(content, sid)
                self.current["sources"].append(source)
            elif known_content != content:
                add(line, "source_id", f"source id {sid!r} is used for two different sources in incident {self.current['incident']['id']!r}")

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
    fed = 0
    for line, row in rows:
        fed += 1
        yield from assembler.feed(line, row)
    report.rows += fed
    yield from assembler.close()
    if fed == 0 and report.ok:
        report.add(2, None, "the file has a header row but no data rows")


# --- JSON documents ----------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def clean_object(
    resource: ResourceSpec, raw: Any, path: str, report: ImportReport, line: int | None = None
) -> dict[str, Any] | None:
    """Check one JSON object against its resource spec (recursively), strictly typed."""
    if not isinstance(raw, dict):
        report.add(line, path, f"expected an object, got {type(raw).__name__}")
        return None
    out: dict[str, Any] = {}
    allowed = {f.name for f in resource.fields} | set(resource.children)
    for key in raw:
        if key not in allowed:
            report.add(line, f"{path}.{key}", f"unknown field; expected some of: {', '.join(sorted(allowed))}")
    for f in resource.fields:
        value = raw.get(f.name)
        if _is_missing(value):
            if f.required:
                report.add(line, f"{path}.{f.name}", "required value is missing")
            continue
        try:
            out[f.name] = converter(f, strict=True)(value)
        except ValueProblem as exc:
            report.add(line, f"{path}.{f.name}", str(exc))
    for child_name, child in resource.children.items():
        items = raw.get(child_name)
        if items is None:
            items = []
        if not isinstance(items, list):
            report.add(line, f"{path}.{child_name}", f"expected a list, got {type(items).__name__}")
            continue
        cleaned = []
        for i, item in enumerate(items):
            c = clean_object(child, item, f"{path}.{child_name}[{i}]", report, line)
            if c is not None:
                cleaned.append(c)
        out[child_name] = cleaned
    return out


TOP_FIELDS = ("format", "version", "synthetic", "organisation", "exported_at", "vocabularies", *s.TOP_LEVEL)


def iter_json_bundles(report: ImportReport, document: Any) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """Check a whole exchange document; return its header and the incident bundles.

    The first bundle holds every person and actor of the document (so they are created in the
    document's order); the others hold one incident each.
    """
    meta: dict[str, Any] = {}
    if not isinstance(document, dict):
        report.add(None, "(document)", "expected a JSON object with format, version and incidents")
        return meta, iter(())
    if document.get("format") != s.FORMAT_NAME:
        report.add(None, "format", f"not a {s.FORMAT_NAME} document: expected format {s.FORMAT_NAME!r}, got {document.get('format')!r}")
    if document.get("version") != s.FORMAT_VERSION:
        report.add(None, "version", f"unsupported version: expected {s.FORMAT_VERSION!r}, got {document.get('version')!r}")
    for key in document:
        if key not in TOP_FIELDS:
            report.add(None, key, f"unknown top-level field; expected some of: {', '.join(TOP_FIELDS)}")
    synthetic = document.get("synthetic", False)
    if not isinstance(synthetic, bool):
        report.add(None, "synthetic", f"expected true or false, got {synthetic!r}")
    meta["synthetic"] = synthetic is True
    persons: dict[str, dict[str, Any]] = {}
    actors: dict[str, dict[str, Any]] = {}
    for key, resource, store in (("persons", s.PERSON, persons), ("actors", s.ACTOR, actors)):
        items = document.get(key)
        if items is None:
            items = []
        if not isinstance(items, list):
            report.add(None, key, f"expected a list, got {type(items).__name__}")
            continue
        for i, raw in enumerate(items):
            obj = clean_object(resource, raw, f"{key}[{i}]", report)
            if obj is None or "id" not in obj:
                continue
            if obj["id"] in store:
                report.add(None, f"{key}[{i}].id", f"duplicate {resource.name} id {obj['id']!r}")
                continue
            obj["_path"] = f"{key}[{i}]"
            store[obj["id"]] = obj
    for pid, person in persons.items():
        path = person.pop("_path")
        seen_relations: set[tuple[str, str]] = set()
        for j, rel in enumerate(person.get("relations", [])):
            other = rel.get("person")
            where = f"{path}.relations[{j}].person"
            if other == pid:
                report.add(None, where, "a person cannot be related to themself")
            elif other not in persons:
                report.add(None, where, f"unknown person {other!r}: not in the document's persons")
            if (other, rel.get("type")) in seen_relations:
                report.add(None, where, f"relation {rel.get('type')!r} to {other!r} is given twice")
            seen_relations.add((other, rel.get("type")))  # type: ignore[arg-type]
        check_consents(person.get("consents", []), lambda c, m, p=path: report.add(None, f"{p}.{c}", m))
    for actor in actors.values():
        actor.pop("_path")
    incidents = document.get("incidents")
    if incidents is None:
        report.add(None, "incidents", "required field is missing")
        incidents = []
    elif not isinstance(incidents, list):
        report.add(None, "incidents", f"expected a list, got {type(incidents).__name__}")
        incidents = []
    elif not incidents:
        report.add(None, "incidents", "the document has no incidents")

    def bundles() -> Iterator[dict[str, Any]]:
        yield {"incident": None, "persons": list(persons.values()), "actors": list(actors.values())}
        seen: set[str] = set()
        for i, raw in enumerate(incidents):
            report.rows += 1
            path = f"incidents[{i}]"
            inc = clean_object(s.INCIDENT, raw, path, report)
            if inc is None:
                continue
            inc["_precision_given"] = True  # JSON dates are full dates; no precision is implied
            check_incident_dates(inc, None, lambda c, m, p=path: report.add(None, f"{p}.{c}", m))
            inc.pop("_precision_given", None)
            iid = inc.get("id")
            if iid is not None:
                if iid in seen:
                    report.add(None, f"{path}.id", f"duplicate incident id {iid!r}")
                seen.add(iid)
            acts = inc.pop("acts", [])
            sources = inc.pop("sources", [])
            act_ids: set[str] = set()
            for j, act in enumerate(acts):
                if act.get("id") in act_ids:
                    report.add(None, f"{path}.acts[{j}].id", f"duplicate act id {act.get('id')!r} in incident {iid!r}")
                act_ids.add(act.get("id"))  # type: ignore[arg-type]
                if act.get("target") and act["target"] not in persons:
                    report.add(None, f"{path}.acts[{j}].target", f"unknown person {act['target']!r}: not in the document's persons")
                act["secondary_tactics"] = [t for t in act.get("secondary_tactics", []) if t != act.get("primary_tactic")]
                for k, inv in enumerate(act.get("involvements", [])):
                    if "actor" in inv and inv["actor"] not in actors:
                        report.add(None, f"{path}.acts[{j}].involvements[{k}].actor",
                                   f"unknown actor {inv['actor']!r}: not in the document's actors")
            source_ids: set[str] = set()
            for j, src in enumerate(sources):
                if src.get("id") in source_ids:
                    report.add(None, f"{path}.sources[{j}].id", f"duplicate source id {src.get('id')!r} in incident {iid!r}")
                source_ids.add(src.get("id"))  # type: ignore[arg-type]
            yield {"incident": inc, "acts": acts, "sources": sources, "where": (None, f"{path}.id")}

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
        header, rows = readers.read_xlsx(path, progress, report.add)
    else:
        header, rows = readers.read_csv(path, progress, report.add)
    return {}, iter_flat_bundles(report, header, rows)


def validate_file(
    path: Path | str, *, mapping: Path | str | None = None, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Check a file completely without writing anything."""
    path = Path(path)
    report = ImportReport(path.name, importing=False)
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
    """Import a file into ``organisation``; raise ImportFailed (nothing written) on any problem.

    Everything happens in one transaction. Batches are written as the file is read, so a
    problem found late rolls back what earlier batches wrote; once a problem is found, the
    rest of the file is still checked (nothing more is written) so all problems are reported.
    """
    path = Path(path)
    report = ImportReport(path.name)
    with transaction.atomic():
        try:
            meta, bundles = _bundles_for(path, report, mapping=Path(mapping) if mapping else None, progress=progress)
            writer = Writer(organisation, report, synthetic=meta.get("synthetic", False) if synthetic is None else synthetic)
            for bundle in bundles:
                writer.add(bundle)
                if writer.pending >= batch_size:
                    writer.flush()
            writer.flush(final=True)
            report.counts = writer.counts
        except FileProblem as exc:
            report.add(exc.line, exc.column, exc.message)
        except DatabaseError as exc:
            # the checks above should leave nothing for the database to refuse; if it does,
            # the import still fails cleanly, with the database's reason
            report.add(None, None, f"the database refused the data: {exc}")
        if not report.ok:
            transaction.set_rollback(True)
            raise ImportFailed(report)
        report.written = True
    return report
