"""The staff incident pages as a user drives them, in chromium, mostly without JavaScript."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth import get_user_model

from tests.accounts.helpers import add_authenticator, next_code
from tests.factories import PASSWORD, make_incident, make_org, make_user
from tnr.records import choices as c
from tnr.records.views import PAGE_SIZE, SYNTHETIC_NOTICE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def records():
    """Alpha's records: many Russian incidents (two pages), a few others; Beta's one."""
    alpha = make_org("Alpha Watch")
    beta = make_org("Beta Monitor")
    make_user("alice", alpha)
    start = datetime.date(2019, 1, 1)
    for day in range(PAGE_SIZE + 2):
        make_incident(alpha, title=f"Consulate summons {day:02d}", origin="RU", host="DE",
                      primary_tactic="coercion_by_proxy",
                      start_date=start + datetime.timedelta(days=day))
    make_incident(
        alpha, title="Red notice against blogger", origin="TR", host="PL", city="Warsaw",
        primary_tactic="legal_process_abuse", pretext="terrorism charge",
        target_categories=["journalist"], reference="Court file 2021/445",
        confidence=c.Confidence.CONFIRMED, start_date=datetime.date(2021, 3, 4),
    )
    make_incident(alpha, title="Synthetic spyware case", origin="CN", host="NL",
                  primary_tactic="spyware_account_compromise", synthetic=True)
    make_incident(beta, title="Beta secret case", origin="IR", host="FR")
    return alpha


def sign_in(page, username: str = "alice", password: str = PASSWORD) -> None:
    """Both sign-in steps: password, then a code from the user's authenticator app."""
    device = add_authenticator(get_user_model().objects.get(username=username))
    page.goto("/incidents/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/accounts/login/code/"))
    page.get_by_label("Code").fill(next_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/incidents/$"))


def result_count(page) -> str:
    return page.locator(".result-count").inner_text()


def test_sign_in_filter_search_paginate_and_open_detail(page, live_server, records):
    sign_in(page)
    total = PAGE_SIZE + 2 + 2
    assert result_count(page) == f"{total} incidents"
    assert page.get_by_text(SYNTHETIC_NOTICE).is_visible()
    assert page.get_by_text("Beta secret case").count() == 0

    # filter by origin through the form (no JavaScript: a plain GET submit)
    page.select_option("#id_origin", "RU")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"origin=RU"))
    assert result_count(page) == f"{PAGE_SIZE + 2} incidents"
    assert page.get_by_text(SYNTHETIC_NOTICE).count() == 0
    assert page.locator(".incident-table tbody tr").count() == PAGE_SIZE

    # paginate: the next page keeps the filter
    page.locator("a[rel=next]").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert "origin=RU" in page.url
    assert page.locator(".incident-table tbody tr").count() == 2
    assert page.get_by_text("Page 2 of 2").is_visible()
    assert page.locator("#id_origin").input_value() == "RU"

    # combine more filters: tactic group and year range
    page.goto("/incidents/")
    page.select_option("#id_tactic_group", "co_opted_host")
    page.fill("#id_year_from", "2021")
    page.fill("#id_year_to", "2021")
    page.get_by_role("button", name="Apply filters").click()
    assert result_count(page) == "1 incident"
    assert page.get_by_role("link", name="Red notice against blogger").is_visible()

    # search words from different fields (city and act pretext)
    page.get_by_role("link", name="Clear all").click()
    page.fill("#id_q", "warsaw terrorism")
    page.get_by_role("button", name="Apply filters").click()
    assert result_count(page) == "1 incident"

    # open the detail page: acts, actors and sources
    page.get_by_role("link", name="Red notice against blogger").click()
    page.wait_for_url(re.compile(r"/incidents/[0-9a-f-]{36}/$"))
    assert page.get_by_role("heading", name="Red notice against blogger", level=1).is_visible()
    assert page.get_by_role("heading", name=re.compile(r"^Acts \(1\)")).is_visible()
    assert page.get_by_role("heading", name=re.compile(r"^Sources \(1\)")).is_visible()
    body = page.locator("main").inner_text()
    for text in ("Türkiye", "Poland", "Warsaw", "terrorism charge", "Court file 2021/445",
                 "Journalist", "Perpetrator", "identity sealed", "2021-03-04"):
        assert text.lower() in body.lower(), text

    # back to the list, then log out through the POST form
    page.get_by_role("link", name="← All incidents").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.goto("/incidents/")
    assert "/accounts/login/" in page.url


def test_bad_filters_show_a_message(page, live_server, records):
    sign_in(page)
    page.goto("/incidents/?year_from=abc&origin=XX")
    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert "Year from" in alert.inner_text()
    assert "Origin state" in alert.inner_text()
    assert page.locator(".incident-table").count() == 0


def test_outsider_cannot_open_a_foreign_incident(page, live_server, records):
    outsider = make_org("Gamma Group")
    make_user("charlie", outsider)
    incident = records.incidents.first()
    sign_in(page, "charlie")
    assert result_count(page) == "0 incidents"
    response = page.goto(f"/incidents/{incident.uid}/")
    assert response.status == 404


def test_wrong_password_is_refused(page, live_server, records):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert "/accounts/login/" in page.url


def test_no_csp_violations_with_javascript(js_page, live_server, records):
    page = js_page
    sign_in(page)
    incident = records.incidents.get(title="Red notice against blogger")
    for url in ("/incidents/", "/incidents/?origin=RU&page=2", f"/incidents/{incident.uid}/",
                "/incidents/?year_from=abc"):
        response = page.goto(url)
        assert response.status == 200, url
        assert "default-src 'self'" in response.headers["content-security-policy"]
        # a stylesheet blocked by the CSP would leave the page unstyled
        assert page.locator("body").evaluate("e => getComputedStyle(e).margin") == "0px"
    assert page.log.csp_violations() == []
    assert page.log.page_errors == []
