"""The triage inbox in the staff zone: owner, colleague and outsider; sealed until unlocked;
audited openings; derivation into the common data model with a sealed link."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.accounts.keyhelpers import give_copy, sign_in
from tnr.accounts import keys
from tnr.core.models import AuditEntry
from tnr.records.models import Incident
from tnr.reporting import actions
from tnr.reporting.models import DerivedIncident, Intake, Report

pytestmark = pytest.mark.django_db

ANSWERS = {
    "what": {"tactics": ["coercion_by_proxy", "intimidation_surveillance"], "narrative": "SEALED-NARRATIVE-7731"},
    "when": {"precision": "month", "year": 2024, "month": 5, "day": None, "country": "DE", "host_state": "DE",
             "origin_state": "CN", "perpetrator_states": ["CN"], "location_type": "residence"},
    "whom": {"whom": ["relative_home"]},
    "you": {"name": "Canary Person", "contact_method": "signal", "contact": "+49 1", "consent_sharing": "organisation"},
}


@pytest.fixture
def keyed(alpha: Any, ada: Any, alice: Any, bob: Any) -> str:
    from tests.accounts.keyhelpers import set_up_keys

    recovery = set_up_keys(alpha, ada)
    give_copy(alice, alpha, recovery)
    Intake.objects.create(organisation=alpha)
    return recovery


@pytest.fixture
def report(keyed: str, alpha: Any) -> Report:
    return actions.submit_report(alpha, ANSWERS, language="en", consent_sharing="organisation",
                                 consent_referral=True, consent_statistics=False).report


def client_for(user: Any) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def test_caseworker_lists_opens_and_the_opening_is_audited(report: Report, alice: Any) -> None:
    client = client_for(alice)
    listing = client.get("/reports/")
    assert report.uid in listing.content.decode()
    assert "SEALED-NARRATIVE-7731" not in listing.content.decode()
    before = AuditEntry.objects.filter(action="view", object_id=report.uid).count()
    page = client.get(f"/reports/{report.uid}/")
    assert page.status_code == 200
    assert "SEALED-NARRATIVE-7731" in page.content.decode()
    assert "Canary Person" in page.content.decode()
    assert AuditEntry.objects.filter(action="view", object_id=report.uid).count() == before + 1


def test_locked_key_shows_nothing_sealed(report: Report, alice: Any) -> None:
    client = client_for(alice)
    client.cookies.pop(keys.COOKIE_NAME, None)  # the browser lost the cookie holding the session key
    page = client.get(f"/reports/{report.uid}/")
    assert page.status_code == 403
    assert "SEALED-NARRATIVE-7731" not in page.content.decode()


def test_analyst_and_outsider(report: Report, bob: Any, charlie: Any) -> None:
    assert client_for(bob).get(f"/reports/{report.uid}/").status_code == 404  # analysts do not see reports
    assert report.uid not in client_for(bob).get("/reports/").content.decode()
    assert client_for(charlie).get(f"/reports/{report.uid}/").status_code == 404


def test_reply_status_tags_and_reporter_sees_reply(report: Report, alice: Any, keyed: str) -> None:
    client = client_for(alice)
    assert client.post(f"/reports/{report.uid}/reply/", {"text": "We received it."}).status_code == 302
    assert client.post(f"/reports/{report.uid}/status/", {"status": "accepted"}).status_code == 302
    assert client.post(f"/reports/{report.uid}/tags/", {"tags": "urgent, family , urgent"}).status_code == 302
    report.refresh_from_db()
    assert report.status == "accepted"
    assert report.tags == ["urgent", "family"]
    assert report.unread_by_reporter == 1
    private = keys.private_from_recovery_key(report.organisation, keyed)
    assert [m["text"] for m in actions.open_as_staff(alice, report, private).messages] == ["We received it."]


def test_closing_sets_closed_on_and_retention_purges(report: Report, alice: Any) -> None:
    import datetime as dt

    client = client_for(alice)
    client.post(f"/reports/{report.uid}/status/", {"status": "closed"})
    report.refresh_from_db()
    assert report.closed_on is not None
    assert actions.purge(report.closed_on + dt.timedelta(days=89)) == 0
    assert actions.purge(report.closed_on + dt.timedelta(days=90)) == 1
    assert not Report.objects.exists()


def test_derive_incident_with_sealed_link(report: Report, alice: Any, keyed: str) -> None:
    client = client_for(alice)
    form = client.get(f"/reports/{report.uid}/derive/")
    assert form.status_code == 200
    body = form.content.decode()
    assert 'value="2024-05-01"' in body
    response = client.post(f"/reports/{report.uid}/derive/", {
        "external_id": "INC-TEST1", "title": "Relatives questioned", "summary": "", "start_date": "2024-05-01",
        "date_precision": "month", "location_country": "DE", "origin_state": "CN", "host_state": "DE",
        "perpetrator_states": ["CN"], "tactics": ["coercion_by_proxy", "intimidation_surveillance"],
        "confidence": "possible", "sharing": "internal",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    incident = Incident.objects.get(external_id="INC-TEST1")
    act = incident.acts.get()
    assert act.primary_tactic_id == "intimidation_surveillance"  # precedence: direct before proxy
    assert list(act.secondary_tactics.values_list("code", flat=True)) == ["coercion_by_proxy"]
    link = DerivedIncident.objects.get(report=report)
    assert str(incident.uid).encode() not in bytes(link.sealed_incident)
    private = keys.private_from_recovery_key(report.organisation, keyed)
    assert actions.derived_incident_uids(report, private) == [str(incident.uid)]


def test_delete_really_deletes(report: Report, alice: Any) -> None:
    client = client_for(alice)
    assert client.post(f"/reports/{report.uid}/delete/", {}).status_code == 302
    assert Report.objects.filter(pk=report.pk).exists()  # not without confirming
    assert client.post(f"/reports/{report.uid}/delete/", {"confirm": "yes"}).status_code == 302
    assert not Report.objects.filter(pk=report.pk).exists()


def test_reporter_deletion_request_purged_next_run(report: Report, keyed: str) -> None:
    from tnr.reporting import receipts

    # sign in as the reporter: we need the receipt, which only submit_report returned; make a new one
    sub = actions.submit_report(report.organisation, ANSWERS, language="en", consent_sharing="organisation",
                                consent_referral=False, consent_statistics=False)
    access = actions.sign_in(sub.receipt)
    actions.request_deletion(access)
    assert actions.purge() == 1
    assert not Report.objects.filter(pk=sub.report.pk).exists()
    assert Report.objects.filter(pk=report.pk).exists()
    assert receipts.normalise(sub.receipt)
