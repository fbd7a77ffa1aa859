"""``tnr pprl`` end to end, as organisations and a coordinator run it: simulated exports →
shared secret → local encodings → matching → capture-history table → ``tnr estimate``.

The coordinator's run goes through the installed ``tnr`` program in its own process; the other
steps call the same command in-process (``call_command``), which is the same code without
the few seconds each Django start-up costs.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

TNR = Path(sys.executable).with_name("tnr")
ORGS = ("ORGA", "ORGB", "ORGC", "ORGD")


def tnr_process(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed ``tnr`` program as a user would."""
    result = subprocess.run([str(TNR), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


class Ran:
    def __init__(self, stdout: str, stderr: str, returncode: int) -> None:
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode


def tnr(*args: str | Path, cwd: Path, ok: bool = True) -> Ran:
    """Run a ``tnr`` command in-process in ``cwd``; a CommandError's message lands in stderr,
    as the program prints it."""
    out, err = StringIO(), StringIO()
    here = Path.cwd()
    os.chdir(cwd)
    try:
        call_command(*map(str, args), stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(f"CommandError: {exc}")
        code = 1
    finally:
        os.chdir(here)
    ran = Ran(out.getvalue(), err.getvalue(), code)
    if ok:
        assert code == 0, ran.stderr
    else:
        assert code != 0, ran.stdout
    return ran


@pytest.fixture(scope="module")
def round_(tmp_path_factory):
    """Four organisations' exports (synthetic), one secret, four encoding files."""
    folder = tmp_path_factory.mktemp("pprl")
    tnr("simulate", "--format", "csv", "--seed", "3", "--output", "sim", cwd=folder)
    tnr("pprl", "secret", "--out", "shared.key", cwd=folder)
    for org in ORGS:
        tnr("pprl", "encode", f"sim/{org}.csv", "--org", org, "--secret-file", "shared.key",
            "--out", f"{org}.enc", "--map-out", f"{org}.map.csv", cwd=folder)
    return folder


def read_table(path: Path) -> tuple[list[str], dict[tuple[int, ...], int]]:
    rows = list(csv.reader(path.open(encoding="utf-8")))
    return rows[0], {tuple(int(x) for x in r[:-1]): int(r[-1]) for r in rows[1:]}


def test_secret_file_is_private_random_and_never_overwritten(round_):
    key = round_ / "shared.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64
    before = key.read_text()
    result = tnr("pprl", "secret", "--out", "shared.key", cwd=round_, ok=False)
    assert "exists; a secret is never overwritten" in result.stderr
    assert key.read_text() == before


def test_encoding_files_carry_parameters_and_fingerprint_but_no_record(round_):
    doc = json.loads((round_ / "ORGA.enc").read_text())
    assert doc["organisation"] == "ORGA"
    assert doc["params"]["profile"] == "incident"  # detected from the flat exchange header
    assert doc["params"]["balance"] is True
    assert doc["params"]["salt"] == "origin_state"
    key = (round_ / "shared.key").read_text().strip()
    text = (round_ / "ORGA.enc").read_text()
    assert key not in text
    first_id = next(csv.DictReader((round_ / "sim" / "ORGA.csv").open()))["incident_id"]
    assert first_id not in text
    # The local map says which record each row is: it stays with the organisation.
    mapped = list(csv.DictReader((round_ / "ORGA.map.csv").open()))
    assert len(mapped) == doc["records"]
    assert {m["record"] for m in mapped} == {r["incident_id"] for r in csv.DictReader((round_ / "sim" / "ORGA.csv").open())}


def test_match_writes_overlap_counts_close_to_the_hidden_truth(round_):
    out = tnr_process("pprl", "match", *(f"{o}.enc" for o in ORGS), "--out", "table.csv", cwd=round_)
    assert "capture histories written to table.csv" in out.stdout
    header, got = read_table(round_ / "table.csv")
    assert header == [*ORGS, "count"]
    assert len(got) == 15
    _, truth = read_table(round_ / "sim" / "truth" / "capture_histories.csv")
    documented = sum(truth.values())
    assert abs(sum(got.values()) - documented) <= 0.02 * documented
    assert sum(abs(got[h] - truth.get(h, 0)) for h in got) <= 0.06 * documented
    # Only counts leave the coordinator: no record id on standard output.
    first_id = next(csv.DictReader((round_ / "sim" / "ORGA.csv").open()))["incident_id"]
    assert first_id not in out.stdout


def test_table_feeds_tnr_estimate(round_):
    pytest.importorskip("tnr.methods.mse")
    from django.core.management import get_commands

    if "estimate" not in get_commands():
        pytest.skip("tnr estimate is not installed in this checkout yet")
    # The path a coordinator runs: match, then estimate, each as its own program.
    tnr_process("pprl", "match", *(f"{o}.enc" for o in ORGS), "--out", "for_mse.csv", cwd=round_)
    result = tnr_process("estimate", "for_mse.csv", "--format", "json", cwd=round_)
    estimate = json.loads(result.stdout)
    _, got = read_table(round_ / "for_mse.csv")
    assert estimate["observed"] == sum(got.values())
    assert estimate["estimate"] >= estimate["observed"]
    assert estimate["lists"] == list(ORGS)


def test_json_summary_is_counts_only(round_):
    result = tnr("pprl", "match", "ORGA.enc", "ORGB.enc", "--out", "ab.csv", "--format", "json", cwd=round_)
    summary = json.loads(result.stdout)
    assert summary["lists"] == ["ORGA", "ORGB"]
    assert [t["history"] for t in summary["table"]] == [[1, 1], [1, 0], [0, 1]]
    assert sum(t["count"] for t in summary["table"]) == summary["clusters"]


def test_other_secret_is_refused_with_a_clear_message(round_):
    tnr("pprl", "secret", "--out", "other.key", cwd=round_)
    tnr("pprl", "encode", "sim/ORGB.csv", "--org", "ORGB", "--secret-file", "other.key", "--out", "B_other.enc", cwd=round_)
    result = tnr("pprl", "match", "ORGA.enc", "B_other.enc", "--out", "bad.csv", cwd=round_, ok=False)
    assert "B_other.enc (ORGB) was encoded with a different secret than ORGA.enc (ORGA)" in result.stderr
    assert not (round_ / "bad.csv").exists()


def test_other_parameters_are_refused_with_a_clear_message(round_):
    tnr("pprl", "encode", "sim/ORGB.csv", "--org", "ORGB", "--secret-file", "shared.key",
        "--no-balance", "--out", "B_plain.enc", cwd=round_)
    result = tnr("pprl", "match", "ORGA.enc", "B_plain.enc", "--out", "bad.csv", cwd=round_, ok=False)
    assert "was encoded with other parameters than ORGA.enc (ORGA): balance True vs False" in result.stderr
    assert not (round_ / "bad.csv").exists()


def test_bad_input_gets_a_message_naming_what_and_where(round_):
    (round_ / "people.csv").write_text("given_name,surname,date_of_birth,sex,place\nAna,Lopez,31/12/1980,female,Madrid\n")
    result = tnr("pprl", "encode", "people.csv", "--org", "ORGX", "--secret-file", "shared.key", "--out", "x.enc", cwd=round_, ok=False)
    assert "people.csv, row 2, field date_of_birth (column date_of_birth): '31/12/1980' is not a date" in result.stderr
    assert not (round_ / "x.enc").exists()
    result = tnr("pprl", "encode", "sim/ORGA.csv", "--org", "ORGA", "--secret-file", "missing.key", "--out", "x.enc", cwd=round_, ok=False)
    assert "missing.key: cannot read the secret file" in result.stderr
    (round_ / "ORGA_cut.enc").write_text((round_ / "ORGA.enc").read_text()[:5000])
    result = tnr("pprl", "match", "ORGA_cut.enc", "ORGB.enc", "--out", "bad.csv", cwd=round_, ok=False)
    assert "ORGA_cut.enc: not an encoding file" in result.stderr
    result = tnr("pprl", "match", "ORGA.enc", "--out", "bad.csv", cwd=round_, ok=False)
    assert "at least two organisations" in result.stderr


def test_tiny_files_are_refused_against_membership_tests(round_):
    (round_ / "one.csv").write_text("given_name,surname,date_of_birth,sex,place\nAna,Lopez,1980-12-31,female,Madrid\n")
    for org in ("ONE", "TWO"):
        tnr("pprl", "encode", "one.csv", "--org", org, "--secret-file", "shared.key", "--out", f"{org}.enc", cwd=round_)
    result = tnr("pprl", "match", "ONE.enc", "TWO.enc", "--out", "bad.csv", cwd=round_, ok=False)
    assert "has 1 records, fewer than --min-records 20" in result.stderr


def test_inspect_shows_the_header(round_):
    out = tnr("pprl", "inspect", "ORGA.enc", cwd=round_).stdout
    assert "organisation ORGA" in out
    assert "salted by origin_state" in out
    assert "start_date" in out


def test_secret_readable_by_others_is_warned_about(round_, tmp_path):
    key = tmp_path / "loose.key"
    key.write_text((round_ / "shared.key").read_text())
    os.chmod(key, 0o644)
    result = tnr("pprl", "encode", "sim/ORGC.csv", "--org", "ORGC", "--secret-file", key, "--out", tmp_path / "c.enc", cwd=round_)
    assert "readable by other users" in result.stderr
