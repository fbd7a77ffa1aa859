"""A half-finished submission leaves a whole sealed report or nothing, never a partial one.

For real: a separate Python process (``CHILD`` below, Django on the same database as the test)
submits a report with files, or adds a message with files, and stops *inside* the database
transaction, after the report and file rows are written but before the commit, printing what it
sees. The test then kills it with SIGKILL, as a crashed or killed server would be, and checks
from a fresh process that no Report, ReportFile or ReportMessage row survived, that the
database is sound, and that a complete submission afterwards works and opens with its receipt.
A process killed just *after* the commit leaves a whole report that its receipt opens.

On SQLite the database is a real file in WAL mode (the test database, copied out of memory
with SQLite's backup API), and the files sent are larger than SQLite's page cache, so the
uncommitted pages really are on disk in the -wal file when the process dies. On PostgreSQL
(``TNR_DATABASE_URL=postgresql://...``) the child uses the test database itself, and the test
waits until the server has ended the killed connection.

The in-process variant: an exception in the middle of the transaction leaves nothing.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import Expression

from tnr.reporting import actions
from tnr.reporting.files import check_upload
from tnr.reporting.models import Report, ReportFile, ReportMessage

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
PAUSE_TIMEOUT = 120  # seconds to wait for the child to reach the pause (the machine is shared)

CHILD = r'''
"""Child process of tests/reporting/test_atomic.py: submit (or add a message), maybe pausing
inside or just after the transaction; or report the database's state."""
import hashlib, io, json, os, sys

import django

django.setup()

from django.db import IntegrityError, connection
from django.db.models import QuerySet
from PIL import Image

from tnr.accounts.models import Organisation
from tnr.reporting import actions
from tnr.reporting.files import check_upload
from tnr.reporting.models import Report, ReportFile, ReportMessage


def say(**data):
    print(json.dumps(data), flush=True)


def state():
    out = {
        "reports": Report.objects.count(),
        "files": ReportFile.objects.count(),
        "messages": ReportMessage.objects.count(),
        "in_transaction": connection.in_atomic_block,
    }
    if connection.vendor == "sqlite":
        wal = str(connection.settings_dict["NAME"]) + "-wal"
        out["wal_bytes"] = os.path.getsize(wal) if os.path.exists(wal) else 0
        with connection.cursor() as cursor:
            out["journal_mode"] = cursor.execute("PRAGMA journal_mode").fetchone()[0]
    else:
        out["backend_pid"] = connection.connection.info.backend_pid
    return out


def pause(where):
    say(paused=where, **state())
    sys.stdin.readline()  # the parent never writes: it kills this process while it waits here
    raise SystemExit("resumed: the parent should have killed this process")


def files(tag):
    """Three text files of about 1 MB (together larger than SQLite's 2 MB page cache) and a photo."""
    out = []
    for n in range(3):
        text = "".join(f"{tag} evidence file {n}, line {i}: what was said on the phone\n" for i in range(16000))
        out.append(check_upload(f"{tag}-{n}.txt", text.encode(), max_bytes=10 * 1024 * 1024))
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo, "JPEG")
    out.append(check_upload(f"{tag}.jpg", photo.getvalue(), max_bytes=10 * 1024 * 1024))
    return out


def submit(organisation, tag):
    sent = files(tag)
    submitted = actions.submit_report(
        organisation, {"what": {"tactics": ["coercion_by_proxy"], "narrative": f"{tag} narrative"}},
        language="en", consent_sharing="organisation", consent_referral=False, consent_statistics=True,
        files=sent,
    )
    return submitted, sent


def pause_after_file_rows():
    original = QuerySet.bulk_create

    def bulk_create(self, objs, *args, **kwargs):
        result = original(self, objs, *args, **kwargs)
        if self.model is ReportFile:
            pause("file rows written, transaction open")
        return result

    QuerySet.bulk_create = bulk_create


def opened(receipt):
    thread = actions.open_as_reporter(actions.sign_in(receipt))
    access = actions.sign_in(receipt)
    contents = {f["name"]: hashlib.sha256(actions.reporter_file(access, f["id"])[1]).hexdigest() for f in thread.files}
    return {
        "narrative": thread.answers["what"]["narrative"],
        "files": sorted((f["name"], f["sha256"]) for f in thread.files),
        "working": contents,
        "messages": [m["text"] for m in thread.messages],
        "unread_by_staff": thread.report.unread_by_staff,
    }


mode, slug = sys.argv[1], sys.argv[2]
organisation = Organisation.objects.get(slug=slug)
if mode == "pause-inside-submission":
    pause_after_file_rows()
    submit(organisation, "killed")
elif mode == "pause-after-commit":
    def submitted(**kwargs):
        say(receipt=kwargs["receipt"])
        pause("committed")
    actions.Submitted = submitted
    submit(organisation, "committed")
elif mode == "pause-inside-message":
    pause_after_file_rows()
    actions.add_reporter_message(actions.sign_in(sys.argv[3]), "killed message", files("message"))
elif mode == "check":
    out = {"before": state(), "receipts": {r: opened(r) for r in sys.argv[3:]}}
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            out["integrity"] = cursor.execute("PRAGMA integrity_check").fetchone()[0]
    # A complete submission afterwards works and opens with its receipt.
    submitted, sent = submit(organisation, "after")
    out["after"] = opened(submitted.receipt)
    out["after_sent"] = sorted((c.name, c.sha256) for c in sent)
    out["after_state"] = state()
    say(**out)
else:
    raise SystemExit(f"unknown mode {mode}")
'''


# --- running the child --------------------------------------------------------------------------


class Child:
    """The database the child processes use, and how to start them."""

    def __init__(self, tmp_path: Path) -> None:
        self.script = tmp_path / "child.py"
        self.script.write_text(CHILD, encoding="utf-8")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tnr.settings",
            "TNR_ENV": "test",
            "TNR_DEBUG": "1",
            "TNR_VAR_DIR": str(tmp_path / "var"),
            "TNR_KDF_OPSLIMIT": "1",
            "TNR_KDF_MEMLIMIT": "8192",
            "TNR_RECEIPT_KDF_OPSLIMIT": "1",
            "TNR_RECEIPT_KDF_MEMLIMIT": "8192",
            "TNR_LOG_LEVEL": "WARNING",
            "TNR_DATABASE_URL": self._database(tmp_path),
        }

    def _database(self, tmp_path: Path) -> str:
        settings_dict = connection.settings_dict
        if connection.vendor == "sqlite":
            # The test database (migrated, with the organisation and its keys) copied to a file.
            self.sqlite_file: Path | None = tmp_path / "db.sqlite3"
            connection.ensure_connection()
            target = sqlite3.connect(self.sqlite_file)
            connection.connection.backup(target)
            target.close()
            return f"sqlite:///{self.sqlite_file}"
        assert connection.vendor == "postgresql"
        self.sqlite_file = None
        user, password = settings_dict.get("USER") or "", settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgresql://{auth}{host}{port}/{settings_dict['NAME']}"

    def run(self, *args: str) -> dict[str, Any]:
        """Run the child to the end; its last line of output as JSON."""
        result = subprocess.run([sys.executable, str(self.script), *args], env=self.env, cwd=REPO,
                                capture_output=True, text=True, timeout=600, check=False)
        assert result.returncode == 0, result.stderr[-4000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    def kill_at_pause(self, *args: str) -> list[dict[str, Any]]:
        """Start the child, wait for it to say it paused, SIGKILL it; what it said."""
        process = subprocess.Popen([sys.executable, str(self.script), *args], env=self.env, cwd=REPO,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        said: list[dict[str, Any]] = []
        try:
            assert process.stdout is not None
            # Raw reads from the pipe: a buffered reader could swallow the "paused" line while
            # select() waits on the descriptor.
            fd = process.stdout.fileno()
            selector = selectors.DefaultSelector()
            selector.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + PAUSE_TIMEOUT
            pending = b""
            while not said or "paused" not in said[-1]:
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"the child did not pause within {PAUSE_TIMEOUT} s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                    raise AssertionError(f"the child ended before pausing: {stderr[-4000:]}")
                pending += chunk
                *lines, pending = pending.split(b"\n")
                said.extend(json.loads(line) for line in lines if line.strip())
            selector.close()
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(timeout=60) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        if connection.vendor == "postgresql":
            self._wait_for_server_to_end(said[-1]["backend_pid"])
        return said

    def _wait_for_server_to_end(self, pid: int) -> None:
        """PostgreSQL rolls back a killed client's transaction when it sees the socket close."""
        deadline = time.monotonic() + 30
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    return
                assert time.monotonic() < deadline, f"PostgreSQL kept backend {pid} of the killed process"
                time.sleep(0.1)


@pytest.fixture
def child(tmp_path: Path, recovery: str) -> Child:
    return Child(tmp_path)


def paused_inside(said: dict[str, Any], **rows: int) -> None:
    """The child really was inside an open transaction, with its rows written, when killed."""
    assert said["in_transaction"] is True
    for table, count in rows.items():
        assert said[table] == count, (table, said)
    if "wal_bytes" in said:
        assert said["journal_mode"] == "wal"
        # Uncommitted pages were already on disk when the process died.
        assert said["wal_bytes"] > 1_000_000, said


def completes_afterwards(check: dict[str, Any]) -> None:
    after = check["after"]
    assert after["narrative"] == "after narrative"
    assert after["files"] == check["after_sent"]
    assert len(after["working"]) == 4
    assert check.get("integrity", "ok") == "ok"


# --- killed for real ----------------------------------------------------------------------------


def test_killed_inside_the_submission_leaves_nothing(child: Child, alpha: Any) -> None:
    said = child.kill_at_pause("pause-inside-submission", alpha.slug)
    paused_inside(said[-1], reports=1, files=4, messages=0)

    check = child.run("check", alpha.slug)
    assert check["before"]["reports"] == 0
    assert check["before"]["files"] == 0
    assert check["before"]["messages"] == 0
    completes_afterwards(check)
    assert check["after_state"]["reports"] == 1
    assert check["after_state"]["files"] == 4


def test_killed_just_after_the_commit_leaves_a_whole_report(child: Child, alpha: Any) -> None:
    said = child.kill_at_pause("pause-after-commit", alpha.slug)
    receipt = said[0]["receipt"]
    assert said[-1]["in_transaction"] is False
    assert said[-1]["reports"] == 1

    check = child.run("check", alpha.slug, receipt)
    whole = check["receipts"][receipt]
    assert whole["narrative"] == "committed narrative"
    assert [name for name, _sha in whole["files"]] == ["committed-0.txt", "committed-1.txt", "committed-2.txt", "committed.jpg"]
    assert set(whole["working"]) == {"committed-0.txt", "committed-1.txt", "committed-2.txt", "committed.jpg"}
    # Text files' working copies are the originals: the opened bytes hash to the sealed SHA-256.
    shas = dict(whole["files"])
    assert all(whole["working"][name] == shas[name] for name in shas if name.endswith(".txt"))
    assert check["before"]["files"] == 4
    completes_afterwards(check)


def test_killed_inside_a_message_leaves_the_report_as_it_was(tmp_path: Path, recovery: str, alpha: Any) -> None:
    submitted = actions.submit_report(
        alpha, {"what": {"tactics": [], "narrative": "before the message"}}, language="en",
        consent_sharing="organisation", consent_referral=False, consent_statistics=False,
        files=[check_upload("first.txt", b"first file\n", max_bytes=10**6)],
    )
    child = Child(tmp_path)  # the database with this report in it
    said = child.kill_at_pause("pause-inside-message", alpha.slug, submitted.receipt)
    paused_inside(said[-1], reports=1, files=5, messages=1)

    check = child.run("check", alpha.slug, submitted.receipt)
    assert check["before"]["messages"] == 0
    assert check["before"]["files"] == 1
    kept = check["receipts"][submitted.receipt]
    assert kept["narrative"] == "before the message"
    assert kept["messages"] == []
    assert [name for name, _sha in kept["files"]] == ["first.txt"]
    assert kept["unread_by_staff"] == 1  # the counter update did not half-happen either
    completes_afterwards(check)


# --- an exception in the middle of the transaction ------------------------------------------------


class Boom(Exception):
    pass


def fail_after_rows(monkeypatch: pytest.MonkeyPatch, model: type) -> None:
    original = QuerySet.bulk_create

    def bulk_create(self: QuerySet, objs: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, objs, *args, **kwargs)
        if self.model is model:
            assert Report.objects.exists()  # the rows are there, inside the transaction
            raise Boom("failure after the file rows were written")
        return result

    monkeypatch.setattr(QuerySet, "bulk_create", bulk_create)


def some_files() -> list[Any]:
    return [check_upload(f"f{n}.txt", f"file {n}\n".encode(), max_bytes=10**6) for n in range(3)]


def submit(alpha: Any, files: list[Any]) -> actions.Submitted:
    return actions.submit_report(alpha, {"what": {"tactics": [], "narrative": "n"}}, language="en",
                                 consent_sharing="organisation", consent_referral=False,
                                 consent_statistics=False, files=files)


def test_exception_inside_the_submission_leaves_nothing(recovery: str, alpha: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_after_rows(monkeypatch, ReportFile)
    with pytest.raises(Boom):
        submit(alpha, some_files())
    assert Report.objects.count() == 0
    assert ReportFile.objects.count() == 0
    assert ReportMessage.objects.count() == 0
    monkeypatch.undo()
    submitted = submit(alpha, some_files())
    assert len(actions.open_as_reporter(actions.sign_in(submitted.receipt)).files) == 3


def test_exception_inside_a_message_leaves_the_report_as_it_was(
    recovery: str, alpha: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted = submit(alpha, some_files()[:1])
    access = actions.sign_in(submitted.receipt)
    original_update = QuerySet.update

    def update(self: QuerySet, **kwargs: Any) -> int:
        if self.model is Report and any(isinstance(v, Expression) for v in kwargs.values()):
            assert ReportMessage.objects.count() == 1  # message and files written, not committed
            raise Boom("failure at the unread counter")
        return original_update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", update)
    with pytest.raises(Boom):
        actions.add_reporter_message(access, "lost message", some_files())
    monkeypatch.undo()
    assert ReportMessage.objects.count() == 0
    assert ReportFile.objects.count() == 1
    assert Report.objects.get().unread_by_staff == 1
    actions.add_reporter_message(access, "kept message", some_files())
    assert [m["text"] for m in actions.open_as_reporter(access).messages] == ["kept message"]


def test_receipt_collision_draws_a_new_receipt_and_keeps_the_first_report(
    recovery: str, alpha: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submission drawing a receipt already in use (about one in 10^16) draws again; the first
    report still opens with its receipt, the second with its own."""
    drawn = iter(["1234 5678 9012 3456", "1234 5678 9012 3456", "1234 5678 9012 3456", "9999 0000 1111 2222"])
    monkeypatch.setattr(actions.receipts, "new_receipt", lambda: next(drawn))
    first = submit(alpha, some_files()[:1])
    second = submit(alpha, some_files())
    assert first.receipt == "1234 5678 9012 3456"
    assert second.receipt == "9999 0000 1111 2222"
    assert len(actions.open_as_reporter(actions.sign_in(first.receipt)).files) == 1
    assert len(actions.open_as_reporter(actions.sign_in(second.receipt)).files) == len(some_files())


def test_receipt_lookup_is_unique_in_the_database(recovery: str, alpha: Any) -> None:
    """Two processes racing to the same lookup value: the database refuses the second, whole."""
    first = submit(alpha, some_files()[:1])
    report = Report.objects.get(pk=first.report.pk)
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"), transaction.atomic():
        Report.objects.create(
            organisation=alpha, lookup=report.lookup, kdf_opslimit=1, kdf_memlimit=8192, public_key=b"x" * 32,
            sealed_key=b"x", receipt_wrapped_key=b"x", sealed_answers=b"x", language="en",
            received_on=report.received_on, status_changed_on=report.received_on, consent_sharing="organisation",
            consent_referral=False, consent_statistics=False,
        )
    assert Report.objects.count() == 1
