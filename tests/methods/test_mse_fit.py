"""The MSE fitting engine: model space, the batched numpy fitter against statsmodels (the
reference), the fast existence/identifiability checks against Chan et al.'s linear program,
and recovery of known totals from synthetic captures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from tnr.methods import mse_fit
from tnr.methods.mse import CaptureTable, estimate, fit_model
from tnr.methods.mse_models import (
    count_hierarchical_models,
    design,
    enumerate_models,
    is_hierarchical,
    model_names,
    neighbours,
    parse_term,
)

# -- model space -------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "order", "count"), [
    (2, 1, 1),
    (3, 2, 8),  # Korea: "two-list models", 8 before the existence check
    (4, 3, 113),  # Kosovo: "all hierarchical models up to order 3 (113 candidates)"
    (5, 2, 1024),
    (6, 2, 32_768),  # Silverman et al.: "There are 32,768 such six-list models"
])
def test_enumeration_counts_known_model_spaces(k: int, order: int, count: int) -> None:
    models = enumerate_models(k, order)
    assert len(models) == count == count_hierarchical_models(k, order)
    assert len(set(models)) == count
    assert all(is_hierarchical(m) for m in models)
    assert models[0] == frozenset()  # main effects first


def test_enumeration_is_every_hierarchical_subset() -> None:
    # brute force over all subsets of the 10 interactions of order 2-3 on 4 lists (order <= 3)
    from tnr.methods.mse_models import interaction_terms

    terms = list(interaction_terms(4, 3))
    brute = {frozenset(t for i, t in enumerate(terms) if bits >> i & 1) for bits in range(1 << len(terms))}
    brute = {m for m in brute if is_hierarchical(m)}
    assert brute == set(enumerate_models(4, 3))


def test_neighbours_stay_hierarchical_and_within_order() -> None:
    lists = ["A", "B", "C", "D"]
    model = frozenset({parse_term("A:B", lists), parse_term("A:C", lists), parse_term("B:C", lists)})
    near = neighbours(model, 4, 3)
    assert all(is_hierarchical(m) for m in near)
    names = {tuple(model_names(m, lists)) for m in near}
    assert ("A:B", "A:C", "B:C", "A:B:C") in names  # the triple can be added: its pairs are in
    assert ("A:B", "A:C") in names  # a generator can be dropped
    assert not any(len(n) > 3 and n[-1].count(":") > 2 for n in names)
    assert all(abs(len(m) - len(model)) == 1 for m in near)


# -- numpy fitter vs statsmodels --------------------------------------------------------------


def _table(shared_data: Path, name: str) -> CaptureTable:
    return CaptureTable.from_csv(shared_data / "mse" / name)


@pytest.mark.parametrize(("name", "order"), [
    ("kosovo_killings_1999_4lists.csv", 3),
    ("korea_comfort_women_palembang_3lists.csv", 2),
    ("new_orleans_trafficking_5lists_n186.csv", 2),
])
def test_numpy_and_statsmodels_give_the_same_fits(shared_data: Path, name: str, order: int) -> None:
    table = _table(shared_data, name)
    d = design(table.k, order)
    models = enumerate_models(table.k, order)
    Y = np.repeat(table.counts[None, :].astype(float), len(models), axis=0)
    masks = d.masks(models)
    sc_np, fit_np = mse_fit.fit_batch(d.X, Y, masks, fitter="numpy")
    sc_sm, fit_sm = mse_fit.fit_batch(d.X, Y, masks, fitter="statsmodels")
    np.testing.assert_array_equal(sc_np.status, sc_sm.status)
    ok = sc_np.status == mse_fit.OK
    assert ok.sum() > 0
    np.testing.assert_allclose(fit_np.loglik[ok], fit_sm.loglik[ok], rtol=1e-9)
    # the estimate of the unrecorded cell, exp(intercept), and every coefficient
    np.testing.assert_allclose(np.exp(fit_np.beta[ok, 0]), np.exp(fit_sm.beta[ok, 0]), rtol=1e-6)
    np.testing.assert_allclose(fit_np.beta[ok], fit_sm.beta[ok], rtol=1e-5, atol=1e-6)


def test_fitting_paths_agree_on_a_mixed_batch(shared_data: Path) -> None:
    """Entries are fitted per shared model, on the full design or on gathered columns
    depending on the batch; the results must not depend on the path."""
    table = _table(shared_data, "new_orleans_trafficking_8lists_n186.csv")
    d = design(8, 2)
    rng = np.random.default_rng(0)
    few = [frozenset(), frozenset({parse_term("D:E", table.lists)})]
    many = [frozenset(rng.choice(list(d.terms[9:]), size=3, replace=False).tolist()) for _ in range(12)]
    models = few * 20 + many  # two large groups and a dozen singletons (gathered path)
    Y = np.repeat(table.counts[None, :].astype(float), len(models), axis=0)
    sc, fits = mse_fit.fit_batch(d.X, Y, d.masks(models))
    for i in [0, 1, 40, 45, 51]:
        sc1, f1 = mse_fit.fit_batch(d.X, Y[i: i + 1], d.masks(models[i: i + 1]), fitter="statsmodels")
        assert sc.status[i] == sc1.status[0]
        if sc.status[i] == mse_fit.OK:
            assert fits.loglik[i] == pytest.approx(f1.loglik[0], rel=1e-9)
            assert math.exp(fits.beta[i, 0]) == pytest.approx(math.exp(f1.beta[0, 0]), rel=1e-6)


def test_reported_estimate_comes_from_statsmodels_and_matches_search(shared_data: Path) -> None:
    result = estimate(_table(shared_data, "kosovo_killings_1999_4lists.csv"), max_order=3)
    assert result.diagnostics["fitters_agree"] is True
    assert result.estimate == pytest.approx(result.diagnostics["search_fitter_estimate"], rel=1e-6)


def test_statsmodels_fitter_gives_the_same_selection(shared_data: Path) -> None:
    table = _table(shared_data, "korea_comfort_women_palembang_3lists.csv")
    a = estimate(table, fitter="numpy")
    b = estimate(table, fitter="statsmodels")
    assert a.model == b.model
    assert a.estimate == pytest.approx(b.estimate, rel=1e-9)
    assert [r["criterion_value"] for r in a.diagnostics["ranking"]] == pytest.approx(
        [r["criterion_value"] for r in b.diagnostics["ranking"]], rel=1e-9)


# -- existence and identifiability: fast checks vs the linear program ------------------------


def reference_status(X: np.ndarray, y: np.ndarray, mask: np.ndarray) -> int:
    """Chan, Silverman & Vincent's check, written out independently: drop zero-margin terms
    and the cells containing them, then the Fienberg-Rinaldo linear program (max s subject to
    A x = A y, x >= s) and a rank test on what remains."""
    terms = np.flatnonzero(mask)
    margins = y @ X
    neg = [t for t in terms if margins[t] == 0]
    cells = np.flatnonzero(X[:, neg].sum(axis=1) == 0) if neg else np.arange(X.shape[0])
    keep = [t for t in terms if t not in neg]
    A = X[np.ix_(cells, keep)].T
    t = A @ y[cells]
    n = len(cells)
    c = np.zeros(n + 1)
    c[-1] = -1.0
    res = linprog(
        c, A_ub=np.hstack([-np.eye(n), np.ones((n, 1))]), b_ub=np.zeros(n),
        A_eq=np.hstack([A, np.zeros((A.shape[0], 1))]), b_eq=t, bounds=[(0, None)] * (n + 1), method="highs",
    )
    exists = res.status == 0 and -res.fun > 1e-9
    rankdef = np.linalg.matrix_rank(A.T) < len(keep)
    return (0 if exists else 1) + (2 if rankdef else 0)


def _sparse_tables() -> list[tuple[np.ndarray, int, int]]:
    rng = np.random.default_rng(7)
    out = []
    for _ in range(6):
        k = 4
        y = rng.poisson(rng.choice([0.0, 0.4, 3.0, 20.0], size=(1 << k) - 1)).astype(float)
        y[[0, 1, 3]] += 1  # every list non-empty
        out.append((y, k, 3))
    return out


@pytest.mark.parametrize(("y", "k", "order"), _sparse_tables())
def test_fast_checks_agree_with_the_linear_program_on_sparse_tables(y: np.ndarray, k: int, order: int) -> None:
    d = design(k, order)
    models = enumerate_models(k, order)
    sc = mse_fit.screen(d.X, np.repeat(y[None, :], len(models), axis=0), d.masks(models), full_status=True)
    expected = [reference_status(d.X, y, d.mask(m)) for m in models]
    assert sc.status.tolist() == expected


@pytest.mark.parametrize(("name", "order"), [
    ("korea_comfort_women_palembang_3lists.csv", 2),
    ("artificial_3_identifiability_test.csv", 2),
    ("new_orleans_trafficking_5lists_n186.csv", 2),
    ("netherlands_trafficking_2010_2015_5lists.csv", 2),
])
def test_fast_checks_agree_with_the_linear_program_on_real_tables(shared_data: Path, name: str, order: int) -> None:
    table = _table(shared_data, name)
    d = design(table.k, order)
    y = table.counts.astype(float)
    models = enumerate_models(table.k, order)
    sc = mse_fit.screen(d.X, np.repeat(y[None, :], len(models), axis=0), d.masks(models), full_status=True)
    assert sc.status.tolist() == [reference_status(d.X, y, d.mask(m)) for m in models]


# -- recovery of a known total ----------------------------------------------------------------


def simulate_table(n_total: int, probs: list[float], rng: np.random.Generator, dependence: float = 1.0) -> CaptureTable:
    """A closed population of ``n_total`` cases, each list recording each case independently
    with its probability, except that list B's odds are multiplied by ``dependence`` for
    cases on list A (positive dependence between two organisations)."""
    k = len(probs)
    caught = rng.random((n_total, k)) < np.array(probs)
    if dependence != 1.0:
        p_b = probs[1]
        odds = p_b / (1 - p_b) * dependence
        caught[:, 1] = np.where(caught[:, 0], rng.random(n_total) < odds / (1 + odds), caught[:, 1])
    rows = caught[caught.any(axis=1)].astype(int)
    return CaptureTable.from_matrix(rows, [chr(65 + i) for i in range(k)], source="synthetic")


def test_recovers_a_known_total_with_independent_lists() -> None:
    rng = np.random.default_rng(11)
    table = simulate_table(4000, [0.3, 0.25, 0.2, 0.35], rng)
    result = estimate(table, max_order=2, bootstrap=300, seed=1)
    assert result.estimate == pytest.approx(4000, rel=0.05)
    assert result.ci_lower < 4000 < result.ci_upper


def test_recovers_a_known_total_when_two_lists_are_dependent() -> None:
    """Main effects alone underestimate (A and B share cases beyond chance); the search finds
    the A:B interaction and recovers the total."""
    rng = np.random.default_rng(12)
    table = simulate_table(5000, [0.3, 0.2, 0.25, 0.3], rng, dependence=6.0)
    naive = fit_model(table, [])
    assert naive.estimate < 0.9 * 5000
    result = estimate(table, max_order=2, bootstrap=300, seed=2)
    assert "A:B" in result.model
    assert result.estimate == pytest.approx(5000, rel=0.06)
    assert result.ci_lower < 5000 < result.ci_upper


@pytest.mark.slow
def test_interval_coverage_on_simulated_tables() -> None:
    """Over 40 simulated tables (true total 2,000, independent lists), the 95 % BCa interval
    with model re-selection contains the truth in at least 34 (85 %)."""
    covered = 0
    for i in range(40):
        rng = np.random.default_rng(1000 + i)
        table = simulate_table(2000, [0.25, 0.2, 0.3, 0.15], rng)
        r = estimate(table, max_order=2, bootstrap=300, seed=i)
        covered += r.ci_lower <= 2000 <= r.ci_upper
    assert covered >= 34


def test_bootstrap_is_reproducible_for_a_seed(shared_data: Path) -> None:
    table = _table(shared_data, "korea_comfort_women_palembang_3lists.csv")
    a = estimate(table, bootstrap=200, seed=5)
    b = estimate(table, bootstrap=200, seed=5)
    c = estimate(table, bootstrap=200, seed=6)
    assert (a.ci_lower, a.ci_upper) == (b.ci_lower, b.ci_upper)
    assert (a.ci_lower, a.ci_upper) != (c.ci_lower, c.ci_upper)
    assert a.bootstrap is not None
    assert a.bootstrap.seed == 5
    unseeded = estimate(table, bootstrap=50)
    assert unseeded.bootstrap is not None
    again = estimate(table, bootstrap=50, seed=unseeded.bootstrap.seed)
    assert (again.ci_lower, again.ci_upper) == (unseeded.ci_lower, unseeded.ci_upper)


def test_percentile_and_bca_intervals_both_reported(shared_data: Path) -> None:
    table = _table(shared_data, "kosovo_killings_1999_4lists.csv")
    r = estimate(table, max_order=2, bootstrap=300, seed=3)
    assert r.bootstrap is not None
    assert r.bootstrap.percentile is not None
    assert r.bootstrap.bca is not None
    assert (r.ci_lower, r.ci_upper) == r.bootstrap.bca
    lo, hi = r.bootstrap.percentile
    assert lo < r.estimate < hi
    assert math.isfinite(r.bootstrap.acceleration)
    assert math.isfinite(r.bootstrap.bias_correction)
