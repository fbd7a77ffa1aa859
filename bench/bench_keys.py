"""Benchmark: sign-in with key unwrap, in milliseconds, at the production KDF parameters
(issue 3, item 5; docs/keys.md).

    .venv/bin/python bench/bench_keys.py [--runs 20] [--opslimit 3] [--memlimit-mib 128]

Measured, each ``--runs`` times (median and 95th percentile):
  * Argon2id alone: one derivation at the given parameters (the floor of everything below);
  * the unwrap path: derive, open the personal key, open the member's copies of organisation
    keys (1 and 4 organisations) and wrap them under a fresh session key — what
    ``tnr.accounts.keys.unlock_on_sign_in`` computes, without the database;
  * a whole HTTP password step (``POST /accounts/login/``) through Django's test client on a
    scratch SQLite database, with Django's production password hashers (Argon2id for the
    password hash, then the key unwrap), for a member of 1 and of 4 organisations; and the
    same with the key hook switched off, to show what the keys add;
  * throughput: derivations per second with 1 thread and with one thread per core (libsodium
    runs without Python's global lock, and the application takes no lock of its own).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm-up (allocator, imports, first query)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return {"median": statistics.median(samples), "p95": p95, "min": samples[0]}


def line(label: str, stats: dict[str, float]) -> None:
    print(f"  {label:<58} median {stats['median']:8.1f} ms   p95 {stats['p95']:8.1f} ms   min {stats['min']:8.1f} ms")


def crypto_benchmarks(params, runs: int) -> None:
    from tnr.core import sealing

    salt = bytes(16)
    print(f"Argon2id at opslimit={params.opslimit}, memlimit={params.memlimit // 2**20} MiB:")
    line("derivation alone", timed(lambda: sealing.derive_key("correct horse battery staple", salt, params), runs))

    user_public, user_private = sealing.new_keypair()
    wrapped = sealing.wrap_with_password(user_private, "correct horse battery staple", params)
    orgs = [sealing.new_keypair() for _ in range(4)]
    copies = [(public, sealing.seal(user_public, private)) for public, private in orgs]

    def unwrap_path(n: int) -> None:
        private = sealing.unwrap_with_password(wrapped, "correct horse battery staple")
        assert sealing.public_from_private(private) == user_public
        session_key = os.urandom(32)
        for public, copy in copies[:n]:
            org_private = sealing.open_sealed(private, copy)
            assert sealing.public_from_private(org_private) == public
            sealing.wrap(session_key, org_private)

    line("unwrap path, 1 organisation", timed(lambda: unwrap_path(1), runs))
    line("unwrap path, 4 organisations", timed(lambda: unwrap_path(4), runs))


def throughput(params, seconds: float = 5.0) -> None:
    from tnr.core import sealing

    cores = os.cpu_count() or 1
    print(f"Throughput of derivations ({cores} cores):")
    for threads in sorted({1, cores}):
        done = [0] * threads
        stop = time.perf_counter() + seconds

        def work(i: int, stop: float = stop, done: list[int] = done) -> None:
            while time.perf_counter() < stop:
                sealing.derive_key("pw", os.urandom(16), params)
                done[i] += 1

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        t = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rate = sum(done) / (time.perf_counter() - t)
        print(f"  {threads} thread(s): {rate:6.2f} derivations/s  (peak memory ≈ {threads * params.memlimit // 2**20} MiB)")


def http_benchmarks(params, runs: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tnr-bench-keys-"))
    os.environ["TNR_VAR_DIR"] = str(tmp)
    os.environ["TNR_DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["TNR_KDF_OPSLIMIT"] = str(params.opslimit)
    os.environ["TNR_KDF_MEMLIMIT"] = str(params.memlimit)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tnr.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tnr.accounts import actions, keys
    from tnr.accounts.models import Membership, Organisation, Role

    setup_test_environment()
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    print(f"HTTP password step (POST /accounts/login/), SQLite, password hasher {settings.PASSWORD_HASHERS[0].rsplit('.', 1)[-1]}:")
    password = "lantern-orbit-quarry-57"
    User = get_user_model()
    for n in (1, 4):
        username = f"member{n}"
        user = User.objects.create_user(username, password=password)
        TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        for i in range(n):
            org = Organisation.objects.create(name=f"Bench {n}-{i}", slug=f"bench-{n}-{i}")
            Membership.objects.create(user=user, organisation=org, role=Role.ADMINISTRATOR)
            keys.create_organisation_keys(org, user, password=password)
        client = Client()

        def login(client: Client = client, username: str = username, n: int = n) -> None:
            response = client.post("/accounts/login/", {"username": username, "password": password})
            assert response.status_code == 302, response.status_code
            assert "/login/code/" in response.url
            assert len(client.session[keys.SESSION_KEYS]) == n

        line(f"with key unwrap, member of {n} organisation{'s' if n > 1 else ''}", timed(login, runs))

    original = actions.keys.unlock_on_sign_in
    actions.keys.unlock_on_sign_in = lambda request, user, password: None  # type: ignore[assignment]
    try:
        client = Client()

        def bare_login() -> None:
            response = client.post("/accounts/login/", {"username": "member1", "password": password})
            assert response.status_code == 302

        line("key hook switched off (password hash only), for comparison", timed(bare_login, runs))
    finally:
        actions.keys.unlock_on_sign_in = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--opslimit", type=int, default=3)
    parser.add_argument("--memlimit-mib", type=int, default=128)
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP measurements")
    args = parser.parse_args()
    from tnr.core.sealing import KdfParams

    params = KdfParams(args.opslimit, args.memlimit_mib * 2**20)
    print(f"bench_keys: {args.runs} runs each, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    crypto_benchmarks(params, args.runs)
    throughput(params)
    if not args.no_http:
        http_benchmarks(params, args.runs)


if __name__ == "__main__":
    main()
