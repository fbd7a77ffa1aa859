"""Bad input: nothing is written, and every problem says file, row, column and why.

Each test checks three things: (1) the import writes nothing, (2) the problem names the file,
the row, the column and a reason a person understands, (3) several problems in one file are
all reported, not only the first.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from openpyxl import Workbook

from tnr.exchange.flat import FLAT_COLUMN_NAMES
from tnr.exchange.importer import (
    MAX_PROBLEMS,
    ImportFailed,
    ImportReport,
    import_file,
    validate_file,
)
from tnr.records import models as rm

from .conftest import FORMULA, counts, export_csv, export_json, flat_row, many_rows, write_csv

# every test runs with the whole-file registers in memory and spilled to disk (conftest)
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("registers")]


def fails(path: Path, org: Any, *, check_validate: bool = True, **kwargs: Any) -> ImportReport:
    """Import ``path``, expect ImportFailed, check nothing was written; return the report."""
    before = counts()
    with pytest.raises(ImportFailed) as caught:
        import_file(path, org, **kwargs)
    assert counts() == before, "a failed import wrote something"
    report = caught.value.report
    assert not report.ok
    assert "nothing imported" in str(caught.value)
    # validation finds exactly the same problems, without a database
    if check_validate and not kwargs:
        assert [str(p) for p in validate_file(path).problems] == [str(p) for p in report.problems]
    return report


def has(report: ImportReport, row: int | None, column: str | None, *reason: str) -> None:
    """The report has a problem at ``row``/``column`` whose message holds every ``reason``."""
    for p in report.problems:
        if p.line == row and p.column == column and all(r in p.message for r in reason):
            text = str(p)
            assert text.startswith(report.file)
            if row is not None:
                assert f"row {row}" in text
            if column is not None:
                assert f"column {column}" in text
            return
    raise AssertionError(f"no problem at row {row}, column {column} with {reason!r} in:\n{report.summary()}")


def rows_with(bad: dict[str, str], at: tuple[int, ...] = (1, 3, 4), n: int = 5) -> list[dict[str, str]]:
    """``n`` good rows (one incident each) with ``bad`` values in the rows at index ``at``."""
    return many_rows(n, lambda i: bad, bad_at=set(at))


# rows_with(..., at=(1, 3, 4)) puts the bad values on spreadsheet rows 3, 5 and 6
BAD_ROWS = (3, 5, 6)


# --- encoding ----------------------------------------------------------------------------------


def test_latin1_bytes(org: Any, tmp_path: Path) -> None:
    rows = rows_with({"title": "Menace à Genève", "city": "Zürich"})
    path = write_csv(tmp_path / "latin1.csv", rows, encoding="cp1252")
    report = fails(path, org)
    assert report.problem_count == 6
    for row in BAD_ROWS:
        has(report, row, "title", "not UTF-8", "byte 0xE0", "Windows-1252", "save the file as UTF-8")
        has(report, row, "city", "not UTF-8")


def test_utf16(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "utf16.csv", rows_with({}), encoding="utf-16")
    report = fails(path, org)
    has(report, 1, None, "UTF-16", "save the file as UTF-8")


def test_utf16_without_bom(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "utf16.csv", rows_with({}), encoding="utf-16-le")
    report = fails(path, org)
    has(report, 1, None, "NUL", "UTF-16")


def test_utf8_bom_is_fine(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bom.csv", rows_with({"title": "Genève"}), encoding="utf-8-sig")
    assert import_file(path, org).counts["incidents"] == 5


def test_nul_bytes(org: Any, tmp_path: Path) -> None:
    rows = many_rows(5, lambda i: {"title": "bad\x00title", "incident_id": f"I\x00{i}"}, bad_at={1, 3, 4})
    path = write_csv(tmp_path / "nul.csv", rows)
    report = fails(path, org)
    assert report.problem_count == 6
    for row in BAD_ROWS:
        has(report, row, "title", "NUL character")
        has(report, row, "incident_id", "NUL character")


# --- columns -----------------------------------------------------------------------------------


def test_missing_required_columns(org: Any, tmp_path: Path) -> None:
    columns = [c for c in flat_row() if c not in {"primary_tactic", "start_date"}]
    path = write_csv(tmp_path / "cols.csv", rows_with({}), columns)
    report = fails(path, org)
    assert report.problem_count == 2
    has(report, 1, "primary_tactic", "required column is missing")
    has(report, 1, "start_date", "required column is missing")


def test_unknown_columns(org: Any, tmp_path: Path) -> None:
    columns = [*flat_row(), "colour", "victim_name"]
    path = write_csv(tmp_path / "cols.csv", rows_with({}), columns)
    report = fails(path, org)
    assert report.problem_count == 2
    has(report, 1, "colour", "unknown column", "incident_id")
    has(report, 1, "victim_name", "unknown column")


def test_duplicate_column(org: Any, tmp_path: Path) -> None:
    columns = [*flat_row(), "title"]
    report = fails(write_csv(tmp_path / "cols.csv", rows_with({}), columns), org)
    has(report, 1, "title", "more than once")


def test_required_value_empty(org: Any, tmp_path: Path) -> None:
    report = fails(write_csv(tmp_path / "empty.csv", rows_with({"title": " ", "primary_tactic": ""})), org)
    assert report.problem_count == 6
    for row in BAD_ROWS:
        has(report, row, "title", "required value is empty")
        has(report, row, "primary_tactic", "required value is empty")


def test_ragged_rows(org: Any, tmp_path: Path) -> None:
    columns = list(flat_row())
    path = write_csv(tmp_path / "ragged.csv", rows_with({}), columns)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] += ",surplus"
    lines[4] += ",x,y"
    lines[5] = lines[5].rsplit(",", 3)[0]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = fails(path, org)
    assert report.problem_count == 3
    width = len(columns)
    has(report, 3, columns[-1], f"row has {width + 1} cells but the header has {width}")
    has(report, 5, columns[-1], f"row has {width + 2} cells")
    has(report, 6, columns[width - 3], f"row has {width - 3} cells")


def test_trailing_empty_cells_are_fine(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "trailing.csv", rows_with({}), list(flat_row()))
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line + ",," for line in lines) + "\n", encoding="utf-8")
    assert import_file(path, org).counts["incidents"] == 5


def test_unclosed_quote(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "quote.csv", rows_with({"title": "ok"}), list(flat_row()))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace(",ok,", ',"ok,', 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = fails(path, org)
    # the quote swallows the rest of the file into one row
    assert report.problem_count == 1
    has(report, 5, "start_date", "row has 2 cells but the header has 19", "lines 5-6 of the file", "unclosed quotes")


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2019-13-45", "is not a real calendar date"),
        ("yesterday", "is not a date (use YYYY-MM-DD, YYYY-MM or YYYY)"),
        ("15/01/2020", "is not a date"),
        ("2019-13", "there is no month 13"),
        ("20190304", "is not a date"),
    ],
)
def test_bad_dates(org: Any, tmp_path: Path, value: str, reason: str) -> None:
    report = fails(write_csv(tmp_path / "dates.csv", rows_with({"start_date": value, "source_date": value})), org)
    assert report.problem_count == 6
    for row in BAD_ROWS:
        has(report, row, "start_date", repr(value), reason)
        has(report, row, "source_date", repr(value), reason)


def test_impossible_dates(org: Any, tmp_path: Path) -> None:
    report = fails(write_csv(tmp_path / "dates.csv", rows_with({"start_date": "2019-02-30"})), org)
    assert report.problem_count == 3
    for row in BAD_ROWS:
        has(report, row, "start_date", "'2019-02-30' is not a real calendar date")


def test_dates_out_of_range(org: Any, tmp_path: Path) -> None:
    report = fails(write_csv(tmp_path / "dates.csv", rows_with({"start_date": "1850-01-01"}, at=(0,))), org)
    has(report, 2, "start_date", "outside 1900 to today")
    report = fails(write_csv(tmp_path / "dates.csv", rows_with({"start_date": "2999-01-01"}, at=(0,))), org)
    has(report, 2, "start_date", "outside 1900 to today")


def test_end_before_start(org: Any, tmp_path: Path) -> None:
    rows = rows_with({"start_date": "2020-05-10", "end_date": "2020-05-09"})
    report = fails(write_csv(tmp_path / "dates.csv", rows), org)
    assert report.problem_count == 3
    for row in BAD_ROWS:
        has(report, row, "end_date", "end date 2020-05-09 is before start date 2020-05-10")


def test_unknown_country_codes(org: Any, tmp_path: Path) -> None:
    rows = rows_with({"location_country": "XX", "perpetrator_states": "CN;ZZ", "target_nationality": "Turkey"})
    report = fails(write_csv(tmp_path / "countries.csv", rows), org)
    assert report.problem_count == 9
    for row in BAD_ROWS:
        has(report, row, "location_country", "unknown country code 'XX'", "ISO 3166-1")
        has(report, row, "perpetrator_states", "unknown country code 'ZZ'")
        has(report, row, "target_nationality", "unknown country code 'Turkey'")


def test_unknown_tactic_codes(org: Any, tmp_path: Path) -> None:
    rows = rows_with({"primary_tactic": "teleportation", "secondary_tactics": "assault;mind_control"})
    report = fails(write_csv(tmp_path / "tactics.csv", rows), org)
    assert report.problem_count == 6
    for row in BAD_ROWS:
        has(report, row, "primary_tactic", "unknown tactic code 'teleportation'")
        has(report, row, "secondary_tactics", "unknown tactic code 'mind_control'")


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("confidence", "certain", "unknown confidence code 'certain' (expected one of: confirmed, possible, probable)"),
        ("mass_event", "perhaps", "'perhaps' is not true or false"),
        ("independent_sources", "three", "'three' is not a whole number"),
        ("independent_sources", "-1", "-1 is below the minimum 0"),
        ("independent_sources", "99999", "above the maximum"),
        ("source_type", "rumour", "unknown source_type code 'rumour'"),
        ("actor_type", "ninja", "unknown actor_type code"),
        ("involvement_degree", "boss", "unknown degree code 'boss'"),
        ("target_categories", "journalist;poet", "unknown target_category code 'poet'"),
    ],
)
def test_bad_codes_and_values(org: Any, tmp_path: Path, column: str, value: str, reason: str) -> None:
    report = fails(write_csv(tmp_path / "values.csv", rows_with({column: value})), org)
    assert report.problem_count == 3
    for row in BAD_ROWS:
        has(report, row, column, reason)


def test_oversized_fields(org: Any, tmp_path: Path) -> None:
    rows = rows_with({"title": "x" * 201, "target_id": "p" * 101, "pretext": "y" * 5000})
    report = fails(write_csv(tmp_path / "long.csv", rows), org)
    assert report.problem_count == 9
    for row in BAD_ROWS:
        has(report, row, "title", "is 201 characters long; the limit is 200")
        has(report, row, "target_id", "is 101 characters long; the limit is 100")
        has(report, row, "pretext", "is 5,000 characters long; the limit is 300")


def test_huge_field(org: Any, tmp_path: Path) -> None:
    report = fails(write_csv(tmp_path / "huge.csv", rows_with({"summary": "z" * 900_000}, at=(2,))), org)
    has(report, 4, "summary", "is 900,000 characters long; the limit is 20,000")


def test_oversized_file(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", rows_with({}, n=30))
    with override_settings(TNR_MAX_IMPORT_BYTES=2048):
        report = fails(path, org)
        assert report.problem_count == 1
        has(report, None, None, "file is too large", f"{path.stat().st_size:,} bytes", "the limit is 2,048")


# --- ids ---------------------------------------------------------------------------------------


def test_duplicate_incident_ids(org: Any, tmp_path: Path) -> None:
    rows = [flat_row(incident_id=i, target_id=f"P-{n}") for n, i in enumerate(["I1", "I2", "I1", "I3", "I2", "I1"])]
    report = fails(write_csv(tmp_path / "dupes.csv", rows), org)
    assert report.problem_count == 3
    has(report, 4, "incident_id", "duplicate incident id 'I1'", "already used on row 2", "consecutive")
    has(report, 6, "incident_id", "duplicate incident id 'I2'", "row 3")
    has(report, 7, "incident_id", "duplicate incident id 'I1'", "row 2")


def test_consecutive_rows_after_a_bad_first_row_are_not_duplicates(org: Any, tmp_path: Path) -> None:
    rows = [flat_row(start_date="yesterday"), flat_row(act_id="A2"), flat_row(act_id="A3")]
    report = fails(write_csv(tmp_path / "a.csv", rows), org)
    assert report.problem_count == 1
    has(report, 2, "start_date", "not a date")


def test_duplicate_act_ids_with_different_content(org: Any, tmp_path: Path) -> None:
    rows = [
        flat_row(act_id="A1", primary_tactic="assault"),
        flat_row(act_id="A2", primary_tactic="assault", target_id="P-2"),
        flat_row(act_id="A1", primary_tactic="killing"),  # same id, another tactic
        flat_row(act_id="A1", primary_tactic="assault", actor_id="AC-2"),  # same act, more actors: fine
        flat_row(act_id="A2", primary_tactic="assault", target_id="P-3"),  # same id, another target
        flat_row(incident_id="INC-2", act_id="A1", primary_tactic="killing"),  # another incident: fine
    ]
    report = fails(write_csv(tmp_path / "acts.csv", rows), org)
    assert report.problem_count == 2
    has(report, 4, "act_id", "duplicate act id 'A1' in incident 'INC-1' with different content", "primary_tactic")
    has(report, 6, "act_id", "duplicate act id 'A2'", "target_id")


def test_conflicting_profiles(org: Any, tmp_path: Path) -> None:
    rows = [
        flat_row(incident_id="I1", target_id="P-1", target_sex="female", actor_id="AC-1", actor_state="CN"),
        flat_row(incident_id="I2", target_id="P-1", target_sex="male", actor_id="AC-1", actor_state="RU"),
        flat_row(incident_id="I3", title="A", start_date="2020-01-01"),
        flat_row(incident_id="I3", title="B", start_date="2020-01-01", act_id="A2"),
    ]
    report = fails(write_csv(tmp_path / "conflict.csv", rows), org)
    assert report.problem_count == 3
    has(report, 3, "target_sex", "person 'P-1' is described differently on row 2", "'female' there, 'male' here")
    has(report, 3, "actor_state", "actor 'AC-1' is described differently on row 2", "'CN' there, 'RU' here")
    has(report, 5, "title", "differs from row 4 of the same incident")


def test_same_file_twice(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "twice.csv", rows_with({}))
    import_file(path, org)
    before = counts()
    report = fails(path, org, check_validate=False)  # validation does not look at the database
    assert counts() == before
    assert report.problem_count == 5
    has(report, 2, "incident_id", "incident 'INC-0' already exists in Alpha Watch")
    has(report, 6, "incident_id", "incident 'INC-4' already exists")


def test_same_json_twice(rich: Any, org2: Any, tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(export_json(rich)), encoding="utf-8")
    import_file(path, org2)
    report = fails(path, org2, check_validate=False)
    assert report.problem_count == 4
    has(report, None, "incidents[0].id", "incident 'INC-1' already exists in Beta Monitor")


# --- formula injection -------------------------------------------------------------------------


def test_formula_injection_is_stored_as_is_and_neutralised_on_export(org: Any, org2: Any, tmp_path: Path) -> None:
    rows = [flat_row(title=FORMULA, pretext="@SUM(1)", source_reference="+1", admin_area="-x")]
    import_file(write_csv(tmp_path / "in.csv", rows), org)
    inc = rm.Incident.objects.get(organisation=org)
    assert inc.title == FORMULA
    assert inc.admin_area == "-x"
    text = export_csv(org)
    assert f",'{FORMULA}," in text or f",\"'{FORMULA}\"," in text
    assert ",'@SUM(1)," in text
    assert ",'+1," in text
    assert ",'-x," in text
    out = tmp_path / "out.csv"
    out.write_text(text, encoding="utf-8", newline="")
    import_file(out, org2)
    inc2 = rm.Incident.objects.get(organisation=org2)
    assert (inc2.title, inc2.admin_area) == (FORMULA, "-x")
    assert inc2.acts.get().pretext == "@SUM(1)"
    assert inc2.sources.get().reference == "+1"


# --- empty and damaged files -------------------------------------------------------------------


def test_empty_file(org: Any, tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.xlsx", "empty.json"):
        path = tmp_path / name
        path.write_bytes(b"")
        report = fails(path, org)
        assert report.problem_count == 1
        has(report, None, None, "file is empty")
        assert str(report.problems[0]).startswith(f"{name}: ")


def test_header_only(org: Any, tmp_path: Path) -> None:
    report = fails(write_csv(tmp_path / "header.csv", [], list(FLAT_COLUMN_NAMES)), org)
    has(report, 2, None, "header row but no data rows")


def test_blank_lines_only(org: Any, tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n\n\n", encoding="utf-8")
    report = fails(path, org)
    assert report.problem_count == 1
    has(report, 1, None, "header row", "empty")


def _xlsx(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(flat_row())
    wb = Workbook()
    ws = wb.active
    ws.append(columns)
    for r in rows:
        ws.append([r.get(c, "") or None for c in columns])
    wb.save(path)
    return path


def test_truncated_xlsx(org: Any, tmp_path: Path) -> None:
    good = _xlsx(tmp_path / "good.xlsx", rows_with({}, n=200))
    data = good.read_bytes()
    for name, cut in (("half.xlsx", data[: len(data) // 2]), ("tail.xlsx", data[:-10])):
        path = tmp_path / name
        path.write_bytes(cut)
        report = fails(path, org)
        assert report.problem_count == 1
        has(report, None, None, "not a readable XLSX workbook", "truncated or damaged")


def test_damaged_xlsx_member(org: Any, tmp_path: Path) -> None:
    good = _xlsx(tmp_path / "good.xlsx", rows_with({}, n=50))
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    report = fails(damaged, org)
    assert report.problem_count == 1
    assert "not a readable XLSX workbook: the file is truncated or damaged" in report.problems[0].message


def test_csv_named_xlsx(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "really.csv", rows_with({}))
    wrong = tmp_path / "wrong.xlsx"
    wrong.write_bytes(path.read_bytes())
    has(fails(wrong, org), None, None, "not a readable XLSX workbook")


def test_xlsx_problems_name_rows_and_columns(org: Any, tmp_path: Path) -> None:
    rows = rows_with({"start_date": "2019-02-30", "location_country": "XX"})
    rows[0]["title"] = "x" * 300
    path = _xlsx(tmp_path / "bad.xlsx", rows)
    report = fails(path, org)
    assert report.problem_count == 7
    has(report, 2, "title", "is 300 characters long")
    for row in BAD_ROWS:
        has(report, row, "start_date", "not a real calendar date")
        has(report, row, "location_country", "unknown country code 'XX'")


def test_xlsx_values_beyond_the_header(org: Any, tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "ragged.xlsx", rows_with({}))
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb.active
    width = len(flat_row())
    ws.cell(row=3, column=width + 2, value="surplus")
    ws.cell(row=5, column=width + 1, value=7)
    wb.save(path)
    report = fails(path, org)
    assert report.problem_count == 2
    has(report, 3, f"(cell {width + 1})", "beyond the last column")
    has(report, 5, f"(cell {width + 1})", "beyond the last column")


def test_unknown_file_type(org: Any, tmp_path: Path) -> None:
    path = tmp_path / "data.ods"
    path.write_bytes(b"something")
    has(fails(path, org), None, None, "unknown file type '.ods'")


# --- JSON documents ----------------------------------------------------------------------------


def _doc(rich: Any) -> dict[str, Any]:
    return copy.deepcopy(export_json(rich))


def _write(tmp_path: Path, doc: Any, name: str = "doc.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_malformed_json(org: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": "tnr-exchange",\n "incidents": [\n  {"id": "x",}\n]}', encoding="utf-8")
    report = fails(path, org)
    has(report, 3, None, "not valid JSON", "line 3, column")


def test_truncated_json(rich: Any, org2: Any, tmp_path: Path) -> None:
    text = json.dumps(export_json(rich), indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    report = fails(path, org2)
    assert report.problem_count == 1
    assert report.problems[0].line is not None
    assert "not valid JSON" in report.problems[0].message


def test_json_wrong_encoding(rich: Any, org2: Any, tmp_path: Path) -> None:
    path = tmp_path / "utf16.json"
    path.write_bytes(json.dumps(export_json(rich)).encode("utf-16"))
    has(fails(path, org2), 1, None, "UTF-16")
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"format": "tnr-exchange",\n"title": "Gen\xe8ve"}')
    has(fails(path, org2), 2, None, "not UTF-8", "Windows-1252")


def test_json_not_an_object(org: Any, tmp_path: Path) -> None:
    has(fails(_write(tmp_path, [1, 2]), org), None, "(document)", "expected a JSON object")


def test_json_wrong_format_and_version(rich: Any, org2: Any, tmp_path: Path) -> None:
    doc = _doc(rich)
    doc["format"] = "huridocs"
    doc["version"] = "2.0"
    report = fails(_write(tmp_path, doc), org2)
    assert report.problem_count == 2
    has(report, None, "format", "expected format 'tnr-exchange', got 'huridocs'")
    has(report, None, "version", "unsupported version", "'2.0'")


def test_json_unknown_fields(rich: Any, org2: Any, tmp_path: Path) -> None:
    doc = _doc(rich)
    doc["comment"] = "hi"
    doc["incidents"][1]["victim_name"] = "Jane"
    doc["incidents"][0]["acts"][1]["weapon"] = "knife"
    doc["persons"][2]["phone"] = "+1 555"
    report = fails(_write(tmp_path, doc), org2)
    assert report.problem_count == 4
    has(report, None, "comment", "unknown top-level field")
    has(report, None, "incidents[1].victim_name", "unknown field")
    has(report, None, "incidents[0].acts[1].weapon", "unknown field")
    has(report, None, "persons[2].phone", "unknown field")


def test_json_references_to_unknown_persons_and_actors(rich: Any, org2: Any, tmp_path: Path) -> None:
    doc = _doc(rich)
    doc["incidents"][0]["acts"][0]["target"] = "P-404"
    doc["incidents"][1]["acts"][0]["involvements"][0]["actor"] = "AC-404"
    doc["persons"][0]["relations"].append({"type": "relative_of", "person": "P-405"})
    report = fails(_write(tmp_path, doc), org2)
    assert report.problem_count == 3
    has(report, None, "incidents[0].acts[0].target", "unknown person 'P-404'")
    has(report, None, "incidents[1].acts[0].involvements[0].actor", "unknown actor 'AC-404'")
    has(report, None, "persons[0].relations[1].person", "unknown person 'P-405'")


def test_json_wrong_types(rich: Any, org2: Any, tmp_path: Path) -> None:
    doc = _doc(rich)
    doc["incidents"][0]["title"] = 42
    doc["incidents"][0]["mass_event"] = "true"
    doc["incidents"][1]["independent_sources"] = "2"
    doc["incidents"][1]["perpetrator_states"] = "IR"
    doc["incidents"][2]["acts"] = {"id": "A1"}
    doc["persons"][0]["consents"][0]["obtained"] = 1
    doc["actors"][0]["id"] = 17
    report = fails(_write(tmp_path, doc), org2)
    has(report, None, "incidents[0].title", "expected text, got number 42")
    has(report, None, "incidents[0].mass_event", "expected true or false, got text 'true'")
    has(report, None, "incidents[1].independent_sources", "expected a whole number, got text '2'")
    has(report, None, "incidents[1].perpetrator_states", "expected a list of codes")
    has(report, None, "incidents[2].acts", "expected a list, got dict")
    has(report, None, "persons[0].consents[0].obtained", "expected true or false, got number 1")
    has(report, None, "actors[0].id", "expected an identifier as text, got number 17")


def test_json_bad_values_and_duplicates(rich: Any, org2: Any, tmp_path: Path) -> None:
    doc = _doc(rich)
    doc["incidents"][0]["start_date"] = "2019-02-30"
    doc["incidents"][1]["end_date"] = "2001-01-01"
    doc["incidents"][2]["id"] = "INC-1"
    doc["incidents"][0]["acts"][1]["id"] = "A1"
    doc["incidents"][0]["sources"][1]["id"] = "S1"
    doc["persons"][1]["id"] = "P-1"
    doc["persons"][0]["consents"][1]["scope"] = "documentation"
    doc["persons"][0]["consents"][0]["withdrawn_on"] = "2020-01-01"
    doc["incidents"][3]["origin_state"] = "XX"
    report = fails(_write(tmp_path, doc), org2)
    has(report, None, "incidents[0].start_date", "not a real calendar date")
    has(report, None, "incidents[1].end_date", "before start date 2020-06-01")
    has(report, None, "incidents[2].id", "duplicate incident id 'INC-1'")
    has(report, None, "incidents[0].acts[1].id", "duplicate act id 'A1'")
    has(report, None, "incidents[0].sources[1].id", "duplicate source id 'S1'")
    has(report, None, "persons[1].id", "duplicate person id 'P-1'")
    has(report, None, "persons[0].consents[1].scope", "a second consent for scope 'documentation'")
    has(report, None, "persons[0].consents[0].withdrawn_on", "before it was obtained on 2021-05-01")
    has(report, None, "incidents[3].origin_state", "unknown country code 'XX'")


def test_json_missing_required(rich: Any, org2: Any, tmp_path: Path) -> None:
    doc = _doc(rich)
    del doc["incidents"][0]["title"]
    doc["incidents"][1]["acts"][0]["primary_tactic"] = None
    del doc["actors"][0]["type"]
    report = fails(_write(tmp_path, doc), org2)
    assert report.problem_count == 3
    has(report, None, "incidents[0].title", "required value is missing")
    has(report, None, "incidents[1].acts[0].primary_tactic", "required value is missing")
    has(report, None, "actors[0].type", "required value is missing")


def test_json_without_incidents(org: Any, tmp_path: Path) -> None:
    report = fails(_write(tmp_path, {"format": "tnr-exchange", "version": "1.0"}), org)
    has(report, None, "incidents", "required field is missing")
    report = fails(_write(tmp_path, {"format": "tnr-exchange", "version": "1.0", "incidents": []}), org)
    has(report, None, "incidents", "no incidents")


# --- many problems, late problems --------------------------------------------------------------


def test_problems_are_capped_but_counted(org: Any, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "many.csv", many_rows(200, lambda i: {"location_country": "XX"}, bad_at=set(range(150))))
    report = fails(path, org)
    assert report.problem_count == 150
    assert len(report.problems) == MAX_PROBLEMS
    assert report.summary().startswith("many.csv: 150 problems, nothing imported\n")
    assert report.summary().endswith(f"\n... and {150 - MAX_PROBLEMS} more problems")
    has(report, 2, "location_country", "unknown country code 'XX'")
    has(report, MAX_PROBLEMS + 1, "location_country", "unknown country code 'XX'")


def test_a_late_error_rolls_back_earlier_batches(org: Any, tmp_path: Path) -> None:
    rows = many_rows(5000, lambda i: {"start_date": "2019-02-30"}, bad_at={4999})
    path = write_csv(tmp_path / "late.csv", rows)
    written: list[int] = []
    real_flush = __import__("tnr.exchange.writer", fromlist=["Writer"]).Writer._flush_incidents

    def spy(self: Any, bundles: list[dict[str, Any]]) -> None:
        real_flush(self, bundles)
        written.append(rm.Incident.objects.filter(organisation=org).count())

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("tnr.exchange.writer.Writer._flush_incidents", spy)
        report = fails(path, org, batch_size=100)
    assert written[-1] >= 4900, "earlier batches were written before the error was found"
    assert report.problem_count == 1
    has(report, 5001, "start_date", "not a real calendar date")
    assert rm.Incident.objects.count() == 0


def test_report_str_of_a_problem(org: Any, tmp_path: Path) -> None:
    report = fails(write_csv(tmp_path / "x.csv", rows_with({"origin_state": "XX"}, at=(0,))), org)
    assert str(report.problems[0]) == "x.csv, row 2, column origin_state: unknown country code 'XX' (use ISO 3166-1 alpha-2, e.g. 'TR')"
    assert io.StringIO(report.summary()).readline() == "x.csv: 1 problem, nothing imported\n"


def test_database_refusal_is_reported_not_raised(org: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If a check ever misses something the database refuses, the import still fails cleanly."""
    monkeypatch.setattr("tnr.exchange.importer.check_incident_dates", lambda *args, **kwargs: None)
    rows = rows_with({"start_date": "2020-05-10", "end_date": "2020-05-09"}, at=(4,))
    report = fails(write_csv(tmp_path / "db.csv", rows), org, check_validate=False)
    assert report.problem_count == 1
    has(report, None, None, "the database refused the data")
    assert rm.Incident.objects.count() == 0
