"""Retention really deletes: purged reports leave no sealed bytes behind in the SQLite file
(secure_delete overwrites freed pages), and `tnr reports purge` follows each organisation's
period and the reporters' deletion requests."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from tnr.reporting import actions
from tnr.reporting.files import CheckedFile
from tnr.reporting.models import Intake, Report

pytestmark = pytest.mark.django_db


def text_file(size: int) -> CheckedFile:
    data = bytes((i * 7919) % 251 for i in range(size))
    digest = hashlib.sha256(data).hexdigest()
    return CheckedFile(name="n.txt", media_type="text/plain", size=size, sha256=digest, original=data,
                       working=data, working_sha256=digest, stripped=())


def submit(organisation: Any, files: tuple[CheckedFile, ...] = ()) -> actions.Submitted:
    return actions.submit_report(organisation, {"what": {"narrative": "x"}}, language="en",
                                 consent_sharing="organisation", consent_referral=False,
                                 consent_statistics=False, files=files)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's secure_delete; PostgreSQL reclaims at VACUUM")
def test_purged_report_leaves_no_sealed_bytes_in_the_database_file(recovery: str, alpha: Any) -> None:
    submitted = submit(alpha, (text_file(60_000),))
    report = submitted.report
    stored = report.files.get()
    needles = [bytes(report.sealed_answers)[20:84], bytes(stored.sealed_original)[1000:1064]]
    actions.set_status(None, report, "closed")
    assert actions.purge(dt.date.today() + dt.timedelta(days=90)) == 1

    connection.ensure_connection()
    content = connection.connection.serialize()  # the database image, free pages included
    assert len(content) > 60_000  # the file really held the report's pages
    for needle in needles:
        assert needle not in content


def test_secure_delete_is_on_for_sqlite_connections() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA secure_delete")
        assert cursor.fetchone()[0] == 1


def test_purge_command_follows_each_organisations_period(recovery: str, alpha: Any, beta: Any, bea: Any) -> None:
    from tests.accounts.keyhelpers import set_up_keys

    set_up_keys(beta, bea)
    Intake.objects.filter(organisation=alpha).update(retention_days=10)
    Intake.objects.create(organisation=beta, retention_days=400)
    short = submit(alpha).report
    long = submit(beta).report
    still_open = submit(alpha).report
    old = dt.date.today() - dt.timedelta(days=30)
    Report.objects.filter(pk__in=[short.pk, long.pk]).update(status="closed", closed_on=old)

    out = io.StringIO()
    call_command("reports", "purge", "--dry-run", stdout=out)
    assert "1 report(s) would be deleted" in out.getvalue()
    call_command("reports", "purge", stdout=out)
    assert set(Report.objects.values_list("pk", flat=True)) == {long.pk, still_open.pk}
