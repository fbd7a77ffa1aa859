"""Directory pages as each persona uses them: search, maintain, import, export."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from tests.cases.helpers import make_mechanism, sign_in
from tnr.cases.csvformat import COLUMNS
from tnr.cases.models import ProtectionMechanism

pytestmark = pytest.mark.django_db

SEARCH = reverse("cases:directory-search")
MANAGE = reverse("cases:directory-manage")
CREATE = reverse("cases:mechanism-create")
IMPORT = reverse("cases:directory-import")
EXPORT = reverse("cases:directory-export")


def edit_url(entry) -> str:
    return reverse("cases:mechanism-edit", args=[entry.pk])


def deactivate_url(entry) -> str:
    return reverse("cases:mechanism-deactivate", args=[entry.pk])


def reactivate_url(entry) -> str:
    return reverse("cases:mechanism-reactivate", args=[entry.pk])


@pytest.fixture
def entry():
    return make_mechanism("Legal Desk", countries=["DE"], profiles=["journalist"])


def form_data(**values) -> dict:
    data = {
        "name": "New Desk", "kind": "legal_aid", "needs": ["legal", "advocacy"], "countries": ["DE", "AT"],
        "profiles": ["journalist"], "languages": "de, en", "website": "https://example.org/",
        "safe_contact": "Use the form on their website", "notes": "", "last_verified": "2026-01-05",
        "verification_note": "Phoned their office", "source": "Their website", "active": "on",
    }
    data.update(values)
    return {k: v for k, v in data.items() if v is not None}


# --- who may do what -------------------------------------------------------------------------


def all_urls(entry) -> list[tuple[str, str]]:
    return [
        ("get", SEARCH), ("get", MANAGE), ("get", CREATE), ("post", CREATE), ("get", edit_url(entry)),
        ("post", edit_url(entry)), ("post", deactivate_url(entry)), ("post", reactivate_url(entry)),
        ("get", IMPORT), ("post", IMPORT), ("get", EXPORT),
    ]


def test_anonymous_visitors_are_sent_to_sign_in(client, entry):
    for method, url in all_urls(entry):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login")), url


def test_caseworker_searches_but_cannot_change_anything(client, bob, entry):
    sign_in(client, bob)
    assert client.get(SEARCH).status_code == 200
    for method, url in all_urls(entry):
        if url == SEARCH:
            continue
        assert getattr(client, method)(url).status_code == 403, url
    entry.refresh_from_db()
    assert entry.active


def test_analyst_of_another_organisation_may_search(client, carol, entry):
    sign_in(client, carol)
    assert client.get(SEARCH).status_code == 200
    assert client.get(MANAGE).status_code == 403


def test_account_without_membership_is_refused(client, dave, entry):
    sign_in(client, dave)
    for method, url in all_urls(entry):
        assert getattr(client, method)(url).status_code == 403, url


@pytest.mark.parametrize("persona", ["alice", "root"])
def test_administrators_and_superusers_reach_every_page(client, entry, persona, request):
    sign_in(client, request.getfixturevalue(persona))
    for url in (SEARCH, MANAGE, CREATE, edit_url(entry), IMPORT, EXPORT):
        assert client.get(url).status_code == 200, url


def test_unknown_entry_is_404_for_admin(alice_client):
    assert alice_client.get(reverse("cases:mechanism-edit", args=[999999])).status_code == 404


# --- search page ------------------------------------------------------------------------------


def test_search_lists_ranked_results_with_details(bob_client):
    make_mechanism("Worldwide Fund", worldwide=True, needs=["legal", "emergency_funds"],
                   last_verified=timezone.localdate())
    make_mechanism("German Desk", countries=["DE"], languages=["de"], safe_contact="Use their web form",
                   last_verified=timezone.localdate() - datetime.timedelta(days=400))
    make_mechanism("French Desk", countries=["FR"])
    response = bob_client.get(SEARCH, {"country": "DE", "need": "legal"})
    html = response.content.decode()
    assert html.index("German Desk") < html.index("Worldwide Fund")
    assert "French Desk" not in html
    assert "2 mechanisms" in html
    assert "Serves this country specifically." in html
    assert "Serves every country (worldwide)." in html
    assert "Last verified more than 12 months ago" in html
    assert "Use their web form" in html
    assert "German (de)" in html
    assert "Edit “" not in html  # caseworkers get no edit links


def test_unverified_entries_carry_a_warning(bob_client):
    make_mechanism("Never Checked")
    assert "Not verified." in bob_client.get(SEARCH).content.decode()


def test_invalid_search_lists_nothing_and_says_why(bob_client, entry):
    response = bob_client.get(SEARCH, {"country": "ZZ"})
    html = response.content.decode()
    assert "The search could not be used" in html
    assert "Legal Desk" not in html


def test_pages_have_no_inline_script_or_style(alice_client, entry):
    for url in (SEARCH, MANAGE, CREATE, edit_url(entry), IMPORT):
        html = alice_client.get(url).content.decode()
        assert "<script" not in html, url
        assert not re.search(r"\sstyle=", html), url
        assert "<style" not in html, url


# --- maintaining entries ----------------------------------------------------------------------


def test_admin_creates_an_entry(alice_client, alice):
    response = alice_client.post(CREATE, form_data())
    assert response.status_code == 302
    created = ProtectionMechanism.objects.get(name="New Desk")
    assert sorted(c.pk for c in created.countries.all()) == ["AT", "DE"]
    assert created.languages == ["de", "en"]
    assert created.updated_by == alice
    assert created.last_verified == datetime.date(2026, 1, 5)


def test_create_form_shows_rule_violations_beside_fields(alice_client):
    response = alice_client.post(CREATE, form_data(website="http://example.org/", countries=None,
                                                   languages="en, xx", needs=None))
    assert response.status_code == 200
    html = response.content.decode()
    assert "The entry was not saved" in html
    assert "plain http://" in html
    assert "or worldwide" in html
    assert "unknown language code" in html
    assert "at least one need" in html
    assert not ProtectionMechanism.objects.exists()


def test_admin_edits_an_entry(alice_client, entry):
    page = alice_client.get(edit_url(entry)).content.decode()
    assert 'value="Legal Desk"' in page
    response = alice_client.post(edit_url(entry), form_data(name="Legal Desk", countries=None, worldwide="on"))
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.worldwide
    assert not entry.countries.exists()


def test_admin_deactivates_and_reactivates(alice_client, entry):
    assert alice_client.post(deactivate_url(entry)).status_code == 302
    entry.refresh_from_db()
    assert not entry.active
    assert "Inactive" in alice_client.get(MANAGE).content.decode()  # shows the message too
    assert "Legal Desk" not in alice_client.get(SEARCH).content.decode()
    alice_client.post(reactivate_url(entry))
    entry.refresh_from_db()
    assert entry.active


def test_deactivate_needs_post(alice_client, entry):
    assert alice_client.get(deactivate_url(entry)).status_code == 405


# --- import and export ------------------------------------------------------------------------


def csv_upload(rows: list[dict[str, str]], name: str = "directory.csv") -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in COLUMNS})
    return SimpleUploadedFile(name, out.getvalue().encode("utf-8"), content_type="text/csv")


GOOD = {"name": "Imported Desk", "kind": "legal_aid", "needs": "legal", "countries": "worldwide",
        "profiles": "any", "website": "https://example.org/", "source": "Their website", "active": "true"}


def test_import_upload_success(alice_client):
    response = alice_client.post(IMPORT, {"file": csv_upload([GOOD])}, follow=True)
    assert "1 created" in response.content.decode()
    assert ProtectionMechanism.objects.filter(name="Imported Desk").exists()


def test_import_upload_failure_lists_every_problem_and_writes_nothing(alice_client):
    rows = [GOOD, {**GOOD, "name": "Bad", "website": "http://example.org/", "countries": "XX"}]
    response = alice_client.post(IMPORT, {"file": csv_upload(rows, "mine.csv")})
    assert response.status_code == 200
    html = response.content.decode()
    assert "mine.csv: 2 problems, nothing imported." in html
    assert "Row 3, column <code>website</code>" in html
    assert "Row 3, column <code>countries</code>" in html
    assert not ProtectionMechanism.objects.exists()


def test_export_download(alice_client):
    make_mechanism("=cmd|' /C calc'!A0")
    response = alice_client.get(EXPORT)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert rows[0] == list(COLUMNS)
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
