"""The controlled vocabularies of the TNR data model, read from versioned YAML files.

The files in ``DATA_DIR`` are the single source of truth for codes, labels, definitions and
crosswalks. The Django app copies them into tables (``tnr.taxonomy.actions``), the exchange
code publishes them in JSON Schema, and the Django-free simulator reads them directly, so this
module must never import Django (a test enforces it).

Every file is validated on load, and a malformed file raises :class:`VocabularyError` naming
the file and the term: a broken vocabulary must stop the app at start-up, not surface later as
records coded against a half-read list.

The loaded objects are shared through caches: treat them, including their dicts, as read-only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"

VOCABULARY_FILES: dict[str, str] = {
    "tactic": "tactics.yaml",
    "target_category": "target_categories.yaml",
    "actor_type": "actor_types.yaml",
    "outcome": "outcomes.yaml",
    "location_type": "location_types.yaml",
    "source_type": "source_types.yaml",
}
SCHEMES_FILE = "crosswalk_schemes.yaml"
FIELD_CROSSWALKS_FILE = "field_crosswalks.yaml"

CODE_MAX_LENGTH = 40
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

# Crosswalk keys every term of a vocabulary must carry (a value, or null with a note).
REQUIRED_CROSSWALKS: dict[str, tuple[str, ...]] = {
    "tactic": ("ohchr_sdg16101", "freedom_house", "huridocs", "acled"),
    "target_category": ("ohchr_sdg16101_victim_group", "huridocs"),
    "actor_type": ("acled", "huridocs"),
    "source_type": ("huridocs",),
}
# Crosswalk keys whose values must be category codes of the scheme of the same name.
CODED_SCHEMES = ("ohchr_sdg16101", "ohchr_sdg16101_victim_group", "freedom_house")
# Vocabulary-specific keys of a term, kept in Term.extra, with their type; all are required.
EXTRA_KEYS: dict[str, dict[str, type]] = {"tactic": {"physical": bool}}
# Vocabularies whose terms must all carry a precedence 1..N.
PRECEDENCE_REQUIRED = frozenset({"tactic"})

_TERM_KEYS = frozenset(
    {"code", "label", "group", "definition", "examples", "crosswalks", "crosswalk_notes"}
)
_GROUP_KEYS = frozenset({"code", "label", "definition"})
_FILE_KEYS = frozenset({"vocabulary", "version", "title", "description", "groups", "terms"})


class VocabularyError(ValueError):
    """A vocabulary, scheme or field-crosswalk file is malformed."""


class UnknownCodeError(KeyError):
    """A code that is not in the vocabulary (a KeyError, with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Group:
    code: str
    label: str
    definition: str


@dataclass(frozen=True)
class Term:
    """One code of a vocabulary.

    ``crosswalks`` maps a scheme name (a key of ``crosswalk_schemes.yaml``) to the equivalent
    value in that scheme, or to None when there is none; ``crosswalk_notes`` explains nulls and
    caveats per scheme. ``extra`` holds vocabulary-specific attributes such as ``physical``.
    """

    code: str
    label: str
    definition: str
    examples: tuple[str, ...]
    group: str | None = None
    precedence: int | None = None
    crosswalks: dict[str, Any] = field(default_factory=dict, hash=False)
    crosswalk_notes: dict[str, str] = field(default_factory=dict, hash=False)
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def physical(self) -> bool | None:
        """For tactics: whether the tactic reaches the person's body or liberty abroad."""
        value = self.extra.get("physical")
        return None if value is None else bool(value)


@dataclass(frozen=True)
class Vocabulary:
    name: str
    version: int
    title: str
    description: str
    groups: tuple[Group, ...]
    terms: tuple[Term, ...]
    _index: dict[str, Term] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t.code: t for t in self.terms})

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.terms)

    @property
    def ref(self) -> str:
        """Name and version, e.g. ``tactic@1``, for stamping exports."""
        return f"{self.name}@{self.version}"

    def get(self, code: str) -> Term:
        try:
            return self._index[code]
        except (KeyError, TypeError):
            raise UnknownCodeError(
                f"{code!r} is not a code of the {self.name} vocabulary (version {self.version})"
            ) from None

    def group(self, code: str) -> Group:
        for group in self.groups:
            if group.code == code:
                return group
        raise UnknownCodeError(f"{code!r} is not a group of the {self.name} vocabulary")

    def choices(self) -> list[tuple[str, str]]:
        """(code, label) pairs in file order, for form and model choices."""
        return [(t.code, t.label) for t in self.terms]

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._index

    def __iter__(self) -> Iterator[Term]:
        return iter(self.terms)

    def __len__(self) -> int:
        return len(self.terms)


@dataclass(frozen=True)
class SchemeEntry:
    """A category, actor type or field of an outside scheme."""

    code: str
    label: str
    definition: str = ""
    sub_types: tuple[str, ...] = ()
    record: str | None = None


@dataclass(frozen=True)
class Scheme:
    """An outside classification scheme that vocabularies are crosswalked to."""

    name: str
    title: str
    publisher: str
    citation: str
    url: str
    description: str
    categories: tuple[SchemeEntry, ...] = ()
    actor_types: tuple[SchemeEntry, ...] = ()
    fields: tuple[SchemeEntry, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.categories)

    def category_by_label(self, label: str) -> SchemeEntry | None:
        return next((c for c in self.categories if c.label == label), None)


@dataclass(frozen=True)
class FieldCrosswalk:
    """Where one field of our data model goes in HURIDOCS ESF and in an ACLED export."""

    entity: str
    field: str
    huridocs: tuple[str, ...]
    acled: tuple[str, ...]
    vocabulary: str | None = None
    note: str = ""


# --------------------------------------------------------------------------- reading helpers


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise VocabularyError(f"{path.name}: cannot read file ({exc.strerror})") from exc
    try:
        # safe_load only: these files may come from partners, never run their tags
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VocabularyError(f"{path.name}: not valid YAML: {exc}") from exc


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise VocabularyError(f"{where}: '{key}' is missing or empty")
    return value.strip()


def _check_code(code: Any, where: str) -> str:
    if not isinstance(code, str) or not code:
        raise VocabularyError(f"{where}: 'code' is missing")
    if len(code) > CODE_MAX_LENGTH or not CODE_PATTERN.match(code):
        raise VocabularyError(
            f"{where}: bad code {code!r}: use lowercase snake_case (a-z, 0-9, _), "
            f"starting with a letter, at most {CODE_MAX_LENGTH} characters"
        )
    return code


def _mapping(value: Any, where: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise VocabularyError(f"{where}: '{what}' must be a mapping")
    return value


# --------------------------------------------------------------------------- schemes


def _scheme_entries(raw: Any, where: str, what: str, *, coded: bool) -> tuple[SchemeEntry, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise VocabularyError(f"{where}: '{what}' must be a list")
    entries: list[SchemeEntry] = []
    seen: set[str] = set()
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise VocabularyError(f"{where}: {what} #{i} must be a mapping")
        code = item.get("code")
        code = str(code) if isinstance(code, int | str) else None
        item_where = f"{where}: {what} {code!r}" if code else f"{where}: {what} #{i}"
        if coded:
            _check_code(code, item_where)
        elif not code:
            raise VocabularyError(f"{item_where}: 'code' is missing")
        assert code is not None
        if code in seen:
            raise VocabularyError(f"{item_where}: duplicate code")
        seen.add(code)
        sub_types = item.get("sub_types") or ()
        if not isinstance(sub_types, list | tuple) or not all(
            isinstance(s, str) and s for s in sub_types
        ):
            raise VocabularyError(f"{item_where}: 'sub_types' must be a list of names")
        entries.append(
            SchemeEntry(
                code=code,
                label=_text(item.get("label"), item_where, "label"),
                definition=str(item.get("definition") or "").strip(),
                sub_types=tuple(sub_types),
                record=item.get("record"),
            )
        )
    return tuple(entries)


def load_schemes_file(path: str | Path) -> dict[str, Scheme]:
    """Read and validate a crosswalk-schemes file (see ``crosswalk_schemes.yaml``)."""
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("schemes"), dict):
        raise VocabularyError(f"{path.name}: expected a mapping with a 'schemes' mapping")
    schemes: dict[str, Scheme] = {}
    for name, raw in data["schemes"].items():
        where = f"{path.name}: scheme {name!r}"
        _check_code(name, where)
        if not isinstance(raw, dict):
            raise VocabularyError(f"{where}: must be a mapping")
        scheme = Scheme(
            name=name,
            title=_text(raw.get("title"), where, "title"),
            publisher=_text(raw.get("publisher"), where, "publisher"),
            citation=_text(raw.get("citation"), where, "citation"),
            url=str(raw.get("url") or ""),
            description=str(raw.get("description") or "").strip(),
            categories=_scheme_entries(raw.get("categories"), where, "category", coded=True),
            actor_types=_scheme_entries(raw.get("actor_types"), where, "actor type", coded=False),
            fields=_scheme_entries(raw.get("fields"), where, "field", coded=False),
        )
        if name in CODED_SCHEMES and not scheme.categories:
            raise VocabularyError(f"{where}: needs 'categories' (crosswalk values are checked)")
        schemes[name] = scheme
    for name in ("huridocs", "acled"):
        if name not in schemes:
            raise VocabularyError(f"{path.name}: scheme {name!r} is missing")
    return schemes


@functools.cache
def load_schemes() -> dict[str, Scheme]:
    """The outside schemes of ``crosswalk_schemes.yaml``, by name."""
    return load_schemes_file(DATA_DIR / SCHEMES_FILE)


# --------------------------------------------------------------------------- vocabularies


# Shape of an ACLED crosswalk value per vocabulary: an event type, or an actor type.
_ACLED_SHAPE = {"tactic": dict, "actor_type": str}


def _check_crosswalk_value(
    name: str, scheme: str, value: Any, schemes: Mapping[str, Scheme], where: str
) -> None:
    """Refuse a crosswalk value that is not a real category of its scheme."""
    if value is None:
        return
    if scheme == "acled" and name in _ACLED_SHAPE and not isinstance(value, _ACLED_SHAPE[name]):
        shape = "{event_type, sub_event_type}" if name == "tactic" else "an ACLED actor type"
        raise VocabularyError(f"{where}: crosswalk acled: expected {shape} or null")
    if scheme in CODED_SCHEMES:
        if not isinstance(value, str) or value not in schemes[scheme].codes:
            raise VocabularyError(
                f"{where}: crosswalk {scheme}: {value!r} is not a category of that scheme "
                f"(known: {', '.join(schemes[scheme].codes)})"
            )
    elif scheme == "acled":
        acled = schemes["acled"]
        if isinstance(value, dict):
            event_type, sub_type = value.get("event_type"), value.get("sub_event_type")
            category = acled.category_by_label(event_type) if isinstance(event_type, str) else None
            if category is None:
                raise VocabularyError(
                    f"{where}: crosswalk acled: unknown event_type {event_type!r}"
                )
            if sub_type is not None and sub_type not in category.sub_types:
                raise VocabularyError(
                    f"{where}: crosswalk acled: {sub_type!r} is not a sub_event_type of "
                    f"{event_type!r}"
                )
            if set(value) - {"event_type", "sub_event_type"}:
                raise VocabularyError(
                    f"{where}: crosswalk acled: only event_type and sub_event_type are allowed"
                )
        elif isinstance(value, str):
            if value not in {a.label for a in acled.actor_types}:
                raise VocabularyError(f"{where}: crosswalk acled: unknown actor type {value!r}")
        else:
            raise VocabularyError(f"{where}: crosswalk acled: expected a mapping or an actor type")
    elif not isinstance(value, str) or not value.strip():
        raise VocabularyError(f"{where}: crosswalk {scheme}: expected text or null")


def _parse_term(
    raw: Any,
    index: int,
    *,
    fname: str,
    name: str,
    group_codes: set[str],
    schemes: Mapping[str, Scheme],
) -> Term:
    if not isinstance(raw, dict):
        raise VocabularyError(f"{fname}: term #{index} must be a mapping")
    code = raw.get("code")
    where = (
        f"{fname}: term {code!r}" if isinstance(code, str) and code else f"{fname}: term #{index}"
    )
    code = _check_code(code, where)
    extra_types = EXTRA_KEYS.get(name, {})
    allowed = (
        _TERM_KEYS | set(extra_types) | ({"precedence"} if name in PRECEDENCE_REQUIRED else set())
    )
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise VocabularyError(f"{where}: unknown key(s) {', '.join(unknown)}")

    label = _text(raw.get("label"), where, "label")
    definition = _text(raw.get("definition"), where, "definition")
    examples = raw.get("examples")
    if not isinstance(examples, list) or not examples:
        raise VocabularyError(f"{where}: 'examples' must be a list with at least one example")
    if not all(isinstance(e, str) and e.strip() for e in examples):
        raise VocabularyError(f"{where}: every example must be non-empty text")

    group = raw.get("group")
    if group_codes:
        if group not in group_codes:
            raise VocabularyError(
                f"{where}: unknown group {group!r} (groups: {', '.join(sorted(group_codes))})"
            )
    elif group is not None:
        raise VocabularyError(f"{where}: has group {group!r} but the file defines no groups")

    precedence = raw.get("precedence")
    if name in PRECEDENCE_REQUIRED and (
        not isinstance(precedence, int) or isinstance(precedence, bool) or precedence < 1
    ):
        raise VocabularyError(f"{where}: 'precedence' must be a positive whole number")

    extra: dict[str, Any] = {}
    for key, typ in extra_types.items():
        if not isinstance(raw.get(key), typ):
            raise VocabularyError(f"{where}: '{key}' is required and must be {typ.__name__}")
        extra[key] = raw[key]

    crosswalks = _mapping(raw.get("crosswalks"), where, "crosswalks")
    notes = _mapping(raw.get("crosswalk_notes"), where, "crosswalk_notes")
    for scheme in crosswalks:
        if scheme not in schemes:
            raise VocabularyError(
                f"{where}: crosswalk to unknown scheme {scheme!r} "
                f"(known: {', '.join(sorted(schemes))})"
            )
    for scheme in REQUIRED_CROSSWALKS.get(name, ()):
        if scheme not in crosswalks:
            raise VocabularyError(
                f"{where}: crosswalk {scheme!r} is missing (give a value, or null with a note)"
            )
    for scheme, value in crosswalks.items():
        _check_crosswalk_value(name, scheme, value, schemes, where)
        if value is None and not (isinstance(notes.get(scheme), str) and notes[scheme].strip()):
            raise VocabularyError(
                f"{where}: crosswalk {scheme} is null: add crosswalk_notes.{scheme} saying why"
            )
    for scheme, note in notes.items():
        if scheme not in crosswalks:
            raise VocabularyError(f"{where}: crosswalk_notes.{scheme} has no crosswalk {scheme}")
        if not isinstance(note, str) or not note.strip():
            raise VocabularyError(f"{where}: crosswalk_notes.{scheme} must be non-empty text")

    if name == "tactic":
        # Freedom House counts physical incidents only: the two flags must agree
        counted = crosswalks.get("freedom_house") is not None
        if extra["physical"] != counted:
            raise VocabularyError(
                f"{where}: physical is {extra['physical']} but the freedom_house crosswalk is "
                f"{'set' if counted else 'null'}; Freedom House counts physical tactics only"
            )

    return Term(
        code=code,
        label=label,
        definition=definition,
        examples=tuple(e.strip() for e in examples),
        group=group,
        precedence=precedence if name in PRECEDENCE_REQUIRED else None,
        crosswalks=dict(crosswalks),
        crosswalk_notes={k: v.strip() for k, v in notes.items()},
        extra=extra,
    )


def load_vocabulary_file(
    path: str | Path,
    *,
    name: str | None = None,
    schemes: Mapping[str, Scheme] | None = None,
) -> Vocabulary:
    """Read and validate one vocabulary file.

    ``name``, when given, must match the file's ``vocabulary`` key. ``schemes`` defaults to the
    packaged ``crosswalk_schemes.yaml``.
    """
    path = Path(path)
    fname = path.name
    schemes = load_schemes() if schemes is None else schemes
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise VocabularyError(f"{fname}: expected a mapping at the top level")
    unknown = sorted(set(data) - _FILE_KEYS)
    if unknown:
        raise VocabularyError(f"{fname}: unknown top-level key(s) {', '.join(unknown)}")

    vocabulary = data.get("vocabulary")
    if vocabulary not in VOCABULARY_FILES:
        raise VocabularyError(
            f"{fname}: 'vocabulary' is {vocabulary!r}; expected one of {', '.join(VOCABULARY_FILES)}"
        )
    if name is not None and vocabulary != name:
        raise VocabularyError(f"{fname}: declares vocabulary {vocabulary!r}, expected {name!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise VocabularyError(f"{fname}: 'version' must be a positive whole number")
    title = _text(data.get("title"), fname, "title")
    description = _text(data.get("description"), fname, "description")

    groups: list[Group] = []
    raw_groups = data.get("groups") or []
    if not isinstance(raw_groups, list):
        raise VocabularyError(f"{fname}: 'groups' must be a list")
    for i, raw in enumerate(raw_groups, start=1):
        if not isinstance(raw, dict):
            raise VocabularyError(f"{fname}: group #{i} must be a mapping")
        gcode = raw.get("code")
        where = f"{fname}: group {gcode!r}" if gcode else f"{fname}: group #{i}"
        gcode = _check_code(gcode, where)
        if set(raw) - _GROUP_KEYS:
            raise VocabularyError(
                f"{where}: unknown key(s) {', '.join(sorted(set(raw) - _GROUP_KEYS))}"
            )
        if any(g.code == gcode for g in groups):
            raise VocabularyError(f"{where}: duplicate group code")
        groups.append(
            Group(
                code=gcode,
                label=_text(raw.get("label"), where, "label"),
                definition=_text(raw.get("definition"), where, "definition"),
            )
        )

    raw_terms = data.get("terms")
    if not isinstance(raw_terms, list) or not raw_terms:
        raise VocabularyError(f"{fname}: 'terms' must be a non-empty list")
    group_codes = {g.code for g in groups}
    terms: list[Term] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_terms, start=1):
        term = _parse_term(
            raw, i, fname=fname, name=vocabulary, group_codes=group_codes, schemes=schemes
        )
        if term.code in seen:
            raise VocabularyError(
                f"{fname}: term {term.code!r}: duplicate code (also term #{seen[term.code]})"
            )
        seen[term.code] = i
        terms.append(term)

    if vocabulary in PRECEDENCE_REQUIRED:
        by_rank: dict[int, str] = {}
        for term in terms:
            assert term.precedence is not None
            if term.precedence in by_rank:
                raise VocabularyError(
                    f"{fname}: term {term.code!r}: precedence {term.precedence} is also held by "
                    f"{by_rank[term.precedence]!r}"
                )
            by_rank[term.precedence] = term.code
        expected = set(range(1, len(terms) + 1))
        if set(by_rank) != expected:
            wrong = next(t for t in terms if t.precedence not in expected)
            raise VocabularyError(
                f"{fname}: term {wrong.code!r}: precedence {wrong.precedence} is out of range; "
                f"precedences must be 1..{len(terms)} with no gaps"
            )
    return Vocabulary(
        name=vocabulary,
        version=version,
        title=title,
        description=description,
        groups=tuple(groups),
        terms=tuple(terms),
    )


@functools.cache
def load_vocabulary(name: str) -> Vocabulary:
    """The packaged vocabulary called ``name`` (one of ``VOCABULARY_FILES``)."""
    if name not in VOCABULARY_FILES:
        raise UnknownCodeError(f"unknown vocabulary {name!r}; known: {', '.join(VOCABULARY_FILES)}")
    return load_vocabulary_file(DATA_DIR / VOCABULARY_FILES[name], name=name)


@functools.cache
def load_all() -> dict[str, Vocabulary]:
    """Every packaged vocabulary, by name, in ``VOCABULARY_FILES`` order."""
    return {name: load_vocabulary(name) for name in VOCABULARY_FILES}


# --------------------------------------------------------------------------- field crosswalks


def load_field_crosswalks_file(
    path: str | Path, *, schemes: Mapping[str, Scheme] | None = None
) -> tuple[FieldCrosswalk, ...]:
    """Read and validate a field-crosswalks file (see ``field_crosswalks.yaml``)."""
    path = Path(path)
    fname = path.name
    schemes = load_schemes() if schemes is None else schemes
    huridocs_fields = {f.code for f in schemes["huridocs"].fields}
    acled_columns = {f.code for f in schemes["acled"].fields}
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("entities"), dict):
        raise VocabularyError(f"{fname}: expected a mapping with an 'entities' mapping")
    rows: list[FieldCrosswalk] = []
    for entity, entries in data["entities"].items():
        _check_code(entity, f"{fname}: entity {entity!r}")
        if not isinstance(entries, list):
            raise VocabularyError(f"{fname}: entity {entity!r}: must be a list of fields")
        seen: set[str] = set()
        for i, raw in enumerate(entries, start=1):
            if not isinstance(raw, dict):
                raise VocabularyError(f"{fname}: {entity} field #{i} must be a mapping")
            fld = raw.get("field")
            where = f"{fname}: {entity}.{fld}" if fld else f"{fname}: {entity} field #{i}"
            fld = _check_code(fld, where)
            if fld in seen:
                raise VocabularyError(f"{where}: duplicate field")
            seen.add(fld)
            unknown = set(raw) - {"field", "huridocs", "acled", "vocabulary", "note"}
            if unknown:
                raise VocabularyError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
            refs: dict[str, tuple[str, ...]] = {}
            for scheme, known in (("huridocs", huridocs_fields), ("acled", acled_columns)):
                value = raw.get(scheme)
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise VocabularyError(f"{where}: '{scheme}' must be a list (empty if none)")
                bad = [v for v in value if v not in known]
                if bad:
                    raise VocabularyError(
                        f"{where}: {scheme} field(s) {', '.join(bad)} not listed in the "
                        f"{scheme} scheme of {SCHEMES_FILE}"
                    )
                refs[scheme] = tuple(value)
            note = str(raw.get("note") or "").strip()
            if not (refs["huridocs"] and refs["acled"]) and not note:
                raise VocabularyError(f"{where}: a scheme has no equivalent: add a 'note'")
            vocabulary = raw.get("vocabulary")
            if vocabulary is not None and vocabulary not in VOCABULARY_FILES:
                raise VocabularyError(f"{where}: unknown vocabulary {vocabulary!r}")
            rows.append(
                FieldCrosswalk(
                    entity=entity,
                    field=fld,
                    huridocs=refs["huridocs"],
                    acled=refs["acled"],
                    vocabulary=vocabulary,
                    note=note,
                )
            )
    return tuple(rows)


@functools.cache
def load_field_crosswalks() -> tuple[FieldCrosswalk, ...]:
    """The packaged data-model field crosswalks to HURIDOCS ESF and ACLED."""
    return load_field_crosswalks_file(DATA_DIR / FIELD_CROSSWALKS_FILE)


# --------------------------------------------------------------------------- helpers


def tactic_by_precedence(codes: Iterable[str]) -> str:
    """The primary tactic among ``codes``: the one with the lowest precedence number.

    Raises ValueError when ``codes`` is empty and UnknownCodeError for a code that is not a
    tactic, so a typo cannot silently pick the wrong primary tactic.
    """
    tactics = load_vocabulary("tactic")
    best: Term | None = None
    for code in codes:
        term = tactics.get(code)
        assert term.precedence is not None
        if best is None or term.precedence < (best.precedence or 0):
            best = term
    if best is None:
        raise ValueError("tactic_by_precedence needs at least one tactic code")
    return best.code


def crosswalk(vocabulary: str | Vocabulary, code: str, scheme: str) -> Any:
    """The value of ``code`` in ``scheme`` (None when the scheme has no equivalent).

    ``vocabulary`` is a name such as ``"tactic"`` or a loaded Vocabulary. A scheme that no term
    of the vocabulary is mapped to raises KeyError, so a misspelt scheme is not read as "no
    equivalent".
    """
    vocab = load_vocabulary(vocabulary) if isinstance(vocabulary, str) else vocabulary
    term = vocab.get(code)
    if scheme not in term.crosswalks:
        if not any(scheme in t.crosswalks for t in vocab.terms):
            raise KeyError(f"the {vocab.name} vocabulary has no crosswalk to {scheme!r}")
        return None
    return term.crosswalks[scheme]
