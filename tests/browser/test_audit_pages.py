"""The audit log page as an administrator drives it, in chromium without JavaScript."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection

from tests.browser.test_staff_pages import sign_in
from tests.factories import make_incident, make_org, make_user
from tnr.accounts.models import Role
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.core.models import AuditEntry, install_append_only_guards, remove_append_only_guards

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alpha_log():
    """Alpha: ada (administrator), alice (caseworker) who viewed an incident and exported."""
    alpha = make_org("Alpha Watch")
    make_user("ada", alpha, Role.ADMINISTRATOR)
    alice = make_user("alice", alpha, Role.CASEWORKER)
    incident = make_incident(alpha, title="Sensitive case")
    audit.record(alice, AuditAction.VIEW, incident)
    audit.record(alice, AuditAction.EXPORT, organisation=alpha, object_type="records.incident", data={"counts": {"incidents": 1}})
    beta = make_org("Beta Monitor")
    audit.record(None, AuditAction.CREATE, organisation=beta, object_type="records.incident", summary="Beta only")
    return alpha


def test_administrator_filters_downloads_and_verifies_the_log(page, live_server, alpha_log):
    sign_in(page, "ada")
    page.goto("/audit/")
    # alice's view and export, and ada's own sign-in
    assert page.locator(".result-count").inner_text() == "3 entries"
    assert page.get_by_text("Beta only").count() == 0

    page.get_by_label("Action").select_option("view")
    page.get_by_label("Done by (username)").fill("alice")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"action=view"))
    assert page.locator(".result-count").inner_text() == "1 entry"
    # the record the entry is about is one click away (and opening it is audited in turn)
    page.locator(".audit-table a").first.click()
    page.wait_for_url(re.compile(r"/incidents/[0-9a-f-]{36}/$"))
    assert page.get_by_role("heading", name="Sensitive case").is_visible()

    page.goto("/audit/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these entries as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    # view, export, ada's sign-in, ada's own view of the incident above, and this download itself
    assert [r["action"] for r in rows] == ["view", "export", "login", "view", "export"]

    page.get_by_role("button", name="Verify the audit log now").click()
    assert page.get_by_text("The audit log is intact").is_visible()

    remove_append_only_guards(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {AuditEntry._meta.db_table} SET actor_username = 'nobody' WHERE seq = 1 AND organisation_id = %s", [alpha_log.pk])
    finally:
        install_append_only_guards(connection)
    page.goto("/audit/")
    assert page.get_by_text("no longer matches its hash").is_visible()
    page.get_by_role("button", name="Verify the audit log now").click()
    assert page.get_by_text("The audit log has been tampered with.").is_visible()
    assert page.get_by_text("entry 1 was altered").is_visible()
    assert page.log.csp_violations() == []


def test_a_caseworker_is_refused(page, live_server, alpha_log):
    sign_in(page, "alice")
    response = page.goto("/audit/")
    assert response.status == 403
