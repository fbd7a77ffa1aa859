"""Multiple systems estimation (MSE): how many cases happened that no list recorded?

Several organisations each keep a list of cases (victims, incidents). Once the lists are
linked, each case has a *capture history*: the set of lists that recorded it. The counts of
cases per history form a capture-history table; this module estimates from it the total
number of cases, recorded or not, with Poisson log-linear models (Fienberg 1972; Bishop,
Fienberg & Holland 1975), as human-rights statisticians do (e.g. Ball et al. 2002 for Kosovo;
Silverman 2020 for modern slavery).

Typical use::

    table = CaptureTable.from_csv("kosovo.csv")          # lists as 0/1 columns, then count
    result = estimate(table, criterion="bic", max_order=3, bootstrap=1000, seed=1)
    result.estimate, result.ci_lower, result.ci_upper, result.model

    # from linked records: one set of list names per cluster (person or incident)
    table = CaptureTable.from_clusters([{"A", "B"}, {"A"}, {"C"}, ...], lists=["A", "B", "C"])

    # by year, perpetrator state or tactic group
    result = estimate_strata(stratify(clusters, years, lists=["A", "B", "C"]), bootstrap=1000, seed=1)

What it does (see docs/estimation.md for analysts):

* **Models.** Hierarchical log-linear models: main effects for every list, plus interactions
  ("A:B") that let lists be dependent, which is also how heterogeneity in how easily cases
  are recorded is absorbed. The interaction of all lists cannot be estimated (it would need
  the unobserved cell), so models go up to order k-1 at most.
* **Search.** ``exhaustive``: every hierarchical model up to ``max_order``; ``downhill``: the
  greedy search of Silverman, Chan & Vincent (2024) from main effects. The model with the
  smallest BIC (or AIC) is chosen.
* **Sparse tables.** Each model is checked for identifiability and for the existence of its
  estimate (Fienberg & Rinaldo 2012; Chan, Silverman & Vincent 2021) before it is fitted;
  models that fail are excluded and counted. A table where no model passes gets an
  :class:`EstimationError` that says why, never a number.
* **Intervals.** Bootstrap (multinomial resampling of the observed cases) that re-selects the
  model in every replicate, so the interval includes model-selection uncertainty
  (Silverman, Chan & Vincent 2024): BCa (Efron 1987) and percentile, seeded.
* **Chao's lower bound** (Chao 1987) alongside, from the cases seen on one and on two lists.

Fitting: statsmodels' GLM is the reference fitter and gives the reported point estimate; the
searches and bootstraps use the batched numpy IRLS of :mod:`tnr.methods.mse_fit`, which gives
the same fits (tested) far faster. Nothing here imports Django.
"""

from __future__ import annotations

import csv
import io
import json
import math
import secrets
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tnr.methods import mse_fit, mse_search
from tnr.methods.mse_models import (
    MAX_EXHAUSTIVE_MODELS,
    Model,
    count_hierarchical_models,
    design,
    enumerate_models,
    hierarchical_closure,
    is_hierarchical,
    model_names,
    model_order,
    parse_term,
    popcount,
    term_name,
)

__all__ = [
    "CRITERIA",
    "SEARCHES",
    "BootstrapSummary",
    "CaptureTable",
    "EstimateResult",
    "EstimationError",
    "MSEError",
    "ModelFit",
    "StratifiedResult",
    "TableError",
    "chao_lower_bound",
    "check_model",
    "default_max_order",
    "estimate",
    "estimate_strata",
    "fit_model",
    "stratify",
]

CRITERIA = mse_search.CRITERIA
SEARCHES = mse_search.SEARCHES
COUNT_COLUMN = "count"
MAX_LISTS = 15  # 2^15 - 1 cells; beyond that a table is mostly empty cells
MAX_REPORTED_PROBLEMS = 20
# Models kept for the bootstrap's re-selection after an exhaustive search: the best ones on
# the observed table. Silverman, Chan & Vincent (2024, Table 2) find the Kosovo interval
# unchanged from the 10 best models to all 113; 128 keeps every model for up to four lists.
DEFAULT_BOOTSTRAP_MODELS = 128


class MSEError(ValueError):
    """Base class: the input cannot give an estimate; the message says why and where."""


class TableError(MSEError):
    """The capture-history table itself is malformed (named row and column)."""


class EstimationError(MSEError):
    """The table is well formed but cannot support an estimate (or the requested one)."""


# ----------------------------------------------------------------------------------------
# The capture-history table
# ----------------------------------------------------------------------------------------


def _history_text(mask: int, lists: Sequence[str]) -> str:
    return ",".join(f"{name}={mask >> i & 1}" for i, name in enumerate(lists))


@dataclass(frozen=True)
class CaptureTable:
    """Counts of cases per capture history over ``lists``.

    ``counts[h - 1]`` is the number of cases recorded by exactly the lists whose bits are set
    in the history mask ``h`` (bit ``i`` = ``lists[i]``); the unobserved all-zero history is
    not stored. Build one with :meth:`from_csv`, :meth:`from_counts`, :meth:`from_clusters`
    or :meth:`from_matrix`; each validates its input and raises :class:`TableError`.
    """

    lists: tuple[str, ...]
    counts: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        k = len(self.lists)
        counts = np.asarray(self.counts)
        if counts.shape != ((1 << k) - 1,):
            raise TableError(f"{k} lists need {(1 << k) - 1} history counts, got shape {counts.shape}")
        if counts.size and (counts.min() < 0 or not np.all(np.floor(counts) == counts)):
            raise TableError("counts must be whole numbers >= 0")
        counts = counts.astype(np.int64)
        counts.setflags(write=False)
        object.__setattr__(self, "counts", counts)

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def from_csv(cls, path: str | Path) -> CaptureTable:
        """Read a table in the format of ``shared/data/mse/*.csv``: one 0/1 column per list,
        then ``count``; one row per observable history (zeros included), the all-zero
        history omitted (or given with count 0). Every problem found is reported at once,
        each with its line and column."""
        path = Path(path)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise TableError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise TableError(f"{path}: is a folder, not a CSV file") from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TableError(f"{path}: not UTF-8 text (byte {exc.start}); save the table as UTF-8 CSV") from None
        rows = list(csv.reader(io.StringIO(text)))
        return cls.from_rows(rows, source=str(path))

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], source: str = "table") -> CaptureTable:
        """Build from a header row and data rows (as read from a CSV file). Lines are
        numbered as in the file: the header is line 1."""
        problems: list[str] = []
        numbered = [(i + 1, list(r)) for i, r in enumerate(rows) if any(str(c).strip() for c in r)]
        if not numbered:
            raise TableError(f"{source}: empty file; expected a header such as 'A,B,C,count' and one row per capture history")
        header_line, header = numbered[0]
        names = [str(h).strip() for h in header]
        where = f"{source}, line {header_line}"
        if COUNT_COLUMN not in names:
            near = [n for n in names if n.lower() == COUNT_COLUMN]
            hint = f" (found {near[0]!r}: the name is lower-case 'count')" if near else ""
            raise TableError(f"{where}: no '{COUNT_COLUMN}' column{hint}; the header must be the list names, then 'count'")
        if names.count(COUNT_COLUMN) > 1:
            raise TableError(f"{where}: more than one '{COUNT_COLUMN}' column")
        count_col = names.index(COUNT_COLUMN)
        list_cols = [i for i in range(len(names)) if i != count_col]
        lists = [names[i] for i in list_cols]
        for i in list_cols:
            name = names[i]
            if not name:
                problems.append(f"{where}, column {i + 1}: empty column name; every list needs a name")
            elif ":" in name:
                problems.append(f"{where}, column {name!r}: ':' is reserved for interactions such as 'A:B'")
        dupes = sorted(n for n, c in Counter(lists).items() if c > 1 and n)
        for name in dupes:
            problems.append(f"{where}: column {name!r} appears more than once")
        if len(lists) < 2:
            raise TableError(f"{where}: fewer than two lists ({len(lists)}); multiple systems estimation needs at least two overlapping lists")
        if len(lists) > MAX_LISTS:
            raise TableError(f"{where}: {len(lists)} lists; at most {MAX_LISTS} are supported (merge small lists first)")
        if problems:
            raise TableError(_join(source, problems))

        k = len(lists)
        counts = np.zeros((1 << k) - 1, dtype=np.int64)
        first_line: dict[int, int] = {}
        for line, row in numbered[1:]:
            cells = [str(c).strip() for c in row]
            if len(cells) != len(names):
                problems.append(f"{source}, line {line}: {len(cells)} fields, the header has {len(names)}")
                continue
            mask, bad = 0, False
            for bit, col in enumerate(list_cols):
                value = cells[col]
                if value == "":
                    problems.append(f"{source}, line {line}, column {names[col]!r}: missing value; each list column needs 0 or 1")
                    bad = True
                elif value in ("0", "1"):
                    mask |= int(value) << bit
                else:
                    problems.append(
                        f"{source}, line {line}, column {names[col]!r}: {value!r} is not 0 or 1 "
                        f"(every column other than '{COUNT_COLUMN}' is read as a list; remove other columns)"
                    )
                    bad = True
            n = _parse_count(cells[count_col], f"{source}, line {line}, column '{COUNT_COLUMN}'", problems)
            if bad or n is None:
                continue
            if mask == 0:
                if n:
                    problems.append(
                        f"{source}, line {line}: the all-zero history (on no list) has count {n}; "
                        "cases on no list cannot have been counted, this cell is what MSE estimates"
                    )
                continue
            if mask in first_line:
                problems.append(
                    f"{source}, line {line}: duplicate history {_history_text(mask, lists)} "
                    f"(already on line {first_line[mask]}); give each history once"
                )
                continue
            first_line[mask] = line
            counts[mask - 1] = n
        if not problems:
            missing = [m for m in range(1, 1 << k) if m not in first_line]
            if missing:
                shown = "; ".join(_history_text(m, lists) for m in missing[:8])
                more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
                verb = "is" if len(missing) == 1 else "are"
                problems.append(
                    f"{source}: {len(missing)} of the {(1 << k) - 1} capture histories {verb} missing: "
                    f"{shown}{more}. List every history, with count 0 where no case has it"
                )
        if problems:
            raise TableError(_join(source, problems))
        return cls(tuple(lists), counts, source)

    @classmethod
    def from_counts(cls, counts: Mapping[Any, int], lists: Sequence[str], source: str = "counts") -> CaptureTable:
        """Build from ``{history: count}`` where a history is a tuple of 0/1 per list, or a
        collection of list names (``frozenset({"A", "B"})``). Histories not given count 0 —
        the form a linkage step returns (overlap counts per list combination)."""
        lists = _check_lists(lists, source)
        index = {name: i for i, name in enumerate(lists)}
        out = np.zeros((1 << len(lists)) - 1, dtype=np.int64)
        problems: list[str] = []
        for key, value in counts.items():
            mask = _key_mask(key, lists, index, problems, source)
            n = _parse_count(value, f"{source}, history {key!r}", problems)
            if mask is None or n is None:
                continue
            if mask == 0:
                if n:
                    problems.append(f"{source}: history {key!r} is on no list but has count {n}")
                continue
            out[mask - 1] += n
        if problems:
            raise TableError(_join(source, problems))
        return cls(tuple(lists), out, source)

    @classmethod
    def from_clusters(cls, clusters: Iterable[Collection[str]], lists: Sequence[str] | None = None, source: str = "linked records") -> CaptureTable:
        """Build from linked records: one collection of list names per cluster (the lists
        that recorded that person or incident). ``lists`` fixes the column order; when
        omitted, lists are taken in order of first appearance."""
        clusters = [set(c) if not isinstance(c, str) else {c} for c in clusters]
        if lists is None:
            seen: dict[str, None] = {}
            for c in clusters:
                for name in sorted(c):
                    seen.setdefault(name, None)
            lists = list(seen)
        lists = _check_lists(lists, source)
        index = {name: i for i, name in enumerate(lists)}
        out = np.zeros((1 << len(lists)) - 1, dtype=np.int64)
        problems: list[str] = []
        for n, c in enumerate(clusters):
            unknown = sorted(c - index.keys())
            if unknown:
                problems.append(f"{source}, cluster {n}: unknown list(s) {', '.join(map(repr, unknown))}; lists are {', '.join(lists)}")
                continue
            if not c:
                problems.append(f"{source}, cluster {n}: on no list; every linked cluster was recorded by at least one list")
                continue
            out[sum(1 << index[name] for name in c) - 1] += 1
        if problems:
            raise TableError(_join(source, problems))
        return cls(tuple(lists), out, source)

    @classmethod
    def from_matrix(cls, matrix: Any, lists: Sequence[str], source: str = "linked records") -> CaptureTable:
        """Build from a 0/1 matrix with one row per cluster and one column per list."""
        lists = _check_lists(lists, source)
        m = np.asarray(matrix)
        if m.ndim != 2 or m.shape[1] != len(lists):
            raise TableError(f"{source}: expected a matrix with {len(lists)} columns (one per list), got shape {m.shape}")
        problems: list[str] = []
        bad = np.argwhere((m != 0) & (m != 1))
        for r, c in bad[:MAX_REPORTED_PROBLEMS]:
            problems.append(f"{source}, row {r}, column {lists[c]!r}: {m[r, c].item()!r} is not 0 or 1")
        if problems:
            raise TableError(_join(source, problems))
        masks = (m.astype(np.int64) << np.arange(len(lists))).sum(axis=1)
        empty = np.flatnonzero(masks == 0)
        if empty.size:
            raise TableError(f"{source}: row {int(empty[0])} (and {empty.size - 1} more) is on no list; every cluster was recorded by at least one list")
        out = np.bincount(masks - 1, minlength=(1 << len(lists)) - 1).astype(np.int64)
        return cls(tuple(lists), out, source)

    # -- views -----------------------------------------------------------------------------
    @property
    def k(self) -> int:
        """Number of lists."""
        return len(self.lists)

    @property
    def observed(self) -> int:
        """Number of cases recorded by at least one list."""
        return int(self.counts.sum())

    def histories(self) -> list[tuple[tuple[int, ...], int]]:
        """``[(0/1 per list, count), ...]`` for every observable history."""
        return [
            (tuple((h >> i) & 1 for i in range(self.k)), int(c))
            for h, c in zip(range(1, 1 << self.k), self.counts, strict=True)
        ]

    def list_totals(self) -> dict[str, int]:
        """Cases on each list."""
        return {name: int(self.counts[[h - 1 for h in range(1, 1 << self.k) if h >> i & 1]].sum()) for i, name in enumerate(self.lists)}

    def drop_lists(self, names: Collection[str]) -> CaptureTable:
        """The table with some lists removed (their cases kept, counted by the other lists;
        cases recorded only by removed lists are dropped since they are no longer seen)."""
        keep = [i for i, n in enumerate(self.lists) if n not in names]
        out = np.zeros((1 << len(keep)) - 1, dtype=np.int64)
        for h in range(1, 1 << self.k):
            m = sum(((h >> i) & 1) << j for j, i in enumerate(keep))
            if m:
                out[m - 1] += self.counts[h - 1]
        return CaptureTable(tuple(self.lists[i] for i in keep), out, self.source)

    def to_csv(self) -> str:
        """The table as CSV text in the ``shared/data/mse`` format."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*self.lists, COUNT_COLUMN])
        for hist, c in sorted(self.histories(), key=lambda hc: tuple(-x for x in hc[0])):
            w.writerow([*hist, c])
        return buf.getvalue()


def _join(source: str, problems: list[str]) -> str:
    head = f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}, no estimate made"
    shown = problems[:MAX_REPORTED_PROBLEMS]
    tail = [f"... and {len(problems) - len(shown)} more"] if len(problems) > len(shown) else []
    return "\n".join([head, *shown, *tail])


def _parse_count(value: Any, where: str, problems: list[str]) -> int | None:
    if isinstance(value, bool):
        problems.append(f"{where}: {value!r} is not a count")
        return None
    if isinstance(value, (int, np.integer)):
        n = int(value)
    else:
        text = str(value).strip()
        if text == "":
            problems.append(f"{where}: missing count")
            return None
        try:
            n = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                problems.append(f"{where}: {text!r} is not a number")
                return None
            if not math.isfinite(f) or f != math.floor(f):
                problems.append(f"{where}: {text!r} is not a whole number; counts are numbers of cases")
                return None
            n = int(f)
    if n < 0:
        problems.append(f"{where}: {n} is negative; counts are numbers of cases")
        return None
    return n


def _check_lists(lists: Sequence[str], source: str) -> list[str]:
    names = [str(n) for n in lists]
    problems = []
    if len(names) < 2:
        problems.append(f"fewer than two lists ({len(names)}); multiple systems estimation needs at least two")
    if len(names) > MAX_LISTS:
        problems.append(f"{len(names)} lists; at most {MAX_LISTS} are supported")
    for n, c in Counter(names).items():
        if c > 1:
            problems.append(f"list {n!r} named more than once")
    for n in names:
        if not n.strip() or ":" in n:
            problems.append(f"list name {n!r} is empty or contains ':'")
    if problems:
        raise TableError(_join(source, problems))
    return names


def _key_mask(key: Any, lists: Sequence[str], index: Mapping[str, int], problems: list[str], source: str) -> int | None:
    if isinstance(key, tuple) and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in key):
        if len(key) != len(lists) or any(v not in (0, 1) for v in key):
            problems.append(f"{source}: history {key!r} must have one 0/1 per list ({len(lists)})")
            return None
        return sum(int(v) << i for i, v in enumerate(key))
    names = {key} if isinstance(key, str) else set(key)
    unknown = sorted(str(n) for n in names - index.keys())
    if unknown:
        problems.append(f"{source}: history {key!r} names unknown list(s) {', '.join(unknown)}")
        return None
    return sum(1 << index[n] for n in names)


def stratify(
    clusters: Iterable[Collection[str]], strata: Iterable[Hashable], lists: Sequence[str], source: str = "linked records",
) -> dict[str, CaptureTable]:
    """One table per stratum (a year, a perpetrator state, a tactic group...) from linked
    clusters and a parallel sequence of stratum keys. Every table has all ``lists``."""
    groups: dict[str, list[Collection[str]]] = {}
    cl, st = list(clusters), list(strata)
    if len(cl) != len(st):
        raise TableError(f"{source}: {len(cl)} clusters but {len(st)} stratum values")
    for c, s in zip(cl, st, strict=True):
        groups.setdefault(str(s), []).append(c)
    return {key: CaptureTable.from_clusters(groups[key], lists, f"{source} [{key}]") for key in sorted(groups)}


# ----------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------


@dataclass
class ModelFit:
    """One log-linear model fitted to a table by statsmodels (the reference fitter)."""

    model: list[str]  # interactions, e.g. ["A:B", "B:C"]
    estimate: float  # total, recorded and unrecorded
    dark_figure: float  # estimated cases no list recorded
    se: float  # asymptotic standard error of the estimate (delta method, multinomial)
    loglik: float
    aic: float
    bic: float
    n_params: int  # as specified, including terms fixed at minus infinity
    minus_infinity: list[str]  # terms whose margin is zero (estimated at minus infinity)
    coefficients: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in self.__dict__.items()}


@dataclass
class BootstrapSummary:
    """How the interval was obtained."""

    replicates: int
    seed: int
    failed: int  # replicates where no model could be fitted (left out)
    candidate_models: int | None  # models re-selected among (exhaustive); None for downhill
    percentile: tuple[float, float] | None
    bca: tuple[float, float] | None
    bias_correction: float
    acceleration: float
    bca_note: str = ""
    run: mse_search.BootstrapRun | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in self.__dict__.items() if k != "run"}


@dataclass
class EstimateResult:
    """An MSE estimate with its model, interval, lower bound and diagnostics."""

    lists: list[str]
    observed: int
    estimate: float
    dark_figure: float
    ci_lower: float | None
    ci_upper: float | None
    ci_level: float
    ci_method: str | None  # "bca", "percentile" or None (no bootstrap)
    model: list[str]
    criterion: str
    criterion_value: float
    search: str
    max_order: int
    chao_lower_bound: float | None
    fit: ModelFit
    bootstrap: BootstrapSummary | None
    diagnostics: dict[str, Any]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN/inf become None)."""
        out = {
            "source": self.source,
            "lists": self.lists,
            "observed": self.observed,
            "estimate": self.estimate,
            "dark_figure": self.dark_figure,
            "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper,
            "ci_level": self.ci_level,
            "ci_method": self.ci_method,
            "model": self.model,
            "criterion": self.criterion,
            "criterion_value": self.criterion_value,
            "search": self.search,
            "max_order": self.max_order,
            "se": self.fit.se,
            "chao_lower_bound": self.chao_lower_bound,
            "fit": self.fit.to_dict(),
            "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict(),
            "diagnostics": self.diagnostics,
        }
        return _clean(out)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_text(self) -> str:
        """A short report for a terminal."""
        d = self.diagnostics
        lines = []
        if self.source:
            lines.append(f"Multiple systems estimation: {self.source}")
        lines.append(f"Lists ({len(self.lists)}): {', '.join(self.lists)}")
        lines.append(f"Observed cases (on at least one list): {self.observed:,}")
        lines.append(f"Estimated total: {_num(self.estimate)}   (unrecorded: {_num(self.dark_figure)})")
        if self.ci_lower is not None and self.bootstrap is not None:
            method = "BCa" if self.ci_method == "bca" else "percentile"
            lines.append(
                f"{self.ci_level:.0%} {method} bootstrap interval: {_num(self.ci_lower)} to {_num(self.ci_upper)}"
                f"   ({self.bootstrap.replicates:,} replicates re-selecting the model, seed {self.bootstrap.seed})"
            )
            if self.ci_method == "bca" and self.bootstrap.percentile:
                lo, hi = self.bootstrap.percentile
                lines.append(f"    percentile interval: {_num(lo)} to {_num(hi)}")
        else:
            lines.append("Interval: none (run with --bootstrap N for a bootstrap interval)")
        lines.append(f"Asymptotic standard error for this model alone: {_num(self.fit.se)}")
        if self.chao_lower_bound is not None:
            lines.append(f"Chao's lower bound: {_num(self.chao_lower_bound)}")
        where = f"{self.search} search up to order {self.max_order}"
        lines.append(
            f"Model ({self.criterion.upper()} {self.criterion_value:.2f}, {where}; "
            f"{d['models_considered']:,} models considered, {d['models_fitted']:,} fitted):"
        )
        lines.append("    main effects" + "".join(f" + {t}" for t in self.model))
        if self.fit.minus_infinity:
            lines.append(f"    terms at minus infinity (lists that never overlap): {', '.join(self.fit.minus_infinity)}")
        if d.get("excluded"):
            lines.append("Models excluded: " + "; ".join(f"{n:,} {why}" for why, n in d["excluded"].items()))
        ranking = d.get("ranking") or []
        if len(ranking) > 1:
            lines.append("Best models:")
            for r in ranking:
                terms = " + ".join(r["model"]) or "main effects only"
                lines.append(f"    {self.criterion.upper()} {r['criterion_value']:10.2f}  estimate {_num(r['estimate']):>10}  {terms}")
        for w in d.get("warnings", []):
            lines.append(f"Warning: {w}")
        return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.1f}"


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    if hasattr(v, "to_dict"):
        return v.to_dict()
    return v


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------


def default_max_order(k: int) -> int:
    """As Silverman, Chan & Vincent's ``estimate_population_bic``: 1 for two lists, 2 for
    three, 3 for four or five, 2 beyond (three-list terms on six lists mean 3.7 million
    models)."""
    return {2: 1, 3: 2, 4: 3, 5: 3}.get(k, 2)


def check_estimable(table: CaptureTable) -> None:
    """Raise :class:`EstimationError` when the table cannot support any estimate."""
    src = table.source or "table"
    if table.k < 2:
        raise EstimationError(f"{src}: fewer than two lists; multiple systems estimation needs at least two")
    n = table.observed
    if n == 0:
        raise EstimationError(f"{src}: no cases on any list")
    totals = table.list_totals()
    empty = [name for name, t in totals.items() if t == 0]
    if empty:
        raise EstimationError(
            f"{src}: list{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
            f"{'have' if len(empty) > 1 else 'has'} no cases; remove {'them' if len(empty) > 1 else 'it'}, an empty list says nothing about what was missed"
        )
    full = [name for name, t in totals.items() if t == n]
    if full:
        raise EstimationError(
            f"{src}: all {n:,} observed cases are on list {full[0]!r} (no case is found only on other lists), "
            "so the data cannot show what that list misses and the estimate would be meaningless; "
            "remove that list or add lists that record cases independently of it"
        )
    multi = sum(int(c) for h, c in zip(range(1, 1 << table.k), table.counts, strict=True) if popcount(h) >= 2)
    if multi == 0:
        raise EstimationError(
            f"{src}: no case is on more than one list; MSE learns how much each list misses from the "
            "overlaps between lists, and with none the number of unrecorded cases is unbounded"
        )


def _check_order(k: int, max_order: int | None) -> int:
    if max_order is None:
        return default_max_order(k)
    if not isinstance(max_order, int) or max_order < 1:
        raise EstimationError(f"max order must be a whole number >= 1 (1 = main effects only), not {max_order!r}")
    if max_order > k - 1:
        raise EstimationError(
            f"max order {max_order} is too high for {k} lists: the {k}-list interaction cannot be estimated "
            f"(it would need the count of the unobserved cell), so the highest usable order is {k - 1}"
        )
    return max_order


def chao_lower_bound(table: CaptureTable) -> tuple[float, str]:
    """Chao's (1987) lower bound for the total: ``n + f1^2 / (2 f2)`` from the numbers of
    cases seen on exactly one (f1) and exactly two (f2) lists; when f2 = 0 the bias-corrected
    form ``n + f1 (f1 - 1) / 2`` (Chao 2005) is used. Returns (bound, formula)."""
    sizes = np.array([popcount(h) for h in range(1, 1 << table.k)])
    f1 = int(table.counts[sizes == 1].sum())
    f2 = int(table.counts[sizes == 2].sum())
    n = table.observed
    if f2 > 0:
        return n + f1 * f1 / (2.0 * f2), "n + f1^2/(2 f2)"
    return n + f1 * (f1 - 1) / 2.0, "n + f1(f1-1)/2 (f2 = 0)"


def check_model(table: CaptureTable, terms: Sequence[str]) -> tuple[int, str]:
    """Status of one model on a table, as Chan, Silverman & Vincent's ``checkident``:
    0 = fine, 1 = no finite estimate (Fienberg-Rinaldo condition fails), 2 = not
    identifiable, 3 = both. Returns (code, explanation)."""
    model = _model_from_terms(table, terms)
    d = design(table.k, max(1, model_order(model)))
    sc = mse_fit.screen(d.X, table.counts[None, :].astype(np.float64), d.mask(model)[None, :], full_status=True)
    code = int(sc.status[0])
    return code, mse_fit.STATUS_TEXT[code]


def _model_from_terms(table: CaptureTable, terms: Sequence[str]) -> Model:
    masks = set()
    for t in terms:
        try:
            masks.add(parse_term(t, table.lists))
        except ValueError as exc:
            raise EstimationError(str(exc)) from None
    model = frozenset(masks)
    if not is_hierarchical(model):
        need = sorted(set(hierarchical_closure(model)) - model, key=lambda m: (popcount(m), m))
        raise EstimationError(
            "model is not hierarchical: add " + ", ".join(term_name(m, table.lists) for m in need)
            + " (every lower-order interaction of a term must be in the model)"
        )
    full = (1 << table.k) - 1
    if full in model:
        raise EstimationError(
            f"the {table.k}-list interaction {term_name(full, table.lists)} cannot be estimated: "
            "it would need the count of the unobserved cell"
        )
    return model


# ----------------------------------------------------------------------------------------
# Fitting one model (reference fitter)
# ----------------------------------------------------------------------------------------


def _reference_fit(table: CaptureTable, model: Model, max_order: int, extra: np.ndarray | None = None, extra_names: Sequence[str] = ()) -> ModelFit:
    d = design(table.k, max_order)
    y = table.counts.astype(np.float64)
    mask = d.mask(model)
    X = d.X
    if extra is not None:
        X = np.hstack([X, extra])
        mask = np.concatenate([mask, np.ones(extra.shape[1], dtype=bool)])
    sc = mse_fit.screen(X, y[None, :], mask[None, :], full_status=True)
    names = [term_name(t, table.lists) for t in d.terms] + list(extra_names)
    shown = model_names(model, table.lists) + list(extra_names)
    if sc.status[0] != mse_fit.OK:
        raise EstimationError(_status_message(table, shown, int(sc.status[0])))
    ref = mse_fit.fit_statsmodels(X, y, sc.cell_keep[0], sc.param_keep[0])
    if not ref.converged or not math.isfinite(ref.loglik):
        raise EstimationError(_status_message(table, shown, mse_fit.DID_NOT_CONVERGE))
    with np.errstate(over="ignore"):
        dark = float(np.exp(ref.beta[0]))
    if not math.isfinite(dark):
        raise EstimationError(_status_message(table, shown, mse_fit.DID_NOT_CONVERGE))
    n = table.observed
    p = int(mask.sum())
    se = _se(dark, ref.var_intercept)
    minus_inf = [names[j] for j in np.flatnonzero(sc.minus_infinity[0])]
    coefs = {names[j]: float(ref.beta[j]) for j in np.flatnonzero(mask)}
    for t in minus_inf:
        coefs[t] = -math.inf
    return ModelFit(
        model=shown, estimate=n + dark, dark_figure=dark, se=se, loglik=ref.loglik,
        aic=2 * p - 2 * ref.loglik, bic=p * math.log(n) - 2 * ref.loglik, n_params=p,
        minus_infinity=minus_inf, coefficients=coefs,
    )


def _se(dark: float, var_b0: float) -> float:
    """Asymptotic standard error of N = n + exp(b0), as Rcapture reports it:
    ``sqrt(exp(b0) + exp(b0)^2 Var(b0))`` -- the delta-method variance of the fitted
    unrecorded count plus the Poisson variation of the count itself (Cormack 1989;
    Baillargeon & Rivest 2007). It ignores model selection; the bootstrap does not."""
    v = dark + dark * dark * var_b0
    return math.sqrt(v) if v >= 0 and math.isfinite(v) else math.nan


def _status_message(table: CaptureTable, shown: Sequence[str], status: int) -> str:
    src = table.source or "table"
    what = "main effects" + "".join(f" + {t}" for t in shown)
    if status & mse_fit.NO_FINITE_ESTIMATE and status & mse_fit.NOT_IDENTIFIABLE:
        why = ("its parameters cannot all be estimated from the observed cells and its estimate of the "
               "unrecorded cases is not finite")
    elif status & mse_fit.NO_FINITE_ESTIMATE:
        why = ("its maximum-likelihood estimate does not exist (Fienberg-Rinaldo condition): zero cells "
               "let the fitted number of unrecorded cases grow without bound")
    elif status & mse_fit.NOT_IDENTIFIABLE:
        why = ("its parameters are not identifiable: the cells left after removing lists that never "
               "overlap do not pin them down, so the estimate is undefined")
    else:
        why = "the fit diverged (no convergence to a finite maximum)"
    return f"{src}: model [{what}] cannot give an estimate: {why}"


def fit_model(table: CaptureTable, terms: Sequence[str] = (), extra_columns: Mapping[str, Sequence[float]] | None = None) -> ModelFit:
    """Fit one given model with statsmodels: main effects plus ``terms`` (e.g. ``["A:B"]``),
    plus optional ``extra_columns`` (name -> one value per history in table order), which
    express models outside the hierarchical family, such as Rcapture's heterogeneity models
    (a column ``2**captures - 1`` gives Mth Poisson2). Raises :class:`EstimationError` when
    the model cannot give a finite, identifiable estimate."""
    check_estimable(table)
    model = _model_from_terms(table, terms)
    extra = None
    names: list[str] = []
    if extra_columns:
        cols = []
        for name, values in extra_columns.items():
            v = np.asarray(values, dtype=np.float64)
            if v.shape != table.counts.shape:
                raise EstimationError(f"extra column {name!r} needs {table.counts.size} values (one per history), got {v.size}")
            cols.append(v)
            names.append(name)
        extra = np.stack(cols, axis=1)
    return _reference_fit(table, model, max(1, model_order(model)), extra, names)


# ----------------------------------------------------------------------------------------
# Estimation with model selection
# ----------------------------------------------------------------------------------------


def estimate(
    table: CaptureTable,
    *,
    criterion: str = "bic",
    max_order: int | None = None,
    search: str = "exhaustive",
    bootstrap: int = 0,
    seed: int | None = None,
    ci_level: float = 0.95,
    top_models: int | None = None,
    fitter: str = "numpy",
    drop_uninformative: bool = False,
) -> EstimateResult:
    """Estimate the total number of cases from a capture-history table.

    ``criterion``: ``"bic"`` or ``"aic"``. ``max_order``: highest interaction order
    (default :func:`default_max_order`). ``search``: ``"exhaustive"`` or ``"downhill"``.
    ``bootstrap``: number of replicates (0 = no interval); each re-selects the model.
    ``seed``: for the bootstrap (drawn and reported when omitted). ``top_models``: models
    kept for re-selection in the bootstrap after an exhaustive search (default
    ``DEFAULT_BOOTSTRAP_MODELS``; ``0`` = all). ``fitter``: ``"numpy"`` (batched IRLS) or
    ``"statsmodels"`` for the search and bootstrap; the reported fit always comes from
    statsmodels. ``drop_uninformative``: remove lists with no case or with every case
    (noted in the diagnostics) instead of refusing the table.

    Raises :class:`EstimationError` (with the reason) when the table cannot support an
    estimate, and :class:`TableError` for malformed input.
    """
    criterion = str(criterion).lower()
    search = str(search).lower()
    if criterion not in CRITERIA:
        raise EstimationError(f"criterion must be one of {', '.join(CRITERIA)}, not {criterion!r}")
    if search not in SEARCHES:
        raise EstimationError(f"search must be one of {', '.join(SEARCHES)}, not {search!r}")
    if not isinstance(bootstrap, int) or bootstrap < 0:
        raise EstimationError(f"bootstrap must be a whole number of replicates >= 0, not {bootstrap!r}")
    if not 0 < ci_level < 1:
        raise EstimationError(f"ci_level must be between 0 and 1, not {ci_level!r}")
    if fitter not in ("numpy", "statsmodels"):
        raise EstimationError(f"fitter must be 'numpy' or 'statsmodels', not {fitter!r}")
    if top_models is not None and (not isinstance(top_models, int) or top_models < 0):
        raise EstimationError(f"top_models must be a whole number >= 0 (0 = all), not {top_models!r}")
    warnings: list[str] = []
    dropped: list[str] = []
    if drop_uninformative:
        table, dropped = _drop_uninformative(table)
        if dropped:
            warnings.append(f"dropped list(s) with no case or with every case: {', '.join(dropped)}")
    check_estimable(table)
    k = table.k
    order = _check_order(k, max_order)
    d = design(k, order)
    y = table.counts.astype(np.float64)
    src = table.source or "table"

    ranking: list[dict[str, Any]] = []
    if search == "exhaustive":
        n_models = count_hierarchical_models(k, order, limit=MAX_EXHAUSTIVE_MODELS)
        if n_models > MAX_EXHAUSTIVE_MODELS:
            raise EstimationError(
                f"{src}: an exhaustive search over {k} lists up to order {order} means more than "
                f"{MAX_EXHAUSTIVE_MODELS:,} models; use the downhill search or a lower max order"
            )
        models = enumerate_models(k, order)
        ev = mse_search.evaluate(d, np.repeat(y[None, :], len(models), axis=0), d.masks(models), criterion, fitter)
        crit = np.where(np.isnan(ev.criterion), np.inf, ev.criterion)
        order_idx = np.argsort(crit, kind="stable")
        ok_idx = [int(i) for i in order_idx if np.isfinite(crit[i])]
        excluded = Counter(int(s) for s in ev.status if s != mse_fit.OK)
        considered, fitted = len(models), len(ok_idx)
        if not ok_idx:
            raise EstimationError(_no_model_message(src, considered, excluded))
        best = models[ok_idx[0]]
        ranking = [
            {"model": model_names(models[i], table.lists), "criterion_value": float(crit[i]), "estimate": float(ev.estimate[i])}
            for i in ok_idx[:5]
        ]
        n_top = len(ok_idx) if top_models == 0 else min(len(ok_idx), top_models or DEFAULT_BOOTSTRAP_MODELS)
        candidates = [models[i] for i in ok_idx[:n_top]]
        start_beta = ev.beta[ok_idx[:n_top]]
        selector = mse_search.Selector(d, criterion, search, candidates, start_beta=start_beta, fitter=fitter)
    else:
        selector = mse_search.Selector(d, criterion, search, fitter=fitter)
        sel = selector.select(y[None, :])
        excluded = Counter(sel.excluded[0])
        considered, fitted = int(sel.considered[0]), int(sel.fitted[0])
        chosen = sel.models[0]
        if chosen is None:
            raise EstimationError(_no_model_message(src, considered, excluded))
        best = chosen
        n_top = None
        main = mse_search.evaluate(d, y[None, :], d.mask(frozenset())[None, :], criterion, fitter)
        if main.status[0] == mse_fit.OK:
            selector.main_beta = main.beta[0]

    fit = _reference_fit(table, best, order)
    crit_value = fit.bic if criterion == "bic" else fit.aic
    # The search's own (numpy) fit of the chosen model must match the reference.
    ev_best = mse_search.evaluate(d, y[None, :], d.mask(best)[None, :], criterion, fitter)
    numpy_estimate = float(ev_best.estimate[0])
    agree = math.isclose(numpy_estimate, fit.estimate, rel_tol=1e-6)
    if not agree:
        warnings.append(
            f"the search fitter and statsmodels disagree on the chosen model ({numpy_estimate:.6g} vs {fit.estimate:.6g}); "
            "the statsmodels value is reported"
        )
    chao, chao_formula = chao_lower_bound(table)
    if fit.estimate < chao:
        warnings.append(
            f"the estimate ({_num(fit.estimate)}) is below Chao's lower bound ({_num(chao)}); "
            "the chosen model may understate heterogeneity in how easily cases are recorded"
        )
    if fit.dark_figure > 20 * table.observed:
        warnings.append(
            f"the estimate is {fit.estimate / table.observed:,.0f} times the observed count: "
            "the overlaps are too small to pin down the unrecorded cases; treat it as unreliable"
        )

    boot_summary = None
    ci_lower = ci_upper = None
    ci_method = None
    if bootstrap > 0:
        seed_used = int(seed) if seed is not None else secrets.randbits(32)
        rng = np.random.default_rng(seed_used)
        run = mse_search.run_bootstrap(selector, table.counts, numpy_estimate, bootstrap, rng)
        boot_summary, ci_lower, ci_upper, ci_method = _summarise(run, ci_level, seed_used, n_top, warnings)

    diagnostics: dict[str, Any] = {
        "models_considered": considered,
        "models_fitted": fitted,
        "excluded": {mse_fit.STATUS_TEXT[s]: c for s, c in sorted(excluded.items())},
        "ranking": ranking,
        "chao_formula": chao_formula,
        "list_totals": table.list_totals(),
        "dropped_lists": dropped,
        "reference_fitter": "statsmodels GLM (Poisson)",
        "search_fitter": fitter,
        "search_fitter_estimate": numpy_estimate,
        "fitters_agree": agree,
        "warnings": warnings,
    }
    return EstimateResult(
        lists=list(table.lists), observed=table.observed, estimate=fit.estimate, dark_figure=fit.dark_figure,
        ci_lower=ci_lower, ci_upper=ci_upper, ci_level=ci_level, ci_method=ci_method,
        model=fit.model, criterion=criterion, criterion_value=crit_value, search=search, max_order=order,
        chao_lower_bound=chao, fit=fit, bootstrap=boot_summary, diagnostics=diagnostics, source=table.source,
    )


def _drop_uninformative(table: CaptureTable) -> tuple[CaptureTable, list[str]]:
    n = table.observed
    drop = [name for name, t in table.list_totals().items() if t == 0 or t == n]
    if not drop or len(table.lists) - len(drop) < 1:
        return table, []
    return table.drop_lists(drop), drop


def _no_model_message(src: str, considered: int, excluded: Mapping[int, int]) -> str:
    reasons = "; ".join(f"{c:,} {mse_fit.STATUS_TEXT[s]}" for s, c in sorted(excluded.items()))
    return (
        f"{src}: none of the {considered:,} models considered can give an estimate ({reasons}). "
        "The table is too sparse: lists overlap too little for the number of unrecorded cases to be estimated. "
        "Try a lower max order, merge small lists, or collect more linked cases"
    )


def _summarise(
    run: mse_search.BootstrapRun, level: float, seed: int, n_top: int | None, warnings: list[str],
) -> tuple[BootstrapSummary, float | None, float | None, str | None]:
    boot = run.estimates
    failed = int(np.sum(~np.isfinite(boot)))
    if failed:
        warnings.append(
            f"{failed:,} of {boot.size:,} bootstrap replicates had no admissible model and were left out"
        )
    pct = mse_search.percentile_interval(boot, level)
    accel = mse_search.acceleration(run.jackknife, run.counts)
    bca, z0, note = mse_search.bca_interval(boot, run.point, accel, level)
    lo: float | None = None
    hi: float | None = None
    method: str | None = None
    if bca is not None:
        lo, hi, method = bca.lower, bca.upper, "bca"
    elif pct is not None:
        lo, hi, method = pct.lower, pct.upper, "percentile"
        warnings.append(f"BCa interval unavailable ({note}); the percentile interval is reported")
    else:
        warnings.append(f"no bootstrap interval: {note}")
    summary = BootstrapSummary(
        replicates=int(boot.size), seed=seed, failed=failed, candidate_models=n_top,
        percentile=None if pct is None else (pct.lower, pct.upper),
        bca=None if bca is None else (bca.lower, bca.upper),
        bias_correction=z0, acceleration=accel, bca_note=note, run=run,
    )
    return summary, lo, hi, method


# ----------------------------------------------------------------------------------------
# Strata
# ----------------------------------------------------------------------------------------


@dataclass
class StratifiedResult:
    """Estimates per stratum and their sum."""

    strata: dict[str, EstimateResult]
    failed: dict[str, str]  # stratum -> why it has no estimate
    observed: int
    estimate: float | None  # sum over strata; None when a stratum failed
    ci_lower: float | None
    ci_upper: float | None
    ci_level: float
    ci_method: str | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "observed": self.observed, "estimate": self.estimate, "ci_lower": self.ci_lower,
            "ci_upper": self.ci_upper, "ci_level": self.ci_level, "ci_method": self.ci_method,
            "note": self.note, "failed": self.failed,
            "strata": {k: v.to_dict() for k, v in self.strata.items()},
        })


def estimate_strata(tables: Mapping[str, CaptureTable], *, seed: int | None = None, drop_uninformative: bool = True, **kwargs: Any) -> StratifiedResult:
    """Estimate each stratum separately (same options as :func:`estimate`) and the total as
    their sum. Strata are independent samples, so the total's bootstrap replicate ``b`` is the
    sum of the strata's replicates ``b`` and its jackknife deletes one case from one stratum;
    that gives percentile and BCa intervals for the total. A stratum that cannot be
    estimated is reported in ``failed`` with its reason, and then there is no total.
    Lists with no case (or every case) in a stratum are dropped there by default, and noted.
    """
    level = float(kwargs.get("ci_level", 0.95))
    base = secrets.randbits(32) if seed is None else int(seed)
    seeds = np.random.SeedSequence(base).generate_state(max(1, len(tables)))
    results: dict[str, EstimateResult] = {}
    failed: dict[str, str] = {}
    for (key, table), s in zip(sorted(tables.items()), seeds, strict=False):
        try:
            results[key] = estimate(table, seed=int(s), drop_uninformative=drop_uninformative, **kwargs)
        except MSEError as exc:
            failed[key] = str(exc)
    observed = sum(t.observed for t in tables.values())
    if failed:
        return StratifiedResult(results, failed, observed, None, None, None, level, None,
                                note=f"no total: {len(failed)} stratum/strata could not be estimated")
    total = float(sum(r.estimate for r in results.values()))
    runs = [r.bootstrap.run for r in results.values() if r.bootstrap is not None and r.bootstrap.run is not None]
    if not runs or len(runs) != len(results):
        return StratifiedResult(results, failed, observed, total, None, None, level, None, note="no bootstrap: no interval for the total")
    boot = np.sum([run.estimates for run in runs], axis=0)
    points = [run.point for run in runs]
    jack_parts, weights = [], []
    for i, run in enumerate(runs):
        others = sum(points) - points[i]
        jack_parts.append(others + run.jackknife)
        weights.append(run.counts)
    accel = mse_search.acceleration(np.concatenate(jack_parts), np.concatenate(weights))
    bca, _z0, note = mse_search.bca_interval(boot, float(sum(points)), accel, level)
    pct = mse_search.percentile_interval(boot, level)
    if bca is not None:
        return StratifiedResult(results, failed, observed, total, bca.lower, bca.upper, level, "bca")
    if pct is not None:
        return StratifiedResult(results, failed, observed, total, pct.lower, pct.upper, level, "percentile", note=f"BCa unavailable: {note}")
    return StratifiedResult(results, failed, observed, total, None, None, level, None, note=note)
