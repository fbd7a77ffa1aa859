"""The published JSON Schema and table schemas come from the models and vocabulary files."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tnr.exchange import export
from tnr.exchange import schema as sch
from tnr.exchange import spec as s
from tnr.exchange.importer import validate_file
from tnr.records import models as rm
from tnr.taxonomy import vocab

from .conftest import export_json


def _props(resource: str) -> dict[str, Any]:
    """The properties of one resource in the document schema."""
    top = sch.json_schema()["properties"]
    if resource in {"incidents", "persons", "actors"}:
        return top[resource]["items"]["properties"]
    if resource in {"acts", "sources"}:
        return top["incidents"]["items"]["properties"][resource]["items"]["properties"]
    if resource == "involvements":
        return top["incidents"]["items"]["properties"]["acts"]["items"]["properties"]["involvements"]["items"]["properties"]
    raise KeyError(resource)


def _plain(prop: dict[str, Any]) -> dict[str, Any]:
    """The type of an optional property without its ``anyOf [..., null]`` wrapper."""
    return prop["anyOf"][0] if "anyOf" in prop else prop


def test_json_schema_is_valid_draft_2020_12() -> None:
    schema = sch.json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.django_db
def test_exported_document_validates_against_the_schema(rich: Any) -> None:
    doc = export_json(rich)
    validator = Draft202012Validator(sch.json_schema(), format_checker=FormatChecker())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    assert len(doc["incidents"]) == 4


def test_tactic_enum_is_the_vocabulary_file() -> None:
    codes = sorted(vocab.load_vocabulary("tactic").codes)
    acts = _props("acts")
    assert acts["primary_tactic"]["enum"] == codes
    assert acts["secondary_tactics"]["items"]["enum"] == codes
    assert _plain(acts["outcome"])["enum"] == sorted(vocab.load_vocabulary("outcome").codes)
    assert _plain(_props("incidents")["location_type"])["enum"] == sorted(vocab.load_vocabulary("location_type").codes)
    assert _props("persons")["categories"]["items"]["enum"] == sorted(vocab.load_vocabulary("target_category").codes)
    assert _props("actors")["type"]["enum"] == sorted(vocab.load_vocabulary("actor_type").codes)
    countries = _plain(_props("incidents")["origin_state"])["enum"]
    assert "TR" in countries
    assert "CN" in countries
    assert "XX" not in countries


def test_choice_enums_are_the_model_choices() -> None:
    field = rm.Incident._meta.get_field("confidence")
    assert _plain(_props("incidents")["confidence"])["enum"] == sorted(v for v, _ in field.flatchoices)
    degree = rm.Involvement._meta.get_field("degree")
    assert _plain(_props("involvements")["degree"])["enum"] == sorted(v for v, _ in degree.flatchoices)


@pytest.mark.parametrize(
    ("resource", "prop", "model", "field"),
    [
        ("incidents", "title", rm.Incident, "title"),
        ("incidents", "id", rm.Incident, "external_id"),
        ("incidents", "admin_area", rm.Incident, "admin_area"),
        ("acts", "pretext", rm.Act, "pretext"),
        ("acts", "id", rm.Act, "external_id"),
        ("sources", "reference", rm.Source, "reference"),
        ("actors", "name", rm.Actor, "name"),
    ],
)
def test_max_lengths_come_from_the_models(resource: str, prop: str, model: Any, field: str) -> None:
    assert _plain(_props(resource)[prop])["maxLength"] == model._meta.get_field(field).max_length


def test_changing_a_model_length_changes_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    title = rm.Incident._meta.get_field("title")
    monkeypatch.setattr(title, "max_length", 123)
    spec = s.from_model(rm.Incident, "title")
    assert spec.max_length == 123
    assert sch._json_type(spec)["maxLength"] == 123
    assert sch._table_field(spec)["constraints"]["maxLength"] == 123 + 1  # room for the formula guard


def test_required_fields_follow_the_models() -> None:
    incident = sch.json_schema()["properties"]["incidents"]["items"]
    assert {"id", "title", "start_date"} <= set(incident["required"])
    assert "end_date" not in incident["required"]  # null=True, blank=True in the model
    acts = sch.json_schema()["properties"]["incidents"]["items"]["properties"]["acts"]["items"]
    assert "primary_tactic" in acts["required"]


@pytest.mark.django_db
def test_table_schemas_match_the_exported_csv_headers(rich: Any, tmp_path: Path) -> None:
    path = export.write_datapackage(rm.Incident.objects.filter(organisation=rich), tmp_path / "pkg")
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert [r["name"] for r in descriptor["resources"]] == [name for name, _r, _p in sch.TABLES]
    for resource in descriptor["resources"]:
        with open(tmp_path / "pkg" / resource["path"], encoding="utf-8", newline="") as f:
            header = next(csv.reader(f))
        assert header == [f["name"] for f in resource["schema"]["fields"]]
        assert header == sch.table_columns(resource["name"])


def _mutate(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["incidents", 0, "title"], 42),
        (["incidents", 0, "title"], " "),
        (["incidents", 0, "title"], "x" * 201),
        (["incidents", 0, "mass_event"], "yes"),
        (["incidents", 0, "independent_sources"], "3"),
        (["incidents", 0, "start_date"], "2019-03"),
        (["incidents", 0, "origin_state"], "XX"),
        (["incidents", 0, "perpetrator_states"], "CN"),
        (["incidents", 0, "colour"], "red"),
        (["incidents", 0, "acts", 0, "primary_tactic"], "teleportation"),
        (["incidents", 0, "acts", 0, "id"], 7),
        (["persons", 0, "sex"], None),
        (["incidents", 0, "acts", 0, "id"], " "),
        (["version"], "0.9"),
    ],
)
def test_schema_and_importer_agree_on_bad_documents(rich: Any, tmp_path: Path, path: list[Any], value: Any) -> None:
    doc = export_json(rich)
    if path == ["persons", 0, "sex"]:
        bad = copy.deepcopy(doc)
        del bad["persons"][0]["id"]
    else:
        bad = _mutate(doc, path, value)
    assert list(Draft202012Validator(sch.json_schema()).iter_errors(bad)), "the schema accepts it"
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(bad), encoding="utf-8")
    report = validate_file(file)
    assert not report.ok, "the importer accepts it"
