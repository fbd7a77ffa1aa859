"""Validate and import exchange files, all or nothing.

``validate_file`` checks a file without touching the database's records; ``import_file`` writes
it inside one transaction that is rolled back if anything at all is wrong. Every problem names
the file, the row (line), the column and the reason, and all problems of a file are reported
at once (up to ``MAX_PROBLEMS``; the total is still counted).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import functools
import gc
import operator
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import DatabaseError, transaction

from tnr.accounts.models import Organisation
from tnr.exchange import readers
from tnr.exchange import spec as s
from tnr.exchange.flat import BY_NAME, FLAT_COLUMN_NAMES, REQUIRED_COLUMNS
from tnr.exchange.readers import FileProblem
from tnr.exchange.register import Register
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
    # rows a crosswalk mapping left out on purpose (out of scope, unplaceable), by reason;
    # they are not problems: the mapping's policy decided them
    flagged: Counter[str] = field(default_factory=Counter)
    flag_details: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)

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
            text = f"{self.file}: {verb}: {self.rows:,} rows ({parts})"
            if self.flagged:
                reasons = ", ".join(f"{n:,} {reason}" for reason, n in self.flagged.most_common())
                text += f"\nflagged by the mapping and left out: {sum(self.flagged.values()):,} rows ({reasons})"
            return text
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


@functools.lru_cache(maxsize=4)
def _latest(today: dt.date) -> dt.date:
    """The latest start date allowed: tomorrow (a day's grace for time zones)."""
    return today + dt.timedelta(days=1)


def check_incident_dates(
    incident: dict[str, Any], raw_start: Any, add: Callable[[str, str], None], today: dt.date | None = None
) -> None:
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
    latest = _latest(today or dt.date.today())  # noqa: DTZ011
    if start.year < 1900 or start > latest:
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

PARTS = ("incident", "act", "target", "actor", "involvement", "source")


class _Sentinel(enum.Enum):
    # an Enum member, not object(): profiles holding it go through pickle (``Register``) and
    # must come back holding the very same object
    MISSING = "missing"


_MISSING = _Sentinel.MISSING
# Distinct cell values remembered per column, and distinct cell groups per part: rows repeat
# codes, dates and whole groups (an incident's cells on each of its act rows, an actor on
# many rows), so most cells are converted once. The bounds keep memory flat on huge files.
CELL_MEMO_MAX = 20_000
# Parts that repeat only on consecutive rows keep just the last cells (comparing a tuple whose
# first cell differs is cheaper than hashing it); the others keep a bounded dict.
PART_MEMO_MAX = {"incident": 1, "act": 1, "source": 1, "target": 5_000, "actor": 5_000, "involvement": 100}


class _Part:
    """The columns of one part of a flat row (incident, act, target, ...), compiled."""

    def __init__(self, name: str, columns: list[tuple[str, int]]) -> None:
        self.name = name
        self.cols = []
        for column, _index in columns:
            col = BY_NAME[column]
            textual = col.field.kind in {"string", "ref"}
            # text is nearly always unique; codes, dates, numbers and flags repeat
            memo: dict[str, Any] | None = None if textual else {}
            self.cols.append((column, col.field.name, converter(col.field), memo, textual, col.required))
        indices = [i for _c, i in columns]
        self.getter: Callable[[Sequence[str]], tuple[str, ...]] | None
        if not indices:
            self.getter = None
        elif len(indices) == 1:
            only = indices[0]
            self.getter = lambda cells: (cells[only],)
        else:
            self.getter = operator.itemgetter(*indices)
        self.memo: dict[tuple[str, ...], dict[str, Any]] = {}
        self.memo_max = PART_MEMO_MAX[name]
        self.parse = self._compile()

    def _compile(self) -> Callable[[int, tuple[str, ...], ImportReport], dict[str, Any] | None]:
        """A parse function for exactly these columns, unrolled (cells are many: every cycle counts).

        Cells whose value was seen before are looked up; anything else goes to ``_convert``.
        """
        n = len(self.cols)
        code = ["def parse(line, raw, report):", "    out = {}", "    ok = True"]
        code.append(f"    {', '.join(f'v{i}' for i in range(n))}{',' if n == 1 else ''} = raw")
        namespace: dict[str, Any] = {"MISSING": _MISSING, "BAD": _BAD, "EMPTY": _EMPTY, "convert": _convert}
        for i, column in enumerate(self.cols):
            name, fname, _conv, memo, _textual, required = column
            namespace[f"col{i}"] = column
            code.append(f"    if v{i}:")
            if memo is not None:
                # the memo holds only converted values (never BAD or EMPTY)
                namespace[f"m{i}"] = memo
                code.append(f"        x = m{i}.get(v{i}, MISSING)")
                code.append("        if x is not MISSING:")
                code.append(f"            out[{fname!r}] = x")
                code.append("        else:")
            else:
                # text: most cells are fine as they are; anything unusual takes the long way
                spec = BY_NAME[name].field
                limit = spec.max_length or 1_000_000
                if spec.kind == "ref":
                    code.append(f"        x = v{i}.strip()")
                    code.append(f"        if x and len(x) <= {limit} and x[0] != \"'\" and '\\x00' not in x:")
                else:
                    code.append(f"        x = v{i}")
                    code.append(f"        if len(x) <= {limit} and x[0] != \"'\" and '\\x00' not in x and not x.isspace():")
                code.append(f"            out[{fname!r}] = x")
                code.append("        else:")
            code.append(f"            x = convert(line, v{i}, col{i}, report)")
            code.append("            if x is BAD:")
            code.append("                ok = False")
            code.append("            elif x is not EMPTY:")
            code.append(f"                out[{fname!r}] = x")
            if required:
                code.append("    else:")
                code.append(f"        report.add(line, {name!r}, 'required value is empty')")
                code.append("        ok = False")
        code.append("    return out if ok else None")
        exec("\n".join(code), namespace)  # noqa: S102 - generated from column specs, no input
        return namespace["parse"]


_BAD = object()
_EMPTY = object()
_NOTHING: dict[str, Any] = {}  # the part of a row whose columns the file does not have


def _convert(line: int, value: str, column: tuple[Any, ...], report: ImportReport) -> Any:
    """Convert one non-empty cell: the converted value, or _EMPTY (blank), or _BAD (reported)."""
    name, _fname, conv, memo, textual, required = column
    if value.isspace():
        if required:
            report.add(line, name, "required value is empty")
            return _BAD
        return _EMPTY
    key = value
    if textual and value[0] == "'":
        value = s.restore_formula(value)
    try:
        converted = conv(value)
    except ValueProblem as exc:
        report.add(line, name, str(exc))
        return _BAD
    if memo is not None:
        if len(memo) >= CELL_MEMO_MAX:
            memo.clear()
        memo[key] = converted
    return converted


# The profile fields of a person and of an actor in the flat form, and what the assembler
# keeps of each (the row that introduced it and its values: codes shared with the memo, so a
# person costs a few references, not a dict).
PERSON_FIELDS = tuple(f.name for f in s.PERSON.fields if f.name != "id")
ACTOR_FIELDS = tuple(f.name for f in s.ACTOR.fields if f.name != "id")


def _profile_function(fields: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``fields``' values of a dict as a tuple (_MISSING where absent), unrolled."""
    body = ", ".join(f"get({f!r}, MISSING)" for f in fields)
    namespace: dict[str, Any] = {"MISSING": _MISSING}
    exec(f"def profile(d):\n    get = d.get\n    return ({body},)", namespace)  # noqa: S102 - field names
    return namespace["profile"]


person_profile = _profile_function(PERSON_FIELDS)


class FlatAssembler:
    """Turn flat rows into incident bundles, checking values, ids and consistency.

    The rows of one incident are consecutive; rows repeating an act id add actors or sources
    to that act. Persons and actors are identified by their ids across the whole file. Rows
    are lists of cells in the order of ``header``.
    """

    def __init__(self, report: ImportReport, header: list[str], *, keep: bool = True) -> None:
        """``keep``: build whole bundles; without it (a validation) bundles hold the incident
        and its acts only (every check is still made)."""
        self.report = report
        self.keep = keep
        self.header = header
        index = {c: i for i, c in enumerate(header) if c in BY_NAME}
        self.parts = [
            _Part(part, [(c, i) for c, i in index.items() if BY_NAME[c].part == part]) for part in PARTS
        ]
        self.plan = [p for p in self.parts if p.getter is not None]
        self.absent = [p.name for p in self.parts if p.getter is None]
        self.today = dt.date.today()  # noqa: DTZ011
        self.id_index = index.get("incident_id")
        self.start_index = index.get("start_date")
        # whole-file registers, exact and in bounded memory (see tnr.exchange.register):
        # incident id -> the row that introduced it
        self.seen_incidents = Register()
        self.last_incident_id: str | None = None
        self.last_id_cell: str | None = None  # the incident_id cell that gave last_incident_id
        self.broken = False  # the current incident's first row was refused
        # person id -> (the row that introduced it, its profile: values in PERSON_FIELDS order)
        self.persons = Register()
        # actor id -> (the row that introduced it, its cells' dict, shared with the part memo)
        self.actors = Register()
        self.last_pid: str | None = None  # the person of the last row (the same str object)
        self.last_person: tuple[int, tuple[Any, ...]] | None = None
        self.current: dict[str, Any] | None = None
        self.current_line = 0
        self.acts_by_id: dict[str, dict[str, Any]] = {}
        self.last_act_cells: dict[str, Any] | None = None  # the act cells of the last row with an act id
        self.last_act: dict[str, Any] | None = None  # and the act they gave
        self.sources_by_id: dict[str, tuple[Any, ...]] = {}
        self.source_ids_by_content: dict[tuple[Any, ...], str] = {}
        self.current_cells: dict[str, Any] | None = None
        self._parse_row = self._compile_parse_row()

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

    def _compile_parse_row(self) -> Callable[[int, Sequence[str]], tuple[dict[str, Any], ...] | None]:
        """``parse_row`` for this header, unrolled over the parts (it runs for every row).

        It returns the parts in the order of ``PARTS`` (a part the file has no columns for is
        ``_NOTHING``). Parts that repeat only on consecutive rows keep their last cells in the
        closure; the others in their bounded memo.
        """
        namespace: dict[str, Any] = {"report": self.report, "check_incident": self._check_incident, "NOTHING": _NOTHING}
        outer = ["def make():"]
        code = ["    def parse_row(line, cells):", "        ok = True"]
        last = []
        for i, part in enumerate(self.plan):
            namespace[f"get{i}"] = part.getter
            namespace[f"parse{i}"] = part.parse
            namespace[f"memo{i}"] = part.memo
            code.append(f"        raw = get{i}(cells)")
            if part.memo_max == 1:
                last += [f"last_raw{i}", f"last_p{i}"]
                outer.append(f"    last_raw{i} = last_p{i} = None")
                code.append(f"        p{i} = last_p{i} if raw == last_raw{i} else None")
            else:
                code.append(f"        p{i} = memo{i}.get(raw)")
            code.append(f"        if p{i} is None:")
            code.append(f"            p{i} = parse{i}(line, raw, report)")
            check = f" or not check_incident(line, cells, p{i})" if part.name == "incident" else ""
            code.append(f"            if p{i} is None{check}:")
            code.append("                ok = False")
            if part.memo_max == 1:
                code.append("            else:")
                code.append(f"                last_raw{i}, last_p{i} = raw, p{i}")
            else:
                code.append(f"            elif len(memo{i}) >= {part.memo_max}:")
                code.append(f"                memo{i}.clear()")
                code.append(f"                memo{i}[raw] = p{i}")
                code.append("            else:")
                code.append(f"                memo{i}[raw] = p{i}")
        if last:
            code.insert(1, f"        nonlocal {', '.join(last)}")
        code.append("        if not ok:")
        code.append("            return None")
        index = {p.name: i for i, p in enumerate(self.plan)}
        items = [f"p{index[name]}" if name in index else "NOTHING" for name in PARTS]
        code.append(f"        return ({', '.join(items)})")
        source = "\n".join([*outer, *code, "    return parse_row"])
        exec(source, namespace)  # noqa: S102 - generated from the header's known columns
        return namespace["make"]()

    def parse_row(self, line: int, cells: Sequence[str]) -> dict[str, dict[str, Any]] | None:
        """Convert one row's cells, part by part: {part: fields}, or None if a cell was refused.

        The dicts are shared with the memo and with other rows whose cells are the same:
        callers copy before they change one, and the same dict (``is``) means the same cells.
        """
        parts = self._parse_row(line, cells)
        return None if parts is None else dict(zip(PARTS, parts, strict=True))

    def _check_incident(self, line: int, cells: Sequence[str], parsed: dict[str, Any]) -> bool:
        if "date_precision" in parsed:
            parsed["_precision_given"] = True
        before = self.report.problem_count
        raw_start = cells[self.start_index] if self.start_index is not None else None
        check_incident_dates(parsed, raw_start, lambda c, m: self.report.add(line, c, m), self.today)
        return self.report.problem_count == before

    def feed(self, line: int, cells: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Consume one row; yield a finished incident bundle when a new incident starts."""
        done = self.take(line, cells)
        if done is not None:
            yield done

    def take(self, line: int, cells: Sequence[str]) -> dict[str, Any] | None:
        """Consume one row; return the previous incident's bundle when this row starts a new one."""
        parts = self._parse_row(line, cells)
        if self.id_index is None:
            incident_id = ""
        else:
            raw_id = cells[self.id_index]
            if raw_id == self.last_id_cell:  # the same cell: the same (stripped) id, no need to strip
                incident_id = self.last_incident_id  # type: ignore[assignment]
            else:
                incident_id = raw_id.strip()
                self.last_id_cell = raw_id
        done = None
        if incident_id != self.last_incident_id:
            if self.current is not None:
                done = self.finish()
            self.last_incident_id = incident_id
            self.broken = parts is None
            if incident_id:
                earlier = self.seen_incidents.get(incident_id)
                if earlier is not None:
                    self.report.add(
                        line, "incident_id",
                        f"duplicate incident id {incident_id!r}: already used on row {earlier[0]} "
                        "(the rows of one incident must be consecutive)",
                    )
                    self.broken = True
                else:
                    self.seen_incidents.add(incident_id, line)
            if self.broken or parts is None:
                return done
            self.current = {"incident": dict(parts[0]), "acts": [], "sources": [], "persons": [], "actors": [],
                            "line": line, "where": (line, "incident_id")}
            self.current_line = line
            self.current_cells = parts[0]
            self.acts_by_id = {}
            self.last_act_cells = None
            self.last_act = None
            self.sources_by_id = {}
            self.source_ids_by_content = {}
        else:
            if self.broken or parts is None or self.current is None:
                return done
            if parts[0] is not self.current_cells:
                # cells that differ from the incident's first row must agree with it
                first = self.current["incident"]
                for key, value in parts[0].items():
                    if key[0] == "_":
                        continue
                    if key in first and first[key] != value:
                        self.report.add(line, key, f"differs from row {self.current_line} of the same incident ({first[key]!r} there, {value!r} here)")
                    elif key not in first:
                        first[key] = value
        self._add_act(line, parts)
        return done

    def _add_act(self, line: int, parts: tuple[dict[str, Any], ...]) -> None:
        current = self.current
        assert current is not None
        add = self.report.add
        _incident, cells, target, actor, involvement, source = parts
        if cells is self.last_act_cells:
            # the same cells (and so the same id and content) as the act of the previous row
            act = self.last_act
            assert act is not None
        else:
            act = dict(cells)
            act_id = act.get("id")
            if act_id is None:
                # a row without act_id is an act of its own, numbered A1, A2, ... in its incident
                n = len(current["acts"]) + 1
                while f"A{n}" in self.acts_by_id:
                    n += 1
                act_id = f"A{n}"
            act["id"] = act_id
            secondary = act.get("secondary_tactics")
            if not secondary:
                act["secondary_tactics"] = []
            elif act["primary_tactic"] in secondary:
                act["secondary_tactics"] = [t for t in secondary if t != act["primary_tactic"]]
            act["involvements"] = []
            earlier = self.acts_by_id.get(act_id)
            if earlier is not None:
                # a further row of the same act: it may add an actor or a source, nothing else
                for key in ("primary_tactic", "secondary_tactics", "pretext", "outcome", "target"):
                    if earlier.get(key) != act.get(key):
                        column = {"target": "target_id"}.get(key, key)
                        add(line, "act_id", f"duplicate act id {act_id!r} in incident {current['incident']['id']!r} "
                                            f"with different content ({column}: {earlier.get(key)!r} vs {act.get(key)!r})")
                        return
                act = earlier
            else:
                self.acts_by_id[act_id] = act
                current["acts"].append(act)
            if "id" in cells:  # rows without an act id are acts of their own, even if alike
                self.last_act_cells, self.last_act = cells, act
        pid = act.get("target")
        if pid is not None:
            # persons are many: each is kept as a small tuple of shared values, not a dict
            profile = person_profile(target)
            # the rows of one act name the same person: skip the register for them
            known = self.last_person if pid is self.last_pid else self.persons.get(pid)
            if known is None:
                self.persons.add(pid, line, profile)
                self.last_pid, self.last_person = pid, (line, profile)
                if self.keep:
                    current["persons"].append({**target, "id": pid})
            else:
                self.last_pid, self.last_person = pid, known
                if known[1] != profile:
                    self._profile_conflict(line, "person", pid, "target_", PERSON_FIELDS, known, target)
        elif target:
            add(line, "target_id", "target profile given without a target_id")
        if actor:
            actor_id = actor.get("id")
            if actor_id is None:
                actor_id = f"{actor.get('type', 'unknown')}:{actor.get('state') or ''}:{actor.get('name', '')}"[:EXTERNAL_ID_MAX]
                actor = {**actor, "id": actor_id}
            # actors are few and repeat: each is kept as the dict of the row that introduced it
            # (shared with the memo); the same dict, or an equal one, is the same profile
            known_actor = self.actors.get(actor_id)
            if known_actor is None:
                if "type" not in actor:
                    add(line, "actor_type", f"actor {actor_id!r} needs a type")
                    return
                self.actors.add(actor_id, line, actor)
                if self.keep:
                    current["actors"].append(actor)
            elif known_actor[1] is not actor and known_actor[1] != actor:
                # both dicts hold the id; their other keys are profile fields
                self._profile_conflict(line, "actor", actor_id, "actor_", ACTOR_FIELDS, known_actor, actor)
            if self.keep:
                act["involvements"].append({"actor": actor_id, "degree": involvement.get("degree", "unknown")})
        elif involvement:
            add(line, "involvement_degree", "involvement degree given without an actor")
        if source:
            if "type" not in source:
                add(line, "source_type", "a source needs a type")
                return
            # the fields in column order; every row has the same columns
            content = tuple(item for item in source.items() if item[0] != "id")
            sid = source.get("id")
            if sid is None:
                # no id: the same description is the same source
                sid = self.source_ids_by_content.get(content)
                if sid is None:
                    n = len(self.sources_by_id) + 1
                    while f"S{n}" in self.sources_by_id:
                        n += 1
                    sid = f"S{n}"
                source = {**source, "id": sid}
            known_content = self.sources_by_id.get(sid)
            if known_content is None:
                self.sources_by_id[sid] = content
                self.source_ids_by_content.setdefault(content, sid)
                if self.keep:
                    current["sources"].append(source)
            elif known_content != content:
                add(line, "source_id", f"source id {sid!r} is used for two different sources in incident {current['incident']['id']!r}")

    def _profile_conflict(
        self, line: int, what: str, key: str, prefix: str, fields: tuple[str, ...],
        known: tuple[int, tuple[Any, ...] | dict[str, Any]], given: dict[str, Any],
    ) -> None:
        """Report the first field ``given`` states otherwise than the row that introduced ``key``.

        A row may leave a field of a known person or actor empty; it may not change it.
        """
        first_line, values = known
        if not isinstance(values, dict):
            values = dict(zip(fields, values, strict=True))
        for f in fields:
            before = values.get(f, _MISSING)
            now = given.get(f, _MISSING)
            if now is not _MISSING and now != before:
                was = "empty" if before is _MISSING else repr(before)
                self.report.add(line, f"{prefix}{f}", f"{what} {key!r} is described differently on row {first_line} "
                                                      f"({was} there, {now!r} here)")
                return

    def finish(self) -> dict[str, Any]:
        assert self.current is not None
        bundle = self.current
        inc = bundle["incident"]
        inc.pop("_precision_given", None)
        if "mass_event" not in inc and self.keep:
            targets = {a.get("target") for a in bundle["acts"] if a.get("target")}
            inc["mass_event"] = len(targets) >= 3
        self.current = None
        return bundle

    def close(self) -> Iterator[dict[str, Any]]:
        if self.current is not None:
            yield self.finish()

    def release(self) -> None:
        """Drop the whole-file registers (and their temporary files)."""
        for register in (self.seen_incidents, self.persons, self.actors):
            register.close()


def iter_flat_bundles(
    report: ImportReport, header: list[str], rows: Iterable[tuple[int, Sequence[str] | dict[str, str]]],
    *, keep: bool = True,
) -> Iterator[dict[str, Any]]:
    """Incident bundles from flat rows: lists of cells in ``header`` order, or dicts by column.

    Without ``keep`` (a validation), bundles hold only the incident and its acts.
    """
    assembler = FlatAssembler(report, header, keep=keep)
    if not assembler.check_header(header):
        return
    fed = 0
    take = assembler.take
    try:
        for line, row in rows:
            fed += 1
            done = take(line, [row.get(h, "") for h in header] if isinstance(row, dict) else row)
            if done is not None:
                yield done
        report.rows += fed
        yield from assembler.close()
    finally:
        assembler.release()
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


def _adder(report: ImportReport, path: str) -> Callable[[str, str], None]:
    """Report problems of the JSON object at ``path`` (column: the path of the field)."""

    def add(column: str, message: str) -> None:
        report.add(None, f"{path}.{column}", message)

    return add


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
            seen_relations.add((other, rel.get("type")))
        check_consents(person.get("consents", []), _adder(report, path))
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
            check_incident_dates(inc, None, _adder(report, path))
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
                act_ids.add(act.get("id"))
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
                source_ids.add(src.get("id"))
            yield {"incident": inc, "acts": acts, "sources": sources, "where": (None, f"{path}.id")}

    return meta, bundles()


# --- the two entry points ----------------------------------------------------------------------

# Reading a file allocates a few short-lived containers per row (cells, tuples, dicts) and keeps
# many (ids, profiles): the cyclic collector's default pace (a pass every 700 allocations) cost
# about a tenth of the time. Nearly all of it is acyclic and freed by reference counting, so the
# collector runs less often while files are read (process-wide, restored by the last reader).
GC_THRESHOLD_WHILE_READING = 50_000
_gc_lock = threading.Lock()
_gc_readers = 0
_gc_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    global _gc_readers, _gc_saved
    with _gc_lock:
        if _gc_readers == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], GC_THRESHOLD_WHILE_READING), _gc_saved[1], _gc_saved[2])
        _gc_readers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_readers -= 1
            if _gc_readers == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


def _bundles_for(
    path: Path, report: ImportReport, *, mapping: Path | None, progress: Callable[[int], None] | None,
    keep: bool = True,
) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    readers.check_size(path)
    if mapping is not None:
        from tnr.exchange.crosswalk_import import mapped_rows

        header, rows = mapped_rows(path, mapping, report, progress)
        return {}, iter_flat_bundles(report, header, rows, keep=keep)
    fmt = readers.detect_format(path)
    if fmt == "json":
        return iter_json_bundles(report, readers.read_json(path))
    if fmt == "xlsx":
        header, rows = readers.read_xlsx(path, progress, report.add, as_lists=True)
    else:
        header, rows = readers.read_csv(path, progress, report.add, as_lists=True)
    return {}, iter_flat_bundles(report, header, rows, keep=keep)


def validate_file(
    path: Path | str, *, mapping: Path | str | None = None, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Check a file completely without writing anything."""
    path = Path(path)
    report = ImportReport(path.name, importing=False)
    with _fewer_collections():
        return _validate(path, report, mapping=mapping, progress=progress)


def _validate(
    path: Path, report: ImportReport, *, mapping: Path | str | None, progress: Callable[[int], None] | None
) -> ImportReport:
    try:
        _meta, bundles = _bundles_for(
            path, report, mapping=Path(mapping) if mapping else None, progress=progress, keep=False
        )
        counts = {"incidents": 0, "acts": 0}
        for bundle in bundles:
            if bundle.get("incident") is not None:
                counts["incidents"] += 1
                counts["acts"] += len(bundle["acts"])
        report.counts = counts
    except FileProblem as exc:
        report.add(exc.line, exc.column, exc.message)
    return report


# Incidents written per batch: large enough that per-statement costs fade, small enough that
# a batch's rows stay a small constant in memory.
BATCH_SIZE = 2000


def import_file(
    path: Path | str,
    organisation: Organisation,
    *,
    mapping: Path | str | None = None,
    synthetic: bool | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int | None = None,
) -> ImportReport:
    """Import a file into ``organisation``; raise ImportFailed (nothing written) on any problem.

    Everything happens in one transaction. Batches are written as the file is read, so a
    problem found late rolls back what earlier batches wrote; once a problem is found, the
    rest of the file is still checked (nothing more is written) so all problems are reported.
    """
    path = Path(path)
    report = ImportReport(path.name)
    batch_size = batch_size or BATCH_SIZE
    with _fewer_collections(), transaction.atomic():
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
