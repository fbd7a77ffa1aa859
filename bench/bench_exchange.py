"""Benchmark: validate, import and export of synthetic incidents (issue 2, foundation).

    .venv/bin/python bench/bench_exchange.py [--incidents 100000] [--postgres URL]

Generates N true incidents with the simulator as one flat CSV (one row per act x actor, about
2.1 rows per incident), cuts its first N/10 and N/2 incidents into smaller files, then
measures, each step in a fresh process (so that its peak memory is its own):
  * baseline: reading the big CSV with csv.DictReader (the floor any validator pays);
  * `validate`: rows/s and peak memory at N/10, N/2 and N incidents (memory must stay flat),
    and once more as a user runs it (`tnr validate --quiet FILE`, start-up included);
  * `import` on SQLite and on PostgreSQL: rows/s, incidents/s, peak memory at N/10 and N;
  * export of the imported incidents as a Frictionless data package: seconds, against the
    baseline of dumping the bare incidents table with csv.writer.
Every figure is given twice: wall clock, and per CPU second (the step's own process, plus the
PostgreSQL server process serving it when it runs on this machine). On a shared machine the
wall clock measures the scheduler as much as the code; CPU time does not. The load average
is printed at the start and the end.
Aims (issue 2): validation >= 50,000 rows/s; import >= 10,000 rows/s on SQLite; memory flat.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- one measured step, in its own process -------------------------------------------------------


def _backend_cpu() -> float | None:
    """CPU seconds used so far by the PostgreSQL server process of this connection (if local)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # the server runs elsewhere (or /proc is not readable)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def run_command_line(path: Path) -> None:
    """``tnr validate`` as a user runs it, start-up included; print the same JSON line."""
    wall = time.perf_counter()
    done = subprocess.run([str(Path(PY).with_name("tnr")), "validate", "--quiet", str(path)],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - wall
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = int(done.stdout.split(" rows ")[0].rsplit(" ", 1)[1].replace(",", ""))
    print(json.dumps({"wall": wall, "cpu": child.ru_utime + child.ru_stime, "server_cpu": None, "rows": rows,
                      "peak_mb": round(child.ru_maxrss / 1024, 1)}))


def run_step(mode: str, path: Path, org_slug: str) -> None:
    """Run one step and print one JSON line: wall and CPU seconds, rows, peak memory."""
    if mode == "command-line":
        run_command_line(path)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tnr.settings")
    import django

    django.setup()
    rows = 0
    server_before = None
    if mode in {"import", "export", "dump"}:
        from tnr.accounts.models import Organisation

        org, _ = Organisation.objects.get_or_create(slug=org_slug, defaults={"name": org_slug})
        server_before = _backend_cpu()
    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "read":
        # the floor: what reading the same CSV with the standard library costs
        with open(path, encoding="utf-8", newline="") as f:
            for _row in csv.DictReader(f):
                rows += 1
    elif mode == "validate":
        from tnr.exchange.importer import validate_file

        report = validate_file(path)
        assert report.ok, report.summary()
        rows = report.rows
    elif mode == "import":
        from tnr.exchange.importer import import_file

        rows = import_file(path, org).rows
    elif mode == "export":
        from tnr.exchange.export import write_datapackage
        from tnr.records.models import Incident

        qs = Incident.objects.filter(organisation=org)
        write_datapackage(qs, path)
        rows = qs.count()
    elif mode == "dump":
        # the floor for export: the incidents table alone, written with csv.writer
        from tnr.records.models import Incident

        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            for values in Incident.objects.filter(organisation=org).values_list().iterator(5000):
                w.writerow(values)
                rows += 1
    else:
        raise SystemExit(f"unknown step {mode}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    server = None
    if server_before is not None:
        after = _backend_cpu()
        server = None if after is None else after - server_before
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives fork+exec, so a child would report the
    # parent's peak; VmHWM belongs to this process image alone.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    print(json.dumps({"wall": wall, "cpu": cpu, "server_cpu": server, "rows": rows, "peak_mb": round(peak, 1)}))


def step(mode: str, path: Path, org: str = "bench", *, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [PY, __file__, "--step", mode, str(path), org],
        env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["all_cpu"] = result["cpu"] + (result["server_cpu"] or 0.0)
    return result


# --- input files -------------------------------------------------------------------------------


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


def head(big: Path, incidents: int, folder: Path) -> Path:
    """The first ``incidents`` incidents of ``big`` (rows of one incident are consecutive)."""
    path = folder / f"incidents-{incidents}.csv"
    with open(big, encoding="utf-8", newline="") as src, open(path, "w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        header = next(reader)
        writer.writerow(header)
        seen, last = 0, None
        for row in reader:
            if row[0] != last:
                seen, last = seen + 1, row[0]
                if seen > incidents:
                    break
            writer.writerow(row)
    return path


def pg_available(url: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return bool(url)
    except OSError:
        return False


def migrate(env: dict[str, str]) -> None:
    subprocess.run([PY, "-m", "tnr.cli", "migrate", "-v0"], env={**os.environ, **env}, check=True)


# --- the report ----------------------------------------------------------------------------------


def seconds(r: dict[str, Any]) -> str:
    cpu = f"{r['cpu']:.2f} s CPU" if r["server_cpu"] is None else f"{r['cpu']:.2f} + {r['server_cpu']:.2f} s CPU (client + server)"
    return f"{r['wall']:.2f} s wall, {cpu}"


def rates(r: dict[str, Any], count: float | None = None, unit: str = "rows") -> str:
    """``count`` (default: the rows) per wall second and per CPU second."""
    n = r["rows"] if count is None else count
    return f"{n / r['wall']:,.0f} {unit}/s wall, {n / r['all_cpu']:,.0f} {unit}/s CPU"


def verdict(r: dict[str, Any], aim: float) -> str:
    wall, cpu = r["rows"] / r["wall"], r["rows"] / r["all_cpu"]
    return f"aim {aim:,.0f} rows/s: {'met' if wall >= aim else 'NOT met'} by wall clock, {'met' if cpu >= aim else 'NOT met'} per CPU second"


def memory_line(points: list[dict[str, Any]]) -> str:
    parts = ", ".join(f"{p['peak_mb']:.1f} MB at {p['rows']:,} rows" for p in points)
    first, last = points[0], points[-1]
    grown = (last["peak_mb"] - first["peak_mb"]) * 2**20 / max(1, last["rows"] - first["rows"])
    return f"  peak memory {parts} ({grown:+,.0f} bytes per added row)"


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/tnr_bench")
    args = parser.parse_args()
    n = args.incidents
    work = Path(tempfile.mkdtemp(prefix="tnr-bench-"))
    env_sqlite = {"TNR_ENV": "test", "TNR_DEBUG": "1", "TNR_VAR_DIR": str(work), "TNR_MAX_IMPORT_BYTES": str(2**34)}
    os.environ.update(env_sqlite)
    print(f"start: {load()}")
    try:
        big = make_csv(n, work)
        small, half = head(big, max(n // 10, 1), work), head(big, max(n // 2, 1), work)
        base = step("read", big, env=env_sqlite)
        print(f"\nbaseline csv.DictReader, {base['rows']:,} rows: {seconds(base)}: {rates(base)}")
        v_small, v_half, v_big = (step("validate", f, env=env_sqlite) for f in (small, half, big))
        print(f"tnr validate, {v_big['rows']:,} rows: {seconds(v_big)}: {rates(v_big)}")
        print(f"  {v_big['wall'] / base['wall']:.2f}x the bare read's wall time, {v_big['cpu'] / base['cpu']:.2f}x its CPU time; "
              f"{verdict(v_big, 50_000)}")
        print(memory_line([v_small, v_half, v_big]))
        cli = step("command-line", big, env=env_sqlite)
        print(f"  as a user runs it, `tnr validate --quiet FILE` (start-up included): {seconds(cli)}: {rates(cli)}, "
              f"peak {cli['peak_mb']} MB")
        targets = [("SQLite", env_sqlite)]
        if pg_available(args.postgres):
            dbname = args.postgres.rsplit("/", 1)[-1]
            for sql in (f"DROP DATABASE IF EXISTS {dbname}", f"CREATE DATABASE {dbname}"):
                subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)
            targets.append(("PostgreSQL", {**env_sqlite, "TNR_DATABASE_URL": args.postgres}))
        else:
            print("PostgreSQL not reachable: skipped")
        for label, env in targets:
            migrate(env)
            i_small = step("import", small, "bench-small", env=env)
            i_big = step("import", big, "bench", env=env)
            print(f"tnr import ({label}), {i_big['rows']:,} rows / {n:,} incidents: {seconds(i_big)}: {rates(i_big)}")
            print(f"  {rates(i_big, n, 'incidents')}; " + (verdict(i_big, 10_000) if label == "SQLite" else "no aim on PostgreSQL"))
            print(memory_line([i_small, i_big]))
            e = step("export", work / f"dp-{label}", env=env)
            d = step("dump", work / f"dump-{label}.csv", env=env)
            print(f"export datapackage ({label}), {e['rows']:,} incidents: {seconds(e)}, peak {e['peak_mb']} MB "
                  f"(baseline, bare incidents table dump: {seconds(d)})")
        print(f"end: {load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--step":
        run_step(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    else:
        main()
