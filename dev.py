#!/usr/bin/env python3
"""Set up, run and test TNR Observatory with nothing but Python >= 3.11 and git.

    python3 dev.py run      # venv + dependencies from the lock, SQLite, demo data, dev server
    python3 dev.py test     # the whole test suite: lint, checks, SQLite, PostgreSQL, browser

Dependencies come from uv.lock (installed with uv, itself pinned below and installed with pip
into .tools/). Nothing outside the project folder is touched, except that `test` installs
Debian's chromium with apt-get when it is missing and we are root (CI).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
VENV = ROOT / ".venv"
UV_VERSION = "0.13.8"
CHROMIUM = Path("/usr/bin/chromium")
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

if sys.version_info < (3, 11):  # noqa: UP036 - this file must say why it stops on old Pythons
    sys.exit("TNR Observatory needs Python >= 3.11")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    merged = {**os.environ, **(env or {})}
    result = subprocess.run([str(a) for a in args], env=merged, cwd=ROOT, check=False)  # noqa: S603
    if check and result.returncode != 0:
        sys.exit(result.returncode)
    return result.returncode


def bootstrap() -> Path:
    """Create .venv from uv.lock; cheap when already in sync."""
    uv = TOOLS / "bin" / "uv"
    if not uv.exists():
        say(f"installing uv {UV_VERSION} into .tools/")
        run(sys.executable, "-m", "venv", TOOLS)
        run(TOOLS / "bin" / "python", "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    say("syncing .venv with uv.lock")
    run(
        uv, "sync", "--frozen", "--all-extras", "--quiet", "--python", sys.executable,
        env={"UV_PROJECT_ENVIRONMENT": str(VENV)},
    )
    return VENV / "bin" / "python"


def postgres_url() -> str | None:
    """PostgreSQL for the second test run: TNR_TEST_POSTGRES_URL, or the local server if up."""
    explicit = os.environ.get("TNR_TEST_POSTGRES_URL")
    if explicit:
        return explicit
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return DEFAULT_PG_URL
    except OSError:
        return None


def ensure_chromium() -> bool:
    if CHROMIUM.exists():
        return True
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing Debian's chromium for the browser tests")
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium", "fonts-noto-core", env=env)
        return CHROMIUM.exists()
    return False


def cmd_run(args: argparse.Namespace) -> None:
    python = bootstrap()
    env = {"TNR_ENV": "development", "TNR_DEMO": "1"}
    run(python, "-m", "tnr.cli", "demo", "--no-input", "--url", f"http://{args.addr}:{args.port}/",
        "--reporter-url", f"http://{args.addr}:{int(args.port) + 1}/", env=env)
    # The reporter zone is its own process, as in production (behind an onion service there):
    # its own URLconf and middleware, no session, no cookie shared with the staff zone.
    reporter_port = str(int(args.port) + 1)
    reporter = subprocess.Popen(  # noqa: S603
        [str(python), "-m", "tnr.cli", "runserver", "--noreload", f"{args.addr}:{reporter_port}"],
        env={**os.environ, **env, "TNR_ZONE": "reporter"}, cwd=ROOT,
    )
    say(f"staff zone on http://{args.addr}:{args.port}/  reporter zone on http://{args.addr}:{reporter_port}/"
        "  (Ctrl-C to stop)")
    try:
        run(python, "-m", "tnr.cli", "runserver", "--noreload", f"{args.addr}:{args.port}", env=env, check=False)
    finally:
        reporter.terminate()
        reporter.wait(timeout=10)


def cmd_test(args: argparse.Namespace) -> None:
    python = bootstrap()
    venv_bin = VENV / "bin"
    test_env = {"TNR_ENV": "test", "TNR_DEBUG": "1", "TNR_VAR_DIR": str(ROOT / "var" / "test")}
    say("ruff")
    run(venv_bin / "ruff", "check", "src", "tests", "bench", "dev.py")
    say("mypy")
    run(venv_bin / "mypy", env=test_env)
    say("import contracts (tnr.methods never imports Django)")
    run(venv_bin / "lint-imports", "--no-cache")
    say("django checks and missing migrations")
    run(python, "-m", "tnr.cli", "check", "--fail-level", "WARNING", env=test_env)
    run(python, "-m", "tnr.cli", "makemigrations", "--check", "--dry-run", env=test_env)

    pytest = [python, "-m", "pytest", *args.pytest_args]
    workers = ["-n", str(min(os.cpu_count() or 1, 4))]
    failures = 0
    say("tests on SQLite")
    failures += run(*pytest, *workers, "-m", "not browser and not slow", env=test_env, check=False) != 0

    pg = postgres_url()
    if pg:
        say(f"tests on PostgreSQL ({pg.rsplit('@', 1)[-1]})")
        failures += run(
            *pytest, *workers, "-m", "not browser and not slow",
            env={**test_env, "TNR_DATABASE_URL": pg}, check=False,
        ) != 0
    else:
        say("PostgreSQL not reachable at 127.0.0.1:5432 and TNR_TEST_POSTGRES_URL unset: skipped")
        failures += bool(os.environ.get("CI"))

    if ensure_chromium():
        say("browser tests (Playwright on Debian's chromium)")
        failures += run(*pytest, "-m", "browser", env=test_env, check=False) != 0
    else:
        say("chromium missing and cannot be installed here (not root): browser tests skipped")
        failures += bool(os.environ.get("CI"))

    say("slow tests (e.g. record linkage on a local PySpark session)")
    # Exit code 5 means "no test collected", which is not a failure for an optional group.
    failures += run(*pytest, "-m", "slow and not browser", env=test_env, check=False) not in (0, 5)

    if failures:
        sys.exit(f"{failures} test group(s) failed")
    say("all test groups passed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="set up and run the app with demo data on SQLite")
    p_run.add_argument("--addr", default="127.0.0.1")
    p_run.add_argument("--port", default="8000")
    p_run.set_defaults(func=cmd_run)
    p_test = sub.add_parser("test", help="run the whole test suite")
    p_test.add_argument("pytest_args", nargs="*", help="extra arguments for pytest")
    p_test.set_defaults(func=cmd_test)
    p_setup = sub.add_parser("setup", help="only create .venv from the lock file")
    p_setup.set_defaults(func=lambda _args: bootstrap())
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
