"""``tnr serve-reporter`` as its own process, over real HTTP (issue 4, item 1).

The command is started as an operator would start it (a subprocess, no TNR_ZONE in its
environment: the command sets it) against a scratch database prepared with ``tnr`` commands.
Requests come from 127.0.0.5 (any 127/8 address is loopback on Linux) with a recognisable
user agent, so that the test can look for exactly those in everything the server printed.
"""

from __future__ import annotations

import html
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.reporting.test_zone_flow import steps_answers

CLIENT_ADDRESS = "127.0.0.5"
USER_AGENT = "CanaryAgent/7.3 (serve-reporter test)"
PASSWORD = "lantern-orbit-quarry-57"

# Run through `tnr shell -c`: the schema, then an organisation with keys and an open intake.
SET_UP = f"""
from django.contrib.auth import get_user_model
from django.core.management import call_command
from tnr.accounts import keys
from tnr.accounts.models import Membership, Organisation, Role
from tnr.reporting.models import Intake
call_command("migrate", verbosity=0)
org = Organisation.objects.create(name="Alpha Watch", slug="alpha-watch")
ada = get_user_model().objects.create_user(username="ada", password="{PASSWORD}")
Membership.objects.create(user=ada, organisation=org, role=Role.ADMINISTRATOR)
keys.create_organisation_keys(org, ada, password="{PASSWORD}")
Intake.objects.create(organisation=org, accepting=True)
"""


def _backends() -> list[str]:
    url = os.environ.get("TNR_DATABASE_URL", "")
    return ["sqlite", "postgresql"] if url.startswith("postgres") else ["sqlite"]


@pytest.fixture(params=_backends())
def database_url(request: Any, tmp_path: Path) -> Iterator[str]:
    """A scratch database the server process owns: a SQLite file, or a PostgreSQL database
    created next to the one TNR_DATABASE_URL names (when the suite runs on PostgreSQL)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reporter.sqlite3'}"
        return
    import psycopg

    base = os.environ["TNR_DATABASE_URL"]
    name = f"tnr_serve_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlparse(base)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    output: Path

    def stop(self) -> str:
        """Stop gracefully (SIGTERM, as a service manager does) and return all it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if k != "TNR_ZONE"}
    env.update({
        "TNR_ENV": "test", "TNR_DEBUG": "0", "TNR_VAR_DIR": str(tmp_path),
        "TNR_DATABASE_URL": database_url,
        # cheap KDF: this test is about the process, not about Argon2id's cost
        "TNR_KDF_OPSLIMIT": "1", "TNR_KDF_MEMLIMIT": "8192",
    })
    tnr = [sys.executable, "-m", "tnr.cli"]
    prepared = subprocess.run([*tnr, "shell", "-c", SET_UP], env=env, capture_output=True, text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stderr
    port = _free_port()
    output = tmp_path / "server-output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*tnr, "serve-reporter", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2"],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    served = Server(port, process, output)
    deadline = time.monotonic() + 120
    while "Reporter zone on" not in output.read_text(encoding="utf-8", errors="replace"):
        if process.poll() is not None:
            pytest.fail(f"serve-reporter exited with {process.returncode}:\n{served.stop()}")
        if time.monotonic() > deadline:
            pytest.fail(f"serve-reporter did not start in 120 s:\n{served.stop()}")
        time.sleep(0.2)
    yield served
    served.stop()


def request(port: int, method: str, path: str) -> http.client.HTTPResponse:
    return page(port, method, path)[0]


def multipart(fields: dict[str, Any]) -> tuple[bytes, str]:
    """multipart/form-data as a browser sends the zone's forms (enctype multipart on every step).
    Hand-written because the standard library has no form encoder for it."""
    boundary = f"----tnr{secrets.token_hex(12)}"
    parts = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{item}\r\n')
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode("utf-8"), f"multipart/form-data; boundary={boundary}"


def page(port: int, method: str, path: str, fields: dict[str, Any] | None = None) -> tuple[http.client.HTTPResponse, str]:
    body, content_type = multipart(fields) if fields is not None else (b"", "")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(CLIENT_ADDRESS, 0))
    connection.request(method, path, body=body or None,
                       headers={"User-Agent": USER_AGENT, **({"Content-Type": content_type} if body else {})})
    response = connection.getresponse()
    text = response.read().decode("utf-8")
    connection.close()
    return response, text


def carried(text: str) -> str:
    found = re.search(r'name="carry" value="([^"]*)"', text)
    assert found, text[:2000]
    return html.unescape(found.group(1))


def test_serves_only_the_reporter_zone_and_logs_nothing_about_visitors(server: Server) -> None:
    port = server.port
    # reporter pages answer, and none of them sets a cookie before follow-up
    for path in ("/", "/zone.css", "/en/", "/ar/understand/", "/en/report/", "/en/follow-up/"):
        response = request(port, "GET", path)
        assert response.status == 200, path
        assert response.getheader("Set-Cookie") is None, path
        assert response.getheader("Content-Security-Policy", "").startswith("default-src 'none'"), path
    # the staff zone does not exist in this process
    for path in ("/accounts/login/", "/admin/", "/incidents/"):
        assert request(port, "GET", path).status == 404, path

    # a whole report, as a browser without JavaScript sends it: every step multipart, with carry
    response, text = page(port, "GET", "/en/report/")
    for step, values in steps_answers().items():
        response, text = page(port, "POST", "/en/report/", {"carry": carried(text), "step": step, "next": "1", **values})
        assert response.status == 200, text[:2000]
        assert response.getheader("Set-Cookie") is None, step
    receipt = re.search(r'<output id="receipt">([0-9 ]+)</output>', text)
    assert receipt, text[:3000]
    # the receipt opens the report: the follow-up cookie is the first cookie the zone sets
    response, _ = page(port, "POST", "/en/follow-up/", {"receipt": receipt.group(1)})
    assert response.status == 302
    assert (response.getheader("Set-Cookie") or "").startswith("tnr_r=")

    # a malformed request: gunicorn's default logging would print "Invalid request from ip=..."
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(CLIENT_ADDRESS, 0)) as raw:
        raw.sendall(b"NOT A REQUEST\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")

    printed = server.stop()
    banner = [line for line in printed.splitlines() if line.startswith("Reporter zone on 127.0.0.1:")]
    assert len(banner) == 1, printed
    rest = printed.replace(banner[0], "")
    assert CLIENT_ADDRESS not in rest
    assert "127.0.0." not in rest  # no loopback address at all outside the banner
    assert USER_AGENT.split()[0] not in rest
    assert "Invalid request" not in rest
    assert not re.search(r"\b\d{2}:\d{2}:\d{2}\b", rest), rest  # no clock times
    assert server.process.returncode == 0


@pytest.mark.parametrize(("arguments", "message"), [
    (["--bind", "127.0.0.1:http"], "--bind '127.0.0.1:http': port 'http' is not a number from 1 to 65535"),
    (["--workers", "0"], "--workers 0: give a number from 1 to 64"),
    ([], "The database has unapplied migrations: run `tnr migrate` first."),
])
def test_refuses_bad_arguments_and_an_unprepared_database_with_a_clear_message(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    env = {**os.environ, "TNR_ENV": "test", "TNR_DEBUG": "1", "TNR_VAR_DIR": str(tmp_path),
           "TNR_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    done = subprocess.run([sys.executable, "-m", "tnr.cli", "serve-reporter", "--bind", f"127.0.0.1:{_free_port()}", *arguments],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert message in done.stderr
