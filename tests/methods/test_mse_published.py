"""Multiple systems estimation reproduces published figures (../shared/data/mse/).

Every number compared here is read from the dataset's JSON, which records where it was
published and where it was read; each assertion message repeats that citation. Credit, as the
JSON files give it:

* Korea (Palembang), Kosovo, New Orleans (2024 version, n=186): Silverman, B. W., Chan, L. and
  Vincent, K. (2024). Bootstrapping multiple systems estimates to account for model
  selection. Statistics and Computing 34:44, doi:10.1007/s11222-023-10346-9 (Tables 2, 3, 6),
  as transcribed in bernardsilverman/MultipleSystemsEstimation vignettes/reproduce-2024.Rmd.
  Korea data: Ball, Shin & Yang (2018), HRDAG. Kosovo data: CRAN LCMCR / MultipleSystemsEstimation.
* Kosovo global model: Ball, P., Betts, W., Scheuren, F., Dudukovich, J. and Asher, J. (2002).
  Killings and Refugee Flow in Kosovo, March-June 1999. AAAS/ABA-CEELI report to the ICTY.
* New Orleans (2019 version, n=185): Chan, L., Silverman, B. W. and Vincent, K. (2021).
  Multiple Systems Estimation for Sparse Capture Data: Inferential Challenges When There Are
  Nonoverlapping Lists. JASA 116(535):1297-1306, doi:10.1080/01621459.2019.1708748; data CRAN
  SparseMSE 2.0.1.
* Artificial three-list table: Chan, Silverman & Vincent (2021), Tables 2-3.
* Snowshoe hare: Rcapture 1.4-4 documentation (man/hare.Rd); Baillargeon & Rivest (2007) JSS
  19(5); data Cormack (1989), Agresti (1994).
* Netherlands: Dutch National Rapporteur press release 2017-09-28 (van Dijk, Cruyff, van der
  Heijden & Kragten-Heerdink 2017); data CRAN SparseMSE 2.0.1. Not directly comparable (see
  the test).

Point estimates must agree within 0.5 %. Bootstrap intervals are compared with the published
ones they approximate (named in each test); they cannot agree exactly, since both are 1,000
random replicates, so the tolerance is the bootstrap's own noise, stated per test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tnr.methods.mse import CaptureTable, chao_lower_bound, check_model, estimate, fit_model

REL = 0.005  # point estimates within 0.5 %
SEED = 2024


def dataset(shared_data: Path, stem: str) -> tuple[CaptureTable, dict[str, Any]]:
    meta = json.loads((shared_data / "mse" / f"{stem}.json").read_text(encoding="utf-8"))
    return CaptureTable.from_csv(shared_data / "mse" / meta["csv"]), meta


def cite(entry: dict[str, Any]) -> str:
    return f"{entry['citation']} (read: {entry.get('where_read', 'n/a')})"


def assert_point(got: float, entry: dict[str, Any]) -> None:
    assert got == pytest.approx(entry["estimate"], rel=REL), f"{got:.1f} vs published {entry['estimate']} -- {cite(entry)}"


def assert_interval(result: Any, entry: dict[str, Any], rel: float) -> None:
    assert result.ci_method == "bca"
    assert result.ci_level == entry["ci_level"]
    for got, want in ((result.ci_lower, entry["ci_lower"]), (result.ci_upper, entry["ci_upper"])):
        assert got == pytest.approx(want, rel=rel), (
            f"interval {result.ci_lower:.0f}-{result.ci_upper:.0f} vs published "
            f"{entry['ci_lower']}-{entry['ci_upper']} ({entry['ci_type']}) -- {cite(entry)}"
        )


# -- Korea ------------------------------------------------------------------------------------


@pytest.mark.parametrize("search", ["exhaustive", "downhill"])
def test_korea_point_estimate_and_model(shared_data: Path, search: str) -> None:
    table, meta = dataset(shared_data, "korea_comfort_women_palembang_3lists")
    entry = meta["published_estimates"][0]  # BIC over two-list models; exhaustive = downhill
    result = estimate(table, criterion="bic", max_order=2, search=search)
    assert_point(result.estimate, entry)
    assert result.model == ["b:c", "c:d"]  # "BIC-best model [b:c, c:d] gives 157.2"


def test_korea_existence_check_excludes_the_diverging_model(shared_data: Path) -> None:
    table, meta = dataset(shared_data, "korea_comfort_women_palembang_3lists")
    # JSON note: "model [b:c, b:d] is non-identifiable/diverges (N ~ 8e10 in a naive GLM)"
    assert check_model(table, ["b:c", "b:d"])[0] & 1
    result = estimate(table, max_order=2)
    assert "6 admissible" in meta["published_estimates"][0]["model_space"]
    assert result.diagnostics["models_considered"] == 8
    assert result.diagnostics["models_fitted"] == 6


def test_korea_bootstrap_approximates_published_bca(shared_data: Path) -> None:
    """Approximates Silverman et al. (2024) Table 6: 95 % BCa 128 to 349, 1,000 replicates
    re-selecting among all models (ntop = Inf). Across seeds our upper limit moves between
    about 350 and 375 (the distribution has a long right tail), hence 10 %."""
    table, meta = dataset(shared_data, "korea_comfort_women_palembang_3lists")
    entry = meta["published_estimates"][0]
    result = estimate(table, max_order=2, bootstrap=1000, seed=SEED, top_models=0)
    assert_interval(result, entry, rel=0.10)
    assert result.bootstrap is not None
    assert result.bootstrap.failed == 0


# -- Kosovo -----------------------------------------------------------------------------------

KOSOVO_RUNS = [  # (index in published_estimates, max order, search)
    (0, 3, "exhaustive"),  # Ball et al. (2002) global model: 10,356
    (1, 3, "exhaustive"),
    (2, 3, "downhill"),
    (3, 2, "exhaustive"),
    (4, 2, "downhill"),
]


@pytest.mark.parametrize(("index", "order", "search"), KOSOVO_RUNS)
def test_kosovo_point_estimates(shared_data: Path, index: int, order: int, search: str) -> None:
    table, meta = dataset(shared_data, "kosovo_killings_1999_4lists")
    entry = meta["published_estimates"][index]
    result = estimate(table, max_order=order, search=search)
    assert_point(result.estimate, entry)


def test_kosovo_best_model_is_the_published_one(shared_data: Path) -> None:
    table, _ = dataset(shared_data, "kosovo_killings_1999_4lists")
    result = estimate(table, max_order=3)
    assert result.model == ["EXH:ABA", "EXH:OSCE", "EXH:HRW", "ABA:OSCE", "OSCE:HRW", "EXH:ABA:OSCE"]
    assert result.diagnostics["models_considered"] == 113  # "all hierarchical models up to order 3 (113 candidates)"


@pytest.mark.parametrize(("index", "order", "search", "rel"), [
    # Table 6, all models up to order 3, exhaustive: 6,947 to 18,010.
    (1, 3, "exhaustive", 0.08),
    # Table 6, downhill: 7,133 to 18,681.
    (2, 3, "downhill", 0.08),
    # Table 6, max order 2, exhaustive: 12,451 to 16,273 (a narrower, less skewed distribution).
    (3, 2, "exhaustive", 0.04),
    # Table 6, max order 2, downhill: 12,525 to 16,477.
    (4, 2, "downhill", 0.04),
])
def test_kosovo_bootstrap_approximates_published_bca(shared_data: Path, index: int, order: int, search: str, rel: float) -> None:
    """Each run approximates the Silverman et al. (2024) Table 6 interval named above
    (1,000 replicates, model re-selected in each). Our seeds move the limits by a few percent."""
    table, meta = dataset(shared_data, "kosovo_killings_1999_4lists")
    entry = meta["published_estimates"][index]
    result = estimate(table, max_order=order, search=search, bootstrap=1000, seed=SEED, top_models=0)
    assert_interval(result, entry, rel=rel)


def test_kosovo_interval_covers_the_external_benchmark(shared_data: Path) -> None:
    """Kosovo Memory Book near-census (10,401; JSON 'external_benchmark', HRDAG StanLCMCR blog
    post citing Krueger & Ball 2014) lies inside the order-3 interval."""
    table, meta = dataset(shared_data, "kosovo_killings_1999_4lists")
    result = estimate(table, max_order=3, bootstrap=1000, seed=SEED)
    assert result.ci_lower < meta["external_benchmark"]["value"] < result.ci_upper


# -- New Orleans ------------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "order", "search"), [(0, 4, "exhaustive"), (1, 2, "exhaustive"), (2, 4, "downhill")])
def test_new_orleans_5_lists_2024(shared_data: Path, index: int, order: int, search: str) -> None:
    table, meta = dataset(shared_data, "new_orleans_trafficking_5lists_n186")
    entry = meta["published_estimates"][index]
    result = estimate(table, max_order=order, search=search)
    assert_point(result.estimate, entry)
    assert result.model == []  # "main effects gives 981.4 on n=186"


def test_new_orleans_5_lists_2021(shared_data: Path) -> None:
    """Chan et al. (2021): main effects only (stepwise, p threshold 0.02) gives 1,034; BIC over
    two-list models picks the same model here."""
    table, meta = dataset(shared_data, "new_orleans_trafficking_5lists_n185")
    entry = meta["published_estimates"][0]
    assert_point(fit_model(table, []).estimate, entry)
    result = estimate(table, max_order=2)
    assert result.model == []
    assert_point(result.estimate, entry)


def test_new_orleans_8_lists_2021(shared_data: Path) -> None:
    """Chan et al. (2021) Section 4.1: main effects + D:E gives 1,184 and main effects alone
    997; our BIC downhill search selects main effects + D:E too."""
    table, meta = dataset(shared_data, "new_orleans_trafficking_8lists_n185")
    with_de, main_only = meta["published_estimates"]
    assert_point(fit_model(table, ["D:E"]).estimate, with_de)
    assert_point(fit_model(table, []).estimate, main_only)
    result = estimate(table, search="downhill", max_order=2)
    assert result.model == ["D:E"]
    assert_point(result.estimate, with_de)


@pytest.mark.parametrize("order", [2, 7])
def test_new_orleans_8_lists_2024(shared_data: Path, order: int) -> None:
    """Silverman et al. (2024) Table 6: downhill over all models and up to order 2 give the
    same model (main effects + D:E), 1,110."""
    table, meta = dataset(shared_data, "new_orleans_trafficking_8lists_n186")
    entry = meta["published_estimates"][0]
    result = estimate(table, search="downhill", max_order=order)
    assert result.model == ["D:E"]
    assert_point(result.estimate, entry)


def test_new_orleans_8_lists_exhaustive_is_refused_with_advice(shared_data: Path) -> None:
    table, _ = dataset(shared_data, "new_orleans_trafficking_8lists_n186")
    with pytest.raises(ValueError, match="downhill"):
        estimate(table, search="exhaustive", max_order=2)


@pytest.mark.slow
@pytest.mark.parametrize(("index", "order", "search"), [(0, 4, "exhaustive"), (1, 2, "exhaustive"), (2, 4, "downhill")])
def test_new_orleans_5_lists_bootstrap(shared_data: Path, index: int, order: int, search: str) -> None:
    """Approximates Silverman et al. (2024) Table 6 for NewOrl_5: 397 to 1,511 (order 4),
    397 to 1,505 (order 2), 397 to 1,564 (downhill). The bootstrap distribution is very
    skewed (median about 1,400 for a point estimate of 981, bias correction z0 near -0.8), so
    BCa limits move a lot between seeds: over seeds 1-3 we saw lower limits 364-469 and upper
    1,567-1,700; the paper itself reports upper limits of 1,544/1,547 elsewhere (JSON note).
    Hence 25 %."""
    table, meta = dataset(shared_data, "new_orleans_trafficking_5lists_n186")
    entry = meta["published_estimates"][index]
    result = estimate(table, max_order=order, search=search, bootstrap=1000, seed=SEED)
    assert_interval(result, entry, rel=0.25)


@pytest.mark.slow
def test_new_orleans_8_lists_bootstrap(shared_data: Path) -> None:
    """Approximates Silverman et al. (2024) Table 6 "NewOrl all models": 586 to 1,512 (BCa,
    1,000 replicates, downhill search repeated in each)."""
    table, meta = dataset(shared_data, "new_orleans_trafficking_8lists_n186")
    entry = meta["published_estimates"][0]
    result = estimate(table, search="downhill", max_order=2, bootstrap=1000, seed=SEED)
    assert_interval(result, entry, rel=0.25)


# -- Snowshoe hare (Rcapture) -----------------------------------------------------------------


def test_hare_rcapture_models(shared_data: Path) -> None:
    """Rcapture's hare.Rd: Mth Poisson2 gives N = 81.1 with AIC 146; Mt with an indicator for
    history 111111 gives N = 76.8 (s.e. 3.9), AIC 146. Both are log-linear models outside the
    hierarchical family, fitted here through ``extra_columns``."""
    table, meta = dataset(shared_data, "rcapture_snowshoe_hare_6occasions")
    poisson2, without_all6 = meta["published_estimates"]
    captures = np.array([bin(h).count("1") for h in range(1, 64)])
    fit = fit_model(table, [], {"poisson2": 2.0 ** captures - 1})
    assert_point(fit.estimate, poisson2)
    assert round(fit.aic) == 146
    fit = fit_model(table, [], {"history 111111": (captures == 6).astype(float)})
    assert_point(fit.estimate, without_all6)
    assert round(fit.aic) == 146
    assert round(fit.se, 1) == without_all6["se"]


# -- Netherlands: sanity only -----------------------------------------------------------------


@pytest.mark.parametrize("stem", ["netherlands_trafficking_2010_2015_6lists", "netherlands_trafficking_2010_2015_5lists"])
def test_netherlands_sanity_range(shared_data: Path, stem: str) -> None:
    """The only published figure (about 6,250 victims a year, 2010-2015) comes from a model
    with covariates, reported per year; the JSON says it is not comparable with this pooled
    table and is a sanity range only. We check the order of magnitude: the pooled six-year
    estimate, per year, is within a factor of five of it, and it is not below Chao's lower
    bound for the same table."""
    table, meta = dataset(shared_data, stem)
    entry = meta["published_estimates"][0]
    assert "NOT directly comparable" in entry["comparability"]
    result = estimate(table)
    per_year = result.estimate / 6
    assert entry["estimate"] / 5 < per_year < entry["estimate"] * 5, cite(entry)
    assert result.estimate >= chao_lower_bound(table)[0]


# -- Artificial table: existence and identifiability ------------------------------------------

ARTIFICIAL = {  # model -> status as published (1 = no extended MLE, 2 = not identifiable)
    "[12,13,23]": ["A:B", "A:C", "B:C"],
    "[12,3]": ["A:B"],
    "[13,23,1,2]": ["A:C", "B:C"],
    "main effects only": [],
}


@pytest.mark.parametrize("key", list(ARTIFICIAL))
def test_artificial_table_status_codes(shared_data: Path, key: str) -> None:
    table, meta = dataset(shared_data, "artificial_3_identifiability_test")
    behaviour = meta["published_behaviour"]
    expected = int(behaviour["check_extended_MLE_status"][key][0])
    code, text = check_model(table, ARTIFICIAL[key])
    assert code == expected, f"{key}: {code} ({text}) vs {behaviour['check_extended_MLE_status'][key]} -- {behaviour['citation']}"


@pytest.mark.parametrize("terms", [["A:B", "A:C"], ["A:B", "B:C"]])
def test_artificial_ab_with_ac_or_bc_has_no_estimate(shared_data: Path, terms: list[str]) -> None:
    table, meta = dataset(shared_data, "artificial_3_identifiability_test")
    assert meta["published_behaviour"]["check_extended_MLE_status"]["AB with AC or BC"].startswith("1")
    assert check_model(table, terms)[0] == 1
    with pytest.raises(ValueError, match="does not exist"):
        fit_model(table, terms)
