"""Bad input to multiple systems estimation gets a clear message naming what is wrong and
where -- never a silent number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tnr.methods.mse import CaptureTable, EstimationError, TableError, estimate, fit_model

GOOD = "A,B,C,count\n1,1,1,3\n1,1,0,5\n1,0,1,4\n1,0,0,20\n0,1,1,6\n0,1,0,25\n0,0,1,30\n"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def read_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(TableError) as info:
        CaptureTable.from_csv(write(tmp_path, text))
    return str(info.value)


def test_good_table_reads(tmp_path: Path) -> None:
    t = CaptureTable.from_csv(write(tmp_path, GOOD))
    assert t.lists == ("A", "B", "C")
    assert t.observed == 93
    assert dict(t.histories())[(1, 0, 0)] == 20
    assert t.list_totals() == {"A": 32, "B": 39, "C": 43}


def test_all_zero_row_with_zero_count_and_bom_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    t = CaptureTable.from_csv(write(tmp_path, "\ufeff" + GOOD + "0,0,0,0\n\n"))
    assert t.observed == 93


def test_missing_histories_are_listed(tmp_path: Path) -> None:
    text = GOOD.replace("0,1,0,25\n", "").replace("0,0,1,30\n", "")
    msg = read_error(tmp_path, text)
    assert "2 of the 7 capture histories are missing" in msg
    assert "A=0,B=1,C=0" in msg
    assert "A=0,B=0,C=1" in msg
    assert "count 0" in msg


def test_empty_history_cell_names_line_and_column(tmp_path: Path) -> None:
    msg = read_error(tmp_path, GOOD.replace("1,0,1,4", "1,,1,4"))
    assert "line 4, column 'B': missing value" in msg


@pytest.mark.parametrize(("value", "words"), [
    ("-4", "-4 is negative"),
    ("2.5", "'2.5' is not a whole number"),
    ("four", "'four' is not a number"),
    ("", "missing count"),
    ("nan", "is not a whole number"),
])
def test_bad_counts_name_line_and_column(tmp_path: Path, value: str, words: str) -> None:
    msg = read_error(tmp_path, GOOD.replace("1,0,1,4", f"1,0,1,{value}"))
    assert "line 4, column 'count'" in msg
    assert words in msg


def test_integral_float_count_is_read_as_whole_number(tmp_path: Path) -> None:
    t = CaptureTable.from_csv(write(tmp_path, GOOD.replace("1,0,1,4", "1,0,1,4.0")))
    assert dict(t.histories())[(1, 0, 1)] == 4


def test_fewer_than_two_lists(tmp_path: Path) -> None:
    msg = read_error(tmp_path, "A,count\n1,12\n")
    assert "fewer than two lists" in msg


def test_duplicate_history_names_both_lines(tmp_path: Path) -> None:
    msg = read_error(tmp_path, GOOD + "1,0,0,7\n")
    assert "line 9: duplicate history A=1,B=0,C=0 (already on line 5)" in msg


def test_unknown_column_is_named(tmp_path: Path) -> None:
    text = "A,B,year,count\n" + "".join(f"{a},{b},2019,{n}\n" for a, b, n in [(1, 1, 3), (1, 0, 4), (0, 1, 5)])
    msg = read_error(tmp_path, text)
    assert "column 'year': '2019' is not 0 or 1" in msg
    assert "remove other columns" in msg


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("1,0,1,4", "1,2,1,4").replace("0,1,0,25", "0,1,0,-1")
    msg = read_error(tmp_path, text)
    assert "2 problems" in msg
    assert "line 4, column 'B': '2' is not 0 or 1" in msg
    assert "line 7, column 'count': -1 is negative" in msg


@pytest.mark.parametrize(("text", "words"), [
    ("A,B,n\n1,1,3\n", "no 'count' column"),
    ("A,B,Count\n1,1,3\n", "found 'Count'"),
    ("A,A,count\n1,1,3\n", "column 'A' appears more than once"),
    ("A,B:C,count\n1,1,3\n", "':' is reserved"),
    ("A,,count\n1,1,3\n", "empty column name"),
    ("", "empty file"),
    ("A,B,count\n1,1\n", "line 2: 2 fields, the header has 3"),
    ("A,B,count\n0,0,5\n1,1,1\n1,0,1\n0,1,1\n", "the all-zero history (on no list) has count 5"),
])
def test_malformed_headers_and_rows(tmp_path: Path, text: str, words: str) -> None:
    assert words in read_error(tmp_path, text)


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "latin1.csv"
    p.write_bytes("A,B,count\n1,1,3\xe9\n".encode("latin-1"))
    with pytest.raises(TableError, match="not UTF-8"):
        CaptureTable.from_csv(p)
    with pytest.raises(TableError, match="no such file"):
        CaptureTable.from_csv(tmp_path / "absent.csv")


# -- tables that are well formed but cannot support an estimate ------------------------------


def table_of(rows: dict[tuple[int, ...], int], lists: str = "ABC") -> CaptureTable:
    return CaptureTable.from_counts(rows, list(lists), source="t.csv")


def test_all_cases_on_one_list() -> None:
    # every observed case is on list A: nothing shows what A misses
    t = table_of({(1, 0, 0): 30, (1, 1, 0): 5, (1, 0, 1): 7, (1, 1, 1): 2})
    with pytest.raises(EstimationError, match="all 44 observed cases are on list 'A'"):
        estimate(t)


def test_a_list_with_no_cases() -> None:
    t = table_of({(1, 0, 0): 30, (1, 1, 0): 5, (0, 1, 0): 7})
    with pytest.raises(EstimationError, match="list 'C' has no cases"):
        estimate(t)


def test_no_case_on_more_than_one_list() -> None:
    t = table_of({(1, 0, 0): 30, (0, 1, 0): 5, (0, 0, 1): 7})
    with pytest.raises(EstimationError, match="no case is on more than one list"):
        estimate(t)


def test_dropping_uninformative_lists_is_explicit() -> None:
    t = table_of({(1, 0, 0): 30, (1, 1, 0): 5, (0, 1, 0): 7, (1, 1, 1): 0})
    result = estimate(t, drop_uninformative=True)
    assert result.lists == ["A", "B"]
    assert result.diagnostics["dropped_lists"] == ["C"]
    assert any("dropped" in w for w in result.diagnostics["warnings"])


def test_model_that_diverges_is_refused(shared_data: Path) -> None:
    t = CaptureTable.from_csv(shared_data / "mse" / "korea_comfort_women_palembang_3lists.csv")
    with pytest.raises(EstimationError, match=r"model \[main effects \+ b:c \+ b:d\] cannot give an estimate.*does not exist"):
        fit_model(t, ["b:c", "b:d"])


def test_barely_overlapping_lists_get_a_warning_not_a_silent_number() -> None:
    # one case on all three lists and none on two: the overlaps barely constrain the total
    t = table_of({(1, 0, 0): 40, (0, 1, 0): 30, (0, 0, 1): 20, (1, 1, 1): 1})
    result = estimate(t, max_order=2)
    assert result.diagnostics["excluded"]  # models without a finite estimate were left out
    warnings = " ".join(result.diagnostics["warnings"])
    assert "below Chao's lower bound" in warnings
    assert "Warning: the estimate" in result.to_text()


def test_highest_order_interaction_is_not_estimable() -> None:
    t = table_of({(1, 1, 1): 3, (1, 1, 0): 5, (1, 0, 1): 4, (1, 0, 0): 20, (0, 1, 1): 6, (0, 1, 0): 25, (0, 0, 1): 30})
    with pytest.raises(EstimationError, match=r"max order 3 is too high for 3 lists.*unobserved cell"):
        estimate(t, max_order=3)
    with pytest.raises(EstimationError, match="3-list interaction A:B:C cannot be estimated"):
        fit_model(t, ["A:B", "A:C", "B:C", "A:B:C"])


def test_non_hierarchical_and_unknown_terms() -> None:
    t = table_of({(1, 1, 1): 3, (1, 1, 0): 5, (1, 0, 1): 4, (1, 0, 0): 20, (0, 1, 1): 6, (0, 1, 0): 25, (0, 0, 1): 30}, "ABCD"[:3])
    with pytest.raises(EstimationError, match="not hierarchical: add A:B, A:C, B:C"):
        fit_model(t, ["A:B:C"])
    with pytest.raises(EstimationError, match="'Z' is not one of the lists"):
        fit_model(t, ["A:Z"])


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"criterion": "dic"}, "criterion must be one of bic, aic"),
    ({"search": "random"}, "search must be one of exhaustive, downhill"),
    ({"bootstrap": -1}, "bootstrap must be a whole number"),
    ({"max_order": 0}, "max order must be a whole number >= 1"),
    ({"ci_level": 1.5}, "ci_level must be between 0 and 1"),
])
def test_bad_options(kwargs: dict[str, object], words: str) -> None:
    t = table_of({(1, 1, 1): 3, (1, 1, 0): 5, (1, 0, 1): 4, (1, 0, 0): 20, (0, 1, 1): 6, (0, 1, 0): 25, (0, 0, 1): 30})
    with pytest.raises(EstimationError, match=words):
        estimate(t, **kwargs)  # type: ignore[arg-type]


# -- linked-record constructors ---------------------------------------------------------------


def test_clusters_with_unknown_or_no_list() -> None:
    with pytest.raises(TableError, match=r"cluster 1: unknown list\(s\) 'X'"):
        CaptureTable.from_clusters([{"A"}, {"X"}], lists=["A", "B"])
    with pytest.raises(TableError, match="cluster 0: on no list"):
        CaptureTable.from_clusters([set(), {"A"}], lists=["A", "B"])


def test_matrix_with_bad_values_or_empty_rows() -> None:
    with pytest.raises(TableError, match="row 1, column 'B': 2 is not 0 or 1"):
        CaptureTable.from_matrix(np.array([[1, 0], [0, 2]]), ["A", "B"])
    with pytest.raises(TableError, match=r"row 1 .* is on no list"):
        CaptureTable.from_matrix(np.array([[1, 0], [0, 0]]), ["A", "B"])
    with pytest.raises(TableError, match="expected a matrix with 2 columns"):
        CaptureTable.from_matrix(np.array([1, 0, 1]), ["A", "B"])


def test_counts_with_bad_keys_or_values() -> None:
    with pytest.raises(TableError) as info:
        CaptureTable.from_counts({(1, 0, 1): 3, frozenset({"A", "Q"}): 2, (1, 1): 4, frozenset({"B"}): -2}, ["A", "B", "C"])
    msg = str(info.value)
    assert "unknown list(s) Q" in msg
    assert "must have one 0/1 per list (3)" in msg
    assert "-2 is negative" in msg
    with pytest.raises(TableError, match="fewer than two lists"):
        CaptureTable.from_counts({(1,): 3}, ["A"])
