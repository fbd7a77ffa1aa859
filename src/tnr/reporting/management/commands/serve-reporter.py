"""``tnr serve-reporter`` — the reporter zone alone, in its own process (issue 4, item 1).

    tnr serve-reporter [--bind 127.0.0.1:8001] [--workers N] [--threads M]

What an operator puts behind an onion service (``HiddenServicePort 80 127.0.0.1:8001``, or a
``unix:/path`` socket): gunicorn running ``tnr.wsgi:application`` with ``TNR_ZONE=reporter``,
so ``tnr.settings`` serves only ``tnr.reporting.urls`` with the reporter middleware (no
session, no authentication, no CSRF cookie). The staff zone's URLs do not exist here.

Nothing about a visitor is logged. What was checked in gunicorn (27.0.1, ``config.py``,
``glogging.py``, ``workers/base.py``, ``workers/gthread.py``):

* the access log (``accesslog``) is off by default, and it also switches on by itself when
  ``logconfig``/``logconfig_dict``/``logconfig_json`` or ``syslog`` is set: none is set, and
  the logger below ignores access records whatever the configuration says;
* gunicorn's own command-line front end reads ``GUNICORN_CMD_ARGS`` and ``./gunicorn.conf.py``,
  either of which could switch the access log back on: this command embeds gunicorn through
  ``BaseApplication``, which reads neither, so the settings below are the whole configuration;
* the error log prints a peer address in one place: ``Invalid request from ip=...`` for a
  malformed request (``workers/base.py``, level WARNING). The level is fixed at ``error``, so
  it never prints; every other line at ``error`` names a method and path at most. As a second
  guard, every error-log line is scrubbed of anything shaped like an IP address other than the
  address we listen on;
* the error log's default format starts with a timestamp (``%(asctime)s``): dropped, so no
  line can be matched to a visitor's request by its time;
* statsd and syslog stay off (both default off); ``capture_output`` stays off.

Workers are gthread workers even with one thread: with the ``sync`` worker a request waiting
for a free Argon2id slot longer than ``timeout`` would get its worker killed, whereas gthread
workers beat the heartbeat from their main loop while request threads wait.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor

DEFAULT_BIND = "127.0.0.1:8001"
DEFAULT_THREADS = 4
MAX_WORKERS = 64
MAX_THREADS = 64

# IPv4 dotted quads, and anything with two or more colons between hex groups (IPv6; this also
# blanks clock times such as 12:30:45, which is wanted here).
_ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}")


def default_workers() -> int:
    """One worker process per core: the non-KDF part of a request (forms, templates, sealing
    glue) holds the GIL, so a second core needs a second process to be used by Python code."""
    return max(1, os.cpu_count() or 1)


class _ScrubbingFormatter(logging.Formatter):
    """Formats as usual, then removes every IP-shaped string except the listening address."""

    def __init__(self, fmt: str, keep: str) -> None:
        super().__init__(fmt)
        self._keep = keep

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return _ADDRESS.sub(lambda m: m.group(0) if m.group(0) == self._keep else "[address removed]", text)


def _logger_class(bind_host: str) -> type:
    from gunicorn import glogging

    class NoVisitorLogger(glogging.Logger):
        """gunicorn's logger with no access log at all and no times in the error log."""

        error_fmt = "[%(process)d] [%(levelname)s] %(message)s"

        @property
        def access_log_enabled(self) -> bool:
            return False

        def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
            return None

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                handler.setFormatter(_ScrubbingFormatter(self.error_fmt, bind_host))

    return NoVisitorLogger


def parse_bind(text: str) -> tuple[str, str]:
    """``(bind, host)`` for ``HOST:PORT``, ``[V6]:PORT`` or ``unix:PATH``; CommandError otherwise."""
    if text.startswith("unix:"):
        if len(text) <= len("unix:"):
            raise CommandError(f"--bind {text!r}: give the socket's path after unix:")
        return text, ""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise CommandError(f"--bind {text!r}: expected HOST:PORT (e.g. 127.0.0.1:8001) or unix:PATH")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise CommandError(f"--bind {text!r}: port {port!r} is not a number from 1 to 65535")
    return text, host.strip("[]")


class Command(BaseCommand):
    help = (
        "Serve only the reporter zone (TNR_ZONE=reporter) with gunicorn, with no access log and "
        "no visitor address, user agent or time in any log; for use behind an onion service."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=DEFAULT_BIND,
                            help=f"HOST:PORT or unix:PATH to listen on (default {DEFAULT_BIND})")
        parser.add_argument("--workers", type=int, default=default_workers(),
                            help="worker processes (default: one per core, here %(default)s)")
        parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                            help="threads per worker (default %(default)s)")

    def handle(self, *args: Any, **options: Any) -> None:
        bind, host = parse_bind(options["bind"])
        workers, threads = int(options["workers"]), int(options["threads"])
        if not 1 <= workers <= MAX_WORKERS:
            raise CommandError(f"--workers {workers}: give a number from 1 to {MAX_WORKERS}")
        if not 1 <= threads <= MAX_THREADS:
            raise CommandError(f"--threads {threads}: give a number from 1 to {MAX_THREADS}")

        if settings.TNR_ZONE != "reporter":
            # Settings are read once per process, at start: start again with the zone set, so
            # this process (and the workers it forks) load the reporter URLconf and middleware.
            env = {**os.environ, "TNR_ZONE": "reporter"}
            # Derivations each hold the KDF's memory; share the cores among the workers rather
            # than letting every worker run one per core (tnr.reporting.receipts).
            env.setdefault("TNR_RECEIPT_KDF_SLOTS", str(max(1, (os.cpu_count() or 1) // workers)))
            argv = [sys.executable, "-m", "tnr.cli", "serve-reporter", "--bind", bind,
                    "--workers", str(workers), "--threads", str(threads)]
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, argv, env)  # noqa: S606 - our own interpreter, fixed arguments
        if settings.ROOT_URLCONF != settings.REPORTER_URLCONF:
            raise CommandError(
                f"TNR_ZONE=reporter but ROOT_URLCONF is {settings.ROOT_URLCONF!r}: the settings in use "
                "do not switch to the reporter zone, refusing to serve the staff zone here"
            )
        self._check_database()
        connections.close_all()  # no connection may cross the fork into the workers

        from gunicorn.app.base import BaseApplication

        # Each process runs at most min(threads, TNR_RECEIPT_KDF_SLOTS) derivations at once (the
        # semaphore in tnr.reporting.receipts), each holding the receipt KDF's memory.
        slots = workers * min(threads, int(settings.TNR_RECEIPT_KDF_SLOTS))
        mib = slots * int(settings.TNR_RECEIPT_KDF_MEMLIMIT) / 2**20
        banner = (
            f"Reporter zone on {bind}: {workers} worker process(es) x {threads} thread(s), at most "
            f"{slots} receipt derivations at once (about {mib:.0f} MiB of memory for them). No access log; errors only, "
            "with no visitor address, user agent or time."
        )
        stdout = self.stdout

        def when_ready(server: Any) -> None:
            stdout.write(banner)
            stdout.flush()

        options_for_gunicorn: dict[str, Any] = {
            "bind": [bind],
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "error",
            "logger_class": _logger_class(host),
            "capture_output": False,
            "syslog": False,
            "statsd_host": None,
            "proc_name": "tnr-reporter",
            "when_ready": when_ready,
        }

        class ReporterServer(BaseApplication):
            def load_config(self) -> None:
                for key, value in options_for_gunicorn.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                from tnr.wsgi import application

                return application

        ReporterServer(prog="tnr serve-reporter").run()

    def _check_database(self) -> None:
        from tnr.reporting.actions import recipients

        connection = connections["default"]
        try:
            executor = MigrationExecutor(connection)
            unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
            accepting = recipients() if not unapplied else []
        except DatabaseError as exc:
            raise CommandError(f"Cannot use the database ({connection.settings_dict['ENGINE']}): {exc}") from None
        if unapplied:
            raise CommandError("The database has unapplied migrations: run `tnr migrate` first.")
        if not accepting:
            self.stderr.write(
                "No organisation accepts reports yet (it needs organisation keys and an open intake): "
                "the report pages will say the service is unavailable."
            )
