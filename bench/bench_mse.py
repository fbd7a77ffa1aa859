"""Benchmark: multiple systems estimation (issue 5, item 1).

    .venv/bin/python bench/bench_mse.py [--replicates 1000] [--baseline-models 300]
                                        [--baseline-replicates 5]

Measured, wall and CPU seconds (CPU = this process only; the machine is shared, so CPU time is
the steadier figure):

  * exhaustive search over every hierarchical model of 6 lists up to order 2 (32,768
    models: the Netherlands trafficking table, 39 of its 63 cells empty, so the sparse-data
    checks run too; and a dense synthetic 6-list table): the batched numpy fitter, then
    ``estimate()`` as users call it (search + statsmodels reference fit of the chosen model);
  * 1,000 bootstrap replicates re-selecting the model in each, plus the jackknife for BCa:
    Kosovo (4 lists, all 113 models up to order 3), and the 6-list table by downhill search
    and by exhaustive re-selection among its 128 best models;
  * baseline, in the same run: the plain statsmodels path (one ``sm.GLM(...).fit()`` per
    model, same checks) on a random sample of the models / a few replicates, scaled up to
    the full count. Both paths must select the same models and agree on the estimates.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = ROOT.parent / "shared" / "data" / "mse"


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def synthetic_six(seed: int = 1, n: int = 20_000) -> Any:
    from tnr.methods.mse import CaptureTable

    rng = np.random.default_rng(seed)
    probs = np.array([0.3, 0.25, 0.2, 0.35, 0.15, 0.1])
    caught = rng.random((n, 6)) < probs
    caught[:, 1] |= caught[:, 0] & (rng.random(n) < 0.2)  # some dependence
    rows = caught[caught.any(axis=1)].astype(int)
    return CaptureTable.from_matrix(rows, list("ABCDEF"), source="synthetic 6 lists")


def six_list_tables() -> list[Any]:
    from tnr.methods.mse import CaptureTable

    tables = []
    ned = SHARED / "netherlands_trafficking_2010_2015_6lists.csv"
    if ned.exists():
        tables.append(CaptureTable.from_csv(ned))
    else:
        print(f"  ({ned} not found: synthetic table only)")
    tables.append(synthetic_six())
    return tables


def bench_exhaustive(baseline_models: int) -> None:
    from tnr.methods import mse_search
    from tnr.methods.mse import estimate
    from tnr.methods.mse_models import design, enumerate_models

    print("Exhaustive search, 6 lists up to order 2")
    d = design(6, 2)
    models, wall, cpu = timed(lambda: enumerate_models(6, 2))
    print(f"  enumerate {len(models):,} hierarchical models: {wall:.2f} s wall, {cpu:.2f} s CPU")
    masks = d.masks(models)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(models), size=min(baseline_models, len(models)), replace=False))
    for table in six_list_tables():
        y = table.counts.astype(float)
        Y = np.repeat(y[None, :], len(models), axis=0)
        ev, wall, cpu = timed(lambda Y=Y: mse_search.evaluate(d, Y, masks, "bic", "numpy"))
        fitted = int((ev.status == 0).sum())
        print(f"  {table.source}: {table.observed:,} cases, {int((y == 0).sum())} empty cells")
        print(f"    numpy batched:      {wall:7.2f} s wall {cpu:7.2f} s CPU  ({fitted:,} fitted, "
              f"{len(models) - fitted:,} excluded; {1e6 * cpu / len(models):.0f} us CPU per model)")
        ev_sm, wall_b, cpu_b = timed(lambda y=y: mse_search.evaluate(d, np.repeat(y[None, :], sample.size, axis=0), masks[sample], "bic", "statsmodels"))
        scale = len(models) / sample.size
        same_status = bool(np.array_equal(ev_sm.status, ev.status[sample]))
        ok = ev.status[sample] == 0
        diff = float(np.max(np.abs(ev_sm.estimate[ok] / ev.estimate[sample][ok] - 1))) if ok.any() else 0.0
        print(f"    statsmodels (baseline, {sample.size} models scaled x{scale:.0f}): "
              f"{wall_b * scale:7.1f} s wall {cpu_b * scale:7.1f} s CPU  -> numpy is {cpu_b * scale / max(cpu, 1e-9):.0f}x faster in CPU")
        print(f"    same checks on the sample: {same_status}; largest relative difference in estimates: {diff:.1e}")
        result, wall, cpu = timed(lambda table=table: estimate(table, max_order=2))
        print(f"    estimate() end to end: {wall:7.2f} s wall {cpu:7.2f} s CPU -> {result.estimate:,.0f} "
              f"({' + '.join(result.model) or 'main effects'})")


def bench_bootstrap(replicates: int, baseline_replicates: int) -> None:
    from tnr.methods import mse_search
    from tnr.methods.mse import CaptureTable, estimate

    print(f"Bootstrap, {replicates:,} replicates re-selecting the model (+ jackknife for BCa)")
    runs: list[tuple[Any, dict[str, Any]]] = []
    kosovo = SHARED / "kosovo_killings_1999_4lists.csv"
    if kosovo.exists():
        runs.append((CaptureTable.from_csv(kosovo), {"max_order": 3, "search": "exhaustive", "top_models": 0}))
    six = six_list_tables()[0]
    runs.append((six, {"max_order": 2, "search": "downhill"}))
    runs.append((six, {"max_order": 2, "search": "exhaustive", "top_models": 128}))
    for table, kw in runs:
        label = f"{table.source.rsplit('/', 1)[-1]}, {kw['search']} up to order {kw['max_order']}"
        if kw["search"] == "exhaustive":
            label += f", {'all' if kw['top_models'] == 0 else kw['top_models']} models"
        result, wall, cpu = timed(lambda table=table, kw=kw: estimate(table, bootstrap=replicates, seed=1, **kw))
        b = result.bootstrap
        print(f"  {label}")
        print(f"    numpy batched:      {wall:7.2f} s wall {cpu:7.2f} s CPU  -> {result.estimate:,.0f}, "
              f"95% BCa {result.ci_lower:,.0f} to {result.ci_upper:,.0f} ({b.failed if b else 0} replicates without a model)")
        # Baseline: the same selection with statsmodels fits on a few replicates, scaled up.
        # The replicates alone (no jackknife), for both fitters, so the comparison is like for like.
        rng = np.random.default_rng(2)
        Yb = mse_search.resample(table.counts, baseline_replicates, rng)
        sel_np = _selector(table, kw, "numpy")
        sel_sm = _selector(table, kw, "statsmodels")
        np_sel, _, cpu_np = timed(lambda sel_np=sel_np, Yb=Yb: sel_np.select(Yb))
        sm_sel, wall_b, cpu_b = timed(lambda sel_sm=sel_sm, Yb=Yb: sel_sm.select(Yb))
        scale = replicates / baseline_replicates
        agree = np.allclose(np_sel.estimate, sm_sel.estimate, rtol=1e-6, equal_nan=True)
        print(f"    statsmodels (baseline, {baseline_replicates} replicates scaled x{scale:.0f}, replicates only): "
              f"{wall_b * scale:7.1f} s wall {cpu_b * scale:7.1f} s CPU -> the full numpy run above "
              f"(which also fits the observed table and the jackknife) is {cpu_b * scale / max(cpu, 1e-9):.0f}x faster in CPU")
        print(f"    numpy on the same {baseline_replicates} replicates: {cpu_np:.2f} s CPU "
              f"({cpu_b / max(cpu_np, 1e-9):.0f}x; small batches amortise less); same selections: {agree}")


def _selector(table: Any, kw: dict[str, Any], fitter: str) -> Any:
    from tnr.methods import mse_search
    from tnr.methods.mse_models import design, enumerate_models

    d = design(table.k, kw["max_order"])
    if kw["search"] == "downhill":
        return mse_search.Selector(d, "bic", "downhill", fitter=fitter)
    models = enumerate_models(table.k, kw["max_order"])
    y = table.counts.astype(float)
    ev = mse_search.evaluate(d, np.repeat(y[None, :], len(models), axis=0), d.masks(models), "bic")
    crit = np.where(np.isnan(ev.criterion), np.inf, ev.criterion)
    order = [int(i) for i in np.argsort(crit, kind="stable") if np.isfinite(crit[i])]
    top = order if kw["top_models"] == 0 else order[: kw["top_models"]]
    return mse_search.Selector(d, "bic", "exhaustive", [models[i] for i in top], start_beta=ev.beta[top], fitter=fitter)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--baseline-models", type=int, default=300, help="models fitted by the statsmodels baseline (scaled up)")
    parser.add_argument("--baseline-replicates", type=int, default=5, help="bootstrap replicates for the statsmodels baseline (scaled up)")
    args = parser.parse_args()
    import statsmodels.api  # noqa: F401 - imported before timing (several seconds without a bytecode cache)

    print(f"MSE benchmark; load average at start: {load()} on {os.cpu_count()} cores")
    bench_exhaustive(args.baseline_models)
    bench_bootstrap(args.replicates, args.baseline_replicates)
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
