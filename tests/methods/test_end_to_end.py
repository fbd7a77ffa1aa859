"""End to end on the simulator (issue 5, item 4): simulated organisations' lists → linkage
(oracle, Splink, PPRL) → multiple systems estimation → the estimate of the true total
(documented + undocumented incidents), compared with the simulator's hidden truth.

Run with ``-s`` to see the per-seed table (truth, observed, estimate, interval, covered).
docs/end-to-end.md records the figures and explains the misses.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from tnr.methods.mse import CaptureTable, estimate
from tnr.methods.pipeline import (
    PATHS,
    coverage,
    format_runs,
    main,
    oracle_table,
    parse_seeds,
    run_path,
    run_seed,
)
from tnr.methods.simulate import DEFAULT_ORGANISATIONS, SimulationConfig, simulate

# The simulator's defaults are the study design: 1,219 true incidents (Freedom House's
# 2014–2024 count of physical incidents) over 2014–2024, documented by four organisations that
# cover 45, 35, 25 and 60 % of them on average (25 % only for physical tactics at the digital
# lab), with shared per-incident visibility (gamma, shape 2.5), focus origins and tactic biases.
# About 79 % of incidents reach at least one list. That is within what TNR documentation looks
# like (several hundred to a few thousand incidents, 3–5 organisations of 20–60 % coverage), and
# the overlaps (about 1,450 linked pairs) are ample for MSE; nothing had to be changed.

#: The first seeds of the slow range, not chosen for how they come out.
DEFAULT_SEEDS = (1, 2, 3)
#: Seeds of the slow test (and of the figures in docs/end-to-end.md).
SLOW_SEEDS = tuple(range(1, 21))
DEFAULT_BOOTSTRAP = 200  # modest: each default test stays under ~20 s on 2 cores
SLOW_BOOTSTRAP = 1000  # what `tnr estimate` uses by default

# Coverage required: seeds whose 95 % interval holds the true total. Why this share, see
# _minimum_covered; the measured figures are in docs/end-to-end.md.
MIN_SHARE_COVERED = 0.60


def _minimum_covered(n_seeds: int) -> int:
    """At least 60 % of the seeds, rounded up (2 of 3, 12 of 20), for every path.

    Why not 95 %, the nominal level: the intervals are nominal only if the chosen log-linear
    model describes how the lists depend on each other, and here it cannot fully. Every
    organisation's detection is multiplied by one shared per-incident visibility (gamma
    heterogeneity, shape 2.5): incidents easy for one list are easy for all, which induces
    dependence among *all* lists at once, and the interaction of all four lists is the one
    term MSE can never estimate (it would need the unobserved cell). Focus origins and tactic
    biases add heterogeneity that differs by list. So even with perfect linkage the estimate
    leans low (median −5.6 % on 40 seeds) and the intervals undercover: the oracle covered 29
    of 40 seeds (72.5 %; Wilson 95 % interval 57–84 %). Linkage errors then move the
    overlaps: a missed link splits one incident into singletons (estimate up), a false link
    merges two (estimate down); Splink and PPRL get 0.1–3.6 % of the table wrong here.

    Why 60 %: if the chain covers about 72.5 % of seeds, as measured, a set of 20 seeds covers
    at least 12 with probability 0.93 (binomial), so an unchanged chain passes on most seed
    sets, not only on these; a chain that covers 40 % or less passes with probability ≤ 0.06.
    Broken chains cover far less than that: the independence model (which ignores the
    heterogeneity) covers 0 of seeds 1–20, a table with a tenth of the links missed 0 of 20,
    one with 60 false links 0 of 20, one with 5 % of the links missed 9 of 20 (docs). And 60 %
    is a clear majority, which is what "most seeds" must mean. The seeds are fixed, so each
    run is deterministic: the threshold guards against regressions, not against chance.
    """
    return -(-int(MIN_SHARE_COVERED * 100) * n_seeds // 100)


def _check_run(run, path: str) -> None:
    """What must hold on every seed, whatever the coverage."""
    p = run.paths[path]
    assert p.truth == run.truth == 1219
    assert p.result is not None, p.error
    assert p.result.observed == p.observed
    # Linkage cannot invent incidents: at most one per record, at least the largest list.
    assert max(run.list_sizes.values()) <= p.observed <= sum(run.list_sizes.values())
    assert p.estimate >= p.observed
    assert p.result.ci_method == "bca"
    lo, hi = p.ci
    assert lo <= p.estimate <= hi, (lo, p.estimate, hi)
    if path == "oracle":
        assert p.observed == run.documented
        assert p.table_error == 0.0
    else:
        # Measured on seeds 1–40: pairwise precision ≥ 0.977 and recall ≥ 0.981 for both
        # linkages, the table at most 3.6 % off; the margins are for library changes.
        assert p.linkage["precision"] >= 0.95, p.linkage
        assert p.linkage["recall"] >= 0.95, p.linkage
        assert p.table_error <= 0.06, p.table_error


@pytest.mark.parametrize("path", PATHS)
def test_true_total_lies_in_the_interval_on_most_default_seeds(path):
    runs = [run_seed(seed, [path], bootstrap=DEFAULT_BOOTSTRAP) for seed in DEFAULT_SEEDS]
    print()
    print(format_runs(runs))
    for run in runs:
        _check_run(run, path)
    covered, n = coverage(runs)[path]
    assert n == len(DEFAULT_SEEDS)
    assert covered >= _minimum_covered(n), format_runs(runs)


@pytest.mark.slow
def test_true_total_lies_in_the_interval_on_most_of_twenty_seeds():
    """The figures of docs/end-to-end.md: 20 seeds, the three paths, 1,000 replicates."""
    runs = [run_seed(seed, PATHS, bootstrap=SLOW_BOOTSTRAP) for seed in SLOW_SEEDS]
    print()
    print(format_runs(runs))
    for run in runs:
        for path in PATHS:
            _check_run(run, path)
            p = run.paths[path]
            # docs/end-to-end.md advises: when the estimate is below Chao's lower bound (MSE
            # warns), read the interval's lower end as that bound. That holds if every
            # interval lying wholly below the truth carried the warning (measured: all did,
            # on seeds 1-40, for every path).
            if p.ci[1] < p.truth:
                assert p.below_chao, (run.seed, path, p.to_dict())
    for path, (covered, n) in coverage(runs).items():
        assert n == len(SLOW_SEEDS)
        assert covered >= _minimum_covered(n), (path, covered, format_runs(runs))


# --- the glue itself ------------------------------------------------------------------------------


def test_the_oracle_table_is_the_simulators_hidden_capture_histories():
    sim = simulate(SimulationConfig(seed=5, n_incidents=400))
    table = oracle_table(sim)
    assert table.lists == sim.organisations
    assert table.observed == sim.n_documented == 400 - sim.n_undocumented
    assert dict(table.histories()) == dict(sim.capture_histories())


def _split(table: CaptureTable, share: float) -> CaptureTable:
    """The table a linkage would give that missed ``share`` of the links: that share of the
    incidents on several lists falls apart into one singleton per list."""
    counts = table.counts.copy()
    for mask in range(1, 1 << table.k):
        if mask & (mask - 1):  # on two lists or more
            moved = round(counts[mask - 1] * share)
            counts[mask - 1] -= moved
            for i in range(table.k):
                if mask >> i & 1:
                    counts[(1 << i) - 1] += moved
    return CaptureTable(table.lists, counts, "missed links")


def test_the_coverage_test_fails_a_broken_chain():
    """On the default seeds, two broken chains cover the truth on fewer seeds than required:
    the independence model (which ignores the heterogeneity of capture) and a linkage that
    misses a tenth of the links (the estimate rises far above the truth)."""
    independent = missed = 0
    for seed in DEFAULT_SEEDS:
        sim = simulate(SimulationConfig(seed=seed))
        run = run_path(sim, "oracle", bootstrap=DEFAULT_BOOTSTRAP, max_order=1)
        assert run.result.model == []  # main effects only
        assert run.estimate < run.truth
        independent += run.covered
        result = estimate(_split(oracle_table(sim), 0.10), bootstrap=DEFAULT_BOOTSTRAP, seed=seed)
        assert result.estimate > 1.2 * run.truth
        missed += result.ci_lower <= run.truth <= result.ci_upper
    assert independent < _minimum_covered(len(DEFAULT_SEEDS))
    assert missed < _minimum_covered(len(DEFAULT_SEEDS))


def test_a_table_that_cannot_support_an_estimate_is_reported_not_given_a_number():
    """Two small lists that never overlap: no estimate, a reason, and no coverage claimed."""
    orgs = tuple(replace(o, coverage=0.05) for o in DEFAULT_ORGANISATIONS[:2])
    sim = simulate(SimulationConfig(seed=3, n_incidents=150, organisations=orgs))
    # This seed: 7 and 5 incidents, none on both lists.
    assert dict(sim.capture_histories()) == {(1, 0): 7, (0, 1): 5}
    run = run_path(sim, "oracle", bootstrap=20)
    assert run.result is None
    assert run.estimate is None
    assert run.ci is None
    assert not run.covered
    assert "more than one list" in run.error
    row = run.to_dict()
    assert row["estimate"] is None
    assert row["covered"] is False
    assert row["error"] == run.error


def test_an_unknown_path_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="oracle, splink, pprl"):
        run_seed(1, ["splink", "linkage"])


def test_the_same_seed_gives_the_same_figures():
    a = run_seed(SimulationConfig(seed=7, n_incidents=500), ["pprl"], bootstrap=50)
    b = run_seed(SimulationConfig(seed=7, n_incidents=500), ["pprl"], bootstrap=50)
    assert a.to_dict()["paths"]["pprl"] | {"seconds": 0, "cpu_seconds": 0} == (
        b.to_dict()["paths"]["pprl"] | {"seconds": 0, "cpu_seconds": 0}
    )


# --- python -m tnr.methods.pipeline --------------------------------------------------------------


def test_the_command_prints_the_runs_as_json():
    printed: list[str] = []
    code = main(
        [
            "--seeds",
            "2,4",
            "--paths",
            "oracle",
            "--n-incidents",
            "600",
            "--bootstrap",
            "50",
            "--format",
            "json",
        ],
        out=printed.append,
    )
    assert code == 0
    data = json.loads(printed[0])
    assert [r["seed"] for r in data["runs"]] == [2, 4]
    assert data["coverage"]["oracle"][1] == 2
    for r in data["runs"]:
        row = r["paths"]["oracle"]
        assert r["truth"] == 600
        assert row["observed"] == r["documented"]
        assert row["covered"] == (row["ci_lower"] <= 600 <= row["ci_upper"])


def test_the_command_prints_a_table_with_the_coverage_line():
    printed: list[str] = []
    argv = ["--seeds", "6", "--paths", "oracle", "--n-incidents", "600", "--bootstrap", "50"]
    assert main(argv, out=printed.append) == 0
    text = printed[0]
    assert "95% interval" in text
    assert re.search(r"^   6  oracle ", text, re.MULTILINE)
    assert re.search(
        r"^oracle: the true total lies in the interval in [01] of 1 seeds$", text, re.MULTILINE
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "5-2"], "--seeds: '5-2' is not a seed or a range"),
        (["--seeds", "one"], "--seeds: 'one'"),
        (["--paths", "oracle,fuzzy"], "--paths: choose among oracle, splink, pprl"),
        (["--bootstrap", "-1"], "--bootstrap"),
        (["--n-incidents", "-5"], "n_incidents must be >= 0"),
    ],
)
def test_the_command_refuses_bad_options_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_seed_lists_and_ranges_are_read_in_order_without_repeats():
    assert parse_seeds("1-3,7,2") == [1, 2, 3, 7]
