"""The protection directory as staff use it in chromium, with JavaScript disabled."""

from __future__ import annotations

import datetime
import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.cases.helpers import make_mechanism, sign_in
from tests.factories import make_org, make_user
from tnr.accounts.models import Role
from tnr.cases import actions
from tnr.cases.models import ProtectionMechanism

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def browser_sign_in(page, live_server, user) -> None:
    """Give the browser a staff session made the way tests sign staff in (see tests/cases)."""
    client = sign_in(Client(), user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url,
        "httpOnly": True, "sameSite": "Strict",
    }])


@pytest.fixture
def directory():
    actions.seed_mechanisms()
    make_mechanism("Berlin Exile Legal Clinic", kind="legal_aid", countries=["DE"],
                   needs=["legal", "documentation"], profiles=["journalist", "human_rights_defender"],
                   languages=["de", "fa"], safe_contact="Use the web form on their official site over HTTPS.",
                   last_verified=timezone.localdate() - datetime.timedelta(days=30))
    make_mechanism("Paris Exile Legal Clinic", kind="legal_aid", countries=["FR"], needs=["legal"])
    org = make_org("Alpha Watch")
    return {
        "caseworker": make_user("bob", org, Role.CASEWORKER),
        "admin": make_user("alice", org, Role.ADMINISTRATOR),
    }


def titles(page) -> list[str]:
    return page.locator(".mechanism h3").all_inner_texts()


def test_search_without_javascript(page, live_server, directory):
    browser_sign_in(page, live_server, directory["caseworker"])
    page.goto("/protection/")
    total = ProtectionMechanism.objects.filter(active=True).count()
    assert page.locator(".result-count").inner_text() == f"{total} mechanisms"
    assert page.get_by_text("Not verified.").first.is_visible()

    page.select_option("#id_country", "DE")
    page.select_option("#id_need", "legal")
    page.select_option("#id_profile", "journalist")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"country=DE"))
    found = titles(page)
    # the German clinic first (serves the country), then worldwide journalist help with legal aid
    assert found[0] == "Berlin Exile Legal Clinic"
    assert "Committee to Protect Journalists (CPJ)" in found
    assert "Reporters Without Borders (RSF)" in found
    assert "Paris Exile Legal Clinic" not in found
    first = page.locator(".mechanism").first
    text = first.inner_text()
    assert "Serves this country specifically." in text
    assert "Use the web form on their official site over HTTPS." in text
    assert "Not verified." not in text
    assert "Persian (fa)" in text
    assert page.locator("#id_country").input_value() == "DE"

    # a language nobody lists: entries without recorded languages remain, the clinic goes
    page.select_option("#id_language", "ja")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"language=ja"))
    assert "Berlin Exile Legal Clinic" not in titles(page)
    assert "Committee to Protect Journalists (CPJ)" in titles(page)

    page.get_by_role("link", name="Clear all").click()
    page.wait_for_url(re.compile(r"/protection/$"))
    assert page.locator(".mechanism").count() == total
    # the stylesheet of the directory pages loads from the site itself
    assert any(url.endswith("/static/cases/directory.css") for url in page.log.requests)


def test_administrator_adds_an_entry_and_finds_it(page, live_server, directory):
    browser_sign_in(page, live_server, directory["admin"])
    page.goto("/protection/")
    page.get_by_role("link", name="Add an entry").click()
    page.fill("#id_name", "Vienna Relocation Programme")
    page.select_option("#id_kind", "temporary_relocation")
    page.check("input[name=needs][value=relocation]")
    page.select_option("#id_countries", ["AT"])
    page.check("#id_any_profile")
    page.fill("#id_website", "http://example.org/")
    page.fill("#id_source", "Programme leaflet")
    page.get_by_role("button", name="Add entry").click()
    # plain http is refused with a message beside the field, and nothing is lost
    alert = page.get_by_role("alert")
    assert "plain http://" in alert.inner_text()
    assert page.locator("#id_name").input_value() == "Vienna Relocation Programme"
    page.fill("#id_website", "https://example.org/")
    page.get_by_role("button", name="Add entry").click()
    page.wait_for_url(re.compile(r"/protection/manage/$"))
    assert page.get_by_text("Added “Vienna Relocation Programme”").is_visible()

    page.goto("/protection/?country=AT&need=relocation")
    assert titles(page)[0] == "Vienna Relocation Programme"
