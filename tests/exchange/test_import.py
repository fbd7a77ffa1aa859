"""Importing good files: CSV, XLSX and JSON, through the API and the command line."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from tnr.accounts.models import Organisation
from tnr.exchange.importer import import_file, validate_file
from tnr.records import models as rm

from .conftest import counts, export_csv, export_json, flat_row, strip_meta, write_csv

# every test runs with the whole-file registers in memory and spilled to disk (conftest)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("registers")]

DATE_COLUMNS = {"start_date", "end_date", "source_date"}
INT_COLUMNS = {"independent_sources"}
BOOL_COLUMNS = {"mass_event"}


def write_xlsx(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    """An .xlsx with real date, number and boolean cells where the CSV has text."""
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        cells: list[Any] = []
        for col in header:
            value: Any = row.get(col, "")
            if value == "":
                value = None
            elif col in DATE_COLUMNS and len(value) == 10:
                value = dt.date.fromisoformat(value)
            elif col in INT_COLUMNS or (col.endswith("_id") and value.isdigit()):
                value = int(value)
            elif col in BOOL_COLUMNS:
                value = value == "true"
            cells.append(value)
        ws.append(cells)
    for cell in ws["D"][1:]:  # show the dates as dates, as a spreadsheet user would
        cell.number_format = "DD.MM.YYYY"
    wb.save(path)
    return path


def _csv_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), list(reader)


def test_xlsx_import_equals_csv_import(rich: Any, org2: Any, tmp_path: Path) -> None:
    text = export_csv(rich)
    header, rows = _csv_rows(text)
    xlsx = write_xlsx(tmp_path / "alpha.xlsx", header, rows)
    org3 = Organisation.objects.create(name="Gamma", slug="gamma")
    csv_path = tmp_path / "alpha.csv"
    csv_path.write_text(text, encoding="utf-8", newline="")
    import_file(csv_path, org2)
    report = import_file(xlsx, org3)
    assert report.counts["incidents"] == 4
    # A CR LF line end in a cell may come back from the XML inside .xlsx as LF or as CR LF,
    # depending on the XML parser openpyxl finds (lxml keeps it); nothing else may differ.
    def unify(doc: dict[str, Any]) -> Any:
        return json.loads(json.dumps(strip_meta(doc)).replace("\\r\\n", "\\n"))

    assert unify(export_json(org3)) == unify(export_json(org2))


def test_xlsx_with_numeric_ids_and_date_cells(org: Any, org2: Any, tmp_path: Path) -> None:
    rows = [
        flat_row(incident_id="1001", start_date="2020-01-15", end_date="2020-02-01", independent_sources="2"),
        flat_row(incident_id="1001", start_date="2020-01-15", end_date="2020-02-01", independent_sources="2",
                 act_id="2", target_id="77", source_id="S1"),
        flat_row(incident_id="1002", start_date="2021-07-04", target_id="P-1", title="Second"),
    ]
    columns = list(rows[0])
    csv_path = write_csv(tmp_path / "a.csv", rows, columns)
    xlsx_path = write_xlsx(tmp_path / "a.xlsx", columns, rows)
    import_file(csv_path, org)
    import_file(xlsx_path, org2)
    assert strip_meta(export_json(org)) == strip_meta(export_json(org2))
    inc = rm.Incident.objects.get(organisation=org2, external_id="1001")
    assert inc.start_date == dt.date(2020, 1, 15)
    assert inc.end_date == dt.date(2020, 2, 1)
    assert inc.independent_sources == 2
    assert sorted(inc.acts.values_list("external_id", flat=True)) == ["2", "A1"]


def test_flat_rows_assemble_incidents(org: Any, tmp_path: Path) -> None:
    rows = [
        flat_row(act_id="A1", actor_id="AC-1", source_id=""),
        flat_row(act_id="A1", actor_id="AC-2", actor_type="host_authority", actor_state="NL",
                 involvement_degree="co_opted_host_authority", source_id="", source_reference="Court file"),
        flat_row(act_id="A2", target_id="P-2", primary_tactic="online_threats_smear",
                 secondary_tactics="coercion_by_proxy; monitoring_infiltration;online_threats_smear",
                 actor_id="AC-1", source_id="", source_reference="Court file"),
        flat_row(incident_id="INC-2", start_date="2019-03", target_id="P-1", act_id="", actor_id="AC-1", source_id=""),
        flat_row(incident_id="INC-3", start_date="2018", end_date="", target_id="P-3", act_id="",
                 location_country="tr", actor_id="", actor_type="", actor_state="", involvement_degree="",
                 source_id="", source_type="", source_reference=""),
    ]
    path = write_csv(tmp_path / "a.csv", rows)
    report = import_file(path, org)
    assert report.counts == {"incidents": 3, "acts": 4, "sources": 3, "persons": 3, "actors": 2}
    inc1 = rm.Incident.objects.get(organisation=org, external_id="INC-1")
    a1, a2 = inc1.acts.order_by("external_id")
    assert sorted(a1.involvements.values_list("actor__external_id", "degree")) == [
        ("AC-1", "perpetrator"), ("AC-2", "co_opted_host_authority")]
    assert sorted(t.pk for t in a2.secondary_tactics.all()) == ["coercion_by_proxy", "monitoring_infiltration"]
    # sources without ids: the same description is one source
    assert sorted(inc1.sources.values_list("external_id", "reference")) == [("S1", "Interview notes"), ("S2", "Court file")]
    inc2 = rm.Incident.objects.get(organisation=org, external_id="INC-2")
    assert (inc2.start_date, inc2.date_precision) == (dt.date(2019, 3, 1), "month")
    assert inc2.acts.get().external_id == "A1"
    inc3 = rm.Incident.objects.get(organisation=org, external_id="INC-3")
    assert (inc3.start_date, inc3.date_precision, inc3.location_country_id) == (dt.date(2018, 1, 1), "year", "TR")
    # persons and actors are one record across incidents
    assert rm.Person.objects.filter(organisation=org).count() == 3
    assert rm.Actor.objects.get(organisation=org, external_id="AC-1").involvements.count() == 3


def test_mass_event_is_derived_when_not_given(org: Any, tmp_path: Path) -> None:
    rows = [flat_row(act_id=f"A{i}", target_id=f"P-{i}") for i in range(3)]
    rows.append(flat_row(incident_id="INC-2", target_id="P-9"))
    import_file(write_csv(tmp_path / "a.csv", rows), org)
    assert rm.Incident.objects.get(organisation=org, external_id="INC-1").mass_event is True
    assert rm.Incident.objects.get(organisation=org, external_id="INC-2").mass_event is False


def test_validate_counts_without_writing(org: Any, tmp_path: Path) -> None:
    rows = [flat_row(), flat_row(act_id="A2", target_id="P-2"), flat_row(incident_id="INC-2")]
    report = validate_file(write_csv(tmp_path / "a.csv", rows))
    assert report.ok, report.summary()
    assert report.counts == {"incidents": 2, "acts": 3}
    assert report.rows == 3
    assert "valid" in report.summary()
    assert counts()["incidents"] == 0


def test_progress_is_reported(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [flat_row(incident_id=f"I{i}") for i in range(50)])
    seen: list[int] = []
    import_file(path, org, progress=seen.append)
    assert sum(seen) == path.stat().st_size


def test_synthetic_flag(org: Any, tmp_path: Path) -> None:
    import_file(write_csv(tmp_path / "a.csv", [flat_row()]), org, synthetic=True)
    assert rm.Incident.objects.get(organisation=org).synthetic is True


def test_json_synthetic_flag_is_kept(rich: Any, org2: Any, tmp_path: Path) -> None:
    rm.Incident.objects.filter(organisation=rich).update(synthetic=True)
    path = tmp_path / "a.json"
    path.write_text(json.dumps(export_json(rich)), encoding="utf-8")
    import_file(path, org2)
    assert set(rm.Incident.objects.filter(organisation=org2).values_list("synthetic", flat=True)) == {True}


def test_persons_already_known_are_reused(org: Any, tmp_path: Path) -> None:
    import_file(write_csv(tmp_path / "a.csv", [flat_row(incident_id="INC-1", target_id="P-1")]), org)
    import_file(write_csv(tmp_path / "b.csv", [flat_row(incident_id="INC-2", target_id="P-1")]), org)
    assert rm.Person.objects.filter(organisation=org).count() == 1
    assert rm.Actor.objects.filter(organisation=org).count() == 1
    assert rm.Act.objects.filter(target__external_id="P-1").count() == 2


def test_batches_are_all_written(org: Any, tmp_path: Path) -> None:
    rows = [flat_row(incident_id=f"INC-{i}", target_id=f"P-{i % 7}") for i in range(250)]
    report = import_file(write_csv(tmp_path / "a.csv", rows), org, batch_size=100)
    assert report.counts["incidents"] == 250
    assert counts(org)["incidents"] == 250
    assert counts(org)["persons"] == 7


# --- the command line ---------------------------------------------------------------------------


def test_import_command(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [flat_row(), flat_row(incident_id="INC-2")])
    out = io.StringIO()
    call_command("import", str(path), organisation="alpha", stdout=out)
    assert "imported" in out.getvalue()
    assert "2 incidents" in out.getvalue()
    assert counts(org)["incidents"] == 2


def test_import_command_failure_lists_every_problem(org: Any, tmp_path: Path) -> None:
    rows = [flat_row(incident_id=f"INC-{i}", start_date="2019-02-30" if i in {1, 3} else "2019-02-03",
                     primary_tactic="teleportation" if i == 2 else "assault") for i in range(5)]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(CommandError) as caught:
        call_command("import", str(path), organisation="alpha", quiet=True)
    text = str(caught.value)
    assert "3 problems, nothing imported" in text
    assert "bad.csv, row 3, column start_date: '2019-02-30' is not a real calendar date" in text
    assert "bad.csv, row 5, column start_date" in text
    assert "bad.csv, row 4, column primary_tactic: unknown tactic code 'teleportation'" in text
    assert counts()["incidents"] == 0


def test_validate_command(org: Any, tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", [flat_row()])
    out = io.StringIO()
    call_command("validate", str(good), quiet=True, stdout=out)
    assert "valid" in out.getvalue()
    bad = write_csv(tmp_path / "bad.csv", [flat_row(location_country="XX")])
    with pytest.raises(CommandError, match=r"bad.csv, row 2, column location_country: unknown country code 'XX'"):
        call_command("validate", str(bad), quiet=True)


def test_validate_command_line_reads_no_views(tmp_path: Path) -> None:
    """``tnr validate`` runs the model checks, not the URL checks that import every view."""
    good = write_csv(tmp_path / "good.csv", [flat_row()])
    code = (
        "import sys; from tnr.cli import main; "
        f"main(['validate', {str(good)!r}, '--quiet']); "
        "sys.exit('the URL configuration was imported' if 'tnr.urls' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "good.csv: valid: 1 rows" in done.stdout


def test_simulator_documents_import(org: Any, tmp_path: Path) -> None:
    """What ``tnr demo`` loads: the simulator's exchange documents pass the strict JSON checks."""
    from tnr.methods.simulate import SimulationConfig, simulate

    result = simulate(SimulationConfig(seed=5, n_incidents=60))
    code, dataset = next(iter(result.documented.items()))
    path = tmp_path / f"{code}.json"
    path.write_text(json.dumps(dataset.to_exchange(code)), encoding="utf-8")
    report = import_file(path, org, synthetic=True)
    assert report.counts["incidents"] == len(dataset.incidents) > 0
    assert set(rm.Incident.objects.filter(organisation=org).values_list("synthetic", flat=True)) == {True}
