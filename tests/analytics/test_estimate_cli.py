"""``tnr estimate`` as a user runs it: a real process for the main paths (exit code, stdout,
stderr), ``call_command`` for the many option and input checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

REPO = Path(__file__).resolve().parents[2]


def tnr(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TNR_ENV": "test", "TNR_DEBUG": "1", "TNR_VAR_DIR": str(REPO / "var" / "test")}
    return subprocess.run(
        [sys.executable, "-m", "tnr.cli", "estimate", *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False,
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command("estimate", *args, stdout=out)
    return out.getvalue()


def test_json_output_of_a_published_table(shared_data: Path) -> None:
    """Kosovo, BIC over all models up to order 3: 10,357 (Silverman, Chan & Vincent 2024)."""
    proc = tnr(str(shared_data / "mse" / "kosovo_killings_1999_4lists.csv"), "--max-order", "3",
               "--bootstrap", "200", "--seed", "7", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert round(data["estimate"]) == 10357
    assert data["observed"] == 4400
    assert data["model"] == ["EXH:ABA", "EXH:OSCE", "EXH:HRW", "ABA:OSCE", "OSCE:HRW", "EXH:ABA:OSCE"]
    assert data["criterion"] == "bic"
    assert data["search"] == "exhaustive"
    assert data["lists"] == ["EXH", "ABA", "OSCE", "HRW"]
    assert data["ci_level"] == 0.95
    assert data["ci_lower"] < data["estimate"] < data["ci_upper"]
    assert data["bootstrap"]["seed"] == 7


def test_text_output_and_options(shared_data: Path) -> None:
    proc = tnr(str(shared_data / "mse" / "korea_comfort_women_palembang_3lists.csv"), "--criterion", "aic",
               "--search", "downhill", "--bootstrap", "100", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Estimated total:" in proc.stdout
    assert "AIC" in proc.stdout
    assert "downhill search up to order 2" in proc.stdout
    assert "100 replicates re-selecting the model, seed 1" in proc.stdout


def test_bad_table_exits_non_zero_with_the_reason_on_stderr(tmp_path: Path) -> None:
    table = tmp_path / "bad.csv"
    table.write_text("A,B,C,count\n1,1,1,3\n1,0,0,x\n0,1,0,5\n", encoding="utf-8")
    proc = tnr(str(table), "--bootstrap", "0")
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert "line 3, column 'count': 'x' is not a number" in proc.stderr
    assert "no estimate made" in proc.stderr


def test_bad_option_exits_with_usage(shared_data: Path) -> None:
    proc = tnr(str(shared_data / "mse" / "korea_comfort_women_palembang_3lists.csv"), "--criterion", "dic")
    assert proc.returncode == 2
    assert "invalid choice: 'dic'" in proc.stderr


def test_same_seed_same_interval(shared_data: Path) -> None:
    path = str(shared_data / "mse" / "korea_comfort_women_palembang_3lists.csv")
    a = json.loads(run(path, "--bootstrap", "150", "--seed", "11", "--format", "json"))
    b = json.loads(run(path, "--bootstrap", "150", "--seed", "11", "--format", "json"))
    assert (a["ci_lower"], a["ci_upper"]) == (b["ci_lower"], b["ci_upper"])


def test_no_bootstrap_gives_null_interval(shared_data: Path) -> None:
    data = json.loads(run(str(shared_data / "mse" / "kosovo_killings_1999_4lists.csv"), "--bootstrap", "0", "--format", "json"))
    assert data["ci_lower"] is None
    assert data["ci_upper"] is None


@pytest.mark.parametrize(("text", "words"), [
    ("A,B,count\n1,1,3\n1,0,2\n", "1 of the 3 capture histories is missing: A=0,B=1"),
    ("A,B,count\n1,1,3\n1,0,-2\n0,1,4\n", "line 3, column 'count': -2 is negative"),
    ("A,B,count\n1,1,3\n1,0,2.5\n0,1,4\n", "'2.5' is not a whole number"),
    ("A,count\n1,3\n", "fewer than two lists"),
    ("A,B,count\n1,1,3\n1,0,2\n0,1,4\n1,0,1\n", "duplicate history A=1,B=0 (already on line 3)"),
    ("A,B,region,count\n1,1,x,3\n", "column 'region': 'x' is not 0 or 1"),
    ("A,B,count\n1,1,0\n1,0,5\n0,1,4\n", "no case is on more than one list"),
    ("A,B,C,count\n1,1,1,2\n1,1,0,3\n1,0,1,4\n1,0,0,5\n0,1,1,0\n0,1,0,0\n0,0,1,0\n", "all 14 observed cases are on list 'A'"),
])
def test_bad_input_is_refused_with_a_message(tmp_path: Path, text: str, words: str) -> None:
    table = tmp_path / "t.csv"
    table.write_text(text, encoding="utf-8")
    with pytest.raises(CommandError) as info:
        run(str(table), "--bootstrap", "0")
    assert words in str(info.value)


def test_order_too_high_for_the_lists(shared_data: Path) -> None:
    with pytest.raises(CommandError, match="the highest usable order is 3"):
        run(str(shared_data / "mse" / "kosovo_killings_1999_4lists.csv"), "--max-order", "4", "--bootstrap", "0")


def test_too_many_models_points_to_downhill(shared_data: Path) -> None:
    with pytest.raises(CommandError, match="use the downhill search"):
        run(str(shared_data / "mse" / "new_orleans_trafficking_8lists_n186.csv"), "--bootstrap", "0")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "nope.csv"))


def test_models_without_a_finite_estimate_are_excluded_and_said(shared_data: Path) -> None:
    """Korea: two of the eight two-list models have no finite estimate (one of them gives
    about 8e10 in a naive fit); the output says so instead of using them."""
    text = run(str(shared_data / "mse" / "korea_comfort_women_palembang_3lists.csv"), "--bootstrap", "0")
    assert "8 models considered, 6 fitted" in text
    assert "Models excluded: 2 no finite estimate" in text
    assert "Estimated total: 157" in text
