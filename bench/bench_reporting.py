"""Benchmark: reporter-zone submissions per second under concurrent reporters (issue 4).

    .venv/bin/python bench/bench_reporting.py [--reporters 50] [--duration 20 | --submissions N]
                                              [--workers 2] [--threads 4] [--postgres]
                                              [--alone 5] [--profile 5]

Over real HTTP against ``tnr serve-reporter`` (gunicorn, its own process) on a scratch SQLite
database (and, with ``--postgres``, a scratch PostgreSQL database at 127.0.0.1:5432, created
and dropped here), with the production receipt KDF: Argon2id, 3 passes over 128 MiB. Each
reporter thread does the whole multi-step report as a browser without JavaScript does: GET the
first step, POST every step as multipart/form-data carrying the hidden ``carry`` field, and
the last POST returns the receipt page. Then it starts the next report.

Printed, with the load average at start, before the load and at the end (the machine is
shared, so read the figures with it):
  * submissions/s; p50/p99 latency of the sealing POST (the last step) and of a whole report;
  * errors (any non-200 page, any form error, no receipt): must be 0;
  * lost reports: after the run every receipt issued is signed in with
    ``tnr.reporting.actions.sign_in`` and its report opened with ``open_as_reporter`` (in a
    separate process on the same database), and the narrative must carry that reporter's own
    token: must be 0;
  * server and client CPU seconds during the load (the server's from /proc, workers included);
  * baselines measured in the same run, in this process:
      - the KDF alone: one derivation timed on its own, giving the limit cores / seconds, and
        derivations/s with one thread per core (what two cores really give at this moment);
      - GlobaLeaks' scheme (DESIGN §5): two derivations per submission behind one
        process-wide lock, plus sealing the answers. This emulation leaves out GlobaLeaks'
        own web stack, so it flatters GlobaLeaks: the ratio to it is a lower bound;
  * where the time goes: first one reporter alone (no concurrency), with the server's CPU for
    each request read from /proc; after the load, reports walked in a separate process through
    Django's test client with the CPU of each part timed (Argon2id, templates, form validation,
    multipart parsing, sealing, database);
  * a CPU-time view: the server's CPU seconds per submission projected to the cores alone,
    against the KDF's and the GlobaLeaks emulation's CPU seconds. Other engineers' jobs share
    this machine, and the scheduler's share for each process moves the wall-clock ratios; the
    CPU-time ratios do not depend on it.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
PY = sys.executable
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "lantern-orbit-quarry-57"
OPSLIMIT, MEMLIMIT = 3, 128 * 2**20  # production (tnr.core.sealing.PRODUCTION_KDF); never lowered here

SET_UP = f"""
from django.contrib.auth import get_user_model
from django.core.management import call_command
from tnr.accounts import keys
from tnr.accounts.models import Membership, Organisation, Role
from tnr.reporting.models import Intake
call_command("migrate", verbosity=0)
org = Organisation.objects.create(name="Bench Watch", slug="bench-watch")
admin = get_user_model().objects.create_user(username="bench-admin", password="{PASSWORD}")
Membership.objects.create(user=admin, organisation=org, role=Role.ADMINISTRATOR)
keys.create_organisation_keys(org, admin, password="{PASSWORD}")
Intake.objects.create(organisation=org, accepting=True)
"""


def answers(token: str) -> list[tuple[str, dict[str, Any]]]:
    """One report's steps (one recipient organisation, so no recipient step). Synthetic."""
    return [
        ("what", {"tactics": ["intimidation_surveillance", "coercion_by_proxy"],
                  "narrative": f"Synthetic benchmark report {token}. Two men waited outside the flat "
                               "and photographed visitors; a relative back home was questioned."}),
        ("when", {"precision": "month", "year": "2025", "month": "3", "country": "DE", "city": "Leipzig",
                  "location_type": "residence", "host_state": "DE", "origin_state": "CN",
                  "perpetrator_states": ["CN"], "actors": ["state"]}),
        ("whom", {"whom": ["me", "relative_home"], "profile": ["journalist"], "danger": "not_sure",
                  "relatives": "A parent was questioned twice.", "needs": ["legal"]}),
        ("evidence", {"kinds": ["messages", "photos"], "notes": ""}),
        ("you", {"name": "", "contact_method": "none", "contact": "",
                 "consent_sharing": "organisation", "consent_statistics": "on"}),
    ]


# --- HTTP as a browser without JavaScript --------------------------------------------------------


def multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    """multipart/form-data, as the zone's forms are sent (enctype multipart on every step).
    Written here because the standard library has no encoder for it and httpx is not installed."""
    boundary = f"----bench{secrets.token_hex(12)}"
    parts = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{item}\r\n')
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode("utf-8"), f"multipart/form-data; boundary={boundary}"


class PageError(Exception):
    pass


def fetch(port: int, method: str, path: str, fields: dict[str, Any] | None = None) -> str:
    # A new connection per request: no retry is ever needed (a retried sealing POST could
    # submit twice), and on loopback a connection costs well under a millisecond.
    body, content_type = multipart(fields) if fields is not None else (b"", "")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request(method, path, body=body or None,
                           headers={"Content-Type": content_type} if body else {})
        response = connection.getresponse()
        text = response.read().decode("utf-8")
    finally:
        connection.close()
    if response.status != 200:
        raise PageError(f"{method} {path}: HTTP {response.status}")
    if 'class="errorlist' in text:
        raise PageError(f"{method} {path}: the page shows a form error")
    return text


def carried(text: str) -> str:
    found = re.search(r'name="carry" value="([^"]*)"', text)
    if not found:
        raise PageError("no carry field on the step page")
    return html.unescape(found.group(1))


@dataclass
class Walk:
    receipt: str
    token: str
    step_seconds: list[float]  # GET, then every POST but the last
    seal_seconds: float
    total_seconds: float
    finished_at: float
    server_cpu: list[float] = field(default_factory=list)  # per request, when probed


REQUESTS = ["GET first step", *(f"POST {step}" for step, _values in answers("x"))]


def walk(port: int, token: str, probe: Callable[[], float] | None = None) -> Walk:
    """One whole report. With ``probe`` (the server's CPU clock), the server CPU of each
    request is recorded too; only meaningful with one reporter at a time."""
    url = "/en/report/"
    started = time.perf_counter()
    steps: list[float] = []
    cpu: list[float] = []
    before = probe() if probe else 0.0
    t = time.perf_counter()
    text = fetch(port, "GET", url)
    steps.append(time.perf_counter() - t)
    plan = answers(token)
    seal = 0.0
    for index, (step, values) in enumerate(plan):
        if probe:
            now_cpu = probe()
            cpu.append(now_cpu - before)
            before = now_cpu
        t = time.perf_counter()
        text = fetch(port, "POST", url, {"carry": carried(text), "step": step, "next": "1", **values})
        elapsed = time.perf_counter() - t
        if index == len(plan) - 1:
            seal = elapsed
        else:
            steps.append(elapsed)
    if probe:
        cpu.append(probe() - before)
    found = re.search(r'<output id="receipt">([0-9 ]+)</output>', text)
    if not found:
        raise PageError("the last step did not return a receipt")
    now = time.perf_counter()
    return Walk(found.group(1), token, steps, seal, now - started, now, cpu)


# --- the server ----------------------------------------------------------------------------------


def server_env(database_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TNR_")}
    env.update({
        "TNR_ENV": "production", "TNR_DEBUG": "0",
        "TNR_SECRET_KEY": secrets.token_urlsafe(32), "TNR_RECEIPT_PEPPER": secrets.token_urlsafe(32),
        "TNR_DATABASE_URL": database_url, "TNR_VAR_DIR": str(var_dir),
        "TNR_KDF_OPSLIMIT": str(OPSLIMIT), "TNR_KDF_MEMLIMIT": str(MEMLIMIT),
        "TNR_RECEIPT_KDF_OPSLIMIT": str(OPSLIMIT), "TNR_RECEIPT_KDF_MEMLIMIT": str(MEMLIMIT),
        "DJANGO_SETTINGS_MODULE": "tnr.settings",
    })
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (gunicorn master and workers), summed over
    every thread from /proc/<pid>/task/<tid>/schedstat (nanoseconds, unlike /proc/<pid>/stat
    whose 10 ms ticks are too coarse for one page)."""
    total_ns = 0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids.extend(int(c) for c in (task / "children").read_text().split())
    for p in pids:
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                total_ns += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread or process that ended meanwhile
    return total_ns / 1e9


class Server:
    def __init__(self, env: dict[str, str], workers: int, threads: int, var_dir: Path) -> None:
        self.port = free_port()
        self.output = var_dir / "server-output.txt"
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(
                [PY, "-m", "tnr.cli", "serve-reporter", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(workers), "--threads", str(threads)],
                env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT,
            )
        deadline = time.monotonic() + 180
        while "Reporter zone on" not in self.text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve-reporter did not start:\n{self.stop()}")
            time.sleep(0.2)

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.text()


# --- baselines in this process -------------------------------------------------------------------


def kdf_single(runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of one receipt derivation (the call the server makes)."""
    from tnr.core.sealing import KdfParams
    from tnr.reporting import receipts

    params = KdfParams(OPSLIMIT, MEMLIMIT)
    receipts.derive(receipts.new_receipt(), b"pepper", params)  # warm-up: first touch of 128 MiB
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.thread_time()
        receipts.derive(receipts.new_receipt(), b"pepper", params)
        wall.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def rate_for(seconds: float, threads: int, one: Callable[[], None]) -> tuple[float, float]:
    """Operations per second of ``one`` run by ``threads`` threads for about ``seconds``, and
    the CPU seconds this process spent per operation."""
    done = [0] * threads
    failures: list[BaseException] = []
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        try:
            while time.perf_counter() < stop:
                one()
                done[i] += 1
        except BaseException as exc:  # a broken baseline must stop the run, not read as 0/s
            failures.append(exc)

    started, cpu = time.perf_counter(), time.process_time()
    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise failures[0]
    count = sum(done)
    return count / (time.perf_counter() - started), (time.process_time() - cpu) / max(1, count)


def kdf_parallel(seconds: float, cores: int) -> tuple[float, float]:
    from tnr.core.sealing import KdfParams
    from tnr.reporting import receipts

    params = KdfParams(OPSLIMIT, MEMLIMIT)

    def one() -> None:
        receipts.derive(receipts.new_receipt(), b"pepper", params)

    return rate_for(seconds, cores, one)


def globaleaks_emulated(seconds: float, threads: int) -> tuple[float, float]:
    """Submissions/s under GlobaLeaks' scheme as DESIGN §5 describes it: a receipt hash and a
    key derivation (two Argon2id runs at the same strength) behind one process-wide lock, then
    the answers sealed. Everything else GlobaLeaks does per submission is left out."""
    from tnr.core import sealing
    from tnr.core.sealing import KdfParams

    params = KdfParams(OPSLIMIT, MEMLIMIT)
    lock = threading.Lock()
    payload = json.dumps(answers("globaleaks")).encode("utf-8")

    def submit() -> None:
        receipt = f"{secrets.randbelow(10**16):016d}"
        with lock:
            sealing.derive_key(receipt, b"receipt-hash-slt", params)  # 16-byte salts, as libsodium wants
            key = sealing.derive_key(receipt, b"receipt-key-salt", params)
        public, private = sealing.new_keypair()
        sealing.seal(public, payload)
        sealing.wrap(key, private)

    return rate_for(seconds, threads, submit)


# --- verification, in a process of its own on the run's database ---------------------------------


def verify_worker(path: Path) -> None:
    """Sign in with every receipt and open its report; print one JSON line."""
    import django

    django.setup()
    from django.db import connections

    from tnr.reporting import actions
    from tnr.reporting.models import Report

    issued = json.loads(path.read_text(encoding="utf-8"))
    lost: list[str] = []
    wrong: list[str] = []

    def check(item: dict[str, str]) -> None:
        try:
            thread = actions.open_as_reporter(actions.sign_in(item["receipt"]))
        except actions.ReportingError as exc:
            lost.append(f"{item['token']}: {exc}")
        else:
            if item["token"] not in thread.answers["what"]["narrative"]:
                wrong.append(item["token"])
        finally:
            connections.close_all()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(check, issued))
    print(json.dumps({"checked": len(issued), "lost": lost, "wrong_report": wrong,
                      "reports_in_database": Report.objects.count(),
                      "seconds": time.perf_counter() - started}))


# The submission path's CPU by part: these functions are wrapped with a CPU-clock timer (the
# outermost call of each part counts, so a template included by a template is not counted
# twice). A deterministic profiler (cProfile) was tried first: its per-call cost inflates
# template rendering, made of many tiny calls, about tenfold, so it misplaces the time.
PROFILE_PARTS = {
    "Argon2id (libsodium)": [("nacl.pwhash.argon2id", None, "kdf")],
    "templates (pages and form widgets)": [("django.template.backends.django", "Template", "render")],
    "forms (validation)": [("django.forms.forms", "BaseForm", "full_clean")],
    "multipart parsing": [("django.http.multipartparser", "MultiPartParser", "parse")],
    "sealing (X25519, secretbox)": [("tnr.core.sealing", None, "seal"), ("tnr.core.sealing", None, "wrap"),
                                    ("tnr.core.sealing", None, "new_keypair")],
    "database (queries, commits)": [("django.db.backends.utils", "CursorWrapper", "execute"),
                                    ("django.db.backends.utils", "CursorWrapper", "executemany"),
                                    ("django.db.backends.base.base", "BaseDatabaseWrapper", "commit")],
}


def _time_parts(spent: dict[str, float]) -> None:
    import functools
    import importlib

    depth = threading.local()
    for part, targets in PROFILE_PARTS.items():
        spent[part] = 0.0
        for module_name, class_name, attr in targets:
            owner: Any = importlib.import_module(module_name)
            if class_name:
                owner = getattr(owner, class_name)
            original = getattr(owner, attr)

            def timed(*a: Any, __original: Any = original, __part: str = part, **kw: Any) -> Any:
                level = getattr(depth, __part, 0)
                setattr(depth, __part, level + 1)
                started = time.thread_time()
                try:
                    return __original(*a, **kw)
                finally:
                    setattr(depth, __part, level)
                    if level == 0:
                        spent[__part] += time.thread_time() - started

            setattr(owner, attr, functools.wraps(original)(timed))


def profile_worker(walks: int) -> None:
    """Walk reports in this process through Django's test client (no HTTP, no gunicorn) and
    print one JSON line: CPU seconds per report, in all and by part."""
    import django

    django.setup()
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")

    def one(token: str) -> None:
        url = "/en/report/"
        text = client.get(url).content.decode()
        for step, values in answers(token):
            response = client.post(url, {"carry": carried(text), "step": step, "next": "1", **values})
            text = response.content.decode()
            if response.status_code != 200 or 'class="errorlist' in text:
                raise PageError(f"profiled walk: step {step} failed")
        if 'id="receipt"' not in text:
            raise PageError("profiled walk: no receipt")

    one("profile-warm-up")
    spent: dict[str, float] = {}
    _time_parts(spent)
    started = time.thread_time()
    for n in range(walks):
        one(f"profile-{n}")
    total = time.thread_time() - started
    parts = {part: seconds / walks for part, seconds in spent.items()}
    parts["everything else (views, middleware, test client)"] = (total - sum(spent.values())) / walks
    print(json.dumps({"walks": walks, "total": total / walks, "parts": parts}))


# --- one run against one database ----------------------------------------------------------------


@dataclass
class Run:
    backend: str
    walks: list[Walk] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    alone: list[Walk] = field(default_factory=list)
    warm: list[Walk] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    verified: dict[str, Any] = field(default_factory=dict)
    server_said: list[str] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)


def load_phase(port: int, reporters: int, duration: float | None, submissions: int | None, run: Run) -> None:
    lock = threading.Lock()
    started_reports = [0]
    t0 = time.perf_counter()
    deadline = t0 + duration if duration is not None else None

    def next_token(i: int) -> str | None:
        with lock:
            if submissions is not None and started_reports[0] >= submissions:
                return None
            if deadline is not None and time.perf_counter() >= deadline:
                return None
            started_reports[0] += 1
            return f"bench-{run.backend}-{i}-{started_reports[0]}-{secrets.token_hex(4)}"

    def reporter(i: int) -> None:
        while (token := next_token(i)) is not None:
            try:
                done = walk(port, token)
            except (PageError, OSError, http.client.HTTPException) as exc:
                with lock:
                    run.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.5)
            else:
                with lock:
                    run.walks.append(done)

    pool = [threading.Thread(target=reporter, args=(i,)) for i in range(reporters)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    last = max((w.finished_at for w in run.walks), default=time.perf_counter())
    run.seconds = last - t0


def one_run(backend: str, database_url: str | None, args: argparse.Namespace) -> Run:
    """Prepare the database, serve it, load it, stop the server, verify every receipt.
    ``database_url`` None: a SQLite file in the run's scratch folder."""
    run = Run(backend)
    var_dir = Path(tempfile.mkdtemp(prefix=f"tnr-bench-reporting-{backend.lower()}-"))
    try:
        env = server_env(database_url or f"sqlite:///{var_dir / 'bench.sqlite3'}", var_dir)
        prepared = subprocess.run([PY, "-m", "tnr.cli", "shell", "-c", SET_UP], env=env, cwd=ROOT,
                                  capture_output=True, text=True)
        if prepared.returncode != 0:
            raise SystemExit(f"preparing the {backend} database failed:\n{prepared.stderr}")
        server = Server(env, args.workers, args.threads, var_dir)
        banner = server.text().strip()
        try:
            probe = lambda: tree_cpu_seconds(server.process.pid)  # noqa: E731
            run.warm.append(walk(server.port, f"warm-{backend}", probe))  # loads templates, catalogues
            for n in range(args.alone):  # one reporter alone: the server's CPU for each request
                run.alone.append(walk(server.port, f"alone-{backend}-{n}", probe))
            run.load_before = os.getloadavg()
            cpu_server, cpu_client = tree_cpu_seconds(server.process.pid), time.process_time()
            load_phase(server.port, args.reporters, None if args.submissions else args.duration,
                       args.submissions, run)
            run.server_cpu = tree_cpu_seconds(server.process.pid) - cpu_server
            run.client_cpu = time.process_time() - cpu_client
        finally:
            printed = server.stop()
        run.server_said = [line for line in printed.replace(banner, "").splitlines() if line.strip()]
        issued = var_dir / "receipts.json"
        issued.write_text(json.dumps([{"receipt": w.receipt, "token": w.token} for w in run.warm + run.alone + run.walks]))
        checked = subprocess.run([PY, __file__, "--verify", str(issued)], env=env, cwd=ROOT,
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            raise SystemExit(f"verification failed to run:\n{checked.stderr}")
        run.verified = json.loads(checked.stdout.strip().splitlines()[-1])
        if args.profile:
            profiled = subprocess.run([PY, __file__, "--profile-worker", str(args.profile)],
                                      env={**env, "TNR_ZONE": "reporter"}, cwd=ROOT, capture_output=True, text=True)
            if profiled.returncode != 0:
                raise SystemExit(f"profiling failed:\n{profiled.stderr}")
            run.profile = json.loads(profiled.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    return run


def postgres_database() -> tuple[str, Callable[[], None]]:
    import psycopg

    name = f"tnr_bench_reporting_{secrets.token_hex(4)}"
    with psycopg.connect(PG_SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlparse(PG_SERVER)._replace(path=f"/{name}").geturl(), drop


# --- report --------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt_load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in load)


@dataclass(frozen=True)
class Baselines:
    cores: int
    kdf_wall: float  # one derivation, seconds
    kdf_cpu: float
    kdf_parallel_rate: float  # derivations/s, one thread per core
    kdf_parallel_cpu: float  # CPU seconds per derivation then
    globaleaks_rate: float  # submissions/s, emulated
    globaleaks_cpu: float  # CPU seconds per emulated submission

    @property
    def kdf_limit(self) -> float:
        return self.cores / self.kdf_wall


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def report(run: Run, args: argparse.Namespace, base: Baselines) -> None:
    n = len(run.walks)
    rate = n / run.seconds if run.seconds else 0.0
    seal = [w.seal_seconds for w in run.walks]
    whole = [w.total_seconds for w in run.walks]
    lost = len(run.verified.get("lost", [])) + len(run.verified.get("wrong_report", []))
    per_submission = run.server_cpu / n if n else float("nan")
    print(f"\n{args.reporters} reporters over HTTP, {run.backend}, serve-reporter --workers {args.workers} "
          f"--threads {args.threads} (load average before the load: {fmt_load(run.load_before)})")
    print(f"  one reporter alone first ({len(run.alone)} reports, after one to warm up): server CPU per request, median")
    print("    " + ", ".join(f"{name} {statistics.median(w.server_cpu[i] for w in run.alone) * 1000:.0f} ms"
                             for i, name in enumerate(REQUESTS)))
    alone_total = statistics.median(sum(w.server_cpu) for w in run.alone)
    print(f"    whole report {alone_total * 1000:.0f} ms of server CPU, of which one derivation's CPU "
          f"{base.kdf_cpu * 1000:.0f} ms ({base.kdf_cpu / alone_total:.0%}); sealing POST "
          f"{statistics.median(w.seal_seconds for w in run.alone) * 1000:.0f} ms wall")
    print_table([
        ("submissions completed", f"{n}"),
        ("time (first request to last receipt)", f"{run.seconds:.1f} s"),
        ("submissions/s", f"{rate:.2f}"),
        ("sealing POST latency p50 / p99", f"{pct(seal, 0.5):.2f} s / {pct(seal, 0.99):.2f} s"),
        ("whole report latency p50 / p99", f"{pct(whole, 0.5):.2f} s / {pct(whole, 0.99):.2f} s"),
        ("errors", f"{len(run.errors)}"),
        ("lost reports (receipt does not open its own report)",
         f"{lost} of {run.verified.get('checked', 0)} receipts checked "
         f"({run.verified.get('seconds', float('nan')):.0f} s)"),
        ("reports in the database / receipts issued",
         f"{run.verified.get('reports_in_database')} / {len(run.walks) + len(run.alone) + len(run.warm)}"),
        ("server CPU during the load (master and workers)",
         f"{run.server_cpu:.1f} s = {per_submission * 1000:.0f} ms per submission"),
        ("  of which the KDF (one derivation's CPU)", f"{base.kdf_cpu * 1000:.0f} ms = {base.kdf_cpu / per_submission:.0%}"),
        ("client CPU during the load (this process)", f"{run.client_cpu:.1f} s"),
        ("ratio to the KDF limit (cores / one derivation)", f"{rate / base.kdf_limit:.2f}"),
        ("ratio to the KDF measured with one thread per core", f"{rate / base.kdf_parallel_rate:.2f}"),
        ("ratio to GlobaLeaks' scheme emulated (aim >= 4)", f"{rate / base.globaleaks_rate:.2f}"),
    ])
    # Other jobs share the machine, and a process with more runnable threads gets a larger share
    # of it, which distorts the wall-clock ratios. CPU seconds per submission do not depend on
    # that: they project what the same code does with the cores to itself.
    ours = base.cores / per_submission
    print("  CPU-time view (the cores to ourselves; projected from CPU seconds per submission):")
    print_table([
        ("  this server: cores / server CPU per submission", f"{ours:.2f} submissions/s"),
        ("  KDF limit: cores / CPU of one derivation", f"{base.cores / base.kdf_cpu:.2f}/s -> ratio {ours * base.kdf_cpu / base.cores:.2f}"),
        ("  GlobaLeaks: 1 / CPU per emulated submission (one lock)",
         f"{1 / base.globaleaks_cpu:.2f}/s -> ratio {ours * base.globaleaks_cpu:.2f}"),
    ])
    if run.profile:
        print(f"  where the CPU goes, in process (Django test client, no HTTP), per report, over {run.profile['walks']} reports:")
        rows = [("    total per report", f"{run.profile['total'] * 1000:.0f} ms")]
        rows += [(f"    {part}", f"{seconds * 1000:.0f} ms") for part, seconds in run.profile["parts"].items()]
        print_table(rows)
    for message in run.errors[:5]:
        print(f"  error: {message}")
    for message in (run.verified.get("lost", []) + run.verified.get("wrong_report", []))[:5]:
        print(f"  lost: {message}")
    if run.server_said:
        print(f"  the server printed {len(run.server_said)} line(s) besides its banner, e.g.: {run.server_said[0][:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=50, help="concurrent reporters (threads)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds during which new reports start")
    parser.add_argument("--submissions", type=int, help="stop after this many reports instead of --duration")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="serve-reporter --workers")
    parser.add_argument("--threads", type=int, default=4, help="serve-reporter --threads")
    parser.add_argument("--kdf-runs", type=int, default=5)
    parser.add_argument("--baseline-seconds", type=float, default=8.0,
                        help="seconds for each in-process baseline (KDF in parallel, GlobaLeaks)")
    parser.add_argument("--alone", type=int, default=5, help="reports by one reporter alone before the load")
    parser.add_argument("--profile", type=int, default=5, help="reports profiled in process after the load (0: none)")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL at 127.0.0.1:5432")
    parser.add_argument("--verify", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verify:
        verify_worker(args.verify)
        return
    if args.profile_worker:
        profile_worker(args.profile_worker)
        return
    if args.reporters < 1 or (args.submissions is not None and args.submissions < 1) or args.duration <= 0 or args.alone < 1:
        parser.error("--reporters, --submissions, --duration and --alone must be positive")

    import gunicorn

    cores = os.cpu_count() or 1
    load_start, wall_start, cpu_start = os.getloadavg(), time.perf_counter(), time.process_time()
    print(f"bench_reporting: {cores} cores, Python {platform.python_version()}, gunicorn {gunicorn.__version__}, "
          f"receipt KDF Argon2id {OPSLIMIT} passes over {MEMLIMIT // 2**20} MiB")
    print(f"load average (1/5/15 min) at start: {fmt_load(load_start)}")

    kdf_wall, kdf_cpu = kdf_single(args.kdf_runs)
    par_rate, par_cpu = kdf_parallel(args.baseline_seconds, cores)
    gl_rate, gl_cpu = globaleaks_emulated(args.baseline_seconds, cores)
    base = Baselines(cores, kdf_wall, kdf_cpu, par_rate, par_cpu, gl_rate, gl_cpu)
    print("\nBaselines in this process:")
    print_table([
        (f"one derivation (median of {args.kdf_runs})", f"{kdf_wall * 1000:.0f} ms wall, {kdf_cpu * 1000:.0f} ms CPU"),
        ("KDF limit: cores / one derivation", f"{base.kdf_limit:.2f} submissions/s"),
        ("KDF with one thread per core", f"{par_rate:.2f} derivations/s, {par_cpu * 1000:.0f} ms CPU each"),
        ("GlobaLeaks' scheme emulated (2 derivations behind one lock)",
         f"{gl_rate:.2f} submissions/s, {gl_cpu * 1000:.0f} ms CPU each (formula 1 / (2 x KDF) = {1 / (2 * kdf_wall):.2f})"),
    ])

    runs = [one_run("SQLite", None, args)]
    if args.postgres:
        url, drop = postgres_database()
        try:
            runs.append(one_run("PostgreSQL", url, args))
        finally:
            drop()
    for run in runs:
        report(run, args, base)
    print(f"\nload average at end: {fmt_load(os.getloadavg())}; this process: "
          f"{time.process_time() - cpu_start:.1f} s CPU in {time.perf_counter() - wall_start:.0f} s wall")


if __name__ == "__main__":
    main()
