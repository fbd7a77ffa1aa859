"""CSV export and import of the directory: lossless round trip, all-or-nothing, clear problems."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.cases.helpers import make_mechanism
from tnr.cases import actions
from tnr.cases.csvformat import COLUMNS
from tnr.cases.models import ProtectionMechanism
from tnr.cases.rules import MechanismData
from tnr.exchange.importer import ImportFailed

pytestmark = pytest.mark.django_db

FORMULA = "=HYPERLINK(\"https://evil.example\",\"click\")"
RTL = "حماية المدافعين — עברית"


def export_text() -> str:
    out = io.StringIO()
    actions.export_mechanisms(out)
    return out.getvalue()


def write(tmp_path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    path = tmp_path / "directory.csv"
    header = header if header is not None else list(COLUMNS)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in header})
    return path


def good_row(**cells: str) -> dict[str, str]:
    row = {
        "name": "Legal Desk", "kind": "legal_aid", "needs": "legal; advocacy", "countries": "DE; FR",
        "profiles": "journalist", "languages": "de; en", "website": "https://example.org/",
        "safe_contact": "Use the form on their site", "notes": "", "last_verified": "2026-01-10",
        "verification_note": "Called them", "source": "Their website", "active": "true",
    }
    row.update(cells)
    return row


def snapshot() -> list[MechanismData]:
    return [
        MechanismData.from_mechanism(m)
        for m in ProtectionMechanism.objects.order_by("name").prefetch_related("countries", "profiles")
    ]


@pytest.fixture
def varied():
    make_mechanism("Alpha Fund", kind="emergency_grant", needs=["emergency_funds", "relocation"],
                   countries=["DE", "TR"], profiles=["journalist", "human_rights_defender"],
                   languages=["tr", "de"], last_verified=datetime.date(2026, 3, 1),
                   safe_contact="Signal number listed on their site;\nnever e-mail details",
                   notes=FORMULA, verification_note="Checked by phone", source="Staff call, 2026-03-01")
    make_mechanism(RTL, kind="psychosocial_support", needs=["psychosocial"], languages=["ar", "he"],
                   any_profile=True, worldwide=True, notes="+ leading plus; -minus; @at")
    closed = make_mechanism("Closed Programme", kind="humanitarian_visa", needs=["visa"], countries=["NL"])
    actions.set_mechanism_active(closed, False)


def test_round_trip_is_lossless(varied, tmp_path):
    first = export_text()
    before = snapshot()
    path = tmp_path / "export.csv"
    path.write_text(first, encoding="utf-8", newline="")
    ProtectionMechanism.objects.all().delete()

    report = actions.import_mechanisms(path)
    assert report.counts == {"created": 3, "updated": 0}
    assert snapshot() == before
    assert export_text() == first

    # importing the same file again updates in place
    report = actions.import_mechanisms(path)
    assert report.counts == {"created": 0, "updated": 3}
    assert snapshot() == before


def test_export_neutralises_formulas(varied):
    rows = list(csv.DictReader(io.StringIO(export_text())))
    alpha = next(r for r in rows if r["name"] == "Alpha Fund")
    assert alpha["notes"] == "'" + FORMULA
    assert alpha["countries"] == "DE; TR"
    assert alpha["languages"] == "tr; de"
    rtl = next(r for r in rows if r["name"] == RTL)
    assert rtl["notes"].startswith("'+")
    assert rtl["countries"] == "worldwide"
    assert rtl["profiles"] == "any"
    closed = next(r for r in rows if r["name"] == "Closed Programme")
    assert closed["active"] == "false"
    for row in rows:
        for cell in row.values():
            assert not cell or cell[0] not in "=+-@\t\r", cell


def test_import_creates_and_updates_matching_names_ignoring_case(tmp_path):
    make_mechanism("Legal Desk", countries=["PL"], notes="old")
    make_mechanism("Untouched")
    path = write(tmp_path, [good_row(name="legal desk", notes="new"), good_row(name="Second Desk")])
    report = actions.import_mechanisms(path)
    assert report.counts == {"created": 1, "updated": 1}
    assert "imported: 2 rows" in report.summary()
    updated = ProtectionMechanism.objects.get(name__iexact="legal desk")
    assert updated.notes == "new"
    assert sorted(c.pk for c in updated.countries.all()) == ["DE", "FR"]
    assert ProtectionMechanism.objects.filter(name="Untouched").exists()


def problems_of(path: Path) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ImportFailed) as exc:
        actions.import_mechanisms(path)
    return [(p.line, p.column, p.message) for p in exc.value.report.problems]


def has(problems, line, column, fragment) -> bool:
    return any(p[0] == line and p[1] == column and fragment in p[2] for p in problems)


def test_bad_rows_are_all_reported_with_row_and_column_and_nothing_is_written(tmp_path):
    make_mechanism("Legal Desk", notes="keep me")
    before = snapshot()
    path = write(tmp_path, [
        good_row(name="Legal Desk", notes="changed"),                 # row 2: fine on its own
        good_row(name="Bad Country", countries="DE; XX"),             # row 3
        good_row(name="Bad Kind", kind="charity"),                    # row 4
        good_row(name="Bad Language", languages="en; klingon"),       # row 5
        good_row(name="Bad URL", website="not a url"),                # row 6
        good_row(name="Plain HTTP", website="http://example.org/"),   # row 7
        good_row(name="bad country"),                                 # row 8: duplicate of row 3
        good_row(name="No Needs", needs=""),                          # row 9
        good_row(name="Bad Date", last_verified="10/01/2026"),        # row 10
        good_row(name="Future", last_verified="2999-01-01"),          # row 11
        good_row(name="Both", countries="worldwide; DE"),             # row 12
        good_row(name="Bad Active", active="maybe", profiles="astronaut"),  # row 13: two problems
        good_row(name="", source=""),                                 # row 14
    ])
    problems = problems_of(path)
    assert has(problems, 3, "countries", "unknown country code 'XX'")
    assert has(problems, 4, "kind", "unknown kind 'charity'")
    assert has(problems, 5, "languages", "unknown language code 'klingon'")
    assert has(problems, 6, "website", "not a web address")
    assert has(problems, 7, "website", "plain http://")
    assert has(problems, 8, "name", "already used on row 3")
    assert has(problems, 9, "needs", "at least one need")
    assert has(problems, 10, "last_verified", "YYYY-MM-DD")
    assert has(problems, 11, "last_verified", "in the future")
    assert has(problems, 12, "countries", "not both")
    assert has(problems, 13, "active", "not true or false")
    assert has(problems, 13, "profiles", "unknown profile 'astronaut'")
    assert has(problems, 14, "name", "required")
    assert has(problems, 14, "source", "required")
    assert not any(p[0] == 2 for p in problems)
    assert snapshot() == before  # row 2 was valid, but nothing at all is written


def test_missing_unknown_and_repeated_columns(tmp_path):
    header = [c for c in COLUMNS if c not in {"needs", "source"}] + ["phone", "name"]
    problems = problems_of(write(tmp_path, [good_row()], header=header))
    assert has(problems, 1, "needs", "required column is missing")
    assert has(problems, 1, "source", "required column is missing")
    assert has(problems, 1, "phone", "unknown column")
    assert has(problems, 1, "name", "more than once")
    assert not ProtectionMechanism.objects.exists()


def test_header_only_empty_and_non_utf8_files(tmp_path):
    assert has(problems_of(write(tmp_path, [])), None, None, "no entries")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert any("empty" in p[2] for p in problems_of(empty))
    latin = tmp_path / "latin.csv"
    latin.write_bytes((",".join(COLUMNS) + "\r\n").encode() + "Caf\xe9,legal_aid".encode("latin-1") + b"\r\n")
    assert any("UTF-8" in p[2] for p in problems_of(latin))
    assert not ProtectionMechanism.objects.exists()


def test_cli_import_export_and_seed(tmp_path, capsys):
    path = write(tmp_path, [good_row()])
    call_command("directory", "import", str(path))
    assert "1 created" in capsys.readouterr().out
    out = tmp_path / "out.csv"
    call_command("directory", "export", "--output", str(out))
    assert "Legal Desk" in out.read_text(encoding="utf-8")
    call_command("directory", "export")
    assert capsys.readouterr().out.startswith(",".join(COLUMNS))

    bad = write(tmp_path, [good_row(name="Other", kind="charity")])
    with pytest.raises(CommandError, match=r"row 2, column kind: unknown kind"):
        call_command("directory", "import", str(bad))
    with pytest.raises(CommandError, match="no such file"):
        call_command("directory", "import", str(tmp_path / "missing.csv"))

    call_command("directory", "seed")
    assert "created" in capsys.readouterr().out
    assert ProtectionMechanism.objects.count() > 1
