"""Benchmark: audit-log appends and verification over 1,000,000 entries (issue 3, item 4).

    .venv/bin/python bench/bench_audit.py [--entries 1000000] [--appends 10000]
                                          [--postgres URL | --no-postgres]

On SQLite and on PostgreSQL (a scratch database, created and dropped here), in a fresh process
each:
  * ``record()`` appends/s: N entries appended one by one, 100 per transaction, and N/20 each
    committed on its own (as a page view is; bound by the database's commit);
  * a chain of 1,000,000 entries, computed in Python and bulk-inserted (executemany on
    SQLite, COPY on PostgreSQL);
  * baselines over the same rows, no hashing: ``SELECT count(*)``; the verifier's own
    keyset-paginated read of every column; the ORM iterating ``values_list`` of the same
    columns;
  * ``verify`` of the whole chain, in one process and split over one process per core as
    ``tnr audit verify`` does: entries/s (target >= 200,000/s);
  * one entry in the middle edited by hand (trigger dropped): verify must name it.
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
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/tnr_bench_audit"


# --- measured in a worker process ------------------------------------------------------------


def _entries(org_id: int, n: int, sqlite: bool):
    """A valid chain of ``n`` entries for ``org_id``, as insert tuples (synthetic, no people).

    Built fast rather than through ``record()``: timestamps are formatted by hand and hashed
    with the verifier's fast path (tests prove it equals the documented hash).
    """
    from tnr.core import audithash

    actions = ["view", "change", "create", "export", "view", "view"]
    changed = audithash.canonical_data({"fields": ["summary", "title"]})
    empty = audithash.canonical_data({})
    fast_hash = audithash._fast_hash
    prev = audithash.GENESIS
    day, second = 0, 0
    for seq in range(1, n + 1):
        # one entry every 1.3 s from 2025-01-01, within January's 31 days for any n <= 2M
        second += 1 + (seq % 3 == 0)
        if second >= 86_400:
            day, second = day + 1, second - 86_400
        hh, rest = divmod(second, 3600)
        mm, ss = divmod(rest, 60)
        us = seq * 7919 % 1_000_000
        date = f"2025-01-{day + 1:02d}"
        clock = f"{hh:02d}:{mm:02d}:{ss:02d}.{us:06d}"
        ts = f"{date}T{clock}Z"
        action = actions[seq % len(actions)]
        object_id = f"{seq * 2654435761 % 2**32:08x}-bench"
        data = changed if action == "change" else empty
        actor_id = seq % 40 + 1
        actor = f"staff{actor_id:02d}"
        h = fast_hash(seq, ts, org_id, actor_id, actor, action, "records.incident", object_id, "", data, prev)
        # SQLite stores what Django would ("YYYY-MM-DD HH:MM:SS.ffffff", UTC); PostgreSQL parses ISO
        stored = f"{date} {clock}" if sqlite else ts
        yield (org_id, seq, stored, actor_id, actor, action, "records.incident", object_id, "", data, prev, h)
        prev = h


def _bulk_insert(org_id: int, n: int) -> tuple[float, str]:
    """Load a computed chain: COPY on PostgreSQL, executemany on SQLite, one transaction.

    The append-only triggers are dropped for the load (the head-moving trigger would do a
    million updates) and put back after; the chain head row is then inserted at its final
    position, which the triggers allow (a head is never moved backwards).
    """
    from django.db import connection, transaction

    from tnr.core.models import (
        AuditChain,
        AuditEntry,
        chain_key,
        install_append_only_guards,
        remove_append_only_guards,
    )

    cols = ("organisation_id", "seq", "created_at", "actor_id", "actor_username", "action",
            "object_type", "object_id", "summary", "data", "prev_hash", "hash")  # fmt: skip
    table = AuditEntry._meta.db_table
    t = time.perf_counter()
    last = ""
    remove_append_only_guards(connection)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg 3 cursor: COPY is several times faster than INSERT
            with raw.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in _entries(org_id, n, sqlite=False):
                    copy.write_row(row)
                    last = row[-1]
        else:
            cursor.execute("PRAGMA cache_size = -262144")  # 256 MB: the indexes stay in memory while loading
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
            batch: list[tuple] = []
            for row in _entries(org_id, n, sqlite=True):
                batch.append(row)
                if len(batch) == 50_000:
                    cursor.executemany(sql, batch)
                    batch.clear()
                last = row[-1]
            if batch:
                cursor.executemany(sql, batch)
        AuditChain.objects.create(key=chain_key(org_id), organisation_id=org_id, length=n, head_hash=last)
    install_append_only_guards(connection)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - t, last


def worker(entries: int, appends: int) -> dict[str, object]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tnr.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from tnr.accounts.models import Organisation
    from tnr.core import audit
    from tnr.core.audithash import FIELDS
    from tnr.core.models import AuditEntry, install_append_only_guards, remove_append_only_guards

    out: dict[str, object] = {"vendor": connection.vendor}
    small = Organisation.objects.create(name="Bench appends", slug="bench-appends")
    # record() as the application calls it: inside the caller's transaction (here 100 appends
    # per transaction, like an action touching many records) ...
    t = time.perf_counter()
    for start in range(0, appends, 100):
        with transaction.atomic():
            for i in range(start, min(start + 100, appends)):
                audit.record(None, "view", organisation=small, object_type="records.incident", object_id=str(i))
    out["record_per_s"] = appends / (time.perf_counter() - t)
    # ... and each append committed on its own (a page view): bound by the commit (fsync)
    committed = max(appends // 20, 1)
    t = time.perf_counter()
    for i in range(committed):
        audit.record(None, "view", organisation=small, object_type="records.incident", object_id=str(i))
    out["committed"] = committed
    out["committed_per_s"] = committed / (time.perf_counter() - t)
    assert audit.verify_chain(small).ok

    org = Organisation.objects.create(name="Bench", slug="bench")
    seconds, _ = _bulk_insert(org.pk, entries)
    out["insert_s"] = seconds

    t = time.perf_counter()
    count = AuditEntry.objects.filter(organisation=org).count()
    out["count_s"] = time.perf_counter() - t
    assert count == entries, count

    t = time.perf_counter()
    after, n = 0, 0
    while rows := audit._rows(org.pk, after, audit.VERIFY_BATCH):
        n += len(rows)
        after = rows[-1][0]
    out["fetch_per_s"] = n / (time.perf_counter() - t)

    t = time.perf_counter()
    n = 0
    # the ORM is slow enough that a fifth of the chain gives its rate
    rows_orm = AuditEntry.objects.filter(organisation=org, seq__lte=max(entries // 5, 1)).order_by("seq")
    for _row in rows_orm.values_list(*FIELDS).iterator(chunk_size=20_000):
        n += 1
    out["orm_per_s"] = n / (time.perf_counter() - t)

    t, cpu = time.perf_counter(), time.process_time()
    report = audit.verify_chain(org)
    seconds = time.perf_counter() - t
    out["verify_s"], out["verify_per_s"] = seconds, report.entries / seconds
    # CPU time: on a machine shared with other work, wall-clock rates swing; this does not.
    out["verify_cpu_us"] = (time.process_time() - cpu) / entries * 1e6
    assert report.ok, report.summary()
    assert report.entries == entries, report.summary()

    jobs = os.cpu_count() or 1
    t = time.perf_counter()
    report = audit.verify_chain(org, jobs=jobs)
    seconds = time.perf_counter() - t
    out["jobs"], out["verify_jobs_s"], out["verify_jobs_per_s"] = jobs, seconds, report.entries / seconds
    assert report.ok, report.summary()
    assert report.entries == entries, report.summary()

    middle = entries // 2
    remove_append_only_guards(connection)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AuditEntry._meta.db_table} SET object_id = 'tampered' WHERE organisation_id = %s AND seq = %s", [org.pk, middle])
    install_append_only_guards(connection)
    t = time.perf_counter()
    report = audit.verify_chain(org, jobs=jobs)
    out["tampered_verify_s"] = time.perf_counter() - t
    first = report.first_problem
    assert first is not None, report.summary()
    assert (first.seq, first.kind, report.problem_count) == (middle, "edited", 1), report.summary()
    out["tampered_found"] = str(first)
    return out


# --- driver ----------------------------------------------------------------------------------


def run_worker(env: dict[str, str], entries: int, appends: int) -> dict[str, object]:
    full = {**os.environ, **env}
    subprocess.run([PY, "-m", "tnr.cli", "migrate", "-v0"], env=full, check=True)
    result = subprocess.run(
        [PY, __file__, "--worker", "--entries", str(entries), "--appends", str(appends)],
        env=full, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"worker failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def pg_available(url: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)


def report(label: str, r: dict[str, object], entries: int, appends: int) -> None:
    v = float(r["verify_per_s"])  # type: ignore[arg-type]
    print(f"\n{label}")
    print(f"  record() appends:        {float(r['record_per_s']):>12,.0f} entries/s ({appends:,} appends, 100 per transaction)")  # type: ignore[arg-type]
    print(f"  record(), own commit:    {float(r['committed_per_s']):>12,.0f} entries/s ({r['committed']:,} appends, each committed)")  # type: ignore[arg-type]
    print(f"  bulk insert of chain:    {float(r['insert_s']):>12.1f} s for {entries:,} entries")  # type: ignore[arg-type]
    print(f"  baseline SELECT count:   {float(r['count_s']):>12.2f} s")  # type: ignore[arg-type]
    print(f"  baseline fetch, no hash: {float(r['fetch_per_s']):>12,.0f} entries/s (the verifier's own reads)")  # type: ignore[arg-type]
    print(f"  baseline ORM values_list:{float(r['orm_per_s']):>12,.0f} entries/s (iterate a fifth, no hash)")  # type: ignore[arg-type]
    print(f"  verify, 1 process:       {v:>12,.0f} entries/s, {float(r['verify_s']):.2f} s for {entries:,} "  # type: ignore[arg-type]
          f"({float(r['verify_cpu_us']):.1f} µs CPU per entry incl. reading)")  # type: ignore[arg-type]
    print(f"  verify, {r['jobs']} processes:     {float(r['verify_jobs_per_s']):>12,.0f} entries/s, "  # type: ignore[arg-type]
          f"{float(r['verify_jobs_s']):.2f} s (tnr audit verify's default; target 200,000/s)")  # type: ignore[arg-type]
    print(f"  tampered entry found:    {float(r['tampered_verify_s']):>12.2f} s: {r['tampered_found']}")  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=10_000)
    parser.add_argument("--postgres", default=DEFAULT_PG)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.entries, args.appends)))
        return

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="tnr-bench-audit-"))
    env = {"TNR_ENV": "test", "TNR_DEBUG": "1", "TNR_VAR_DIR": str(work), "TNR_LOG_LEVEL": "WARNING"}
    env.pop("TNR_DATABASE_URL", None)
    os.environ.pop("TNR_DATABASE_URL", None)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"audit log benchmark: {args.entries:,} entries, {args.appends:,} appends, {os.cpu_count()} cores, load {load:.1f}")
    try:
        report("SQLite (WAL, synchronous=NORMAL)", run_worker(env, args.entries, args.appends), args.entries, args.appends)
        if args.no_postgres:
            pass
        elif pg_available(args.postgres):
            dbname = args.postgres.rsplit("/", 1)[-1]
            psql(f"DROP DATABASE IF EXISTS {dbname}")
            psql(f"CREATE DATABASE {dbname}")
            try:
                result = run_worker({**env, "TNR_DATABASE_URL": args.postgres}, args.entries, args.appends)
                report("PostgreSQL", result, args.entries, args.appends)
            finally:
                psql(f"DROP DATABASE IF EXISTS {dbname}")
        else:
            print("\nPostgreSQL not reachable at 127.0.0.1:5432: skipped")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
