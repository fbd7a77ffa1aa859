"""Canaries: after persons with known names and contacts are recorded, viewed, and their
organisation keys unlocked in live sessions, no canary appears anywhere at rest.

Searched, in every encoding a value could take on the way (text, UTF-16, hex as in a
PostgreSQL dump of bytea, base64, JSON and URL escapes):

* the database image — on SQLite the exact bytes of the database file including its free
  pages (``sqlite3.Connection.serialize()`` of the in-memory test database, or the file and
  its -wal/-shm when the database is a file); on PostgreSQL the output of ``pg_dump``;
* every table's contents, read back through Django, sessions decoded;
* every SQL statement and parameter sent to the database during the test (so a value
  written and deleted again is caught too), and every session payload ever encoded;
* every log record of every logger at DEBUG, with SQL logging switched on.

Run on both backends: SQLite by default, PostgreSQL with
``TNR_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/keys``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from django.apps import apps
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from tests.accounts.helpers import add_authenticator, next_code
from tests.accounts.keyhelpers import give_copy, password_step, set_up_keys, sign_in
from tests.factories import PASSWORD, make_incident, make_org, make_user
from tnr.accounts.models import Role
from tnr.records.models import Person

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "violet-harbour-engine-31"


def canaries() -> dict[str, str]:
    tag = secrets.token_hex(3)
    return {
        "name": f"CANARY-{tag}-Nasrin",
        "alias": f"CANARY-{tag}-Alias",
        "script": f"CANARY{tag}نسرینacontact",  # a name in another script
        "contact": f"CANARY-{tag}-contact@example.org",
        "second": f"CANARY-{tag}-Layla",
    }


def variants(token: str) -> set[bytes]:
    """The byte strings ``token`` could appear as in a file, a dump or a log."""
    raw = token.encode("utf-8")
    found = {
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        token.encode("utf-16-le"),
        json.dumps(token).encode()[1:-1],  # \\u escapes for non-ASCII
        quote_plus(token).encode(),
        quote(token).encode(),
    }
    for shift in range(3):  # base64 at each alignment, minus the edge characters
        encoded = base64.b64encode(raw[shift:])
        found.add(encoded[: len(encoded) - 4])
    return {v for v in found if len(v) >= 12}


def assert_clean(where: str, data: bytes, tokens: dict[str, str]) -> None:
    for label, token in tokens.items():
        for form in variants(token):
            assert form not in data, f"canary {label} found in {where} (as {form[:40]!r})"


def table_contents() -> bytes:
    """Every row of every table, read through Django; sessions decoded."""
    parts: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        for row in model._base_manager.all().values_list():
            for value in row:
                parts.append(bytes(value).hex() + repr(bytes(value)) if isinstance(value, (bytes, memoryview)) else repr(value))
    for session in Session.objects.all():
        parts.append(json.dumps(session.get_decoded(), ensure_ascii=False))
    return "\n".join(parts).encode("utf-8")


def database_image() -> tuple[str, bytes]:
    """The database as it lies on disk (SQLite) or as a dump would carry it (PostgreSQL)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(settings_dict["NAME"])
        if connection.is_in_memory_db():
            connection.ensure_connection()
            return "the SQLite database image", connection.connection.serialize()
        data = b"".join(Path(name + suffix).read_bytes() for suffix in ("", "-wal", "-shm") if Path(name + suffix).exists())
        return f"the SQLite file {name}", data
    assert connection.vendor == "postgresql"
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed: the PostgreSQL dump cannot be searched")
    env = {**os.environ, "PGPASSWORD": str(settings_dict.get("PASSWORD") or "")}
    command = [pg_dump, "--no-owner", "--dbname", str(settings_dict["NAME"])]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings_dict.get(key):
            command += [option, str(settings_dict[key])]
    result = subprocess.run(command, capture_output=True, env=env, check=False, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert b"COPY public.records_person" in result.stdout
    return "the PostgreSQL dump", result.stdout


@pytest.fixture
def recorded(monkeypatch):
    """Every SQL statement with its parameters, and every session payload, as text."""
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(f"{sql} {params!r}")
        return execute(sql, params, many, context)

    original = SessionBase.encode

    def encode(self, session_dict):
        seen.append(json.dumps(session_dict, ensure_ascii=False, default=repr))
        return original(self, session_dict)

    monkeypatch.setattr(SessionBase, "encode", encode)
    with connection.execute_wrapper(wrapper):
        yield seen


def test_no_canary_at_rest_or_in_logs(client, caplog, recorded, tmp_path):
    tokens = canaries()
    caplog.set_level(logging.DEBUG)
    for name in ("tnr", "django", "django.db.backends", "django.request"):
        caplog.set_level(logging.DEBUG, logger=name)
    connection.force_debug_cursor = True  # SQL and its parameters go to the log too
    try:
        _exercise(client, tokens, tmp_path)
    finally:
        connection.force_debug_cursor = False

    where, image = database_image()
    assert_clean(where, image, tokens)
    assert_clean("the tables", table_contents(), tokens)
    assert_clean("SQL sent to the database and session payloads", "\n".join(recorded).encode("utf-8"), tokens)
    log_text = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged: the log capture is not working"
    assert_clean("the logs", log_text.encode("utf-8"), tokens)


def _exercise(client, tokens: dict[str, str], tmp_path: Path) -> None:
    """Record identities through the pages, read them in live sessions, change a password,
    recover one, export: everything that touches identities or keys."""
    org = make_org("Alpha Watch")
    ada = make_user("ada", org, Role.ADMINISTRATOR)
    alice = make_user("alice", org, Role.CASEWORKER)
    bob = make_user("bob", org, Role.ANALYST)
    recovery_key = set_up_keys(org, ada)
    give_copy(alice, org, recovery_key)
    incident = make_incident(org, acts=2, title="Canary incident")
    people = list(Person.objects.filter(acts__incident=incident).order_by("pk"))

    # alice signs in with both real steps and records the identities through the page
    password_step(client, alice)
    client.post(reverse("accounts:verify"), {"code": next_code(add_authenticator(alice))})
    detail = reverse("records:incident-detail", args=[incident.uid])
    response = client.post(
        reverse("records:person-identity", args=[people[0].pk]),
        {"name": tokens["name"], "aliases": f"{tokens['alias']}\n{tokens['script']}", "contact": tokens["contact"], "next": detail},
    )
    assert response.status_code == 302
    client.post(reverse("records:person-identity", args=[people[1].pk]), {"name": tokens["second"]})
    page = client.get(detail).content.decode()
    assert tokens["name"] in page
    assert tokens["script"] in page
    assert tokens["second"] in page

    # other live sessions holding unlocked keys: the administrator, and alice elsewhere
    admin_client = type(client)()
    sign_in(admin_client, ada)
    assert tokens["contact"] in admin_client.get(detail).content.decode()
    analyst = type(client)()
    sign_in(analyst, bob)
    assert tokens["name"] not in analyst.get(detail).content.decode()

    # password change (re-wrap), a lost password recovered, an export
    other = type(client)()
    sign_in(other, alice)
    other.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    recovered = type(client)()
    recovered.post(
        reverse("accounts:recover"),
        {"username": "ada", "recovery_key": recovery_key, "code": next_code(add_authenticator(ada)),
         "password1": NEW_PASSWORD + "-2", "password2": NEW_PASSWORD + "-2"},
    )
    sign_in(recovered, ada, NEW_PASSWORD + "-2")
    assert tokens["second"] in recovered.get(detail).content.decode()
    call_command("export", "-o", org.slug, "--format", "json", "--output", str(tmp_path / "export.json"))
    assert_clean("the export", (tmp_path / "export.json").read_bytes(), tokens)
    analyst.post(reverse("accounts:logout"))  # one session ended, the others live on
