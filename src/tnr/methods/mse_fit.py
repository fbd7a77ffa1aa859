"""Fitting Poisson log-linear models to capture histories, many at once, with the sparse-data
checks of Fienberg & Rinaldo (2012) and Chan, Silverman & Vincent (2021).

Two fitters give the same maximum-likelihood fit:

* ``statsmodels`` (``sm.GLM`` with a Poisson family) is the reference. The estimate a user is
  shown comes from it.
* ``numpy``: iteratively reweighted least squares written here, run on a whole batch of
  (model, data) pairs at once. A model search fits thousands of small models (6 lists up to
  order 2: 32,768 models of at most 22 parameters on 63 cells) and a bootstrap repeats the
  search for every replicate; statsmodels spends milliseconds of Python overhead per fit, the
  batch spends microseconds. ``tests/methods/test_mse_fit.py`` shows both give the same fit.

Sparse tables. A term whose *margin* (number of observed cases whose history contains it) is
zero has extended-MLE value minus infinity: it is dropped, and so are the cells that contain it
(their fitted value is zero). With what remains, a model is usable only if

* its parameters are identifiable: the design restricted to the kept cells has full column
  rank (status ``NOT_IDENTIFIABLE`` otherwise), and
* its maximum-likelihood estimate exists (Fienberg & Rinaldo's condition): no direction of
  the parameters lowers the fitted value of some zero cells towards nought without changing
  the others. When it fails the likelihood rises forever along that direction and the
  estimated number of unrecorded cases runs off to infinity or is undefined (status
  ``NO_FINITE_ESTIMATE``).

The existence check is cheap in the common case: if the design restricted to the cells with a
positive count already has full column rank, no such direction exists. Only otherwise is the
direction sought, by the sign of the single null vector when there is one, or by a small
linear program (scipy/HiGHS) when there are several.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.special import gammaln

OK = 0
NO_FINITE_ESTIMATE = 1
NOT_IDENTIFIABLE = 2
# 3 = both conditions fail (the two checks are independent, as in Chan et al.)
DID_NOT_CONVERGE = 4

STATUS_TEXT = {
    OK: "fitted",
    NO_FINITE_ESTIMATE: "no finite estimate (maximum-likelihood estimate does not exist)",
    NOT_IDENTIFIABLE: "not identifiable (parameters not estimable from the observed cells)",
    NO_FINITE_ESTIMATE | NOT_IDENTIFIABLE: "neither identifiable nor finite",
    DID_NOT_CONVERGE: "fit did not converge",
}

# Relative tolerance for calling an eigenvalue of a Gram matrix of 0/1 columns zero.
_RANK_TOL = 1e-10
# Entries per batch: bounds memory to a few tens of MB (B x P x C float64 intermediates).
_CHUNK = 4096
_MAX_ETA = 700.0  # exp(700) is near float64's limit; beyond it the fit has diverged


@dataclass
class Screen:
    """Outcome of the sparse-data checks for a batch of (model, data) entries."""

    status: np.ndarray  # (B,) int8
    param_keep: np.ndarray  # (B, P) bool: model terms with a positive margin
    cell_keep: np.ndarray  # (B, C) bool: cells not containing a zero-margin model term
    minus_infinity: np.ndarray  # (B, P) bool: model terms fixed at minus infinity


@functools.lru_cache(maxsize=32)
def _outer(X_bytes: bytes, C: int, P: int) -> np.ndarray:
    X = np.frombuffer(X_bytes, dtype=np.float64).reshape(C, P)
    return (X[:, :, None] * X[:, None, :]).reshape(C, P * P)


def _gram(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``X' diag(w_b) X`` for every row ``w_b`` of ``weights``.

    Written as one matrix product ``weights @ Q`` where row c of Q is the flattened outer
    product of cell c's design row (cached per design): a single BLAS call for the whole
    batch, about seven times faster than broadcasting ``X' * w`` and multiplying.
    """
    C, P = X.shape
    Q = _outer(X.tobytes(), C, P)
    return (weights @ Q).reshape(weights.shape[0], P, P)


class _Shared:
    """All entries share one design X (C, P); products are single BLAS calls."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X

    def sub(self, rows: np.ndarray) -> _Shared:
        return self

    def gram(self, w: np.ndarray) -> np.ndarray:
        return _gram(self.X, w)

    def xty(self, v: np.ndarray) -> np.ndarray:
        return v @ self.X

    def xb(self, beta: np.ndarray) -> np.ndarray:
        return beta @ self.X.T

    def dense(self, b: int) -> np.ndarray:
        return self.X


class _Gathered:
    """Each entry has its own compact design (its model's columns only, zero-padded to the
    widest in the batch): (B, C, p). Used when a batch mixes many models of few terms each
    (a downhill round), where the shared design would carry every candidate column."""

    def __init__(self, XE: np.ndarray) -> None:
        self.XE = XE

    def sub(self, rows: np.ndarray) -> _Gathered:
        return _Gathered(self.XE[rows])

    def gram(self, w: np.ndarray) -> np.ndarray:
        XE = self.XE
        return np.matmul(XE.transpose(0, 2, 1) * w[:, None, :], XE)

    def xty(self, v: np.ndarray) -> np.ndarray:
        return np.einsum("bc,bcp->bp", v, self.XE)

    def xb(self, beta: np.ndarray) -> np.ndarray:
        return np.einsum("bcp,bp->bc", self.XE, beta)

    def dense(self, b: int) -> np.ndarray:
        return self.XE[b]


_Op = _Shared | _Gathered


class _Mask:
    """Restricts Gram matrices to kept parameters; dropped ones get an identity block so the
    matrices stay square and invertible, and their zero eigenvalues mean rank deficiency
    among the kept terms only."""

    def __init__(self, keep: np.ndarray) -> None:
        kf = keep.astype(np.float64)
        self.outer = kf[:, :, None] * kf[:, None, :]
        self.fill = 1.0 - kf

    def apply(self, G: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        G *= self.outer[rows]
        idx = np.arange(G.shape[1])
        G[:, idx, idx] += self.fill[rows]
        return G


def _masked(G: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return _Mask(keep).apply(G)


def _rank_deficiency(G: np.ndarray) -> np.ndarray:
    """Number of ~zero eigenvalues of each symmetric Gram matrix."""
    values = np.linalg.eigvalsh(G)
    scale = np.maximum(values[:, -1], 1.0)
    return (values <= _RANK_TOL * scale[:, None]).sum(axis=1)


def _direction_exists(Xz: np.ndarray, Xp: np.ndarray) -> bool:
    """Is there beta with Xp beta = 0, Xz beta <= 0 and Xz beta != 0? (Fienberg-Rinaldo
    failure.) A feasibility linear program, normalised by sum(Xz beta) = -1."""
    n = Xz.shape[1]
    A_eq = np.vstack([Xp, Xz.sum(axis=0, keepdims=True)]) if Xp.size else Xz.sum(axis=0, keepdims=True)
    b_eq = np.zeros(A_eq.shape[0])
    b_eq[-1] = -1.0
    res = linprog(
        np.zeros(n), A_ub=Xz, b_ub=np.zeros(Xz.shape[0]), A_eq=A_eq, b_eq=b_eq,
        bounds=[(None, None)] * n, method="highs",
    )
    return bool(res.status == 0)


def screen(X: np.ndarray | _Op, Y: np.ndarray, models: np.ndarray, full_status: bool = False) -> Screen:
    """Apply the extended-MLE checks to each entry (row of ``Y`` with the model in the same
    row of ``models``).

    ``full_status`` also settles existence for non-identifiable entries (status 3 vs 2), as
    Chan et al.'s ``checkident`` reports it; searches skip that work since both are excluded.
    """
    op = _Shared(X) if isinstance(X, np.ndarray) else X
    B, _C = Y.shape
    margins = op.xty(Y)  # (B, P): cases whose history contains each term
    minus_inf = models & (margins <= 0)
    param_keep = models & ~minus_inf
    cell_keep = op.xb(minus_inf.astype(np.float64)) <= 0
    positive = cell_keep & (Y > 0)
    zero_cells = cell_keep & (Y <= 0)
    status = np.zeros(B, dtype=np.int8)

    # Fast path: the positive cells alone pin down every kept parameter.
    G_pos = _masked(op.gram(positive.astype(np.float64)), param_keep)
    r_pos = _rank_deficiency(G_pos)
    suspect = np.flatnonzero(r_pos > 0)
    if suspect.size == 0:
        return Screen(status, param_keep, cell_keep, minus_inf)

    r_kept = _rank_deficiency(_masked(op.sub(suspect).gram(cell_keep[suspect].astype(np.float64)), param_keep[suspect]))
    _, vectors = np.linalg.eigh(G_pos[suspect])
    for j, b in enumerate(suspect):
        identifiable = r_kept[j] == 0
        if not identifiable:
            status[b] |= NOT_IDENTIFIABLE
            if not full_status:
                continue
        cols = np.flatnonzero(param_keep[b])
        Xb = op.dense(int(b))
        Xz = Xb[np.ix_(np.flatnonzero(zero_cells[b]), cols)]
        if Xz.shape[0] == 0:
            continue  # no zero cell to drive to nought: the MLE exists
        if identifiable and r_pos[b] == 1:
            # One null direction v of the positive cells: the MLE fails to exist iff moving
            # along +v or -v lowers some zero cells and raises none.
            v = vectors[j][:, 0][cols]
            d = Xz @ v
            tiny = 1e-8 * max(1.0, float(np.abs(d).max()))
            if np.all(d <= tiny) or np.all(d >= -tiny):
                status[b] |= NO_FINITE_ESTIMATE
            continue
        Xp = Xb[np.ix_(np.flatnonzero(positive[b]), cols)]
        if _direction_exists(Xz, Xp):
            status[b] |= NO_FINITE_ESTIMATE
    return Screen(status, param_keep, cell_keep, minus_inf)


@dataclass
class Fits:
    """Maximum-likelihood fits for a batch of entries (NaN where not fitted)."""

    beta: np.ndarray  # (B, P); 0 for dropped terms, -inf for minus-infinity terms is implied
    loglik: np.ndarray  # (B,)
    converged: np.ndarray  # (B,) bool
    iterations: np.ndarray  # (B,) int


def irls(
    X: np.ndarray | _Op,
    Y: np.ndarray,
    cell_keep: np.ndarray,
    param_keep: np.ndarray,
    beta0: np.ndarray | None = None,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> Fits:
    """Poisson log-linear maximum likelihood by IRLS for every row of ``Y`` at once.

    Same algorithm as a GLM fitter (weights = fitted means, working response
    ``eta + (y - mu) / mu``), started from ``mu = y + 1/2`` (R's ``glm`` starts from
    ``y + 0.1``) or, when ``beta0`` is given, from those coefficients (a bootstrap replicate
    starts from the original data's fit and needs a few iterations instead of ten); entries
    that a warm start fails to bring to convergence are refitted from the cold start. An
    entry leaves the batch once its deviance changes by less than ``tol`` relative, which
    keeps late iterations cheap.
    """
    op = _Shared(X) if isinstance(X, np.ndarray) else X
    B, _C = Y.shape
    P = param_keep.shape[1]
    fits = Fits(np.zeros((B, P)), np.full(B, np.nan), np.zeros(B, dtype=bool), np.zeros(B, dtype=np.int64))
    for start in range(0, B, _CHUNK):
        idx = np.arange(start, min(B, start + _CHUNK))
        b0 = None if beta0 is None else beta0[idx]
        _irls_chunk(op.sub(idx), Y[idx], cell_keep[idx], param_keep[idx], b0, tol, max_iter, fits, idx)
        if beta0 is not None:
            retry = idx[~fits.converged[idx]]
            if retry.size:
                _irls_chunk(op.sub(retry), Y[retry], cell_keep[retry], param_keep[retry], None, tol, max_iter, fits, retry)
    return fits


def _irls_chunk(
    op: _Op, y: np.ndarray, cell_keep: np.ndarray, param_keep: np.ndarray,
    beta0: np.ndarray | None, tol: float, max_iter: int, out: Fits, idx: np.ndarray,
) -> None:
    keep = cell_keep.astype(np.float64)
    mask = _Mask(param_keep)
    pk = param_keep.astype(np.float64)
    if beta0 is None:
        mu = (y + 0.5) * keep
        eta = np.log(np.where(keep > 0, mu, 1.0)) * keep
    else:
        eta = np.clip(op.xb(beta0 * pk), -_MAX_ETA, _MAX_ETA) * keep
        mu = np.exp(eta) * keep
    dev_old = np.full(len(idx), np.inf)
    converged = np.zeros(len(idx), dtype=bool)
    live = np.arange(len(idx))
    for it in range(1, max_iter + 1):
        yl, kl, ml, el = y[live], keep[live], mu[live], eta[live]
        # Weighted least squares with weights mu and working response eta + (y - mu)/mu,
        # written without the division: w z = mu eta + (y - mu).
        w = ml * kl
        wz = w * el + (yl - ml) * kl
        op_l = op.sub(live)
        H = mask.apply(op_l.gram(w), live)
        rhs = op_l.xty(wz) * pk[live]
        try:
            b_new = np.linalg.solve(H, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            b_new = np.stack([np.linalg.lstsq(H[i], rhs[i], rcond=None)[0] for i in range(live.size)])
        e_new = op_l.xb(b_new) * kl
        finite = np.isfinite(e_new).all(axis=1) & (e_new.max(axis=1) < _MAX_ETA)
        e_new[~finite] = 0.0
        m_new = np.exp(e_new) * kl
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(yl > 0, yl * np.log(yl / np.where(m_new > 0, m_new, 1.0)), 0.0)
        dev = 2.0 * (term - (yl - m_new) * kl).sum(axis=1)
        out.beta[idx[live]] = b_new
        mu[live], eta[live] = m_new, e_new
        out.iterations[idx[live]] = it
        done = finite & (np.abs(dev - dev_old[live]) <= tol * (np.abs(dev) + 0.1))
        converged[live[done]] = True
        dev_old[live] = dev
        live = live[~(done | ~finite)]
        if live.size == 0:
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = (np.where(keep > 0, y * np.log(np.where(mu > 0, mu, 1.0)) - mu, 0.0)).sum(axis=1)
    ll -= gammaln(y + 1.0).sum(axis=1)
    out.loglik[idx] = np.where(converged, ll, np.nan)
    out.converged[idx] = converged


@dataclass
class StatsmodelsFit:
    """One model fitted by statsmodels on its kept cells and parameters."""

    beta: np.ndarray  # (P,) full length, zeros for dropped terms
    loglik: float
    converged: bool
    var_intercept: float  # variance of the intercept (log of the unrecorded cell)
    result: object  # the statsmodels GLMResults, for inspection


def fit_statsmodels(X: np.ndarray, y: np.ndarray, cell_keep: np.ndarray, param_keep: np.ndarray) -> StatsmodelsFit:
    """Reference fit with ``statsmodels.api.GLM(..., family=Poisson())``."""
    import warnings

    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    rows = np.flatnonzero(cell_keep)
    cols = np.flatnonzero(param_keep)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            res = sm.GLM(y[rows], X[np.ix_(rows, cols)], family=sm.families.Poisson()).fit(tol=1e-12, maxiter=200)
            converged = bool(res.converged)
        except ConvergenceWarning:
            return StatsmodelsFit(np.full(X.shape[1], np.nan), math.nan, False, math.nan, None)
    beta = np.zeros(X.shape[1])
    beta[cols] = res.params
    cov = np.asarray(res.cov_params())
    return StatsmodelsFit(beta, float(res.llf), converged, float(cov[0, 0]), res)


# Entries sharing a model are fitted on that model's own columns when there are at least this
# many of them (a bootstrap fits each candidate model to every replicate): the Gram matrices
# then cost C*p^2 instead of C*P^2, seven times less for a 14-term model among 37 columns.
_GROUP_MIN = 16


def fit_batch(
    X: np.ndarray, Y: np.ndarray, models: np.ndarray, fitter: str = "numpy",
    full_status: bool = False, beta0: np.ndarray | None = None,
) -> tuple[Screen, Fits]:
    """Screen and fit every (row of ``Y``, row of ``models``) entry. Entries that fail a check
    are not fitted (NaN log-likelihood). ``fitter`` is ``"numpy"`` or ``"statsmodels"``;
    ``beta0`` gives warm starts for the numpy fitter.

    Entries are fitted in three ways, for speed only (the fit is the same): entries sharing
    a model in large numbers on that model's columns; the others on the full design when
    their models are wide, or each on its own gathered columns when they are narrow.
    """
    if fitter not in ("numpy", "statsmodels"):
        raise ValueError(f"fitter must be 'numpy' or 'statsmodels', not {fitter!r}")
    B, P = models.shape
    C = X.shape[0]
    sc = Screen(np.zeros(B, dtype=np.int8), np.zeros((B, P), dtype=bool), np.ones((B, C), dtype=bool), np.zeros((B, P), dtype=bool))
    fits = Fits(np.zeros((B, P)), np.full(B, np.nan), np.zeros(B, dtype=bool), np.zeros(B, dtype=np.int64))
    if B == 0:
        return sc, fits
    uniq, inv, counts = np.unique(models, axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    order = np.argsort(inv, kind="stable")
    ends = np.cumsum(counts)
    rest: list[np.ndarray] = []
    for u in range(uniq.shape[0]):
        entries = order[ends[u] - counts[u]: ends[u]]
        if counts[u] < _GROUP_MIN and uniq.shape[0] > 1:
            rest.append(entries)
            continue
        cols = np.flatnonzero(uniq[u])
        op = _Shared(np.ascontiguousarray(X[:, cols]))
        for part in _chunks(entries, C * cols.size):
            b0 = None if beta0 is None else beta0[np.ix_(part, cols)]
            psc, pf = _fit_part(op, Y[part], np.ones((part.size, cols.size), dtype=bool), fitter, full_status, b0)
            _scatter(sc, fits, psc, pf, part, np.broadcast_to(cols, (part.size, cols.size)), P)
    if rest:
        entries = np.concatenate(rest)
        widths = models[entries].sum(axis=1)
        p_max = int(widths.max())
        if 2 * p_max * p_max > P * P:
            op_full = _Shared(X)
            for part in _chunks(entries, C * P):
                b0 = None if beta0 is None else beta0[part]
                psc, pf = _fit_part(op_full, Y[part], models[part], fitter, full_status, b0)
                _scatter(sc, fits, psc, pf, part, np.broadcast_to(np.arange(P), (part.size, P)), P)
        else:
            Xpad = np.hstack([X, np.zeros((C, 1))])
            for part in _chunks(entries, C * p_max):
                colidx = np.full((part.size, p_max), P)
                for i, e in enumerate(part):
                    c = np.flatnonzero(models[e])
                    colidx[i, : c.size] = c
                valid = colidx < P
                op_g = _Gathered(np.ascontiguousarray(Xpad[:, colidx].transpose(1, 0, 2)))
                b0 = None
                if beta0 is not None:
                    b0 = np.where(valid, np.take_along_axis(np.hstack([beta0[part], np.zeros((part.size, 1))]), colidx, axis=1), 0.0)
                psc, pf = _fit_part(op_g, Y[part], valid, fitter, full_status, b0)
                _scatter(sc, fits, psc, pf, part, colidx, P)
    return sc, fits


def _chunks(entries: np.ndarray, floats_per_entry: int) -> list[np.ndarray]:
    """Split entries so that per-entry (C x p) arrays stay near 100 MB."""
    size = max(64, min(_CHUNK, int(12_000_000 // max(1, floats_per_entry))))
    return [entries[i: i + size] for i in range(0, entries.size, size)]


def _scatter(sc: Screen, fits: Fits, part_sc: Screen, part_fits: Fits, entries: np.ndarray, colidx: np.ndarray, P: int) -> None:
    """Copy a part's results (in its own columns ``colidx[i]`` per entry; ``P`` = padding)
    back into the batch's full-width arrays."""
    sc.status[entries] = part_sc.status
    sc.cell_keep[entries] = part_sc.cell_keep
    fits.loglik[entries] = part_fits.loglik
    fits.converged[entries] = part_fits.converged
    fits.iterations[entries] = part_fits.iterations
    rows = np.broadcast_to(entries[:, None], colidx.shape)
    valid = colidx < P
    r, c = rows[valid], colidx[valid]
    sc.param_keep[r, c] = part_sc.param_keep[valid]
    sc.minus_infinity[r, c] = part_sc.minus_infinity[valid]
    fits.beta[r, c] = part_fits.beta[valid]


def _fit_part(
    op: _Op, Y: np.ndarray, models: np.ndarray, fitter: str, full_status: bool, beta0: np.ndarray | None,
) -> tuple[Screen, Fits]:
    sc = screen(op, Y, models, full_status=full_status)
    ok = np.flatnonzero(sc.status == OK)
    B, P = models.shape
    fits = Fits(np.zeros((B, P)), np.full(B, np.nan), np.zeros(B, dtype=bool), np.zeros(B, dtype=np.int64))
    if ok.size:
        if fitter == "numpy":
            f = irls(op.sub(ok), Y[ok], sc.cell_keep[ok], sc.param_keep[ok], None if beta0 is None else beta0[ok])
            fits.beta[ok], fits.loglik[ok], fits.converged[ok], fits.iterations[ok] = f.beta, f.loglik, f.converged, f.iterations
        else:
            for b in ok:
                s = fit_statsmodels(op.dense(int(b)), Y[b], sc.cell_keep[b], sc.param_keep[b])
                fits.beta[b], fits.loglik[b], fits.converged[b] = s.beta, s.loglik, s.converged
    diverged = (sc.status == OK) & ~(fits.converged & np.isfinite(fits.loglik))
    sc.status[diverged] = DID_NOT_CONVERGE
    return sc, fits
