"""JSON Schema and Frictionless table schemas, generated from ``spec``.

Run ``tnr schema`` to print them; ``docs/`` and the published files are produced from here.
"""

from __future__ import annotations

from typing import Any

from tnr.exchange import spec as s
from tnr.exchange.spec import FieldSpec, ResourceSpec

SCHEMA_ID = "https://tnr-observatory.invalid/schema/exchange-1.0.json"


def _json_type(f: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any]
    if f.kind == "string":
        out = {"type": "string"}
        if f.max_length:
            out["maxLength"] = f.max_length
        if f.required:
            out["pattern"] = r"\S"  # not empty, not only spaces
    elif f.kind == "date":
        out = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    elif f.kind == "boolean":
        out = {"type": "boolean"}
    elif f.kind == "integer":
        out = {"type": "integer"}
        if f.minimum is not None:
            out["minimum"] = f.minimum
        if f.maximum is not None:
            out["maximum"] = f.maximum
    elif f.kind == "code":
        out = {"type": "string", "enum": sorted(f.allowed())}
    elif f.kind == "codes":
        out = {"type": "array", "items": {"type": "string", "enum": sorted(f.allowed())}, "uniqueItems": True}
    elif f.kind == "ref":
        out = {"type": "string", "minLength": 1, "maxLength": f.max_length, "pattern": r"\S"}
    else:  # pragma: no cover - spec kinds are closed
        raise TypeError(f.kind)
    if not f.required and f.kind in {"date", "code", "ref"}:
        out = {"anyOf": [out, {"type": "null"}]}
    if f.description:
        out["description"] = f.description
    return out


def _object_schema(resource: ResourceSpec) -> dict[str, Any]:
    properties = {f.name: _json_type(f) for f in resource.fields}
    for child_name, child in resource.children.items():
        properties[child_name] = {"type": "array", "items": _object_schema(child)}
    required = [f.name for f in resource.fields if f.required]
    out: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": required,
    }
    if resource.description:
        out["description"] = resource.description
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole exchange document."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "TNR Observatory exchange document",
        "description": "Incidents of transnational repression on the common data model, de-identified.",
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "version", "incidents"],
        "properties": {
            "format": {"const": s.FORMAT_NAME},
            "version": {"const": s.FORMAT_VERSION},
            "synthetic": {"type": "boolean", "description": "True when the data are simulated."},
            "organisation": {"type": "string", "maxLength": 200},
            "exported_at": {"type": "string", "format": "date-time"},
            "vocabularies": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "Version of each vocabulary the codes come from.",
            },
            **{name: {"type": "array", "items": _object_schema(r)} for name, r in s.TOP_LEVEL.items()},
        },
    }


# --- Frictionless Data Package -----------------------------------------------------------------


# Text cells that a spreadsheet would run as a formula (starting with = + - @ tab or CR) are
# written with a leading apostrophe (see ``spec.neutralise_formula``), one character more than
# the stored text.
FORMULA_NOTE = (
    "Text starting with = + - @, a tab or a carriage return (or with apostrophes before one of "
    "them) is written with one more apostrophe in front, so spreadsheets do not run it as a "
    "formula; remove that first apostrophe to get the stored text."
)


def _table_field(f: FieldSpec, name: str | None = None, *, required: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name or f.name}
    constraints: dict[str, Any] = {}
    if f.kind in {"string", "ref"}:
        out["type"] = "string"
        if f.max_length:
            constraints["maxLength"] = f.max_length + 1  # room for the apostrophe, see FORMULA_NOTE
    elif f.kind == "date":
        out["type"] = "date"
    elif f.kind == "boolean":
        out["type"] = "boolean"
    elif f.kind == "integer":
        out["type"] = "integer"
        if f.minimum is not None:
            constraints["minimum"] = f.minimum
        if f.maximum is not None:
            constraints["maximum"] = f.maximum
    elif f.kind == "code":
        out["type"] = "string"
        constraints["enum"] = sorted(f.allowed())
    elif f.kind == "codes":
        # a ";"-separated list of codes; Frictionless checks the pattern of the whole cell
        out["type"] = "string"
        codes = "|".join(sorted(f.allowed()))
        constraints["pattern"] = f"(({codes})(;({codes}))*)?"
    if (f.required if required is None else required):
        constraints["required"] = True
    if constraints:
        out["constraints"] = constraints
    if f.description:
        out["description"] = f.description
    return out


# (resource name, spec, parent key column or None, fields to leave out, extra fields first)
TABLES: list[tuple[str, ResourceSpec, str | None]] = [
    ("incidents", s.INCIDENT, None),
    ("acts", s.ACT, "incident_id"),
    ("involvements", s.INVOLVEMENT, "act_id"),
    ("sources", s.SOURCE, "incident_id"),
    ("persons", s.PERSON, None),
    ("relations", s.RELATION, "person_id"),
    ("consents", s.CONSENT, "person_id"),
    ("actors", s.ACTOR, None),
]


def table_columns(resource: str) -> list[str]:
    return [f["name"] for f in table_schema(resource)["fields"]]


def table_schema(resource: str) -> dict[str, Any]:
    for name, r, parent in TABLES:
        if name != resource:
            continue
        fields: list[dict[str, Any]] = []
        incident_id = {**_table_field(s.INCIDENT.field("id"), "incident_id"), "description": "Id of the incident in `incidents`."}
        if parent == "incident_id":
            fields.append(incident_id)
        elif parent == "act_id":
            fields.append(incident_id)
            fields.append({**_table_field(s.ACT.field("id"), "act_id"), "description": "Id of the act in `acts` (within its incident)."})
        elif parent == "person_id":
            fields.append({**_table_field(s.PERSON.field("id"), "person_id"), "description": "Id of the person in `persons`."})
        fields += [_table_field(f) for f in r.fields]
        schema: dict[str, Any] = {"fields": fields}
        if name in {"incidents", "persons", "actors"}:
            schema["primaryKey"] = ["id"]
        if name in {"acts", "sources"}:
            schema["primaryKey"] = ["incident_id", "id"]
        if name == "involvements":
            schema["primaryKey"] = ["incident_id", "act_id", "actor", "degree"]
        if name == "relations":
            schema["primaryKey"] = ["person_id", "person", "type"]
        if name == "consents":
            schema["primaryKey"] = ["person_id", "scope"]
        fks = []
        if parent in {"incident_id", "act_id"}:
            fks.append({"fields": ["incident_id"], "reference": {"resource": "incidents", "fields": ["id"]}})
        if parent == "act_id":
            fks.append(
                {"fields": ["incident_id", "act_id"], "reference": {"resource": "acts", "fields": ["incident_id", "id"]}}
            )
            fks.append({"fields": ["actor"], "reference": {"resource": "actors", "fields": ["id"]}})
        if parent == "person_id":
            fks.append({"fields": ["person_id"], "reference": {"resource": "persons", "fields": ["id"]}})
        if name == "acts":
            fks.append({"fields": ["target"], "reference": {"resource": "persons", "fields": ["id"]}})
        if name == "relations":
            fks.append({"fields": ["person"], "reference": {"resource": "persons", "fields": ["id"]}})
        if fks:
            schema["foreignKeys"] = fks
        return schema
    raise KeyError(resource)
