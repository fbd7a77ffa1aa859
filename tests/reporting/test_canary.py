"""Canaries in reports: after many reports full of known canary strings, none is found at rest
or in the logs (issue 4, "Tests and figures").

Each report carries canaries in its narrative, relatives' details, evidence notes, city, name
and contact, in the names and contents of its files (a text file; a PNG with the canary in an
iTXt chunk; a JPEG with it in a comment), in a message from the reporter and, for some, in a
caseworker's reply. Most reports are sent through ``actions.submit_report``, some through the
real pages of the reporter zone (every step, the receipt, sign-in, the thread, a message with a
file); caseworkers open some reports and download files; some reporters ask for deletion and the
purge runs. Error paths are exercised with canaries in them too (a damaged hidden field, one
that makes the server fail, an oversized body, a form error, wrong receipts), because error
handling is where data tends to reach a log. The receipts issued are canaries as well.

Then nothing may contain a canary:

* the database image: on SQLite the bytes of the database (``serialize()`` of the in-memory
  test database, which includes free pages; or the file with its -wal, -journal and -shm when
  the test database is a file); on PostgreSQL the output of ``pg_dump`` of the test database;
* every table's rows read back through Django;
* the media folder (settings.MEDIA_ROOT) and the folder for uploads spilled to disk;
* every log record of every logger at DEBUG (django.request, django.security and SQL logging
  included), with extra attributes, and everything written to stdout and stderr. SQL logging
  is on for the whole run, so every statement sent with its parameters is searched too (a value
  written and later overwritten or deleted would be caught there).

How the search stays fast over tens of megabytes and thousands of canaries: every canary
contains the same run-specific ASCII marker twice (start and end) and a run-specific marker in
Cyrillic and Arabic script in the middle. Searching for the markers in each encoding a value
could take (UTF-8, UTF-16-LE/BE, hex as a PostgreSQL dump writes bytea, base64 at every
alignment, JSON ``\\uXXXX`` escapes, Python byte-string escapes, URL escapes, HTML character
references) finds any canary, or any fragment of one longer than half of it, in that encoding.
``test_search_finds_every_encoding`` checks that the search sees each of these forms.

Run on both backends: SQLite by default, PostgreSQL with
``TNR_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test``. The 1,000-report run is in the
``slow`` group; a 50-report run is in the default group.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.db import connection
from django.test import Client, RequestFactory
from PIL import Image, PngImagePlugin

from tnr.accounts import keys
from tnr.reporting import actions
from tnr.reporting.files import check_upload
from tnr.reporting.models import Report

pytestmark = pytest.mark.django_db(transaction=True)

MAX_FILE = 10 * 1024 * 1024
CYRILLIC = str.maketrans("0123456789abcdef", "абвгдежзиклмнопр")


# --- canaries and the search for them -----------------------------------------------------------


@dataclass
class Canaries:
    """Canary strings for one run; every one holds both markers."""

    run: str = field(default_factory=lambda: secrets.token_hex(4))
    issued: int = 0
    receipts: set[str] = field(default_factory=set)

    @property
    def mark(self) -> str:
        return f"QZCANARY{self.run}"

    @property
    def native(self) -> str:
        return f"نسرین{self.run.translate(CYRILLIC)}"

    def new(self, label: str, n: int) -> str:
        self.issued += 1
        return f"{self.mark}-{label}-{n:04d} {self.native} {label} {self.mark}"


def forms_of(token: str) -> set[bytes]:
    """The byte strings ``token`` could appear as in a file, a dump or a log."""
    raw = token.encode("utf-8")
    found = {
        raw,
        token.encode("utf-16-le"),
        token.encode("utf-16-be"),
        raw.hex().encode(),
        raw.hex().upper().encode(),
        json.dumps(token).encode()[1:-1],  # \\u escapes of non-ASCII
        json.dumps(token).encode()[1:-1].upper(),
        "".join(f"\\x{b:02x}" for b in raw).encode(),  # repr() of bytes
        quote(token).encode(),
        quote(token).lower().encode(),
        "".join(f"&#{ord(c)};" for c in token).encode(),
        "".join(f"&#x{ord(c):x};" for c in token).encode(),
    }
    for shift in range(3):  # base64 at each alignment, minus the edge characters
        encoded = base64.b64encode(raw[shift:])
        found.add(encoded[: len(encoded) - 4])
        found.add(base64.urlsafe_b64encode(raw[shift:])[: len(encoded) - 4])
    return {form for form in found if len(form) >= 10}


RECEIPT = re.compile(rb"(?<![0-9])[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}(?![0-9])")
RECEIPT_HEX = re.compile(rb"(?:3[0-9]){16}")


def leaks(data: bytes, canaries: Canaries) -> list[str]:
    """What of the canaries ``data`` contains, described (empty if nothing)."""
    found = []
    for marker in (canaries.mark, canaries.native):
        for form in forms_of(marker):
            at = data.find(form)
            if at >= 0:
                found.append(f"{marker!r} as {form[:24]!r} near {data[max(0, at - 60) : at + 80]!r}")
    digits = {r.replace(" ", "") for r in canaries.receipts}
    for match in RECEIPT.finditer(data):
        if re.sub(rb"[ -]", b"", match.group()).decode() in digits:
            found.append(f"a receipt near {data[max(0, match.start() - 60) : match.end() + 20]!r}")
    for match in RECEIPT_HEX.finditer(data):
        if bytes.fromhex(match.group().decode()).decode() in digits:
            found.append("a receipt in hex")
    return found


def assert_clean(where: str, data: bytes, canaries: Canaries) -> None:
    found = leaks(data, canaries)
    assert not found, f"canaries found in {where}: " + "; ".join(found[:5])


def test_search_finds_every_encoding() -> None:
    """The search is not blind: each form of a canary, or of a receipt, is found in noise."""
    canaries = Canaries()
    canaries.receipts.add("1234 5678 9012 3456")
    token = canaries.new("probe", 1)
    # Noise must not end or start with what could extend a receipt (a digit, space or dash).
    noise = bytes(b for b in os.urandom(6000) if not (48 <= b <= 57 or b in b" -"))[:4096]
    for form in [*forms_of(token), *forms_of(token[len(token) // 2 :]), *forms_of(token[: len(token) // 2 + 1])]:
        assert leaks(noise + form + noise, canaries), form
    for receipt in (b"1234 5678 9012 3456", b"1234567890123456", b"x=1234-5678-9012-3456;", b"31323334353637383930313233343536"):
        assert leaks(noise + receipt + noise, canaries), receipt
    assert not leaks(noise + b"1234 5678 9012 3457" + noise, canaries)
    assert not leaks(noise, canaries)


# --- what is captured ---------------------------------------------------------------------------

STANDARD_RECORD = set(vars(logging.LogRecord("x", logging.DEBUG, "x", 1, "x", None, None))) | {"message", "asctime"}


class Everything(logging.Handler):
    """Every record, formatted with its traceback, plus any extra attributes (request, params)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.parts: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        # SQL records carry their statement and parameters in the message already.
        extras = {} if record.name == "django.db.backends" else {
            k: v for k, v in vars(record).items() if k not in STANDARD_RECORD}
        self.parts.append(f"{self.format(record)} {extras!r}" if extras else self.format(record))


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    """Every logger at DEBUG into one handler, for the whole test (loggers that do not
    propagate, such as django.server, get the handler directly)."""
    handler = Everything()
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    for name in ("django", "django.request", "django.security", "django.db.backends", "django.server", "tnr",
                 "tnr.reporting", "py.warnings"):
        loggers.append(logging.getLogger(name))
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is root or not logger.propagate:
            logger.addHandler(handler)
    connection.force_debug_cursor = True  # SQL and its parameters go to the log too
    try:
        yield handler
    finally:
        connection.force_debug_cursor = False
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            if handler in logger.handlers:
                logger.removeHandler(handler)


@pytest.fixture
def spilled(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> list[bytes]:
    """Every upload written to a temporary file on disk, read just before Django deletes it
    (whichever upload handler wrote it: they all use TemporaryUploadedFile)."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    written: list[bytes] = []
    original = TemporaryUploadedFile.close

    def close(self: TemporaryUploadedFile) -> Any:
        if not self.file.closed:
            self.file.flush()
            written.append(Path(self.temporary_file_path()).read_bytes())
        return original(self)

    monkeypatch.setattr(TemporaryUploadedFile, "close", close)
    return written


def database_image() -> tuple[str, bytes]:
    """The database as it lies on disk (SQLite) or as a dump carries it (PostgreSQL)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        if connection.is_in_memory_db():
            image = connection.connection.serialize()
            assert image.startswith(b"SQLite format 3\x00")
            return "the SQLite database image", image
        name = str(settings_dict["NAME"])
        with connection.cursor() as cursor:  # what is committed is in the file or its WAL
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        parts = [Path(name + suffix) for suffix in ("", "-wal", "-journal", "-shm")]
        return f"the SQLite file {name}", b"".join(p.read_bytes() for p in parts if p.exists())
    assert connection.vendor == "postgresql"
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed: the PostgreSQL dump cannot be searched")
    env = {**os.environ, "PGPASSWORD": str(settings_dict.get("PASSWORD") or "")}
    command = [pg_dump, "--no-owner", "--dbname", str(settings_dict["NAME"])]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if settings_dict.get(key):
            command += [option, str(settings_dict[key])]
    result = subprocess.run(command, capture_output=True, env=env, check=False, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert b"COPY public.reporting_report " in result.stdout
    assert b"COPY public.reporting_reportfile " in result.stdout
    return "the PostgreSQL dump", result.stdout


def table_contents() -> bytes:
    """Every row of every table, read through Django."""
    parts: list[str] = []
    for model in apps.get_models(include_auto_created=True):
        for row in model._base_manager.all().values_list():
            for value in row:
                if isinstance(value, (bytes, memoryview)):
                    parts.append(bytes(value).hex() + repr(bytes(value)))
                else:
                    parts.append(repr(value))
    return "\n".join(parts).encode("utf-8")


def folder_contents(folder: Path) -> tuple[int, bytes]:
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return len(files), b"".join(p.read_bytes() for p in files)


# --- the reports --------------------------------------------------------------------------------


def text_file(canaries: Canaries, n: int) -> tuple[str, bytes]:
    lines = [f"Evidence notes, page {page}: {canaries.new('file-text', n)}\n" for page in range(3)]
    return f"notes-{canaries.new('file-name', n)}.txt", "".join(lines).encode("utf-8")


def png_file(canaries: Canaries, n: int) -> tuple[str, bytes]:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("Comment", canaries.new("png-itxt", n))
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (n % 256, 80, 160)).save(out, "PNG", pnginfo=info)
    return f"photo-{n}.png", out.getvalue()


def jpeg_file(canaries: Canaries, n: int) -> tuple[str, bytes]:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (160, n % 256, 80)).save(out, "JPEG", comment=canaries.new("jpeg-comment", n).encode())
    return f"photo-{n}.jpg", out.getvalue()


def files_for(canaries: Canaries, n: int) -> list[tuple[str, bytes]]:
    files = [text_file(canaries, n)]
    if n % 2 == 0:
        files.append(png_file(canaries, n))
    if n % 3 == 0:
        files.append(jpeg_file(canaries, n))
    return files


def steps_for(canaries: Canaries, n: int) -> dict[str, dict[str, Any]]:
    return {
        "what": {"tactics": ["coercion_by_proxy", "online_threats_smear"],
                 "narrative": f"They called my mother twice. {canaries.new('narrative', n)}\n"
                              f"Then a man followed me home. {canaries.new('narrative-2', n)}"},
        "when": {"precision": "month", "year": "2024", "month": str(1 + n % 12), "country": "DE",
                 "city": canaries.new("city", n), "location_type": "residence", "host_state": "DE",
                 "origin_state": "CN", "perpetrator_states": ["CN"], "actors": ["state", "proxy"]},
        "whom": {"whom": ["me", "relative_home"], "profile": ["journalist"], "danger": "not_sure",
                 "relatives": f"My brother was questioned. {canaries.new('relatives', n)}", "needs": ["legal"]},
        "evidence": {"kinds": ["messages", "photos"], "notes": f"Screenshots kept. {canaries.new('evidence', n)}"},
        "you": {"name": canaries.new("name", n), "contact_method": "signal", "contact": canaries.new("contact", n),
                "consent_sharing": "organisation", "consent_statistics": "on"},
    }


def answers_of(steps: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The cleaned answers the view would pass to submit_report."""
    out = {name: dict(values) for name, values in steps.items()}
    out["when"].update(year=2024, month=int(out["when"]["month"]), day=None, ongoing=False)
    out["you"].update(consent_referral=False, consent_statistics=True)
    return out


def checked(files: list[tuple[str, bytes]]) -> list[Any]:
    return [check_upload(name, data, max_bytes=MAX_FILE) for name, data in files]


def uploads(files: list[tuple[str, bytes]]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data) for name, data in files]


def carry_from(response: Any) -> str:
    found = re.search(r'name="carry" value="([^"]*)"', response.content.decode())
    assert found
    return found.group(1).replace("&quot;", '"').replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def through_pages(client: Client, canaries: Canaries, n: int) -> str:
    """A whole report through the zone's pages; returns the receipt."""
    response = client.get("/en/report/")
    steps = steps_for(canaries, n)
    for step, values in steps.items():
        data: dict[str, Any] = {"carry": carry_from(response), "step": step, "next": "1", **values}
        if step == "you":
            data["files"] = uploads(files_for(canaries, n))
        response = client.post("/en/report/", data)
        assert response.status_code == 200
        assert "errorlist" not in response.content.decode()
    found = re.search(r'<output id="receipt">([0-9 ]+)</output>', response.content.decode())
    assert found, response.content.decode()[:2000]
    return found.group(1)


def follow_up_through_pages(client: Client, canaries: Canaries, n: int, receipt: str) -> None:
    assert client.post("/en/follow-up/", {"receipt": receipt}).status_code == 302
    page = client.get("/en/follow-up/report/").content.decode()
    assert f"{canaries.mark}-narrative-{n:04d}" in page  # positive control: the canary was sent
    sent = client.post("/en/follow-up/report/", {"text": f"More: {canaries.new('message-page', n)}",
                                                 "files": uploads([text_file(canaries, n)])})
    assert sent.status_code == 302
    page = client.get("/en/follow-up/report/").content.decode()
    assert f"{canaries.mark}-message-page-{n:04d}" in page


def error_paths(client: Client, canaries: Canaries, settings: Any) -> None:
    """Requests that fail, each carrying canaries."""
    quiet = Client(raise_request_exception=False)
    damaged = quiet.post("/en/report/", {"carry": "{" + canaries.new("bad-carry", 0), "step": "when", "next": "1"})
    assert damaged.status_code == 400
    broken = json.dumps({"what": {"narrative": [canaries.new("server-error", 0) + "\ud800"], "tactics": ["coercion_by_proxy"]}})
    failing = quiet.post("/en/report/", {"carry": broken, "step": "when", "next": "1",
                                         **steps_for(canaries, 0)["when"]})
    assert failing.status_code == 400
    oversized = quiet.post("/en/report/", {"carry": "{}", "step": "what", "narrative": canaries.new("oversized", 0)
                                           + "x" * int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)})
    assert oversized.status_code == 400
    future = steps_for(canaries, 1)
    invalid = client.post("/en/report/", {"carry": json.dumps({"what": {k: v if isinstance(v, list) else [v] for k, v in future["what"].items()}}),
                                          "step": "when", "next": "1", **{**future["when"], "year": "2999"}})
    assert "errorlist" in invalid.content.decode()
    for n in range(3):
        wrong = client.post("/en/follow-up/", {"receipt": f"{n}{n}{n}{n} 0000 0000 000{n}"})
        assert "errorlist" in wrong.content.decode()


def make_reports(count: int, through_the_pages: int, canaries: Canaries, alpha: Any, alice: Any, recovery: str,
                 settings: Any) -> None:
    """``count`` reports, the first ``through_the_pages`` of them through the zone's pages."""
    private = keys.private_from_recovery_key(alpha, recovery)
    client = Client()
    for n in range(count):
        if n < through_the_pages:
            receipt = through_pages(client, canaries, n)
            follow_up_through_pages(client, canaries, n, receipt)
            client.post("/en/follow-up/sign-out/")
        else:
            submitted = actions.submit_report(
                alpha, answers_of(steps_for(canaries, n)), language="en", consent_sharing="organisation",
                consent_referral=False, consent_statistics=True, files=checked(files_for(canaries, n)),
            )
            receipt = submitted.receipt
            access = actions.sign_in(receipt)
            actions.add_reporter_message(access, f"An update. {canaries.new('message', n)}",
                                         checked([text_file(canaries, n)]) if n % 4 == 0 else ())
        canaries.receipts.add(receipt)
        report = Report.objects.latest("id")
        if n % 5 == 0:  # a caseworker opens it, downloads a file and replies
            thread = actions.open_as_staff(alice, report, private)
            assert f"{canaries.mark}-contact-{n:04d}" in thread.answers["you"]["contact"]  # positive control
            actions.staff_file(alice, report, thread.files[0]["id"], "original", private)
            actions.reply(alice, report, f"Are you safe? {canaries.new('reply', n)}")
        if n % 50 == 7:  # the reporter asks for deletion; the purge below deletes it
            actions.request_deletion(actions.sign_in(receipt))
    error_paths(client, canaries, settings)
    assert actions.purge() == len([n for n in range(count) if n % 50 == 7])


# --- the canary test ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "through_the_pages"),
    [pytest.param(50, 5, id="50-reports"), pytest.param(1000, 25, id="1000-reports", marks=pytest.mark.slow)],
)
def test_no_canary_at_rest_or_in_logs(
    count: int, through_the_pages: int, zone: Any, recovery: str, alpha: Any, alice: Any, settings: Any,
    all_logs: Everything, spilled: list[bytes], capfd: pytest.CaptureFixture[str],
) -> None:
    canaries = Canaries()
    media = Path(settings.MEDIA_ROOT)
    media_files_before, _ = folder_contents(media)

    make_reports(count, through_the_pages, canaries, alpha, alice, recovery, settings)

    assert Report.objects.count() == count - len([n for n in range(count) if n % 50 == 7])
    assert len(canaries.receipts) == count
    assert canaries.issued > 10 * count

    where, image = database_image()
    assert_clean(where, image, canaries)
    assert_clean("the tables", table_contents(), canaries)

    media_files, media_bytes = folder_contents(media)
    assert media_files == media_files_before  # nothing of a report is written to the media folder
    assert_clean(f"the media folder {media}", media_bytes, canaries)
    assert_clean("uploads spilled to disk", b"".join(spilled), canaries)

    # Positive controls for the log capture: SQL, request warnings and our own logger are in it.
    assert {"django.db.backends", "django.request", "django.security.RequestDataTooBig"} <= all_logs.names
    assert any("INSERT INTO" in part and "reporting_reportfile" in part for part in all_logs.parts)
    for start in range(0, len(all_logs.parts), 2000):  # in slices: the whole log is large
        assert_clean("the logs", "\n".join(all_logs.parts[start : start + 2000]).encode("utf-8", "surrogatepass"), canaries)
    out, err = capfd.readouterr()
    assert_clean("stdout", out.encode("utf-8", "surrogatepass"), canaries)
    assert_clean("stderr", err.encode("utf-8", "surrogatepass"), canaries)


def test_attachments_are_never_written_to_disk_unsealed(
    zone: Any, recovery: str, settings: Any, spilled: list[bytes]
) -> None:
    """A request over FILE_UPLOAD_MAX_MEMORY_SIZE (here a small file sent with long texts in the
    hidden field) would make Django's default handlers write the file, unsealed, to a temporary
    file; the zone keeps uploads in memory (tnr.reporting.uploads)."""
    canaries = Canaries()
    steps = steps_for(canaries, 0)
    carry = {name: {k: v if isinstance(v, list) else [v] for k, v in steps[name].items()}
             for name in ("what", "when", "whom", "evidence")}
    # A long account (allowed: under TNR_REPORT_MAX_TEXT_BYTES) and a small text file.
    carry["what"]["narrative"] = [carry["what"]["narrative"][0] + "\nAnd then. " * 150_000]
    carry["whom"]["relatives"] = [carry["whom"]["relatives"][0] + "\nAnd then. " * 100_000]
    name, data = text_file(canaries, 0)
    response = Client().post("/en/report/", {"carry": json.dumps(carry), "step": "you", "next": "1",
                                             **steps["you"], "files": uploads([(name, data)])})
    assert response.status_code == 200
    assert Report.objects.count() == 1  # the report was accepted, with its file
    assert Report.objects.get().files.count() == 1
    assert spilled == []



def test_spill_detector_sees_a_file_written_to_disk(spilled: list[bytes], settings: Any) -> None:
    """Control for the test above: with Django's default handlers, the same kind of request
    does write the file to disk, and ``spilled`` sees it."""
    canaries = Canaries()
    name, data = text_file(canaries, 0)
    request = RequestFactory().post("/", {"long": "x" * (int(settings.FILE_UPLOAD_MAX_MEMORY_SIZE) + 1),
                                          "files": uploads([(name, data)])})
    assert request.FILES["files"].read() == data
    request.close()
    assert len(spilled) == 1
    assert leaks(spilled[0], canaries)
