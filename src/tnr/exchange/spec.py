"""The exchange format, derived from the Django models and the vocabulary files.

There is one source of truth: the model fields (types, lengths, nullability, choices) and the
vocabulary data files (codes). This module reads both and produces everything else — the JSON
Schema of the nested exchange document, the Frictionless table schemas of the data package, the
columns of the flat CSV/XLSX template and the converters that validate incoming values — so
the published schema and the importer can never drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pycountry
from django.db import models

from tnr.records import models as rm
from tnr.records.models import EXTERNAL_ID_MAX
from tnr.taxonomy import vocab
from tnr.taxonomy.models import VOCABULARY_MODELS, Country

FORMAT_NAME = "tnr-exchange"
FORMAT_VERSION = "1.0"
LIST_SEPARATOR = ";"


class ValueProblem(ValueError):
    """A value that cannot be accepted; the message says why, in words a data clerk reads."""


@cache
def country_codes() -> frozenset[str]:
    return frozenset(c.alpha_2 for c in pycountry.countries)


@cache
def vocabulary_codes(name: str) -> frozenset[str]:
    return frozenset(vocab.load_vocabulary(name).codes)


def _vocabulary_of(model: type[models.Model]) -> str | None:
    if model is Country:
        return "country"
    for name, vocab_model in VOCABULARY_MODELS.items():
        if model is vocab_model:
            return name
    return None


@dataclass(frozen=True)
class FieldSpec:
    """One field of the exchange format, with its type and constraints."""

    name: str
    kind: str  # string | date | boolean | integer | code | codes | ref
    required: bool = False
    max_length: int | None = None
    vocabulary: str | None = None  # "country", a vocabulary file name, or "choice"
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""
    model_field: str | None = None
    default: Any = None

    def allowed(self) -> frozenset[str]:
        if self.vocabulary == "country":
            return country_codes()
        if self.vocabulary == "choice":
            return frozenset(self.choices)
        if self.vocabulary:
            return vocabulary_codes(self.vocabulary)
        return frozenset()


def from_model(
    model: type[models.Model],
    field_name: str,
    name: str | None = None,
    *,
    required: bool | None = None,
    kind: str | None = None,
    description: str | None = None,
) -> FieldSpec:
    """Describe an exchange field from the model field it is stored in."""
    f = model._meta.get_field(field_name)
    assert isinstance(f, models.Field), f"{model.__name__}.{field_name} is not a concrete field"
    text = description if description is not None else str(getattr(f, "help_text", "") or "")
    base: dict[str, Any] = {"name": name or field_name, "model_field": field_name, "description": text}
    if isinstance(f, models.ManyToManyField):
        vocabulary = _vocabulary_of(f.related_model)
        return FieldSpec(kind="codes", vocabulary=vocabulary, default=[], required=bool(required), **base)
    if isinstance(f, models.ForeignKey):
        vocabulary = _vocabulary_of(f.related_model)
        req = (not f.null) if required is None else required
        if vocabulary is None:
            target = f.related_model._meta.get_field("external_id")
            assert isinstance(target, models.CharField)
            return FieldSpec(kind=kind or "ref", max_length=target.max_length, required=req, **base)
        return FieldSpec(kind="code", vocabulary=vocabulary, required=req, **base)
    has_default = f.has_default()
    default = f.get_default() if has_default else None
    req = required if required is not None else (not f.blank and not f.null and not has_default)
    if f.choices:
        values = tuple(str(v) for v, _label in f.flatchoices)
        return FieldSpec(kind="code", vocabulary="choice", choices=values, required=req, default=default, **base)
    if isinstance(f, models.DateField):
        return FieldSpec(kind="date", required=req, default=None, **base)
    if isinstance(f, models.BooleanField):
        return FieldSpec(kind="boolean", required=req, default=default, **base)
    if isinstance(f, models.PositiveSmallIntegerField):
        return FieldSpec(kind="integer", required=req, minimum=0, maximum=32767, default=default, **base)
    if isinstance(f, models.IntegerField):
        return FieldSpec(kind="integer", required=req, default=default, **base)
    if isinstance(f, models.CharField) and kind == "ref":
        return FieldSpec(kind="ref", required=req, max_length=f.max_length, **base)
    if isinstance(f, models.CharField | models.TextField):
        max_length = f.max_length if isinstance(f, models.CharField) else 20_000
        return FieldSpec(kind="string", required=req, max_length=max_length, default="", **base)
    raise TypeError(f"no exchange type for {model.__name__}.{field_name}")


ID = "The record's identifier in the exporting organisation; unique within the file."


@dataclass(frozen=True)
class ResourceSpec:
    name: str
    model: type[models.Model]
    fields: tuple[FieldSpec, ...]
    children: dict[str, ResourceSpec] = field(default_factory=dict)
    description: str = ""

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _id(model: type[models.Model]) -> FieldSpec:
    # an identifier: text, trimmed, never empty, as long as the model's external_id allows
    return from_model(model, "external_id", "id", required=True, kind="ref", description=ID)


INVOLVEMENT = ResourceSpec(
    "involvement",
    rm.Involvement,
    (
        from_model(rm.Involvement, "actor", "actor", kind="ref", description="Id of an actor in `actors`."),
        from_model(rm.Involvement, "degree"),
    ),
    description="An actor's part in an act.",
)
ACT = ResourceSpec(
    "act",
    rm.Act,
    (
        _id(rm.Act),
        from_model(rm.Act, "target", "target", description="Id of a person in `persons`."),
        from_model(rm.Act, "primary_tactic", required=True, description="The tactic of highest precedence."),
        from_model(rm.Act, "secondary_tactics", description="Other tactics in this act."),
        from_model(rm.Act, "pretext"),
        from_model(rm.Act, "outcome", description="Outcome at the end of the act."),
    ),
    children={"involvements": INVOLVEMENT},
    description="One target, one tactic.",
)
SOURCE = ResourceSpec(
    "source",
    rm.Source,
    (
        _id(rm.Source),
        from_model(rm.Source, "type", required=True),
        from_model(rm.Source, "documenting_organisation", "organisation", description="The documenting organisation."),
        from_model(rm.Source, "reference"),
        from_model(rm.Source, "date"),
        from_model(rm.Source, "reliability"),
        from_model(rm.Source, "connection"),
    ),
    description="Where the information comes from.",
)
INCIDENT = ResourceSpec(
    "incident",
    rm.Incident,
    (
        _id(rm.Incident),
        from_model(rm.Incident, "title"),
        from_model(rm.Incident, "summary"),
        from_model(rm.Incident, "start_date", required=True),
        from_model(rm.Incident, "end_date"),
        from_model(rm.Incident, "date_precision"),
        from_model(rm.Incident, "location_country"),
        from_model(rm.Incident, "admin_area"),
        from_model(rm.Incident, "city"),
        from_model(rm.Incident, "location_type"),
        from_model(rm.Incident, "origin_state"),
        from_model(rm.Incident, "perpetrator_states"),
        from_model(rm.Incident, "host_state"),
        from_model(rm.Incident, "host_state_role"),
        from_model(rm.Incident, "mass_event"),
        from_model(rm.Incident, "confidence"),
        from_model(rm.Incident, "independent_sources"),
        from_model(rm.Incident, "sensitivity"),
        from_model(rm.Incident, "sharing"),
    ),
    children={"acts": ACT, "sources": SOURCE},
    description="One event of transnational repression.",
)
RELATION = ResourceSpec(
    "relation",
    rm.PersonRelation,
    (
        from_model(rm.PersonRelation, "type", required=True),
        from_model(rm.PersonRelation, "related", "person", kind="ref", description="Id of the related person."),
    ),
)
CONSENT = ResourceSpec(
    "consent",
    rm.Consent,
    (
        from_model(rm.Consent, "scope", required=True),
        from_model(rm.Consent, "obtained"),
        from_model(rm.Consent, "obtained_on"),
        from_model(rm.Consent, "permitted_sharing"),
        from_model(rm.Consent, "withdrawn_on"),
    ),
)
PERSON = ResourceSpec(
    "person",
    rm.Person,
    (
        _id(rm.Person),
        from_model(rm.Person, "sex"),
        from_model(rm.Person, "age_group"),
        from_model(rm.Person, "nationality"),
        from_model(rm.Person, "host_status"),
        from_model(rm.Person, "categories"),
    ),
    children={"relations": RELATION, "consents": CONSENT},
    description="A pseudonymous person; identity and contact are never exchanged.",
)
ACTOR = ResourceSpec(
    "actor",
    rm.Actor,
    (
        _id(rm.Actor),
        from_model(rm.Actor, "type", required=True),
        from_model(rm.Actor, "state"),
        from_model(rm.Actor, "name"),
    ),
)
TOP_LEVEL = {"incidents": INCIDENT, "persons": PERSON, "actors": ACTOR}


# ---------------------------------------------------------------------------------------------
# Converters: one per field, compiled once, called for every cell. Text cells (CSV, XLSX) are
# parsed leniently ("yes", "2019-03"); JSON values (``strict=True``) must have the JSON type the
# published schema gives, so a document the importer accepts is one the schema accepts too.
# Both raise ValueProblem with the reason.

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATE_YM = re.compile(r"^(\d{4})-(\d{2})$")
_DATE_Y = re.compile(r"^(\d{4})$")
_INT = re.compile(r"^[+-]?\d{1,9}$")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Optional apostrophes, then a character a spreadsheet reads as the start of a formula.
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"^'+[=+\-@\t\r]")

Converter = Callable[[Any], Any]

_JSON_TYPE = {str: "text", bool: "true/false", int: "number", float: "number", list: "list", dict: "object"}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def parse_date(value: Any) -> tuple[dt.date, str | None]:
    """A date and, for "2019-03" or "2019", the precision the writer implied."""
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = str(value).strip()
    if m := _DATE.match(text):
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))), None
        except ValueError:
            raise ValueProblem(f"{text!r} is not a real calendar date") from None
    if m := _DATE_YM.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueProblem(f"{text!r} is not a real calendar date (there is no month {month})")
        return dt.date(year, month, 1), "month"
    if m := _DATE_Y.match(text):
        if int(m.group(1)) < 1:
            raise ValueProblem(f"{text!r} is not a real year")
        return dt.date(int(m.group(1)), 1, 1), "year"
    raise ValueProblem(f"{text!r} is not a date (use YYYY-MM-DD, YYYY-MM or YYYY)")


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def make_converter(spec: FieldSpec, *, strict: bool = False) -> Converter:
    """Compile the check for one field. Empty values are handled by the caller.

    ``strict`` is for JSON documents: values must already have the type of the JSON Schema
    (text for text, codes and dates; true/false; numbers; lists of codes).
    """
    kind = spec.kind
    if kind == "string":
        limit = spec.max_length or 0

        def conv_string(value: Any) -> str:
            if not isinstance(value, str):
                if strict or isinstance(value, bool | list | dict):
                    raise ValueProblem(f"expected text, got {_type_name(value)} {value!r}")
                value = str(value)
            if "\x00" in value:
                raise ValueProblem("contains a NUL character (a binary file, or UTF-16 text?)")
            if limit and len(value) > limit:
                raise ValueProblem(f"is {len(value):,} characters long; the limit is {limit:,}")
            return value

        return conv_string
    if kind == "date":

        def conv_date(value: Any) -> dt.date:
            if strict:
                if not isinstance(value, str):
                    raise ValueProblem(f"expected a date as text (YYYY-MM-DD), got {_type_name(value)} {value!r}")
                if not _DATE.match(value):
                    raise ValueProblem(f"{value!r} is not a date in the form YYYY-MM-DD")
            return parse_date(value)[0]

        return conv_date
    if kind == "boolean":

        def conv_bool(value: Any) -> bool:
            if isinstance(value, bool):
                return value
            if strict:
                raise ValueProblem(f"expected true or false, got {_type_name(value)} {value!r}")
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueProblem(f"{value!r} is not true or false (use true/false, yes/no or 1/0)")

        return conv_bool
    if kind == "integer":
        lo, hi = spec.minimum, spec.maximum

        def conv_int(value: Any) -> int:
            if isinstance(value, bool):
                raise ValueProblem("expected a whole number, got true/false")
            if isinstance(value, int):
                number = value
            elif isinstance(value, float) and value.is_integer():
                number = int(value)
            elif strict or not isinstance(value, str):
                raise ValueProblem(f"expected a whole number, got {_type_name(value)} {value!r}")
            else:
                text = value.strip()
                if not _INT.match(text):
                    raise ValueProblem(f"{value!r} is not a whole number")
                number = int(text)
            if lo is not None and number < lo:
                raise ValueProblem(f"{number} is below the minimum {lo}")
            if hi is not None and number > hi:
                raise ValueProblem(f"{number} is above the maximum {hi}")
            return number

        return conv_int
    if kind == "code":
        allowed = spec.allowed()
        what = spec.vocabulary if spec.vocabulary != "choice" else spec.name
        upper = spec.vocabulary == "country"

        def conv_code(value: Any) -> str:
            if not isinstance(value, str):
                raise ValueProblem(f"expected a {what} code, got {_type_name(value)} {value!r}")
            code = value.strip()
            if upper and not strict:
                code = code.upper()
            if code not in allowed:
                if spec.vocabulary == "country":
                    raise ValueProblem(f"unknown country code {value!r} (use ISO 3166-1 alpha-2, e.g. 'TR')")
                hint = ", ".join(sorted(allowed)) if len(allowed) <= 12 else f"see the {what} vocabulary"
                raise ValueProblem(f"unknown {what} code {value!r} (expected one of: {hint})")
            return code

        return conv_code
    if kind == "codes":
        single = make_converter(
            FieldSpec(spec.name, "code", vocabulary=spec.vocabulary, choices=spec.choices), strict=strict
        )

        def conv_codes(value: Any) -> list[str]:
            if isinstance(value, list):
                items = value
            elif strict or not isinstance(value, str):
                raise ValueProblem(f"expected a list of codes, got {_type_name(value)} {value!r}")
            else:
                items = value.split(LIST_SEPARATOR)
            out: list[str] = []
            for item in items:
                if isinstance(item, str) and not item.strip():
                    if strict:
                        raise ValueProblem("contains an empty code")
                    continue
                code = single(item)
                if code not in out:
                    out.append(code)
            return out

        return conv_codes
    if kind == "ref":
        limit = spec.max_length or EXTERNAL_ID_MAX

        def conv_ref(value: Any) -> str:
            if isinstance(value, bool) or not isinstance(value, str | int) or (strict and not isinstance(value, str)):
                raise ValueProblem(f"expected an identifier as text, got {_type_name(value)} {value!r}")
            text = str(value).strip()
            if not text:
                raise ValueProblem("identifier is empty")
            if "\x00" in text:
                raise ValueProblem("contains a NUL character (a binary file, or UTF-16 text?)")
            if len(text) > limit:
                raise ValueProblem(f"is {len(text):,} characters long; the limit is {limit:,}")
            return text

        return conv_ref
    raise TypeError(kind)


def neutralise_formula(text: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection).

    A cell starting with = + - @ tab or CR gets a leading apostrophe (a spreadsheet shows it as
    text). A cell that already starts with apostrophes before such a character gets one more,
    so ``restore_formula`` can always undo exactly one: the round trip is lossless.
    """
    if text and _FORMULA.match(text):
        return "'" + text
    return text


def restore_formula(text: str) -> str:
    """Undo ``neutralise_formula`` on import so a CSV round trip is lossless."""
    if text and text[0] == "'" and _NEUTRALISED.match(text):
        return text[1:]
    return text
