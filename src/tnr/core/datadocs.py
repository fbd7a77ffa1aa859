"""Generate ``docs/data-model.md`` from the single sources of truth.

Nothing in the document is written by hand: the entities and their fields come from the
exchange specs (``tnr.exchange.spec``) and the Django models they are stored in, the database
constraints from the models' ``Meta.constraints``, the fixed choice sets from
``tnr.records.choices``, and codes, definitions, examples and crosswalks from the vocabulary
files (``tnr.taxonomy.vocab``). The output is deterministic (no timestamps, stable order), so a
test can check that the committed file is up to date; ``tnr docs`` rewrites it.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pycountry
import yaml
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import F, Q

from tnr.exchange import spec
from tnr.records import choices as choice_module
from tnr.records import models as record_models
from tnr.taxonomy import vocab
from tnr.taxonomy.models import VOCABULARY_MODELS, Country

DOC_PATH = "docs/data-model.md"
TITLE = "TNR Observatory data model"

# Where each exchange entity is stored, and its key in field_crosswalks.yaml.
CROSSWALK_ENTITY: dict[type[models.Model], str] = {
    record_models.Incident: "incident",
    record_models.Act: "act",
    record_models.Involvement: "involvement",
    record_models.Source: "source",
    record_models.Person: "person",
    record_models.PersonRelation: "person_relation",
    record_models.Consent: "consent",
    record_models.Actor: "actor",
}

# Exchange kinds in words.
_KIND = {
    "string": "text",
    "date": "date",
    "boolean": "true/false",
    "integer": "whole number",
    "code": "code",
    "codes": "list of codes",
    "ref": "reference",
}


# --------------------------------------------------------------------------- markdown helpers


def cell(value: Any) -> str:
    """Text safe for one Markdown table cell: one line, pipes escaped."""
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def code(value: Any) -> str:
    """An inline code span (``cell`` escapes pipes when it sits in a table)."""
    text = str(value)
    return f"``{text}``" if "`" in text else f"`{text}`"


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    head = [cell(h) for h in header]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)
    out.append("")
    return out


def anchor(name: str) -> str:
    return f'<a id="{name}"></a>'


def link(text: str, target: str) -> str:
    return f"[{text}](#{target})"


def para(text: str) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------- sources of truth


def _yaml_header(filename: str) -> dict[str, Any]:
    data = yaml.safe_load((vocab.DATA_DIR / filename).read_text(encoding="utf-8")) or {}
    return data if isinstance(data, dict) else {}


def _resources() -> Iterator[tuple[str, spec.ResourceSpec, int]]:
    """Every exchange resource with its path in the document (``incidents[].acts[]``) and depth."""

    def walk(
        path: str, res: spec.ResourceSpec, depth: int
    ) -> Iterator[tuple[str, spec.ResourceSpec, int]]:
        yield path, res, depth
        for key, child in res.children.items():
            yield from walk(f"{path}.{key}[]", child, depth + 1)

    for key, res in spec.TOP_LEVEL.items():
        yield from walk(f"{key}[]", res, 0)


def _parent_model(res: spec.ResourceSpec) -> type[models.Model] | None:
    """The model of the resource that ``res`` nests in (None at the top level)."""
    for _path, candidate, _depth in _resources():
        if any(child is res for child in candidate.children.values()):
            return candidate.model
    return None


def choice_classes() -> list[type[models.TextChoices]]:
    """The TextChoices of ``tnr.records.choices``, in source order."""
    return [
        obj
        for obj in vars(choice_module).values()
        if inspect.isclass(obj)
        and issubclass(obj, models.TextChoices)
        and obj.__module__ == choice_module.__name__
    ]


def _choice_class(field: models.Field) -> type[models.TextChoices] | None:
    if not field.choices:
        return None
    wanted = [(str(v), str(label)) for v, label in field.flatchoices]
    for cls in choice_classes():
        if [(str(v), str(label)) for v, label in cls.choices] == wanted:
            return cls
    return None


def _vocabulary_name(model: Any) -> str | None:
    if model is Country:
        return "country"
    for name, vocab_model in VOCABULARY_MODELS.items():
        if model is vocab_model:
            return name
    return None


def _concrete_fields(model: type[models.Model]) -> list[models.Field]:
    """The model's own fields (many-to-many included), in definition order, without ``id``."""
    fields = [*model._meta.local_fields, *model._meta.local_many_to_many]
    return [f for f in fields if not f.auto_created]


# --------------------------------------------------------------------------- describing fields


def _vocab_link(name: str) -> str:
    if name == "country":
        return link("ISO 3166-1 alpha-2 country", "countries")
    return link(f"{name} vocabulary", f"vocabulary-{name}")


def _db_type(field: models.Field) -> str:
    if isinstance(field, models.ManyToManyField):
        return f"many-to-many → {field.related_model.__name__}"
    if isinstance(field, models.ForeignKey):
        return f"foreign key → {field.related_model.__name__}"
    kind = field.get_internal_type()
    if isinstance(field, models.CharField) and field.max_length:
        return f"{kind}({field.max_length})"
    return kind


def _codes(fs: spec.FieldSpec, field: models.Field | None) -> str:
    if fs.vocabulary == "choice":
        cls = _choice_class(field) if field is not None else None
        values = ", ".join(code(v) for v in fs.choices)
        if cls is not None:
            return f"{values} ({link(cls.__name__, 'choice-' + cls.__name__.lower())})"
        return values
    if fs.vocabulary:
        return _vocab_link(fs.vocabulary)
    if fs.kind == "integer":
        lo = "" if fs.minimum is None else str(fs.minimum)
        hi = "" if fs.maximum is None else str(fs.maximum)
        return f"{lo} to {hi}" if lo and hi else f"{lo}{hi}"
    if fs.max_length:
        return f"≤ {fs.max_length:,} characters"
    return ""


def _required(fs: spec.FieldSpec) -> str:
    if fs.required:
        return "yes"
    if fs.default not in (None, "", []):
        value = str(fs.default).lower() if isinstance(fs.default, bool) else fs.default
        return f"no (default {code(value)})"
    return "no"


def _field_text(field: models.Field | None, fallback: str = "") -> str:
    if field is None:
        return fallback
    text = str(getattr(field, "help_text", "") or "")
    return text or fallback


def _model_field(model: type[models.Model], name: str | None) -> models.Field | None:
    if not name:
        return None
    try:
        return model._meta.get_field(name)  # type: ignore[return-value]
    except FieldDoesNotExist:
        return None


def _db_column(field: models.Field | None) -> str:
    if field is None:
        return ""
    if isinstance(field, models.ManyToManyField):
        return f"{code(field.name)} (link table)"
    return code(field.column)


# --------------------------------------------------------------------------- constraints in words


def _value_words(value: Any) -> str:
    if isinstance(value, F):
        return code(getattr(value, "name", value))
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(code(v) for v in value)
    if value == "":
        return "empty text"
    return code(value)


_LOOKUP_WORDS = {
    "exact": "=",
    "gte": "≥",
    "gt": ">",
    "lte": "≤",
    "lt": "<",
}


def _lookup_words(key: str, value: Any, negated: bool = False) -> str:
    field, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    name = code(field)
    if lookup == "isnull":
        empty = bool(value) != negated
        return f"{name} is {'empty' if empty else 'set'}"
    if lookup == "in":
        return f"{name} is {'not ' if negated else ''}one of {_value_words(value)}"
    if lookup == "exact" and value == "":
        return f"{name} is {'not ' if negated else ''}empty"
    if lookup in _LOOKUP_WORDS:
        op = _LOOKUP_WORDS[lookup]
        if negated:
            op = {"=": "≠", "≥": "<", ">": "≤", "≤": ">", "<": "≥"}[op]
        return f"{name} {op} {_value_words(value)}"
    words = f"{name} {lookup} {_value_words(value)}"
    return f"not ({words})" if negated else words


def q_words(q: Any) -> str:
    """A Q object in words, e.g. "`end_date` is empty or `end_date` ≥ `start_date`"."""
    if isinstance(q, tuple):
        return _lookup_words(q[0], q[1])
    if not isinstance(q, Q):
        return cell(q)
    if q.negated and len(q.children) == 1 and isinstance(q.children[0], tuple):
        key, value = q.children[0]
        return _lookup_words(key, value, negated=True)
    joiner = " or " if q.connector == Q.OR else " and "
    parts = []
    for child in q.children:
        words = q_words(child)
        if isinstance(child, Q) and len(child.children) > 1 and not child.negated:
            words = f"({words})"
        parts.append(words)
    text = joiner.join(parts)
    return f"not ({text})" if q.negated else text


def constraint_words(constraint: Any) -> str:
    if isinstance(constraint, models.UniqueConstraint):
        fields = ", ".join(code(f) for f in constraint.fields)
        text = f"unique together: {fields}" if len(constraint.fields) > 1 else f"unique: {fields}"
        if constraint.condition is not None:
            text += f", where {q_words(constraint.condition)}"
        return text
    if isinstance(constraint, models.CheckConstraint):
        return f"check: {q_words(constraint.condition)}"
    return cell(constraint)


# --------------------------------------------------------------------------- sections


class _Doc:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def extend(self, lines: Iterable[str]) -> None:
        self.lines.extend(lines)

    def text(self) -> str:
        text = "\n".join(self.lines)
        text = re.sub(r"\n{3,}", "\n\n", text)
        return text.rstrip("\n") + "\n"


def _section_model(doc: _Doc) -> None:
    doc.add(anchor("model"), "## 1. The model", "")
    doc.add(
        para(
            'Event-act-involvement ("who did what to whom", as in the HURIDOCS Events Standard '
            "Formats). An exchange document has three top-level lists — "
            + ", ".join(code(k) for k in spec.TOP_LEVEL)
            + " — and the entities below nest inside them. "
            f"Exchange format {code(spec.FORMAT_NAME)} version {code(spec.FORMAT_VERSION)}; "
            f"in flat files (CSV, XLSX) a list of codes is written with {code(spec.LIST_SEPARATOR)} "
            "between the codes."
        ),
        "",
    )
    doc.extend(
        table(
            ["Entity", "Exchange path", "Stored in", "Description"],
            (
                (
                    link(res.name, f"entity-{res.name}"),
                    code(path),
                    code(f"records.{res.model.__name__}"),
                    res.description or _docline(res.model),
                )
                for path, res, _depth in _resources()
            ),
        )
    )
    for path, res, _depth in _resources():
        model = res.model
        doc.add(anchor(f"entity-{res.name}"), f"### {res.name.capitalize()} ({code(path)})", "")
        description = res.description or _docline(model)
        doc.add(f"Stored in {code('records.' + model.__name__)}. {para(description)}".strip(), "")
        doc.extend(
            table(
                ["Exchange field", "DB field", "Type", "Required", "Length / codes", "Description"],
                (
                    (
                        code(fs.name),
                        _db_column(_model_field(model, fs.model_field)),
                        _KIND.get(fs.kind, fs.kind),
                        _required(fs),
                        _codes(fs, _model_field(model, fs.model_field)),
                        fs.description
                        or para(
                            str(getattr(_model_field(model, fs.model_field), "verbose_name", ""))
                        ).capitalize(),
                    )
                    for fs in res.fields
                ),
            )
        )
        exchanged = {fs.model_field for fs in res.fields}
        parent = _parent_model(res)
        parents = {
            f.name
            for f in _concrete_fields(model)
            if isinstance(f, models.ForeignKey) and parent is not None and f.related_model is parent
        }
        rest = [f for f in _concrete_fields(model) if f.name not in exchanged and f.name != "id"]
        if rest:
            doc.add("Stored but not exchanged as a field:", "")
            doc.extend(
                table(
                    ["DB field", "Type", "Description"],
                    (
                        (
                            _db_column(f),
                            _db_type(f),
                            _not_exchanged_reason(f, parents),
                        )
                        for f in rest
                    ),
                )
            )


def _docline(model: type[models.Model]) -> str:
    doc = inspect.getdoc(model) or ""
    if doc.startswith(f"{model.__name__}("):  # Django's generated signature
        return ""
    return para(doc.split("\n\n")[0])


def _not_exchanged_reason(field: models.Field, parents: set[str]) -> str:
    text = _field_text(field)
    if field.name in parents:
        nest = "the parent record: given by nesting in the exchange document"
        return f"{text} ({nest})" if text else nest.capitalize() + "."
    if field.name == "organisation":
        return (
            text
            or "The organisation that owns the record; the exporting organisation in an exchange."
        )
    if not text:
        return para(str(field.verbose_name)).capitalize() + "."
    return text


def _section_constraints(doc: _Doc) -> None:
    doc.add(anchor("constraints"), "## 2. Database constraints", "")
    doc.add(
        para(
            "Enforced by the database itself, because data also arrive through bulk imports that "
            "bypass form validation. Codes are foreign keys to the vocabulary and country tables, "
            "so an unknown code is refused as well."
        ),
        "",
    )
    seen: set[type[models.Model]] = set()
    for _path, res, _depth in _resources():
        model = res.model
        if model in seen:
            continue
        seen.add(model)
        doc.add(f"### {code('records.' + model.__name__)}", "")
        rows = [
            (code(c.name), constraint_words(c))
            for c in sorted(model._meta.constraints, key=lambda c: c.name)
        ]
        for f in _concrete_fields(model):
            if f.unique and not f.primary_key:
                rows.append(("(field)", f"unique: {code(f.name)}"))
        if rows:
            doc.extend(table(["Constraint", "Rule"], rows))
        fks = [
            f
            for f in _concrete_fields(model)
            if isinstance(f, models.ForeignKey | models.ManyToManyField)
        ]
        if fks:
            doc.add("References:", "")
            for f in fks:
                target = f.related_model.__name__
                if isinstance(f, models.ManyToManyField):
                    doc.add(f"- {code(f.name)} → {code(target)} (many-to-many)")
                else:
                    on_delete = f.remote_field.on_delete.__name__  # type: ignore[union-attr]
                    null = ", optional" if f.null else ""
                    doc.add(f"- {code(f.name)} → {code(target)} (on delete {on_delete}{null})")
            doc.add("")


def _section_choices(doc: _Doc) -> None:
    doc.add(anchor("choices"), "## 3. Fixed choice sets", "")
    doc.add(
        para(
            "Structural sets of the data model, defined in code (`tnr.records.choices`) and "
            "changed only with a schema version. Each is enforced by a CHECK constraint."
        ),
        "",
    )
    users: dict[str, list[str]] = {}
    for model in CROSSWALK_ENTITY:
        for f in _concrete_fields(model):
            cls = _choice_class(f)
            if cls is not None:
                users.setdefault(cls.__name__, []).append(f"{model.__name__}.{f.name}")
    for cls in choice_classes():
        name = cls.__name__
        doc.add(anchor(f"choice-{name.lower()}"), f"### {name}", "")
        used = users.get(name, [])
        if used:
            doc.add("Used by " + ", ".join(code(u) for u in sorted(used)) + ".", "")
        doc.extend(table(["Value", "Label"], ((code(v), label) for v, label in cls.choices)))


def _crosswalk_value(
    scheme_name: str, value: Any, schemes: dict[str, vocab.Scheme], *, short: bool = False
) -> str:
    if value is None:
        return "—" if short else "— (no equivalent)"
    if isinstance(value, dict):
        parts = [str(value[k]) for k in ("event_type", "sub_event_type") if value.get(k)]
        return " > ".join(parts)
    scheme = schemes.get(scheme_name)
    if scheme is not None and scheme.categories and scheme_name in vocab.CODED_SCHEMES:
        for entry in scheme.categories:
            if entry.code == value:
                return code(value) if short else f"{code(value)} ({entry.label})"
    return str(value)


def _scheme_order(schemes: dict[str, vocab.Scheme], used: Iterable[str]) -> list[str]:
    used = set(used)
    order = [s for s in schemes if s in used]
    return order + sorted(used - set(order))


def _ordered_terms(v: vocab.Vocabulary) -> list[tuple[vocab.Group | None, list[vocab.Term]]]:
    """Terms grouped by group (tactics: in precedence order), ungrouped terms in file order."""
    terms = list(v.terms)
    if v.name in vocab.PRECEDENCE_REQUIRED:
        terms.sort(key=lambda t: (t.precedence or 0, t.code))
    if not v.groups:
        return [(None, terms)]
    by_group: dict[str, list[vocab.Term]] = {g.code: [] for g in v.groups}
    for t in terms:
        by_group.setdefault(t.group or "", []).append(t)
    groups = list(v.groups)
    if v.name in vocab.PRECEDENCE_REQUIRED:
        groups.sort(key=lambda g: min((t.precedence or 0 for t in by_group[g.code]), default=0))
    return [(g, by_group[g.code]) for g in groups if by_group[g.code]]


def _section_vocabularies(doc: _Doc) -> None:
    schemes = vocab.load_schemes()
    vocabularies = vocab.load_all()
    doc.add(anchor("vocabularies"), "## 4. Vocabularies", "")
    doc.add(
        para(
            "Versioned data files in `src/tnr/taxonomy/data/`, loaded into the vocabulary tables. "
            "Add codes freely; never rename or reuse one. Every term has a definition, examples "
            "and its crosswalks to the outside schemes; a crosswalk with no equivalent is null "
            "and carries a note saying why."
        ),
        "",
    )
    doc.extend(
        table(
            ["Vocabulary", "File", "Version", "Terms", "Used by"],
            (
                (
                    link(v.title, f"vocabulary-{name}"),
                    code(vocab.VOCABULARY_FILES[name]),
                    v.version,
                    len(v),
                    ", ".join(code(u) for u in _vocabulary_users(name)),
                )
                for name, v in vocabularies.items()
            ),
        )
    )
    for name, v in vocabularies.items():
        _vocabulary(doc, name, v, schemes)
    _countries(doc)


def _vocabulary_users(name: str) -> list[str]:
    used = []
    for model in CROSSWALK_ENTITY:
        for f in _concrete_fields(model):
            if (
                isinstance(f, models.ForeignKey | models.ManyToManyField)
                and _vocabulary_name(f.related_model) == name
            ):
                used.append(f"{model.__name__}.{f.name}")
    return sorted(used)


def _vocabulary(
    doc: _Doc, name: str, v: vocab.Vocabulary, schemes: dict[str, vocab.Scheme]
) -> None:
    doc.add(anchor(f"vocabulary-{name}"), f"### {v.title} ({code(name)}, version {v.version})", "")
    doc.add(
        f"File {code('src/tnr/taxonomy/data/' + vocab.VOCABULARY_FILES[name])}; reference {code(v.ref)}.",
        "",
    )
    doc.add(para(v.description), "")
    required = vocab.REQUIRED_CROSSWALKS.get(name, ())
    if required:
        doc.add(
            "Every term must carry a crosswalk to "
            + ", ".join(link(s, f"scheme-{s}") for s in required)
            + " (a value, or null with a note).",
            "",
        )
    grouped = _ordered_terms(v)
    precedence = name in vocab.PRECEDENCE_REQUIRED
    if precedence:
        doc.add(
            para(
                "Listed in precedence order: when several tactics apply to one act, the one with "
                "the lowest precedence number is the primary tactic and the others are secondary."
            ),
            "",
        )
    if v.groups:
        doc.add("Groups:", "")
        doc.extend(
            table(
                ["Group", "Label", "Definition"],
                ((code(g.code), g.label, g.definition) for g, _terms in grouped if g is not None),
            )
        )
    header = ["Code", "Label"]
    if v.groups:
        header.append("Group")
    if precedence:
        header.append("Precedence")
    if any("physical" in t.extra for t in v.terms):
        header.append("Physical")
    # HURIDOCS crosswalks are long thesaurus paths: they are given with each term below
    used_schemes = [
        s
        for s in _scheme_order(schemes, (s for t in v.terms for s in t.crosswalks))
        if s != "huridocs"
    ]
    header.extend(link(code(s), f"scheme-{s}") for s in used_schemes)
    rows = []
    for _group, terms in grouped:
        for t in terms:
            row: list[Any] = [link(code(t.code), f"{name}-{t.code}"), t.label]
            if v.groups:
                row.append(code(t.group or ""))
            if precedence:
                row.append(t.precedence)
            if "Physical" in header:
                row.append("yes" if t.physical else "no")
            for s in used_schemes:
                if s not in t.crosswalks:
                    row.append("")
                else:
                    value = _crosswalk_value(s, t.crosswalks[s], schemes, short=True)
                    if t.crosswalk_notes.get(s):
                        value += " \\*"
                    row.append(value)
            rows.append(row)
    doc.extend(table(header, rows))
    if any(t.crosswalk_notes for t in v.terms):
        doc.add("\\* has a note, given with the term below.", "")
    for group, terms in grouped:
        if group is not None:
            doc.add(f"#### Group {code(group.code)}: {group.label}", "", para(group.definition), "")
        for t in terms:
            _term(doc, name, t, schemes)


def _term(doc: _Doc, name: str, t: vocab.Term, schemes: dict[str, vocab.Scheme]) -> None:
    heading = "#####" if t.group else "####"
    doc.add(anchor(f"{name}-{t.code}"), f"{heading} {code(t.code)} — {t.label}", "")
    facts = []
    if t.group:
        facts.append(f"group {code(t.group)}")
    if t.precedence is not None:
        facts.append(f"precedence {t.precedence}")
    if t.physical is not None:
        facts.append("physical (counted by Freedom House)" if t.physical else "not physical")
    for key, value in sorted(t.extra.items()):
        if key != "physical":
            facts.append(f"{key}: {value}")
    if facts:
        doc.add("*" + "; ".join(facts) + ".*", "")
    doc.add(para(t.definition), "")
    doc.add("Examples:", "")
    doc.extend(f"- {para(e)}" for e in t.examples)
    doc.add("")
    if t.crosswalks:
        doc.extend(
            table(
                ["Scheme", "Equivalent", "Note"],
                (
                    (
                        link(schemes[s].title if s in schemes else s, f"scheme-{s}"),
                        _crosswalk_value(s, t.crosswalks[s], schemes),
                        t.crosswalk_notes.get(s, ""),
                    )
                    for s in _scheme_order(schemes, t.crosswalks)
                ),
            )
        )


def _countries(doc: _Doc) -> None:
    version = importlib.metadata.version("pycountry")
    count = len(pycountry.countries)
    doc.add(anchor("countries"), "### Countries (ISO 3166-1)", "")
    doc.add(
        para(
            f"Countries and states are ISO 3166-1 alpha-2 codes (for example {code('TR')}), loaded "
            f"into the {code('taxonomy.Country')} table from the maintained `pycountry` package "
            f"(version {version}): {count} countries. They are not listed here; see "
            "`pycountry.countries`."
        ),
        "",
    )
    users = _vocabulary_users("country")
    if users:
        doc.add("Used by " + ", ".join(code(u) for u in users) + ".", "")


def _section_field_crosswalks(doc: _Doc) -> None:
    schemes = vocab.load_schemes()
    header = _yaml_header(vocab.FIELD_CROSSWALKS_FILE)
    huridocs = {f.code: f for f in schemes["huridocs"].fields}
    doc.add(anchor("field-crosswalks"), "## 5. Field crosswalks", "")
    title = header.get("title") or "Field crosswalks"
    version = header.get("version")
    doc.add(
        f"{title} — file {code('src/tnr/taxonomy/data/' + vocab.FIELD_CROSSWALKS_FILE)}"
        + (f", version {version}" if version is not None else "")
        + ".",
        "",
    )
    if header.get("description"):
        doc.add(para(header["description"]), "")
    doc.add(
        para(
            "HURIDOCS cells give Events Standard Formats field numbers, ACLED cells give columns of "
            "an ACLED export (both explained under " + link("Schemes", "schemes") + "); where a "
            "field has a vocabulary, its values are translated by the term crosswalks. An empty "
            "cell means no equivalent, and the note says why or where to put it instead."
        ),
        "",
    )
    rows_by_entity: dict[str, list[vocab.FieldCrosswalk]] = {}
    for row in vocab.load_field_crosswalks():
        rows_by_entity.setdefault(row.entity, []).append(row)
    entity_spec = {
        CROSSWALK_ENTITY[res.model]: res
        for _p, res, _d in _resources()
        if res.model in CROSSWALK_ENTITY
    }
    for entity, rows in rows_by_entity.items():
        res = entity_spec.get(entity)
        exchange_name = {fs.model_field: fs.name for fs in res.fields} if res else {}
        ref = f" ({link('exchange ' + res.name, 'entity-' + res.name)})" if res else ""
        doc.add(f"### {code(entity)}{ref}", "")
        doc.extend(
            table(
                ["Field", "Exchange field", "HURIDOCS ESF", "ACLED", "Vocabulary", "Note"],
                (
                    (
                        code(r.field),
                        code(exchange_name[r.field]) if r.field in exchange_name else "",
                        "; ".join(
                            f"{h} {huridocs[h].label}" if h in huridocs else h for h in r.huridocs
                        ),
                        ", ".join(code(a) for a in r.acled),
                        _vocab_link(r.vocabulary) if r.vocabulary else "",
                        r.note,
                    )
                    for r in rows
                ),
            )
        )


def _section_schemes(doc: _Doc) -> None:
    schemes = vocab.load_schemes()
    header = _yaml_header(vocab.SCHEMES_FILE)
    doc.add(anchor("schemes"), "## 6. Schemes", "")
    version = header.get("version")
    doc.add(
        para(
            "The outside classification schemes that vocabularies and fields are crosswalked to, "
            f"from {code('src/tnr/taxonomy/data/' + vocab.SCHEMES_FILE)}"
            + (f" (version {version})" if version is not None else "")
            + ". Definitions are short paraphrases; the cited documents are authoritative."
        ),
        "",
    )
    for name, s in schemes.items():
        doc.add(anchor(f"scheme-{name}"), f"### {s.title} ({code(name)})", "")
        doc.add(f"- Publisher: {para(s.publisher)}", f"- Citation: {para(s.citation)}")
        if s.url:
            doc.add(f"- URL: <{s.url}>")
        doc.add("")
        if s.description:
            doc.add(para(s.description), "")
        if s.categories:
            doc.add("Categories:", "")
            with_subtypes = any(c.sub_types for c in s.categories)
            head = ["Code", "Label", "Definition"] + (["Sub-types"] if with_subtypes else [])
            doc.extend(
                table(
                    head,
                    (
                        [code(c.code), c.label, c.definition]
                        + (["; ".join(c.sub_types)] if with_subtypes else [])
                        for c in s.categories
                    ),
                )
            )
        if s.actor_types:
            doc.add("Actor types:", "")
            doc.extend(
                table(
                    ["Code", "Label", "Definition"],
                    ((code(a.code), a.label, a.definition) for a in s.actor_types),
                )
            )
        if s.fields:
            doc.add("Fields:", "")
            with_record = any(f.record for f in s.fields)
            head = ["Field", "Label"] + (["Record"] if with_record else [])
            doc.extend(
                table(
                    head,
                    (
                        [code(f.code), f.label] + ([f.record or ""] if with_record else [])
                        for f in s.fields
                    ),
                )
            )


SECTIONS = (
    ("model", "1. The model"),
    ("constraints", "2. Database constraints"),
    ("choices", "3. Fixed choice sets"),
    ("vocabularies", "4. Vocabularies"),
    ("field-crosswalks", "5. Field crosswalks"),
    ("schemes", "6. Schemes"),
)


def generate() -> str:
    """The full text of ``docs/data-model.md``."""
    doc = _Doc()
    doc.add(f"# {TITLE}", "")
    doc.add(
        "<!-- generated by `tnr docs` — do not edit by hand -->",
        "",
        "> Generated by `tnr docs` — do not edit by hand. It is written from the exchange specs "
        "(`tnr.exchange.spec`), the Django models (`tnr.records.models`), the choice sets "
        "(`tnr.records.choices`) and the vocabulary files (`src/tnr/taxonomy/data/`); change "
        "those and run `tnr docs`. A test fails while this file is out of date.",
        "",
    )
    doc.add("## Contents", "")
    for target, text in SECTIONS:
        doc.add(f"- {link(text, target)}")
        if target == "model":
            for path, res, depth in _resources():
                doc.add(
                    f"{'  ' * (depth + 1)}- {link(res.name.capitalize(), 'entity-' + res.name)} ({code(path)})"
                )
        if target == "vocabularies":
            for name, v in vocab.load_all().items():
                doc.add(f"  - {link(v.title, 'vocabulary-' + name)}")
            doc.add(f"  - {link('Countries (ISO 3166-1)', 'countries')}")
        if target == "schemes":
            for name, s in vocab.load_schemes().items():
                doc.add(f"  - {link(s.title, 'scheme-' + name)}")
    doc.add("")
    _section_model(doc)
    _section_constraints(doc)
    _section_choices(doc)
    _section_vocabularies(doc)
    _section_field_crosswalks(doc)
    _section_schemes(doc)
    return doc.text()
