"""Sign-in security as people use it, in chromium without JavaScript: an invitation, enrolment
of an authenticator app, sign-in with the second factor, lockout, recovery codes, removal.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.accounts.helpers import add_authenticator, code_from_secret
from tests.browser.signin import password_step, sign_in
from tests.factories import PASSWORD, make_incident, make_org, make_user
from tnr.accounts import secondfactor
from tnr.accounts.models import Membership, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "violet-harbour-engine-31"
CODE_PATTERN = re.compile(r"^[a-z2-7]{5}-[a-z2-7]{5}$")


@pytest.fixture
def alpha():
    org = make_org("Alpha Watch")
    make_incident(org, title="Alpha case")
    return org


@pytest.fixture
def ada(alpha):
    user = make_user("ada", alpha, Role.ADMINISTRATOR)
    add_authenticator(user)
    return user


@pytest.fixture
def alice(alpha):
    user = make_user("alice", alpha, Role.CASEWORKER)
    add_authenticator(user)
    return user


def alert_text(page) -> str:
    return page.get_by_role("alert").inner_text().strip()


def new_page(browser, live_server):
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    context.set_default_timeout(10_000)
    return context.new_page()


def test_invitation_enrolment_and_sign_in(page, browser, live_server, ada):
    # the administrator makes an invitation link
    sign_in(page, "ada")
    page.get_by_role("link", name="Account").click()
    page.get_by_role("link", name="Members").click()
    page.select_option("#id_role", Role.ANALYST)
    page.select_option("#id_days", "1")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.locator("#invitation-link").input_value()
    assert "/accounts/invitations/" in link

    # the invitee opens it in their own browser, chooses a username and password
    invitee = new_page(browser, live_server)
    invitee.goto(link)
    assert invitee.get_by_role("heading", name="Join Alpha Watch").is_visible()
    invitee.get_by_label("Username").fill("nadia")
    invitee.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    invitee.get_by_label("Password again").fill(NEW_PASSWORD)
    invitee.get_by_role("button", name="Create account").click()

    # enrolment: the QR code is drawn inline; the key is also given as text
    invitee.wait_for_url(re.compile(r"/accounts/enrol/"))
    assert invitee.locator("svg.qr-code").is_visible()
    secret = invitee.locator("#totp-secret").inner_text()
    invitee.goto("/incidents/")  # nothing else is reachable before enrolment
    assert "/accounts/enrol/" in invitee.url
    invitee.get_by_label("Code from the app").fill(code_from_secret(secret))
    invitee.get_by_role("button", name="Confirm").click()

    # recovery codes, shown once
    assert invitee.get_by_role("heading", name="Your recovery codes").is_visible()
    codes = invitee.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == secondfactor.RECOVERY_CODE_COUNT
    assert all(CODE_PATTERN.match(code) for code in codes)
    invitee.get_by_role("link", name=re.compile("continue")).click()
    invitee.wait_for_url(re.compile(r"/incidents/$"))
    assert invitee.get_by_role("link", name="Alpha case").is_visible()

    # sign out, then in again: password, then the app's code
    invitee.get_by_role("button", name="Log out").click()
    invitee.wait_for_url(re.compile(r"/accounts/login/"))
    sign_in(invitee, "nadia", NEW_PASSWORD)
    assert Membership.objects.get(user__username="nadia").role == Role.ANALYST

    # the link is spent
    response = invitee.goto(link)
    assert response.status == 404
    assert "cannot be used" in alert_text(invitee)
    invitee.context.close()


def test_lockout_looks_the_same_for_an_unknown_account(page, live_server, alice):
    for _ in range(5):
        password_step(page, "alice", "not the password")
    locked_real = alert_text(page)
    for _ in range(5):
        password_step(page, "no-such-person", "not the password")
    locked_unknown = alert_text(page)
    assert "Too many failed attempts" in locked_real
    assert locked_real == locked_unknown
    # while locked, the right password does not get in either
    password_step(page, "alice", PASSWORD)
    assert alert_text(page) == locked_real
    assert "/accounts/login/" in page.url


def test_wrong_password_and_unknown_user_get_one_message(page, live_server, alice):
    password_step(page, "alice", "not the password")
    wrong_password = alert_text(page)
    password_step(page, "no-such-person", "not the password")
    assert alert_text(page) == wrong_password


def test_recovery_code_works_once(page, live_server, alice):
    codes = secondfactor.new_recovery_codes(alice)
    password_step(page, "alice")
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/incidents/$"))
    page.get_by_role("button", name="Log out").click()

    password_step(page, "alice")
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    assert "That code is not right" in page.locator(".field-error").inner_text()
    assert "/accounts/login/code/" in page.url
    page.get_by_label("Code").fill(codes[1])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/incidents/$"))
    # the account page counts what is left
    page.get_by_role("link", name="Account").click()
    assert f"({len(codes) - 2} left)" in page.locator("main").inner_text()


def test_removed_member_loses_access_at_once(page, browser, live_server, ada, alice):
    member = new_page(browser, live_server)
    sign_in(member, "alice")
    assert member.get_by_role("link", name="Alpha case").is_visible()

    sign_in(page, "ada")
    page.goto("/accounts/organisations/alpha-watch/members/")
    page.get_by_role("link", name="Remove alice").click()
    page.get_by_role("button", name="Remove alice").click()
    assert "their sessions have ended" in page.locator(".messages").inner_text()

    member.reload()
    assert "/accounts/login/" in member.url
    assert "Your session has ended" in member.locator(".messages").inner_text()
    member.context.close()


def test_enrolment_page_keeps_the_content_security_policy(js_page, live_server, alpha):
    page = js_page
    make_user("newcomer", alpha, Role.CASEWORKER)
    password_step(page, "newcomer")
    page.wait_for_url(re.compile(r"/accounts/enrol/"))
    response = page.goto("/accounts/enrol/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "no-store" in response.headers["cache-control"]
    assert page.locator("svg.qr-code").bounding_box()["width"] > 100
    assert page.log.csp_violations() == []
    assert page.log.page_errors == []
    assert get_user_model().objects.get(username="newcomer").totpdevice_set.count() == 1
