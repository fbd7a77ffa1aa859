"""End to end on the simulator: simulated lists → linkage → capture histories → estimate.

The simulator (``tnr.methods.simulate``) keeps apart what no analyst ever sees: which records
describe the same incident, and how many incidents nobody documented. This module runs the
whole chain an analyst would run on the organisations' lists and sets the estimate beside that
hidden truth, by three paths:

* ``oracle`` — the lists linked with the simulator's own links: perfect linkage. What is left
  is the estimation error alone (capture heterogeneity, list dependence, sampling), so this
  path is the ceiling the two others can reach.
* ``splink`` — the records of every list pooled and linked without labels by
  ``tnr.methods.linkage`` (Splink, DuckDB); each cluster's set of lists is its capture
  history.
* ``pprl`` — each organisation encodes its own records (``tnr.methods.pprl``, the
  ``incident`` profile, under a secret the organisations share); a coordinator matches the
  encodings and returns only the count per combination of lists.

Each table then goes to ``tnr.methods.mse.estimate`` with a bootstrap interval. Typical use::

    run = run_seed(SimulationConfig(seed=1), bootstrap=200)
    run.truth, run.paths["pprl"].estimate, run.paths["pprl"].covered
    print(format_runs([run]))

or from a shell, for several seeds (the figures of docs/end-to-end.md)::

    python -m tnr.methods.pipeline --seeds 1-20 --bootstrap 1000

Nothing here imports Django.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from tnr.methods import pprl
from tnr.methods.linkage import incident_frame, link, pairwise_scores
from tnr.methods.linkage_settings import LinkageSettings
from tnr.methods.mse import CaptureTable, EstimateResult, MSEError, estimate
from tnr.methods.simulate import Simulation, SimulationConfig, simulate

__all__ = [
    "PATHS",
    "EndToEnd",
    "PathRun",
    "coverage",
    "format_runs",
    "main",
    "oracle_table",
    "pprl_table",
    "run_path",
    "run_seed",
    "seed_secret",
    "splink_table",
]

#: The three ways from the lists to a capture-history table, best-informed first.
PATHS: tuple[str, ...] = ("oracle", "splink", "pprl")


# --------------------------------------------------------------------------------------------
# Lists → capture-history tables
# --------------------------------------------------------------------------------------------
def _record_truth(sim: Simulation) -> dict[str, str]:
    """Record id → true incident id (record ids are unique across lists: they carry the
    organisation's code)."""
    return {rid: tid for (_org, rid), tid in sim.links.items()}


def oracle_table(sim: Simulation) -> CaptureTable:
    """The capture-history table of perfectly linked lists, from the simulator's hidden links.
    The all-zero history (incidents nobody documented) is, as always, left out."""
    return CaptureTable.from_counts(
        dict(sim.capture_histories()), sim.organisations, source="oracle linkage"
    )


@contextmanager
def _collected_warnings(logger_name: str, into: list[str]) -> Iterator[None]:
    """Collect a library's log warnings into ``into`` instead of printing them. Splink warns,
    for example, when no training pair reached a comparison level; that belongs in the run's
    notes next to its figures, not scattered over a terminal between rows of a table."""

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            into.append(" ".join(record.getMessage().split()))

    logger = logging.getLogger(logger_name)
    handler = _Collect(level=logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def splink_table(
    sim: Simulation, settings: LinkageSettings | None = None, *, notes: list[str] | None = None
) -> tuple[CaptureTable, dict[str, float]]:
    """Link every list's incidents together with Splink (no labels) and count the clusters
    per combination of lists. Returns the table and the pairwise precision and recall of the
    clusters against the hidden truth.

    A cluster that holds two records of one list (a false link inside a list) counts that list
    once: a capture history says whether a list recorded the incident, not how often.
    """
    frames = [
        incident_frame(sim.documented[code].incidents, sim.documented[code].persons, source=code)
        for code in sim.organisations
        if sim.documented[code].incidents
    ]
    frame = pd.concat(frames, ignore_index=True)
    with _collected_warnings("splink", notes if notes is not None else []):
        result = link(frame, settings)
    source = dict(zip(frame["unique_id"], frame["source_dataset"], strict=True))
    lists_of: dict[str, set[str]] = defaultdict(set)
    for uid, cluster in zip(
        result.clusters["unique_id"], result.clusters["cluster_id"], strict=True
    ):
        lists_of[cluster].add(source[uid])
    table = CaptureTable.from_clusters(
        lists_of.values(), sim.organisations, source="Splink linkage"
    )
    return table, _scores(pairwise_scores(result.clusters, _record_truth(sim)))


def seed_secret(seed: int) -> pprl.Secret:
    """A shared secret fixed by ``seed``, so that a simulated PPRL round can be repeated
    exactly (the bit positions, and so a few borderline matches, depend on the secret). Real
    rounds use ``pprl.new_secret()``."""
    return pprl.Secret(
        hashlib.sha256(f"tnr end-to-end secret {seed}".encode()).hexdigest().encode()
    )


def pprl_table(
    sim: Simulation,
    secret: pprl.Secret | None = None,
    params: pprl.EncodingParams | None = None,
) -> tuple[CaptureTable, dict[str, float]]:
    """Each organisation encodes its incidents (default: the ``incident`` profile with its
    default hardening); the coordinator matches the encodings and returns the count per
    combination of lists. Returns the table and, for evaluation only (a coordinator never has
    it), the pairwise precision and recall of its clusters against the hidden truth."""
    secret = secret or pprl.Secret(pprl.new_secret().encode())
    params = params or pprl.profile_params("incident")
    codes = [code for code in sim.organisations if sim.documented[code].incidents]
    sets = [
        pprl.encode(
            pprl.incident_records(sim.documented[code].incidents, sim.documented[code].persons),
            params,
            secret,
            organisation=code,
        )
        for code in codes
    ]
    result = pprl.match(sets)
    table = CaptureTable.from_counts(
        {
            frozenset(c for c, bit in zip(codes, history, strict=True) if bit): n
            for history, n in result.capture_histories().items()
        },
        sim.organisations,
        source="PPRL (Bloom-filter encodings, coordinator match)",
    )
    # Row i of an organisation's encodings is its i-th incident (encode keeps the order).
    ids = [incident["id"] for code in codes for incident in sim.documented[code].incidents]
    labels = [str(int(c)) for clusters in result.cluster for c in clusters]
    clusters = pd.DataFrame({"unique_id": ids, "cluster_id": labels})
    return table, _scores(pairwise_scores(clusters, _record_truth(sim)))


def _scores(scores: Mapping[str, float]) -> dict[str, float]:
    return {"precision": float(scores["precision"]), "recall": float(scores["recall"])}


# --------------------------------------------------------------------------------------------
# Tables → estimates, beside the truth
# --------------------------------------------------------------------------------------------
@dataclass
class PathRun:
    """One path on one simulated dataset: its table, its estimate and how it compares."""

    path: str
    truth: int  # true incidents, documented or not (the simulator's hidden total)
    table: CaptureTable
    result: EstimateResult | None  # None when the table could not support an estimate
    error: str = ""  # why there is no estimate (the MSE message)
    #: Pairwise precision and recall of the linkage against the hidden links (empty: oracle).
    linkage: dict[str, float] = field(default_factory=dict)
    #: Sum of |linked − true| over capture histories, as a share of the truly documented
    #: incidents: how far linkage errors moved the table MSE sees.
    table_error: float = 0.0
    seconds: float = 0.0  # wall time, linkage and estimate
    cpu_seconds: float = 0.0  # CPU time of this process (all threads), linkage and estimate
    notes: list[str] = field(default_factory=list)

    @property
    def observed(self) -> int:
        """Distinct incidents the linked lists hold (the truth for ``oracle``)."""
        return self.table.observed

    @property
    def estimate(self) -> float | None:
        return None if self.result is None else self.result.estimate

    @property
    def ci(self) -> tuple[float, float] | None:
        """The reported interval, or None (no estimate, or no bootstrap interval)."""
        r = self.result
        if r is None or r.ci_lower is None or r.ci_upper is None:
            return None
        return (r.ci_lower, r.ci_upper)

    @property
    def covered(self) -> bool:
        """Whether the true total lies in the reported interval. No interval is a miss: an
        analyst who got none had nothing that covered the truth."""
        ci = self.ci
        return ci is not None and ci[0] <= self.truth <= ci[1]

    @property
    def below_chao(self) -> bool:
        """Whether the estimate fell below Chao's lower bound (``mse.estimate`` then warns that
        the model may understate heterogeneity). On the simulator this flagged every interval
        that lay wholly below the truth (docs/end-to-end.md)."""
        r = self.result
        return r is not None and r.chao_lower_bound is not None and r.estimate < r.chao_lower_bound

    @property
    def relative_error(self) -> float | None:
        """(estimate − truth) / truth."""
        return None if self.estimate is None else (self.estimate - self.truth) / self.truth

    def to_dict(self) -> dict[str, Any]:
        """One row for a report (JSON-ready)."""
        ci = self.ci
        r = self.result
        return {
            "path": self.path,
            "truth": self.truth,
            "observed": self.observed,
            "estimate": None if r is None else round(r.estimate, 1),
            "ci_lower": None if ci is None else round(ci[0], 1),
            "ci_upper": None if ci is None else round(ci[1], 1),
            "ci_method": None if r is None else r.ci_method,
            "covered": self.covered,
            "relative_error": None if r is None else round(self.relative_error or 0.0, 4),
            "chao_lower_bound": None
            if r is None or r.chao_lower_bound is None
            else round(r.chao_lower_bound, 1),
            "below_chao": self.below_chao,
            "model": None if r is None else r.model,
            "linkage": {k: round(v, 4) for k, v in self.linkage.items()},
            "table_error": round(self.table_error, 4),
            "error": self.error,
            "seconds": round(self.seconds, 2),
            "cpu_seconds": round(self.cpu_seconds, 2),
            "notes": self.notes,
        }


@dataclass
class EndToEnd:
    """All paths on one simulated dataset."""

    seed: int
    truth: int  # true incidents, documented or not
    documented: int  # true incidents at least one organisation documented
    list_sizes: dict[str, int]  # records per organisation
    paths: dict[str, PathRun]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "truth": self.truth,
            "documented": self.documented,
            "list_sizes": self.list_sizes,
            "paths": {name: run.to_dict() for name, run in self.paths.items()},
        }


def _table_error(table: CaptureTable, truth: CaptureTable) -> float:
    documented = truth.observed
    return float(abs(table.counts - truth.counts).sum()) / documented if documented else 0.0


def run_path(
    sim: Simulation,
    path: str,
    *,
    bootstrap: int = 200,
    seed: int | None = None,
    secret: pprl.Secret | None = None,
    linkage_settings: LinkageSettings | None = None,
    pprl_params: pprl.EncodingParams | None = None,
    **estimate_options: Any,
) -> PathRun:
    """Build the table of one ``path`` (see ``PATHS``) and estimate from it.

    ``bootstrap`` and ``seed`` go to ``mse.estimate`` (seed: default the simulation's), as do
    ``estimate_options`` (``criterion``, ``max_order``, ``search``...). A table that cannot
    support an estimate gives a ``PathRun`` with ``result=None`` and the reason in ``error``.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}, not {path!r}")
    wall, cpu = time.perf_counter(), time.process_time()
    truth_table = oracle_table(sim)
    notes: list[str] = []
    scores: dict[str, float] = {}
    if path == "oracle":
        table = truth_table
    elif path == "splink":
        table, scores = splink_table(sim, linkage_settings, notes=notes)
    else:
        table, scores = pprl_table(sim, secret, pprl_params)
    result: EstimateResult | None = None
    error = ""
    try:
        result = estimate(
            table,
            bootstrap=bootstrap,
            seed=sim.config.seed if seed is None else seed,
            **estimate_options,
        )
    except MSEError as exc:
        error = str(exc)
    return PathRun(
        path=path,
        truth=len(sim.truth.incidents),
        table=table,
        result=result,
        error=error,
        linkage=scores,
        table_error=_table_error(table, truth_table),
        seconds=time.perf_counter() - wall,
        cpu_seconds=time.process_time() - cpu,
        notes=notes + ([] if result is None else list(result.diagnostics.get("warnings", []))),
    )


def run_seed(
    config: SimulationConfig | int,
    paths: Sequence[str] = PATHS,
    *,
    bootstrap: int = 200,
    secret: pprl.Secret | None = None,
    **options: Any,
) -> EndToEnd:
    """Simulate one dataset and run each of ``paths`` on it.

    ``config`` is a ``SimulationConfig`` or just a seed (the simulator's defaults otherwise).
    The PPRL secret defaults to ``seed_secret(seed)`` so that a run repeats exactly.
    ``options`` go to ``run_path``.
    """
    if isinstance(config, int):
        config = SimulationConfig(seed=config)
    unknown = [p for p in paths if p not in PATHS]
    if unknown or not paths:
        raise ValueError(f"paths must be some of {', '.join(PATHS)}, got {list(paths)!r}")
    sim = simulate(config)
    secret = secret or seed_secret(config.seed)
    runs = {p: run_path(sim, p, bootstrap=bootstrap, secret=secret, **options) for p in paths}
    return EndToEnd(
        seed=config.seed,
        truth=len(sim.truth.incidents),
        documented=sim.n_documented,
        list_sizes={code: len(sim.documented[code].incidents) for code in sim.organisations},
        paths=runs,
    )


def coverage(runs: Iterable[EndToEnd]) -> dict[str, tuple[int, int]]:
    """For each path: (seeds whose interval covered the truth, seeds run)."""
    out: dict[str, list[int]] = {}
    for run in runs:
        for name, path in run.paths.items():
            tally = out.setdefault(name, [0, 0])
            tally[0] += path.covered
            tally[1] += 1
    return {name: (c, n) for name, (c, n) in out.items()}


def _n(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def format_runs(runs: Sequence[EndToEnd]) -> str:
    """The per-seed table (truth, observed, estimate, interval, covered, estimate below Chao's
    bound, linkage precision and recall, share of the table linkage got wrong) and a coverage
    line per path, for a terminal."""
    head = (
        f"{'seed':>4}  {'path':<6}  {'truth':>6}  {'observed':>8}  {'estimate':>8}  "
        f"{'95% interval':>15}  {'covered':<7}  {'error':>6}  {'<Chao':<5}  {'precision':>9}  {'recall':>6}  {'table off':>9}"
    )
    lines = [head, "-" * len(head)]
    for run in runs:
        for name, p in run.paths.items():
            ci = p.ci
            interval = "—" if ci is None else f"{ci[0]:,.0f}–{ci[1]:,.0f}"
            err = "—" if p.relative_error is None else f"{p.relative_error:+.1%}"
            prec = f"{p.linkage['precision']:.4f}" if p.linkage else "—"
            rec = f"{p.linkage['recall']:.4f}" if p.linkage else "—"
            lines.append(
                f"{run.seed:>4}  {name:<6}  {p.truth:>6,}  {p.observed:>8,}  {_n(p.estimate):>8}  "
                f"{interval:>15}  {'yes' if p.covered else 'NO':<7}  {err:>6}  {'yes' if p.below_chao else '':<5}  {prec:>9}  {rec:>6}  "
                f"{p.table_error:>9.1%}"
            )
            if p.error:
                lines.append(f"      no estimate: {p.error}")
    lines.append("")
    for name, (c, n) in coverage(runs).items():
        lines.append(f"{name}: the true total lies in the interval in {c} of {n} seeds")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line: python -m tnr.methods.pipeline
# --------------------------------------------------------------------------------------------
def parse_seeds(text: str) -> list[int]:
    """``"1-20"``, ``"3,5,8"`` or a mix (``"1-5,9"``) → seeds, in order, without repeats."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if lo > hi:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(
                f"--seeds: {part!r} is not a seed or a range of seeds (write e.g. 1-20 or 1,4,7)"
            ) from None
    if any(s < 0 for s in seeds):
        raise ValueError("--seeds: seeds are whole numbers >= 0")
    return list(dict.fromkeys(seeds))


def main(argv: Sequence[str] | None = None, out: Callable[[str], object] = print) -> int:
    """Run the chain for several seeds and print the per-seed table and coverage."""
    parser = argparse.ArgumentParser(
        prog="python -m tnr.methods.pipeline",
        description="Simulated lists → linkage (oracle, Splink, PPRL) → MSE, compared with the hidden truth.",
    )
    parser.add_argument("--seeds", default="1-3", help="seeds, e.g. 1-20 or 1,4,7 (default 1-3)")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"some of {','.join(PATHS)}")
    parser.add_argument("--n-incidents", type=int, default=SimulationConfig.n_incidents)
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="replicates per estimate (default 1000)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
        paths = [p.strip() for p in args.paths.split(",") if p.strip()]
        if not paths or any(p not in PATHS for p in paths):
            raise ValueError(f"--paths: choose among {', '.join(PATHS)}, got {args.paths!r}")
        if args.bootstrap < 0:
            raise ValueError("--bootstrap: a number of replicates >= 0")
        base = SimulationConfig(n_incidents=args.n_incidents)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs = []
    for seed in seeds:
        runs.append(run_seed(replace(base, seed=seed), paths, bootstrap=args.bootstrap))
        if args.format == "text":
            print(f"seed {seed} done", file=sys.stderr, flush=True)
    if args.format == "json":
        out(json.dumps({"runs": [r.to_dict() for r in runs], "coverage": coverage(runs)}, indent=2))
    else:
        out(format_runs(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
