"""Benchmark: validate, import and export of synthetic incidents (issue: foundation).

    .venv/bin/python bench/bench_exchange.py [--incidents 100000] [--postgres URL]

Generates N true incidents with the simulator (flat CSV, one row per act × actor/source), then
measures, each in a fresh process:
  * baseline: reading the same CSV with csv.DictReader (the floor any validator pays);
  * `validate`: rows/s and peak memory, at N/10 and N rows (memory must stay flat);
  * `import` on SQLite and on PostgreSQL: rows/s, incidents/s, peak memory;
  * export of the imported incidents as a Frictionless data package: seconds, against the
    baseline of dumping the bare incidents table with csv.writer.
Targets (issue #2): validation >= 50,000 rows/s; import >= 10,000 rows/s on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def step(mode: str, path: Path, *extra: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [PY, str(ROOT / "bench" / "_worker.py"), mode, str(path), *extra],
        env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_csv(n: int, folder: Path) -> Path:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tnr.settings")
    import django

    django.setup()
    from tnr.exchange.flatten import write_flat
    from tnr.methods.simulate import SimulationConfig, simulate

    t = time.perf_counter()
    truth = simulate(SimulationConfig(seed=7, n_incidents=n)).truth
    path = folder / f"incidents-{n}.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        write_flat(f, truth.incidents, truth.persons, truth.actors)
    print(f"generated {n:,} synthetic incidents in {time.perf_counter() - t:.1f} s -> {path.stat().st_size / 1e6:.1f} MB")
    return path


def pg_available(url: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return bool(url)
    except OSError:
        return False


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PY, "-m", "tnr.cli", "migrate", "-v0"], env={**os.environ, **env}, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/tnr_bench")
    args = parser.parse_args()
    n = args.incidents
    work = Path(tempfile.mkdtemp(prefix="tnr-bench-"))
    env_sqlite = {"TNR_ENV": "test", "TNR_DEBUG": "1", "TNR_VAR_DIR": str(work), "TNR_MAX_IMPORT_BYTES": str(2**34)}
    os.environ.update(env_sqlite)
    try:
        big = make_csv(n, work)
        small = make_csv(max(n // 10, 1), work)
        base = step("read", big, env=env_sqlite)
        print(f"\nbaseline csv.DictReader: {base['rows'] / base['seconds']:,.0f} rows/s, peak {base['peak_rss_mb']} MB")
        v_small = step("validate", small, env=env_sqlite)
        v_big = step("validate", big, env=env_sqlite)
        rate = v_big["rows"] / v_big["seconds"]
        print(
            f"tnr validate: {v_big['rows']:,} rows in {v_big['seconds']:.2f} s = {rate:,.0f} rows/s "
            f"({rate / (base['rows'] / base['seconds']):.2f}x the bare CSV read; target 50,000 rows/s)"
        )
        print(f"  peak memory {v_small['peak_rss_mb']} MB at {v_small['rows']:,} rows, {v_big['peak_rss_mb']} MB at {v_big['rows']:,} rows")
        targets = [("SQLite", env_sqlite)]
        if pg_available(args.postgres):
            dbname = args.postgres.rsplit("/", 1)[-1]
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {dbname}"], check=True, capture_output=True)
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {dbname}"], check=True, capture_output=True)
            targets.append(("PostgreSQL", {**env_sqlite, "TNR_DATABASE_URL": args.postgres}))
        else:
            print("PostgreSQL not reachable: skipped")
        for label, env in targets:
            migrate(env)
            i_small = step("import", small, "bench-small", env=env)
            i_big = step("import", big, "bench", env=env)
            rate = i_big["rows"] / i_big["seconds"]
            print(
                f"tnr import ({label}): {i_big['rows']:,} rows / {n:,} incidents in {i_big['seconds']:.1f} s = "
                f"{rate:,.0f} rows/s, {n / i_big['seconds']:,.0f} incidents/s (target 10,000 rows/s on SQLite)"
            )
            print(f"  peak memory {i_small['peak_rss_mb']} MB at {i_small['rows']:,} rows, {i_big['peak_rss_mb']} MB at {i_big['rows']:,} rows")
            e = step("export", work / f"dp-{label}", "bench", env=env)
            d = step("dump", work / f"dump-{label}.csv", "bench", env=env)
            print(
                f"export datapackage ({label}): {e['rows']:,} incidents in {e['seconds']:.1f} s, peak {e['peak_rss_mb']} MB "
                f"(baseline bare incidents table dump {d['seconds']:.1f} s)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
