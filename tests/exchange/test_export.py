"""Exports: lossless JSON and flat CSV round trips, formula guard, Frictionless data package."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from frictionless import Package

from tnr.exchange import export
from tnr.exchange.importer import import_file
from tnr.records import models as rm

from .conftest import FORMULA, RTL, build_rich_dataset, counts, export_csv, export_json, strip_meta

pytestmark = pytest.mark.django_db


def _incidents(org: Any) -> Any:
    return rm.Incident.objects.filter(organisation=org)


def test_json_round_trip_is_lossless(rich: Any, org2: Any, tmp_path: Path) -> None:
    first = export_json(rich)
    path = tmp_path / "alpha.json"
    path.write_text(json.dumps(first, ensure_ascii=False), encoding="utf-8")
    report = import_file(path, org2)
    assert report.counts == {"incidents": 4, "acts": 7, "sources": 5, "persons": 6, "actors": 4}
    second = export_json(org2)
    assert strip_meta(second) == strip_meta(first)
    assert second["organisation"] == "Beta Monitor"
    assert first["organisation"] == "Alpha Watch"
    # the things most easily lost are there
    inc1 = next(i for i in second["incidents"] if i["id"] == "INC-1")
    assert "\n" in inc1["summary"]
    assert "\r\n" in inc1["summary"]
    assert RTL in inc1["title"]
    assert inc1["perpetrator_states"] == ["CN", "RU"]
    assert [len(a["involvements"]) for a in inc1["acts"]] == [2, 2, 0]
    assert [s["id"] for s in inc1["sources"]] == ["S1", "S2", "S3", "S4"]
    precisions = {i["id"]: i["date_precision"] for i in second["incidents"]}
    assert precisions == {"INC-1": "day", "INC-2": "month", "INC-3": "year", "INC-4": "day"}
    persons = {p["id"]: p for p in second["persons"]}
    assert persons["P-1"]["nationality"] == ["CN", "HK"]
    assert len(persons["P-1"]["consents"]) == 2
    assert persons["P-REL"]["relations"] == [{"type": "relative_of", "person": "P-1"}]
    # the databases agree too, not only the documents
    assert counts(org2)["incidents"] == counts(rich)["incidents"]
    assert rm.PersonRelation.objects.filter(person__organisation=org2).count() == 3
    assert rm.Consent.objects.filter(person__organisation=org2).count() == 3


def test_json_export_marks_synthetic_data(org: Any) -> None:
    build_rich_dataset(org)
    rm.Incident.objects.filter(organisation=org).update(synthetic=True)
    doc = export_json(org)
    assert doc["synthetic"] is True
    assert doc["format"] == "tnr-exchange"
    assert set(doc["vocabularies"]) >= {"tactic", "target_category"}


def test_flat_csv_round_trip_is_lossless(rich: Any, org2: Any, tmp_path: Path) -> None:
    first = export_csv(rich)
    path = tmp_path / "alpha.csv"
    path.write_text(first, encoding="utf-8", newline="")
    report = import_file(path, org2)
    assert report.counts["incidents"] == 4
    assert report.counts["acts"] == 7
    assert report.counts["sources"] == 5
    second = export_csv(org2)
    assert second == first
    # what the flat form carries survives into the database
    a, b = strip_meta(export_json(rich)), strip_meta(export_json(org2))
    assert a["incidents"] == b["incidents"]
    assert a["actors"] == b["actors"]


def test_csv_export_neutralises_formulas(rich: Any, org2: Any, tmp_path: Path) -> None:
    text = export_csv(rich)
    rows = list(csv.DictReader(io.StringIO(text)))
    inc3 = [r for r in rows if r["incident_id"] == "INC-3"]
    assert inc3[0]["title"] == "'" + FORMULA
    assert inc3[0]["summary"].startswith("'@")
    assert inc3[0]["pretext"] == "'+cmd"
    assert inc3[0]["source_reference"] == "'-1"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    # the stored text is untouched, and importing the export gives it back
    assert rm.Incident.objects.get(organisation=rich, external_id="INC-3").title == FORMULA
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8", newline="")
    import_file(path, org2)
    assert rm.Incident.objects.get(organisation=org2, external_id="INC-3").title == FORMULA
    assert rm.Act.objects.get(incident__organisation=org2, incident__external_id="INC-3").pretext == "+cmd"


@pytest.mark.parametrize("text", ["=1+1", "'=1+1", "''@x", "'plain", "-", "'", "a=b", "\t=x"])
def test_formula_guard_round_trips_any_text(org: Any, org2: Any, tmp_path: Path, text: str) -> None:
    build_rich_dataset(org)
    rm.Incident.objects.filter(organisation=org, external_id="INC-4").update(title=text)
    path = tmp_path / "x.csv"
    path.write_text(export_csv(org), encoding="utf-8", newline="")
    import_file(path, org2)
    assert rm.Incident.objects.get(organisation=org2, external_id="INC-4").title == text


def test_export_is_read_in_chunks(rich: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "CHUNK", 1)
    doc = export_json(rich)
    assert [i["id"] for i in doc["incidents"]] == ["INC-1", "INC-2", "INC-3", "INC-4"]
    assert len(doc["persons"]) == 6


def test_export_only_the_organisations_records(rich: Any, org2: Any) -> None:
    build_rich_dataset(org2)
    rm.Incident.objects.filter(organisation=org2, external_id="INC-4").delete()
    doc = export_json(org2)
    assert [i["id"] for i in doc["incidents"]] == ["INC-1", "INC-2", "INC-3"]
    assert "P-5" not in {p["id"] for p in doc["persons"]}  # only INC-4's target
    assert len(export_json(rich)["incidents"]) == 4


def test_persons_of_another_organisation_in_between_stay_out(org: Any, org2: Any, tmp_path: Path) -> None:
    """Persons of another organisation whose keys lie between ours never reach our export."""
    for i in range(6):
        for owner, nationality in ((org, "CN"), (org2, "IR")):
            person = rm.Person.objects.create(organisation=owner, external_id=f"P-{i}", sex="female")
            person.nationality.set([nationality])
            person.categories.set(["journalist"] if owner == org else ["lgbti"])
            incident = rm.Incident.objects.create(
                organisation=owner, external_id=f"I-{i}", title="t", start_date=dt.date(2020, 1, 1),
            )
            rm.Act.objects.create(incident=incident, external_id="A1", target=person, primary_tactic_id="assault")
    persons = export_json(org)["persons"]
    assert [(p["id"], p["nationality"], p["categories"]) for p in persons] == [
        (f"P-{i}", ["CN"], ["journalist"]) for i in range(6)
    ]
    export.write_datapackage(_incidents(org), tmp_path / "pkg")
    with open(tmp_path / "pkg" / "persons.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["id"], r["nationality"], r["categories"]) for r in rows] == [(f"P-{i}", "CN", "journalist") for i in range(6)]


# --- Frictionless data package -------------------------------------------------------------------


def _validate_package(path: Path) -> Any:
    return Package(str(path)).validate()


def test_datapackage_is_valid_frictionless(rich: Any, tmp_path: Path) -> None:
    # a title at the length limit that also needs the formula guard
    rm.Incident.objects.filter(organisation=rich, external_id="INC-4").update(title="=" + "x" * 199)
    path = export.write_datapackage(_incidents(rich), tmp_path / "pkg")
    report = _validate_package(path)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    fks = {r["name"]: r["schema"].get("foreignKeys", []) for r in descriptor["resources"]}
    assert {"fields": ["target"], "reference": {"resource": "persons", "fields": ["id"]}} in fks["acts"]
    assert any(fk["reference"]["resource"] == "actors" for fk in fks["involvements"])
    tables = {}
    for r in descriptor["resources"]:
        with open(tmp_path / "pkg" / r["path"], encoding="utf-8", newline="") as f:
            tables[r["name"]] = sum(1 for _ in csv.reader(f)) - 1
    assert tables == {"incidents": 4, "acts": 7, "involvements": 9, "sources": 5, "persons": 6,
                      "relations": 3, "consents": 3, "actors": 4}


def test_frictionless_catches_broken_foreign_keys(rich: Any, tmp_path: Path) -> None:
    """The validation above really checks foreign keys: break one and it fails."""
    path = export.write_datapackage(_incidents(rich), tmp_path / "pkg")
    actors = tmp_path / "pkg" / "actors.csv"
    lines = actors.read_text(encoding="utf-8").splitlines(keepends=True)
    actors.write_text("".join(line for line in lines if not line.startswith("AC-3,")), encoding="utf-8")
    report = _validate_package(path)
    assert not report.valid
    assert "foreign-key" in {row[0] for row in report.flatten(["type"])}


def test_datapackage_of_synthetic_data_says_so(org: Any, tmp_path: Path) -> None:
    build_rich_dataset(org)
    _incidents(org).update(synthetic=True)
    path = export.write_datapackage(_incidents(org), tmp_path / "pkg", title="Demo")
    descriptor = json.loads(path.read_text(encoding="utf-8"))
    assert "synthetic" in descriptor["title"]
    assert descriptor["x_tnr"]["synthetic"] is True


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "datapackage"])
def test_export_command(rich: Any, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / ("pkg" if fmt == "datapackage" else f"out.{fmt}")
    call_command("export", organisation="alpha", format=fmt, output=out, stderr=io.StringIO())
    if fmt == "json":
        assert strip_meta(json.loads(out.read_text(encoding="utf-8"))) == strip_meta(export_json(rich))
    elif fmt == "csv":
        assert out.read_bytes().decode("utf-8") == export_csv(rich)
    else:
        assert _validate_package(out / "datapackage.json").valid
