"""Model selection (exhaustive and downhill) and the bootstrap that repeats it.

A :class:`Selector` picks, for each row of a count matrix ``Y`` (the observed table, its
bootstrap replicates or its jackknife tables), the admissible model with the smallest BIC or
AIC, and returns its estimate. Rows are processed together: the exhaustive search fits every
(row, model) pair in batches; the downhill search moves all rows in lock-step, one round of
neighbours per step, so a round for a thousand replicates is one batched fit.

The criteria follow Silverman, Chan & Vincent (2024) and Rcapture: ``BIC = p log(n) - 2 l``
and ``AIC = 2 p - 2 l`` where ``l`` is the Poisson log-likelihood (with its ``log y!``
terms), ``n`` the number of observed cases and ``p`` the number of parameters of the model as
specified, counting those fixed at minus infinity.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from tnr.methods import mse_fit
from tnr.methods.mse_models import Design, Model, neighbours

CRITERIA = ("bic", "aic")
SEARCHES = ("exhaustive", "downhill")


@dataclass
class Evaluation:
    """Status, estimate and criterion of each (row, model) entry of a batch."""

    status: np.ndarray
    estimate: np.ndarray
    criterion: np.ndarray
    beta: np.ndarray
    loglik: np.ndarray


def criterion_values(loglik: np.ndarray, n_params: np.ndarray, n_obs: np.ndarray, criterion: str) -> np.ndarray:
    """BIC or AIC from log-likelihoods (NaN stays NaN)."""
    if criterion == "bic":
        return n_params * np.log(n_obs) - 2.0 * loglik
    return 2.0 * n_params - 2.0 * loglik


def evaluate(
    design: Design,
    Y: np.ndarray,
    masks: np.ndarray,
    criterion: str,
    fitter: str = "numpy",
    beta0: np.ndarray | None = None,
) -> Evaluation:
    """Screen and fit each entry (row ``i`` of ``Y`` with row ``i`` of ``masks``)."""
    sc, fits = mse_fit.fit_batch(design.X, Y, masks, fitter=fitter, beta0=beta0)
    ok = sc.status == mse_fit.OK
    n_obs = Y.sum(axis=1)
    with np.errstate(over="ignore"):
        est = np.where(ok, n_obs + np.exp(np.where(ok, fits.beta[:, 0], 0.0)), np.nan)
    # an estimate that overflows is a fit that ran off to infinity: count it as not converged
    sc.status[ok & ~np.isfinite(est)] = mse_fit.DID_NOT_CONVERGE
    crit = criterion_values(fits.loglik, masks.sum(axis=1).astype(np.float64), n_obs, criterion)
    crit = np.where(ok & np.isfinite(est), crit, np.nan)
    return Evaluation(sc.status, est, crit, fits.beta, fits.loglik)


@dataclass
class Selection:
    """What a search chose for each row (NaN estimate and model None where nothing fitted)."""

    estimate: np.ndarray
    criterion: np.ndarray
    models: list[Model | None]
    fitted: np.ndarray  # models fitted per row
    considered: np.ndarray  # models looked at per row
    excluded: list[dict[int, int]] = field(default_factory=list)  # status -> count, per row


@dataclass
class Selector:
    """Selects a model for each row of a count matrix by ``criterion`` among hierarchical
    models of ``design``'s order, exhaustively over ``candidates`` or by downhill search."""

    design: Design
    criterion: str
    search: str
    candidates: Sequence[Model] = ()
    start_beta: np.ndarray | None = None  # (len(candidates), P) warm starts for the bootstrap
    main_beta: np.ndarray | None = None  # (P,) main-effects fit on the observed table (downhill)
    fitter: str = "numpy"
    max_steps: int = 20
    entries_per_batch: int = 40_000
    _mask_cache: dict[Model, np.ndarray] = field(default_factory=dict, repr=False)
    _neighbour_cache: dict[Model, list[Model]] = field(default_factory=dict, repr=False)

    def select(self, Y: np.ndarray) -> Selection:
        """Run the search on every row of ``Y`` (rows = count vectors over the cells)."""
        Y = np.asarray(Y, dtype=np.float64)
        if self.search == "exhaustive":
            return self._exhaustive(Y)
        return self._downhill(Y)

    # -- exhaustive ------------------------------------------------------------------------
    def _exhaustive(self, Y: np.ndarray) -> Selection:
        R = Y.shape[0]
        M = len(self.candidates)
        masks = self.design.masks(self.candidates)
        best_crit = np.full(R, np.inf)
        best_est = np.full(R, np.nan)
        best_idx = np.full(R, -1)
        fitted = np.zeros(R, dtype=np.int64)
        excluded = [dict[int, int]() for _ in range(R)]
        rows_per_batch = max(1, self.entries_per_batch // max(M, 1))
        for r0 in range(0, R, rows_per_batch):
            rows = np.arange(r0, min(R, r0 + rows_per_batch))
            rr = np.repeat(rows, M)
            mm = np.tile(np.arange(M), rows.size)
            b0 = None if self.start_beta is None else self.start_beta[mm]
            ev = evaluate(self.design, Y[rr], masks[mm], self.criterion, self.fitter, beta0=b0)
            crit = np.where(np.isnan(ev.criterion), np.inf, ev.criterion).reshape(rows.size, M)
            est = ev.estimate.reshape(rows.size, M)
            status = ev.status.reshape(rows.size, M)
            pick = np.argmin(crit, axis=1)  # ties -> first candidate, i.e. the simpler model
            for j, r in enumerate(rows):
                fitted[r] = int((status[j] == mse_fit.OK).sum())
                for s, c in zip(*np.unique(status[j], return_counts=True), strict=True):
                    if s != mse_fit.OK:
                        excluded[r][int(s)] = int(c)
                if np.isfinite(crit[j, pick[j]]):
                    best_crit[r], best_est[r], best_idx[r] = crit[j, pick[j]], est[j, pick[j]], pick[j]
        models: list[Model | None] = [self.candidates[i] if i >= 0 else None for i in best_idx]
        best_crit[~np.isfinite(best_crit)] = np.nan
        return Selection(best_est, best_crit, models, fitted, np.full(R, M), excluded)

    # -- downhill --------------------------------------------------------------------------
    def _mask(self, model: Model) -> np.ndarray:
        m = self._mask_cache.get(model)
        if m is None:
            m = self._mask_cache[model] = self.design.mask(model)
        return m

    def _neighbours(self, model: Model) -> list[Model]:
        n = self._neighbour_cache.get(model)
        if n is None:
            n = self._neighbour_cache[model] = neighbours(model, self.design.k, self.design.max_order)
        return n

    def _downhill(self, Y: np.ndarray) -> Selection:
        """Silverman, Chan & Vincent's downhill search, for all rows in lock-step.

        Start from main effects; at each step fit every neighbour not yet looked at (add an
        interaction, or drop a generator) and move to the best if it beats the current
        criterion; stop when none does or after ``max_steps`` steps.
        """
        R = Y.shape[0]
        start: Model = frozenset()
        current: list[Model] = [start] * R
        seen: list[set[Model]] = [{start} for _ in range(R)]
        b_start = None if self.main_beta is None else np.repeat(self.main_beta[None, :], R, axis=0)
        ev0 = evaluate(self.design, Y, np.repeat(self._mask(start)[None], R, axis=0), self.criterion, self.fitter, beta0=b_start)
        best_crit = np.where(np.isnan(ev0.criterion), np.inf, ev0.criterion)
        best_est = ev0.estimate.copy()
        # Each row's current fit warm-starts its neighbours' fits (one term more or less).
        best_beta = ev0.beta.copy()
        fitted = (ev0.status == mse_fit.OK).astype(np.int64)
        considered = np.ones(R, dtype=np.int64)
        excluded = [dict[int, int]() for _ in range(R)]
        for bad in np.flatnonzero(ev0.status != mse_fit.OK):
            excluded[int(bad)][int(ev0.status[bad])] = 1
        active = list(range(R))
        for _step in range(self.max_steps):
            entry_rows: list[int] = []
            entry_models: list[Model] = []
            for r in active:
                for nb in self._neighbours(current[r]):
                    if nb not in seen[r]:
                        entry_rows.append(r)
                        entry_models.append(nb)
            if not entry_rows:
                break
            rows_arr = np.array(entry_rows)
            masks = np.stack([self._mask(m) for m in entry_models])
            ev = evaluate(self.design, Y[rows_arr], masks, self.criterion, self.fitter, beta0=best_beta[rows_arr])
            crit = np.where(np.isnan(ev.criterion), np.inf, ev.criterion)
            still: list[int] = []
            # entries are grouped by row, in the order rows were appended
            bounds = np.flatnonzero(np.r_[True, rows_arr[1:] != rows_arr[:-1], True])
            for a, b in itertools.pairwise(bounds):
                row = int(rows_arr[a])
                seen[row].update(entry_models[a:b])
                considered[row] += b - a
                st = ev.status[a:b]
                fitted[row] += int((st == mse_fit.OK).sum())
                for s in st[st != mse_fit.OK]:
                    excluded[row][int(s)] = excluded[row].get(int(s), 0) + 1
                j = a + int(np.argmin(crit[a:b]))
                if crit[j] < best_crit[row]:
                    best_crit[row], best_est[row], current[row] = crit[j], ev.estimate[j], entry_models[j]
                    best_beta[row] = ev.beta[j]
                    still.append(row)
            active = still
            if not active:
                break
        ok = np.isfinite(best_crit)
        models: list[Model | None] = [current[r] if ok[r] else None for r in range(R)]
        best_est[~ok] = np.nan
        return Selection(best_est, np.where(ok, best_crit, np.nan), models, fitted, considered, excluded)


# -- bootstrap -------------------------------------------------------------------------------


@dataclass
class BootstrapRun:
    """Raw bootstrap and jackknife output, kept for intervals and for stratified totals."""

    estimates: np.ndarray  # (B,) selected estimate per replicate, NaN where none fitted
    jackknife: np.ndarray  # (C,) estimate with one case removed from cell c (NaN if count 0)
    counts: np.ndarray  # (C,) observed counts (jackknife weights)
    point: float  # estimate on the observed table (same selector)


def resample(counts: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial bootstrap tables: n cases drawn with replacement from the observed ones."""
    n = int(counts.sum())
    return rng.multinomial(n, counts / n, size=replicates).astype(np.float64)


def jackknife_tables(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One table per cell with a positive count, with one case removed from that cell; the
    jackknife over cases needs only these, each standing for ``count`` identical deletions."""
    cells = np.flatnonzero(counts > 0)
    Y = np.repeat(counts[None, :].astype(np.float64), cells.size, axis=0)
    Y[np.arange(cells.size), cells] -= 1
    return Y, cells


def run_bootstrap(selector: Selector, counts: np.ndarray, point: float, replicates: int, rng: np.random.Generator) -> BootstrapRun:
    """Bootstrap with the model re-selected in every replicate, plus the jackknife for BCa."""
    boot = selector.select(resample(counts, replicates, rng)).estimate
    Yj, cells = jackknife_tables(counts)
    jack = np.full(counts.size, np.nan)
    jack[cells] = selector.select(Yj).estimate
    return BootstrapRun(boot, jack, counts.astype(np.float64), point)


def quantiles(values: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Sample quantiles by Hyndman & Fan's type 8 (R's choice in Chan et al.'s BCa code)."""
    return np.quantile(values, probs, method="median_unbiased")


def acceleration(jackknife: np.ndarray, counts: np.ndarray) -> float:
    """BCa acceleration from the case-deletion jackknife, each cell weighted by its count
    (Efron 1987; as in Chan, Silverman & Vincent 2021). NaN if a deletion had no estimate."""
    pos = counts > 0
    if not np.all(np.isfinite(jackknife[pos])):
        return math.nan
    w, j = counts[pos], jackknife[pos]
    d = (w * j).sum() / w.sum() - j
    denom = (w * d**2).sum()
    if denom <= 0:
        return 0.0
    return float((w * d**3).sum() / (6.0 * denom**1.5))


@dataclass
class Interval:
    lower: float
    upper: float


def percentile_interval(boot: np.ndarray, level: float) -> Interval | None:
    good = boot[np.isfinite(boot)]
    if good.size == 0:
        return None
    lo, hi = quantiles(good, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Interval(float(lo), float(hi))


def bca_interval(boot: np.ndarray, point: float, accel: float, level: float) -> tuple[Interval | None, float, str]:
    """BCa interval (Efron 1987). Returns (interval or None, bias correction z0, reason when
    None)."""
    good = boot[np.isfinite(boot)]
    if good.size == 0:
        return None, math.nan, "no bootstrap replicate gave an estimate"
    if not math.isfinite(accel):
        return None, math.nan, "the jackknife could not estimate the acceleration (a one-case deletion left a table with no admissible model)"
    below = float(np.mean(good < point))
    if below <= 0.0 or below >= 1.0:
        return None, math.nan, "every bootstrap estimate lies on one side of the point estimate, so the bias correction is infinite"
    z0 = float(norm.ppf(below))
    za = norm.ppf([(1 - level) / 2, 1 - (1 - level) / 2])
    adj = norm.cdf(z0 + (z0 + za) / (1 - accel * (z0 + za)))
    lo, hi = quantiles(good, adj)
    return Interval(float(lo), float(hi)), z0, ""
