"""The public MSE API as the linkage engineers and the CLI use it: tables from linked
records, results as JSON and text, stratified estimates, and the simulator end to end."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tnr.methods.mse import CaptureTable, estimate, estimate_strata, stratify
from tnr.methods.simulate import SimulationConfig, simulate


def kosovo(shared_data: Path) -> CaptureTable:
    return CaptureTable.from_csv(shared_data / "mse" / "kosovo_killings_1999_4lists.csv")


def test_every_constructor_builds_the_same_table(shared_data: Path) -> None:
    table = kosovo(shared_data)
    clusters = [{name for name, on in zip(table.lists, hist, strict=True) if on} for hist, n in table.histories() for _ in range(n)]
    matrix = np.array([hist for hist, n in table.histories() for _ in range(n)])
    by_set = {frozenset(c for c, on in zip(table.lists, hist, strict=True) if on): n for hist, n in table.histories()}
    built = [
        CaptureTable.from_clusters(clusters, lists=table.lists),
        CaptureTable.from_matrix(matrix, table.lists),
        CaptureTable.from_counts(dict(table.histories()), table.lists),
        CaptureTable.from_counts(by_set, table.lists),
    ]
    for other in built:
        assert other.lists == table.lists
        np.testing.assert_array_equal(other.counts, table.counts)
    # and back to the CSV format
    again = CaptureTable.from_rows([line.split(",") for line in table.to_csv().splitlines()])
    np.testing.assert_array_equal(again.counts, table.counts)


def test_clusters_infer_list_order_when_not_given() -> None:
    t = CaptureTable.from_clusters([{"B", "A"}, {"C"}, {"A"}])
    assert t.lists == ("A", "B", "C")
    assert t.observed == 3


def test_json_has_the_documented_fields(shared_data: Path) -> None:
    result = estimate(kosovo(shared_data), max_order=3, bootstrap=100, seed=4)
    data = json.loads(result.to_json())
    for key in ("observed", "estimate", "ci_lower", "ci_upper", "ci_level", "model", "criterion", "search", "lists", "chao_lower_bound"):
        assert key in data
    assert data["observed"] == 4400
    assert data["lists"] == ["EXH", "ABA", "OSCE", "HRW"]
    assert data["model"][-1] == "EXH:ABA:OSCE"
    assert data["criterion"] == "bic"
    assert data["search"] == "exhaustive"
    assert data["ci_lower"] < data["estimate"] < data["ci_upper"]
    assert data["bootstrap"]["replicates"] == 100
    assert data["bootstrap"]["seed"] == 4
    assert data["diagnostics"]["models_considered"] == 113


def test_text_report_reads_for_an_analyst(shared_data: Path) -> None:
    text = estimate(kosovo(shared_data), max_order=2, bootstrap=100, seed=4).to_text()
    assert "Observed cases (on at least one list): 4,400" in text
    assert "Estimated total: 14,342" in text
    assert "95% BCa bootstrap interval" in text
    assert "main effects + EXH:ABA + EXH:OSCE + EXH:HRW + ABA:OSCE + OSCE:HRW" in text
    assert "Chao's lower bound" in text


def test_no_bootstrap_means_no_interval_not_a_made_up_one(shared_data: Path) -> None:
    result = estimate(kosovo(shared_data), max_order=2)
    assert result.ci_lower is None
    assert result.ci_upper is None
    assert result.ci_method is None
    assert json.loads(result.to_json())["ci_lower"] is None
    assert "Interval: none" in result.to_text()


def test_aic_can_choose_a_larger_model_than_bic(shared_data: Path) -> None:
    table = CaptureTable.from_csv(shared_data / "mse" / "korea_comfort_women_palembang_3lists.csv")
    bic = estimate(table, criterion="bic")
    aic = estimate(table, criterion="aic")
    assert aic.criterion == "aic"
    assert aic.criterion_value == pytest.approx(aic.fit.aic)
    assert bic.criterion_value == pytest.approx(bic.fit.bic)
    assert len(aic.model) >= len(bic.model)


def test_chao_lower_bound_formula() -> None:
    # f1 = 60 cases on one list, f2 = 20 on two: n + f1^2 / (2 f2) = 83 + 90
    t = CaptureTable.from_counts({(1, 0, 0): 30, (0, 1, 0): 20, (0, 0, 1): 10, (1, 1, 0): 12, (0, 1, 1): 8, (1, 1, 1): 3}, ["A", "B", "C"])
    result = estimate(t)
    assert result.chao_lower_bound == pytest.approx(83 + 60 * 60 / 40)


# -- simulator end to end and strata ------------------------------------------------------------


def _simulated_clusters(seed: int, n: int) -> tuple[list[set[str]], list[dict], tuple[str, ...], dict[str, dict]]:
    sim = simulate(SimulationConfig(seed=seed, n_incidents=n))
    seen: dict[str, set[str]] = defaultdict(set)
    for (org, _record_id), true_id in sim.links.items():
        seen[true_id].add(org)
    truth = {rec["id"]: rec for rec in sim.truth.incidents}
    ids = sorted(seen)
    return [seen[i] for i in ids], [truth[i] for i in ids], sim.organisations, truth


def test_simulated_organisations_total_is_recovered() -> None:
    sim = simulate(SimulationConfig(seed=1, n_incidents=3000))
    table = CaptureTable.from_counts(dict(sim.capture_histories()), sim.organisations, source="simulation")
    truth = sim.n_documented + sim.n_undocumented
    result = estimate(table, bootstrap=300, seed=1)
    assert result.observed == sim.n_documented
    assert result.ci_lower < truth < result.ci_upper
    assert result.estimate == pytest.approx(truth, rel=0.05)


def test_stratified_by_period_sums_to_a_total_with_an_interval() -> None:
    clusters, records, orgs, truth = _simulated_clusters(seed=3, n=6000)
    period = ["before 2019" if int(r["start_date"][:4]) < 2019 else "2019 on" for r in records]
    tables = stratify(clusters, period, lists=orgs)
    assert set(tables) == {"before 2019", "2019 on"}
    assert sum(t.observed for t in tables.values()) == len(clusters)
    result = estimate_strata(tables, bootstrap=300, seed=9)
    assert not result.failed
    true_by = {"before 2019": 0, "2019 on": 0}
    for rec in truth.values():
        true_by["before 2019" if int(rec["start_date"][:4]) < 2019 else "2019 on"] += 1
    for key, r in result.strata.items():
        assert r.estimate == pytest.approx(true_by[key], rel=0.15), key
    assert result.estimate == pytest.approx(sum(r.estimate for r in result.strata.values()))
    assert result.ci_method == "bca"
    assert result.ci_lower < sum(true_by.values()) < result.ci_upper
    assert json.loads(json.dumps(result.to_dict()))["strata"]["2019 on"]["observed"] == tables["2019 on"].observed


def test_a_stratum_that_cannot_be_estimated_is_reported_and_blocks_the_total() -> None:
    tables = {
        "CN": CaptureTable.from_counts({(1, 0, 0): 30, (0, 1, 0): 20, (0, 0, 1): 10, (1, 1, 0): 12, (0, 1, 1): 8, (1, 1, 1): 3}, ["A", "B", "C"]),
        "RU": CaptureTable.from_counts({(1, 0, 0): 5, (0, 1, 0): 4, (0, 0, 1): 6}, ["A", "B", "C"]),
    }
    result = estimate_strata(tables, bootstrap=50, seed=1)
    assert set(result.strata) == {"CN"}
    assert "no case is on more than one list" in result.failed["RU"]
    assert result.estimate is None
    assert "could not be estimated" in result.note


def test_strata_drop_a_list_with_no_case_there_and_say_so() -> None:
    tables = {
        "DIGITAL": CaptureTable.from_counts({(1, 0, 0): 30, (0, 1, 0): 20, (1, 1, 0): 12}, ["A", "B", "C"]),
    }
    result = estimate_strata(tables)
    assert result.strata["DIGITAL"].lists == ["A", "B"]
    assert result.strata["DIGITAL"].diagnostics["dropped_lists"] == ["C"]
    # Lincoln-Petersen: 42 * 32 / 12
    assert result.estimate == pytest.approx(42 * 32 / 12)
