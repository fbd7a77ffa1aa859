"""Crosswalk: turn an outside dataset's rows into flat rows, driven by a declarative mapping file.

An outside file (a CSV of killings, a spreadsheet of detentions…) has its own columns and
codes. A *mapping file* (YAML, see ``docs/crosswalk-mapping.md``) says, field by field, how to
fill the flat exchange row (one row per act, every value a string, lists ``;``-separated) that
the importer consumes. This module reads and checks mapping files and applies them; it knows
nothing of the database and must not import Django, so it can run anywhere (CI, a partner's
laptop) and be tested on its own.

Rows that cannot be placed in the common data model are *flagged*, never guessed: the mapped
row is ``None`` and ``flags`` says why, one string per problem, in the form
``"<category>: <detail>"``; :func:`flag_category` returns the part before the first ``": "``.

Public API::

    mapping = load_mapping(path)                      # raises MappingError
    problems = check_columns(mapping, header)         # missing required columns, as messages
    for mapped in apply_mapping(mapping, rows):       # streaming
        mapped.line, mapped.row, mapped.flags
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as AbcMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycountry
import yaml

from tnr.taxonomy import vocab

__all__ = [
    "CHOICES",
    "FLAT_COLUMNS",
    "LIST_SEPARATOR",
    "MappedRow",
    "Mapping",
    "MappingError",
    "allowed_codes",
    "apply_mapping",
    "check_columns",
    "flag_category",
    "load_mapping",
    "open_source",
    "parse_date_text",
]

# --------------------------------------------------------------------------------------------
# The target: the flat exchange row
# --------------------------------------------------------------------------------------------

LIST_SEPARATOR = ";"

# Same names and order as ``tnr.exchange.flat.FLAT_COLUMN_NAMES`` (which needs Django to build;
# a test checks the two agree).
FLAT_COLUMNS: tuple[str, ...] = (
    # incident
    "incident_id", "title", "summary", "start_date", "end_date", "date_precision",
    "location_country", "admin_area", "city", "location_type", "origin_state",
    "perpetrator_states", "host_state", "host_state_role", "mass_event", "confidence",
    "independent_sources", "sensitivity", "sharing",
    # act
    "act_id", "target_id", "primary_tactic", "secondary_tactics", "pretext", "outcome",
    # target (person)
    "target_sex", "target_age_group", "target_nationality", "target_host_status",
    "target_categories",
    # actor and involvement
    "actor_id", "actor_type", "actor_state", "actor_name", "involvement_degree",
    # source
    "source_id", "source_type", "source_organisation", "source_reference", "source_date",
    "source_reliability", "source_connection",
)  # fmt: skip

LIST_FIELDS = frozenset(
    {"perpetrator_states", "secondary_tactics", "target_nationality", "target_categories"}
)
COUNTRY_FIELDS = frozenset(
    {"location_country", "origin_state", "perpetrator_states", "host_state",
     "target_nationality", "actor_state"}
)  # fmt: skip
DATE_FIELDS = frozenset({"start_date", "end_date", "source_date"})
INT_FIELDS = frozenset({"independent_sources"})
#: Filled together by the mapping's ``dates:`` block.
DATES_BLOCK_FIELDS = ("start_date", "end_date", "date_precision")

#: Flat columns whose codes come from the versioned vocabulary files (tnr.taxonomy.vocab).
VOCABULARY_OF: dict[str, str] = {
    "primary_tactic": "tactic",
    "secondary_tactics": "tactic",
    "outcome": "outcome",
    "location_type": "location_type",
    "actor_type": "actor_type",
    "source_type": "source_type",
    "target_categories": "target_category",
}
#: The fixed choice sets of the data model (tnr.records.choices, which needs Django; a test
#: checks they agree). They change only with a schema version.
CHOICES: dict[str, frozenset[str]] = {
    "date_precision": frozenset({"day", "month", "year"}),
    "host_state_role": frozenset({"none", "co_opted", "complicit", "unknown"}),
    "mass_event": frozenset({"true", "false"}),
    "confidence": frozenset({"confirmed", "probable", "possible"}),
    "sensitivity": frozenset({"low", "medium", "high"}),
    "sharing": frozenset({"internal", "partners", "aggregate", "public"}),
    "target_sex": frozenset({"female", "male", "other", "unknown"}),
    "target_age_group": frozenset({"under_18", "18_29", "30_44", "45_64", "65_plus", "unknown"}),
    "target_host_status": frozenset({"citizen", "resident", "refugee", "asylum_seeker",
                                     "student", "worker", "undocumented", "stateless",
                                     "unknown"}),
    "involvement_degree": frozenset({"perpetrator", "instigator", "facilitator",
                                     "co_opted_host_authority", "unknown"}),
    "source_reliability": frozenset({"high", "medium", "low", "unknown"}),
    "source_connection": frozenset({"first_hand", "second_hand", "unknown"}),
}  # fmt: skip


@functools.cache
def allowed_codes(target: str) -> frozenset[str] | None:
    """The codes a flat column accepts, or ``None`` for a column without a code list."""
    if target in CHOICES:
        return CHOICES[target]
    if target in VOCABULARY_OF:
        return frozenset(vocab.load_vocabulary(VOCABULARY_OF[target]).codes)
    return None


_ALPHA2 = frozenset(c.alpha_2 for c in pycountry.countries)
_ALPHA3 = {c.alpha_3: c.alpha_2 for c in pycountry.countries}
_COUNTRY_NAMES: dict[str, str] = {}
for _c in pycountry.countries:
    for _attr in ("name", "official_name", "common_name"):
        _n = getattr(_c, _attr, None)
        if _n:
            _COUNTRY_NAMES.setdefault(_n.casefold(), _c.alpha_2)


# --------------------------------------------------------------------------------------------
# Errors and results
# --------------------------------------------------------------------------------------------


class MappingError(ValueError):
    """The mapping file is malformed. The message names the file and the offending key."""


@dataclass(frozen=True)
class MappedRow:
    """One source row after mapping: ``row`` is the flat row, or ``None`` when flagged out."""

    line: int
    row: dict[str, str] | None
    flags: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.row is not None


def flag_category(flag: str) -> str:
    """The category of a flag: the text before the first ``": "`` (e.g. ``"out of scope"``)."""
    return flag.split(": ", 1)[0]


# --------------------------------------------------------------------------------------------
# Compiled mapping
# --------------------------------------------------------------------------------------------

_SOURCES = ("from", "value", "template", "coalesce", "cases", "collect", "flag")
_TRANSFORMS = (
    "demojibake",
    "regex",
    "group",
    "first_of_list",
    "split",
    "values",
    "patterns",
    "country",
    "default",
    "unmapped_reason",
    "required",
)
_SPEC_KEYS = frozenset(_SOURCES) | frozenset(_TRANSFORMS) | {"else", "note"}
_TESTS = frozenset({"in", "not_in", "matches", "not_matches", "empty", "same_as", "differs_from"})
_TOP_KEYS = frozenset(
    {
        "mapping",
        "version",
        "description",
        "credit",
        "source",
        "source_format",
        "required_columns",
        "defaults",
        "exclude",
        "dates",
        "columns",
    }
)
_DEMOJIBAKE = frozenset({"mac_roman"})
_COUNTRY_MODES = frozenset({"name", "alpha2", "alpha3"})


@dataclass(frozen=True)
class _Test:
    ref: str  # source column, or "$field" for a value computed earlier
    kind: str
    arg: Any


@dataclass(frozen=True)
class _Spec:
    path: str
    kind: str
    arg: Any
    demojibake: str | None = None
    regex: re.Pattern[str] | None = None
    group: int | str = 0
    first_of_list: str | None = None
    split: str | None = None
    values: dict[str, str] | None = None
    patterns: tuple[tuple[re.Pattern[str], str], ...] | None = None
    country: str | None = None
    default: str | None = None
    unmapped_reason: str | None = None
    required: str | None = None
    otherwise: _Spec | None = None  # the ``else`` of ``cases``

    @property
    def maps(self) -> bool:
        return self.values is not None or self.patterns is not None or self.country is not None


@dataclass(frozen=True)
class _Exclude:
    reason: str
    when: tuple[_Test, ...]


@dataclass(frozen=True)
class _Dates:
    source: str
    formats: tuple[str, ...]
    qualifier: str | None
    check_consistent: bool


@dataclass(frozen=True)
class Mapping:
    """A loaded, checked mapping file. Build it with :func:`load_mapping`."""

    name: str
    version: int
    description: str
    credit: str
    path: str
    encoding: str
    delimiter: str
    required_columns: tuple[str, ...]
    defaults: dict[str, str] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    _exclude: tuple[_Exclude, ...] = ()
    _dates: _Dates | None = None
    _columns: tuple[tuple[str, _Spec], ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """Flat columns this mapping fills (from columns, dates or defaults)."""
        filled = set(self.defaults) | {name for name, _ in self._columns}
        if self._dates:
            filled |= set(DATES_BLOCK_FIELDS)
        return tuple(c for c in FLAT_COLUMNS if c in filled)


# --------------------------------------------------------------------------------------------
# Loading and checking a mapping file
# --------------------------------------------------------------------------------------------


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.required: frozenset[str] = frozenset()
        self.defined: set[str] = set()

    def error(self, key: str, message: str) -> MappingError:
        return MappingError(f"{self.path}: {key}: {message}")

    # -- scalars --------------------------------------------------------------------------

    def text(self, key: str, value: Any, *, what: str = "a string") -> str:
        if isinstance(value, bool) or not isinstance(value, str):
            hint = (
                (
                    " (YAML reads unquoted Yes/No/true/false/on/off as booleans and bare "
                    "numbers as numbers: put the value in quotes)"
                )
                if value is not None
                else ""
            )
            raise self.error(key, f"must be {what}, got {_yaml_repr(value)}{hint}")
        return value

    def constant(self, key: str, value: Any) -> str:
        """A constant output value: a string, or a YAML number/boolean written out."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, list):
            return LIST_SEPARATOR.join(self.constant(f"{key}[{i}]", v) for i, v in enumerate(value))
        return self.text(key, value)

    def regex(self, key: str, value: Any) -> re.Pattern[str]:
        try:
            return re.compile(self.text(key, value), re.IGNORECASE)
        except re.error as exc:
            raise self.error(key, f"invalid regular expression: {exc}") from None

    def mapping(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"must be a mapping of keys to values, got {_yaml_repr(value)}")
        return value

    def seq(self, key: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(key, f"must be a list, got {_yaml_repr(value)}")
        return value

    # -- references -----------------------------------------------------------------------

    def ref(self, key: str, name: Any, *, allow_computed: bool = True) -> str:
        name = self.text(key, name, what="a column name")
        if name.startswith("$"):
            target = name[1:]
            if not allow_computed:
                raise self.error(key, f"{name!r}: only source columns can be used here")
            if target not in self.defined:
                raise self.error(
                    key,
                    f"{name!r} refers to a field that is not computed before this point "
                    "(use fields from defaults or dates, or columns listed earlier)",
                )
            return name
        if name not in self.required:
            raise self.error(key, f"source column {name!r} is not listed in required_columns")
        return name

    def check_output(self, key: str, target: str, value: str) -> None:
        """A constant written for ``target`` must be a valid code for it."""
        if target.startswith("_") or value == "":
            return
        items = value.split(LIST_SEPARATOR) if target in LIST_FIELDS else [value]
        for item in items:
            problem = _invalid_item(target, item)
            if problem:
                raise self.error(key, problem)

    # -- conditions -----------------------------------------------------------------------

    def when(self, key: str, value: Any, *, allow_computed: bool = True) -> tuple[_Test, ...]:
        conditions = self.mapping(key, value)
        if not conditions:
            raise self.error(key, "must name at least one column to test")
        tests: list[_Test] = []
        for col, test in conditions.items():
            ckey = f"{key}.{col}"
            ref = self.ref(ckey, col, allow_computed=allow_computed)
            if isinstance(test, (str, list)) or test is None or isinstance(test, bool):
                tests.append(_Test(ref, "in", self.string_set(ckey, test)))
                continue
            for kind, arg in self.mapping(ckey, test).items():
                tkey = f"{ckey}.{kind}"
                if kind not in _TESTS:
                    raise self.error(
                        tkey, f"unknown test {kind!r} (known: {', '.join(sorted(_TESTS))})"
                    )
                if kind in ("in", "not_in"):
                    tests.append(_Test(ref, kind, self.string_set(tkey, arg)))
                elif kind in ("matches", "not_matches"):
                    tests.append(_Test(ref, kind, self.regex(tkey, arg)))
                elif kind == "empty":
                    if not isinstance(arg, bool):
                        raise self.error(tkey, "must be true or false")
                    tests.append(_Test(ref, kind, arg))
                else:
                    tests.append(
                        _Test(ref, kind, self.ref(tkey, arg, allow_computed=allow_computed))
                    )
        return tuple(tests)

    def string_set(self, key: str, value: Any) -> frozenset[str]:
        items = value if isinstance(value, list) else [value]
        return frozenset(self.text(f"{key}[{i}]", v) for i, v in enumerate(items))

    # -- value specs ----------------------------------------------------------------------

    def spec(self, key: str, raw: Any, target: str) -> _Spec:
        raw = self.mapping(key, raw)
        unknown = sorted(set(raw) - _SPEC_KEYS)
        if unknown:
            raise self.error(
                f"{key}.{unknown[0]}",
                f"unknown operation {unknown[0]!r} (known: {', '.join(sorted(_SPEC_KEYS - {'note'}))})",
            )
        sources = [k for k in _SOURCES if k in raw]
        if len(sources) != 1:
            got = ", ".join(sources) if sources else "none"
            raise self.error(
                key,
                f"needs exactly one of {', '.join(_SOURCES)} (the `from` column or "
                f"another source of the value); got {got}",
            )
        kind = sources[0]
        arg = raw[kind]
        akey = f"{key}.{kind}"
        otherwise: _Spec | None = None
        if "else" in raw and kind != "cases":
            raise self.error(f"{key}.else", "`else` belongs with `cases`")
        if kind == "from":
            arg = self.ref(akey, arg)
        elif kind == "value":
            arg = self.constant(akey, arg)
            if not raw.keys() & {"values", "patterns", "country"}:
                self.check_output(akey, target, arg)
        elif kind == "template":
            arg = self.text(akey, arg)
            for name in _PLACEHOLDER.findall(arg):
                self.ref(akey, name.split("|", 1)[0])
        elif kind == "flag":
            arg = self.text(akey, arg, what="a reason, e.g. 'category: why'")
        elif kind in ("coalesce", "collect"):
            items = self.seq(akey, arg)
            if not items:
                raise self.error(akey, "must list at least one value")
            arg = tuple(self.spec(f"{akey}[{i}]", s, target) for i, s in enumerate(items))
        else:  # cases
            items = self.seq(akey, arg)
            if not items:
                raise self.error(akey, "must list at least one case")
            cases = []
            for i, case in enumerate(items):
                ckey = f"{akey}[{i}]"
                case = self.mapping(ckey, case)
                extra = sorted(set(case) - {"when", "then"})
                if extra or "when" not in case or "then" not in case:
                    raise self.error(
                        ckey,
                        "each case is {when: {...}, then: {...}}"
                        + (f"; unknown key {extra[0]!r}" if extra else ""),
                    )
                cases.append(
                    (
                        self.when(f"{ckey}.when", case["when"]),
                        self.spec(f"{ckey}.then", case["then"], target),
                    )
                )
            arg = tuple(cases)
            if "else" in raw:
                otherwise = self.spec(f"{key}.else", raw["else"], target)

        kw: dict[str, Any] = {}
        if "demojibake" in raw:
            mode = self.text(f"{key}.demojibake", raw["demojibake"])
            if mode not in _DEMOJIBAKE:
                raise self.error(
                    f"{key}.demojibake",
                    f"unknown repair {mode!r} (known: {', '.join(sorted(_DEMOJIBAKE))})",
                )
            kw["demojibake"] = mode
        if "regex" in raw:
            pattern = self.regex(f"{key}.regex", raw["regex"])
            group = raw.get("group", 1 if pattern.groups else 0)
            if isinstance(group, bool) or not isinstance(group, (int, str)):
                raise self.error(f"{key}.group", "must be a group number or name")
            if isinstance(group, int) and not 0 <= group <= pattern.groups:
                raise self.error(
                    f"{key}.group", f"the pattern has {pattern.groups} group(s), not {group}"
                )
            if isinstance(group, str) and group not in pattern.groupindex:
                raise self.error(f"{key}.group", f"the pattern has no group named {group!r}")
            kw["regex"], kw["group"] = pattern, group
        elif "group" in raw:
            raise self.error(f"{key}.group", "`group` belongs with `regex`")
        if "first_of_list" in raw and "split" in raw:
            raise self.error(key, "use either `first_of_list` or `split`, not both")
        for op in ("first_of_list", "split"):
            if op in raw:
                sep = self.text(f"{key}.{op}", raw[op], what="a separator such as ';'")
                if not sep:
                    raise self.error(f"{key}.{op}", "the separator must not be empty")
                kw[op] = sep
        if "split" in raw and target not in LIST_FIELDS and not target.startswith("_"):
            raise self.error(f"{key}.split", f"{target} is not a list field; use first_of_list")
        if "values" in raw:
            table = self.mapping(f"{key}.values", raw["values"])
            values: dict[str, str] = {}
            for src, out in table.items():
                vkey = f"{key}.values.{src}"
                src = "" if src is None else self.text(vkey, src, what="a source value (a string)")
                values[src] = self.constant(vkey, "" if out is None else out)
                self.check_output(vkey, target, values[src])
            kw["values"] = values
        if "patterns" in raw:
            pats = []
            for i, pair in enumerate(self.seq(f"{key}.patterns", raw["patterns"])):
                pkey = f"{key}.patterns[{i}]"
                if not isinstance(pair, list) or len(pair) != 2:
                    raise self.error(pkey, "each pattern is a pair [regular expression, value]")
                out = self.constant(pkey, pair[1])
                self.check_output(pkey, target, out)
                pats.append((self.regex(pkey, pair[0]), out))
            kw["patterns"] = tuple(pats)
        if "country" in raw:
            mode = self.text(f"{key}.country", raw["country"])
            if mode not in _COUNTRY_MODES:
                raise self.error(
                    f"{key}.country",
                    f"unknown country input {mode!r} (known: {', '.join(sorted(_COUNTRY_MODES))})",
                )
            if not target.startswith("_") and target not in COUNTRY_FIELDS:
                raise self.error(f"{key}.country", f"{target} is not a country field")
            kw["country"] = mode
        if "default" in raw or "unmapped_reason" in raw:
            if not raw.keys() & {"values", "patterns", "country"}:
                op = "default" if "default" in raw else "unmapped_reason"
                raise self.error(f"{key}.{op}", f"`{op}` belongs with values, patterns or country")
            if "default" in raw and "unmapped_reason" in raw:
                raise self.error(key, "use either `default` or `unmapped_reason`, not both")
        if "default" in raw:
            kw["default"] = self.constant(
                f"{key}.default", "" if raw["default"] is None else raw["default"]
            )
            self.check_output(f"{key}.default", target, kw["default"])
        if "unmapped_reason" in raw:
            kw["unmapped_reason"] = self.text(f"{key}.unmapped_reason", raw["unmapped_reason"])
        if "required" in raw:
            req = raw["required"]
            if req is True:
                kw["required"] = f"missing value: {target} is empty"
            elif req is not False:
                kw["required"] = self.text(f"{key}.required", req, what="true or a reason")
        return _Spec(path=key, kind=kind, arg=arg, otherwise=otherwise, **kw)

    # -- dates ----------------------------------------------------------------------------

    def dates(self, raw: Any) -> _Dates:
        raw = self.mapping("dates", raw)
        unknown = sorted(set(raw) - {"from", "format", "qualifier", "check_consistent", "note"})
        if unknown:
            raise self.error(
                f"dates.{unknown[0]}",
                f"unknown key {unknown[0]!r} (known: from, format, qualifier, check_consistent)",
            )
        if "from" not in raw:
            raise self.error("dates.from", "missing: the column holding the date")
        fmts = raw.get("format", "%Y-%m-%d")
        fmts = fmts if isinstance(fmts, list) else [fmts]
        formats = tuple(self.text(f"dates.format[{i}]", f) for i, f in enumerate(fmts))
        for i, f in enumerate(formats):
            if "%Y" not in f and "%y" not in f:
                raise self.error(f"dates.format[{i}]", f"{f!r} has no year (%Y or %y)")
        qualifier = None
        if raw.get("qualifier") is not None:
            qualifier = self.ref("dates.qualifier", raw["qualifier"], allow_computed=False)
        check = raw.get("check_consistent", True)
        if not isinstance(check, bool):
            raise self.error("dates.check_consistent", "must be true or false")
        return _Dates(
            self.ref("dates.from", raw["from"], allow_computed=False), formats, qualifier, check
        )

    # -- the whole file -------------------------------------------------------------------

    def load(self, doc: Any) -> Mapping:
        doc = self.mapping("(top level)", doc)
        unknown = sorted(set(doc) - _TOP_KEYS)
        if unknown:
            raise self.error(unknown[0], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
        for key in ("mapping", "version", "required_columns", "columns"):
            if key not in doc:
                raise self.error(key, "missing")
        name = self.text("mapping", doc["mapping"])
        version = doc["version"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.error("version", "must be a whole number ≥ 1")
        description = self.text("description", doc.get("description", ""))
        credit = self.text("credit", doc.get("credit", ""))
        source = {
            k: self.constant(f"source.{k}", v)
            for k, v in self.mapping("source", doc.get("source") or {}).items()
        }

        fmt = self.mapping("source_format", doc.get("source_format") or {})
        unknown = sorted(set(fmt) - {"encoding", "delimiter"})
        if unknown:
            raise self.error(
                f"source_format.{unknown[0]}", "unknown key (known: encoding, delimiter)"
            )
        encoding = self.text("source_format.encoding", fmt.get("encoding", "utf-8"))
        try:
            "".encode(encoding)
        except LookupError:
            raise self.error("source_format.encoding", f"unknown encoding {encoding!r}") from None
        delimiter = self.text("source_format.delimiter", fmt.get("delimiter", ","))
        if len(delimiter) != 1:
            raise self.error("source_format.delimiter", "must be one character")

        required = self.seq("required_columns", doc["required_columns"])
        self.required = frozenset(
            self.text(f"required_columns[{i}]", c) for i, c in enumerate(required)
        )
        if len(self.required) != len(required):
            raise self.error("required_columns", "lists a column twice")

        defaults: dict[str, str] = {}
        for target, value in self.mapping("defaults", doc.get("defaults") or {}).items():
            key = f"defaults.{target}"
            if target not in FLAT_COLUMNS:
                raise self.error(key, "not a flat-row column")
            defaults[target] = self.constant(key, "" if value is None else value)
            self.check_output(key, target, defaults[target])
        self.defined |= set(defaults)

        exclude = []
        for i, rule in enumerate(self.seq("exclude", doc.get("exclude") or [])):
            key = f"exclude[{i}]"
            rule = self.mapping(key, rule)
            extra = sorted(set(rule) - {"when", "reason", "note"})
            if extra or "when" not in rule or "reason" not in rule:
                raise self.error(
                    key,
                    "each rule is {when: {...}, reason: '...'}"
                    + (f"; unknown key {extra[0]!r}" if extra else ""),
                )
            exclude.append(
                _Exclude(
                    self.text(f"{key}.reason", rule["reason"]),
                    self.when(f"{key}.when", rule["when"], allow_computed=False),
                )
            )

        dates = None
        if doc.get("dates") is not None:
            dates = self.dates(doc["dates"])
            clash = sorted(set(DATES_BLOCK_FIELDS) & set(defaults))
            if clash:
                raise self.error(f"defaults.{clash[0]}", "is filled by the dates block")
            self.defined |= set(DATES_BLOCK_FIELDS)

        columns: list[tuple[str, _Spec]] = []
        for target, raw in self.mapping("columns", doc["columns"]).items():
            key = f"columns.{target}"
            if not isinstance(target, str) or not (
                target in FLAT_COLUMNS or target.startswith("_")
            ):
                raise self.error(key, "not a flat-row column (helper fields start with '_')")
            if target in defaults:
                raise self.error(key, "is also set in defaults; keep one")
            if dates and target in DATES_BLOCK_FIELDS:
                raise self.error(key, "is filled by the dates block")
            columns.append((target, self.spec(key, raw, target)))
            self.defined.add(target)
        return Mapping(
            name=name,
            version=version,
            description=description,
            credit=credit,
            path=str(self.path),
            encoding=encoding,
            delimiter=delimiter,
            required_columns=tuple(self.text("required_columns", c) for c in required),
            defaults=defaults,
            source=source,
            _exclude=tuple(exclude),
            _dates=dates,
            _columns=tuple(columns),
        )


def _yaml_repr(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file (YAML). Raises :class:`MappingError` naming file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping file: {exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: (file): not valid YAML: {exc}") from None
    return _Loader(path).load(doc)


def check_columns(mapping: Mapping, header: Iterable[str]) -> list[str]:
    """Messages for each required column missing from ``header`` (empty list: all present)."""
    present = {h for h in header if h is not None}
    return [
        f"missing column {col!r} (required by mapping {mapping.name!r}, {mapping.path})"
        for col in mapping.required_columns
        if col not in present
    ]


@contextmanager
def open_source(
    mapping: Mapping, path: str | Path
) -> Iterator[tuple[list[str], Iterator[dict[str, str]]]]:
    """Open a delimited source file with the mapping's encoding and delimiter.

    Yields ``(header, rows)``; ``rows`` streams dicts and is valid inside the ``with`` block.
    """
    with open(path, encoding=mapping.encoding, newline="") as fh:
        reader = csv.DictReader(fh, delimiter=mapping.delimiter)
        header = list(reader.fieldnames or [])
        yield header, iter(reader)


# --------------------------------------------------------------------------------------------
# Applying a mapping
# --------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class _Row:
    """Evaluation state of one source row."""

    def __init__(self, src: AbcMapping[str, Any], out: dict[str, str]) -> None:
        self.src = src
        self.out = out
        self.flags: list[str] = []

    def get(self, ref: str) -> str:
        if ref.startswith("$"):
            return self.out.get(ref[1:], "")
        value = self.src.get(ref)
        return value.strip() if isinstance(value, str) else ""

    def flag(self, message: str) -> None:
        if message not in self.flags:
            self.flags.append(message)


def _holds(test: _Test, row: _Row) -> bool:
    value = row.get(test.ref)
    if test.kind == "in":
        return value in test.arg
    if test.kind == "not_in":
        return value not in test.arg
    if test.kind == "matches":
        return bool(test.arg.search(value))
    if test.kind == "not_matches":
        return not test.arg.search(value)
    if test.kind == "empty":
        return (value == "") is test.arg
    if test.kind == "same_as":
        return value == row.get(test.arg)
    return value != row.get(test.arg)  # differs_from


def _all_hold(tests: Iterable[_Test], row: _Row) -> bool:
    return all(_holds(t, row) for t in tests)


def _render(template: str, row: _Row) -> str:
    def one(match: re.Match[str]) -> str:
        name, _, fallback = match.group(1).partition("|")
        return row.get(name) or fallback

    return _PLACEHOLDER.sub(one, template)


def _repair_mac_roman(value: str) -> str:
    """Undo Latin-1 text that was decoded as Mac Roman ('S„o Paulo' → 'São Paulo')."""
    if value.isascii():
        return value
    try:
        repaired = value.encode("mac_roman").decode("latin-1")
    except UnicodeError:
        return value
    if any("\x80" <= ch <= "\x9f" for ch in repaired):
        return value
    return repaired


def _country_code(mode: str, value: str) -> str | None:
    if mode == "alpha2":
        return value.upper() if value.upper() in _ALPHA2 else None
    if mode == "alpha3":
        return _ALPHA3.get(value.upper())
    return _COUNTRY_NAMES.get(value.casefold())


def _map_item(spec: _Spec, item: str, row: _Row, target: str, ref: str) -> str:
    if spec.values is not None and item in spec.values:
        return spec.values[item]
    if item == "":
        return ""
    for pattern, out in spec.patterns or ():
        if pattern.search(item):
            return out
    if spec.country is not None:
        code = _country_code(spec.country, item)
        if code:
            return code
    if spec.default is not None:
        return spec.default
    where = f"{target}: {ref}={item!r}" if ref else f"{target}: {item!r}"
    if spec.unmapped_reason:
        row.flag(f"{spec.unmapped_reason} ({where})")
    elif spec.country is not None:
        row.flag(f"unknown country: {where} is not a country name the mapping knows")
    else:
        row.flag(f"unmapped value: {where} is not in the mapping's table")
    return ""


def _evaluate(spec: _Spec, row: _Row, target: str) -> str:
    flags_before = len(row.flags)
    ref = ""
    if spec.kind == "from":
        ref = spec.arg
        value = row.get(ref)
    elif spec.kind == "value":
        value = spec.arg
    elif spec.kind == "template":
        value = _render(spec.arg, row).strip()
    elif spec.kind == "flag":
        row.flag(spec.arg)
        value = ""
    elif spec.kind == "coalesce":
        value = ""
        for sub in spec.arg:
            value = _evaluate(sub, row, target)
            if value:
                break
    elif spec.kind == "collect":
        items: list[str] = []
        for sub in spec.arg:
            for item in _evaluate(sub, row, target).split(LIST_SEPARATOR):
                if item and item not in items:
                    items.append(item)
        value = LIST_SEPARATOR.join(items)
    else:  # cases
        for tests, sub in spec.arg:
            if _all_hold(tests, row):
                value = _evaluate(sub, row, target)
                break
        else:
            value = _evaluate(spec.otherwise, row, target) if spec.otherwise else ""

    if spec.demojibake and value:
        value = _repair_mac_roman(value)
    if spec.regex is not None and value:
        match = spec.regex.search(value)
        value = (match.group(spec.group) or "").strip() if match else ""
    if spec.first_of_list is not None:
        value = next((p.strip() for p in value.split(spec.first_of_list) if p.strip()), "")
    parts = [p.strip() for p in value.split(spec.split)] if spec.split else [value]
    if spec.maps:
        parts = [_map_item(spec, p, row, target, ref) for p in parts]
    if spec.split:
        seen: list[str] = []
        for p in parts:
            if p and p not in seen:
                seen.append(p)
        value = LIST_SEPARATOR.join(seen)
    else:
        value = parts[0]
    if spec.required and not value and len(row.flags) == flags_before:
        row.flag(spec.required)  # only when no more specific flag explains the empty value
    return value


def _invalid_item(target: str, item: str) -> str | None:
    """Why ``item`` is not a well-formed value for ``target`` (None if it is)."""
    codes = allowed_codes(target)
    if codes is not None and item not in codes:
        return f"{item!r} is not a code of {target} (known: {', '.join(sorted(codes))})"
    if target in COUNTRY_FIELDS and item not in _ALPHA2:
        return f"{item!r} is not an ISO 3166-1 alpha-2 country code (for {target})"
    if target in DATE_FIELDS:
        try:
            dt.date.fromisoformat(item)
        except ValueError:
            return f"{item!r} is not an ISO date YYYY-MM-DD (for {target})"
    if target in INT_FIELDS and not item.isdigit():
        return f"{item!r} is not a whole number (for {target})"
    if "\n" in item or "\r" in item:
        return f"{target} contains a line break"
    return None


def _check_row(out: dict[str, str], row: _Row) -> None:
    for target, value in out.items():
        if not value:
            continue
        items = value.split(LIST_SEPARATOR) if target in LIST_FIELDS else [value]
        for item in items:
            problem = _invalid_item(target, item)
            if problem:
                row.flag(f"invalid value: {problem}")
    start, end = out.get("start_date", ""), out.get("end_date", "")
    if start and end and end < start:
        row.flag(f"invalid value: end_date {end} is before start_date {start}")


def apply_mapping(
    mapping: Mapping, rows: Iterable[AbcMapping[str, Any]], *, start_line: int = 2
) -> Iterator[MappedRow]:
    """Map source rows (dicts, as from :class:`csv.DictReader`) to flat rows, one by one.

    ``start_line`` is the line number reported for the first row (2: after a header line);
    it counts records, so a quoted value spanning lines shifts later physical lines.
    """
    required = mapping.required_columns
    for line, src in enumerate(rows, start=start_line):
        row = _Row(src, dict(mapping.defaults))
        missing = [c for c in required if not isinstance(src.get(c), str)]
        if missing:
            yield MappedRow(
                line,
                None,
                (
                    f"malformed row: no value for column(s) {', '.join(missing)} "
                    "(short row, or column missing from the header)",
                ),
            )
            continue
        excluded = next(
            (rule.reason for rule in mapping._exclude if _all_hold(rule.when, row)), None
        )
        if excluded is not None:
            yield MappedRow(line, None, (excluded,))
            continue
        if mapping._dates is not None:
            row.out.update(_map_dates(mapping._dates, row))
        for target, spec in mapping._columns:
            row.out[target] = _evaluate(spec, row, target)
        flat = {col: row.out.get(col, "") for col in FLAT_COLUMNS}
        _check_row(flat, row)
        if row.flags:
            yield MappedRow(line, None, tuple(row.flags))
        else:
            yield MappedRow(line, flat, ())


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------

_PRECISION_RANK = {"day": 0, "month": 1, "year": 2}


def _format_precision(fmt: str) -> str:
    if "%d" in fmt or "%j" in fmt:
        return "day"
    if any(d in fmt for d in ("%m", "%b", "%B")):
        return "month"
    return "year"


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _map_dates(spec: _Dates, row: _Row) -> dict[str, str]:
    raw = row.get(spec.source)
    exact: dt.date | None = None
    precision = "day"
    for fmt in spec.formats:
        try:
            exact = dt.datetime.strptime(raw, fmt).date()  # noqa: DTZ007 (a date, no time zone)
        except ValueError:
            continue
        precision = _format_precision(fmt)
        break
    qualifier = row.get(spec.qualifier) if spec.qualifier else ""
    if qualifier:
        parsed = parse_date_text(qualifier)
        if parsed is None:
            row.flag(
                f"unparseable date: {spec.qualifier}={qualifier!r} is not a date or date "
                "range the mapping can read"
            )
            return {}
        start, end, text_precision = parsed
        if exact is not None and spec.check_consistent:
            low = start.replace(day=1)
            high = _month_end(end or _period_end(start, text_precision))
            if not low <= exact <= high:
                row.flag(
                    f"contradictory date: {spec.source}={raw!r} falls outside "
                    f"{spec.qualifier}={qualifier!r}"
                )
                return {}
        return {
            "start_date": start.isoformat(),
            "end_date": end.isoformat() if end else "",
            "date_precision": text_precision,
        }
    if exact is None:
        what = "is empty" if not raw else f"does not match {' or '.join(spec.formats)}"
        row.flag(f"unparseable date: {spec.source}={raw!r} {what}")
        return {}
    return {"start_date": exact.isoformat(), "end_date": "", "date_precision": precision}


def _period_end(start: dt.date, precision: str) -> dt.date:
    if precision == "year":
        return start.replace(month=12, day=31)
    if precision == "month":
        return _month_end(start)
    return start


_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12,
    "dec": 12,
}  # fmt: skip
# Words that join or soften date parts without changing the interval they span. Anything else
# ("before", "after", "around", "summer", "disappeared", "found"…) makes the text unreadable.
_FILLER = frozenset(
    {
        "between",
        "and",
        "or",
        "to",
        "through",
        "thru",
        "until",
        "in",
        "of",
        "early",
        "mid",
        "late",
        "unknown",
    }
)
_SPREADSHEET_FORMS = (
    # Dates mangled by a spreadsheet: "Sep-93", "11-Nov" (November 2011), "17-May-01".
    (re.compile(r"^([a-z]{3,4})-(\d{2})$"), ("month", "year")),
    (re.compile(r"^(\d{1,2})-([a-z]{3,4})$"), ("year", "month")),
    (re.compile(r"^(\d{1,2})-([a-z]{3,4})-(\d{2})$"), ("day", "month", "year")),
)
_TWO_DIGIT_PIVOT = 50  # "49" → 2049, "50" → 1950


def _two_digit_year(text: str) -> int:
    yy = int(text)
    return 2000 + yy if yy < _TWO_DIGIT_PIVOT else 1900 + yy


def parse_date_text(text: str) -> tuple[dt.date, dt.date | None, str] | None:
    """Read an English free-text date or date range: ``(start, end, precision)`` or ``None``.

    ``end`` is ``None`` when the text names a single day, month or year. Ranges and
    alternatives ("June or July 1993", "May 2, 3 or 4, 2015", "March 28-April 2, 2022",
    "Between September 2016 and July 12, 2019") span from the earliest to the latest date
    named; the precision is the coarsest part named. Open or vague texts ("Before April 16",
    "On or around…", "Summer 1993", "Date Unknown") and texts without a year give ``None``.
    """
    s = re.sub(r"\([^()]*\)", " ", text).casefold().strip()
    s = s.replace("\u2013", "-").replace("\u2014", "-")
    for pattern, roles in _SPREADSHEET_FORMS:
        m = pattern.match(s)
        if m:
            parts = dict(zip(roles, m.groups(), strict=True))
            month = _MONTHS.get(parts["month"])
            if month is None:
                return None
            year = _two_digit_year(parts["year"])
            if "day" in parts:
                try:
                    return dt.date(year, month, int(parts["day"])), None, "day"
                except ValueError:
                    return None
            return dt.date(year, month, 1), None, "month"

    tokens = re.findall(r"[a-z]+|\d+|\S", s)
    found: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok.isdigit():
            if i < len(tokens) and tokens[i] in ("st", "nd", "rd", "th"):
                i += 1  # ordinal suffix
            number = int(tok)
            if len(tok) == 4 and 1000 <= number <= 2999:
                if current is not None and "y" not in current:
                    current["y"] = number
                else:
                    current = {"y": number}
                    found.append(current)
            elif 1 <= number <= 31 and len(tok) <= 2:
                if (
                    current is not None
                    and "m" in current
                    and "d" not in current
                    and "y" not in current
                ):
                    current["d"] = number
                else:
                    current = {"d": number}
                    found.append(current)
            else:
                return None
        elif tok in _MONTHS:
            current = {"m": _MONTHS[tok]}
            found.append(current)
        elif tok in _FILLER or tok in ("-", ",", "."):
            continue
        else:
            return None
    if not found:
        return None
    # Days without a month take the month named before them ("May 2, 3 or 4"); parts without a
    # year take the next year named ("March 28-April 2, 2022"), else the previous one.
    month = None
    for part in found:
        if "m" in part:
            month = part["m"]
        elif "d" in part:
            if month is None:
                return None
            part["m"] = month
    next_year = None
    for part in reversed(found):
        if "y" in part:
            next_year = part["y"]
        elif next_year is not None:
            part["y"] = next_year
    prev_year = None
    for part in found:
        if "y" in part:
            prev_year = part["y"]
        elif prev_year is not None:
            part["y"] = prev_year
        else:
            return None

    starts, ends, precision = [], [], "day"
    for part in found:
        try:
            if "d" in part:
                start = end = dt.date(part["y"], part["m"], part["d"])
                p = "day"
            elif "m" in part:
                start = dt.date(part["y"], part["m"], 1)
                end, p = _month_end(start), "month"
            else:
                start, end, p = dt.date(part["y"], 1, 1), dt.date(part["y"], 12, 31), "year"
        except ValueError:
            return None
        starts.append(start)
        ends.append(end)
        if _PRECISION_RANK[p] > _PRECISION_RANK[precision]:
            precision = p
    start, end = min(starts), max(ends)
    if precision == "year":
        start = start.replace(month=1, day=1)
    elif precision == "month":
        start = start.replace(day=1)
    single = end == _period_end(start, precision)
    return start, (None if single else end), precision
