"""Organisation keys as people use them, in chromium without JavaScript: the first
administrator sets up the key and keeps the printed recovery key, grants a new caseworker
access, identities are recorded and read; a lost password is recovered with the printed key.
"""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.helpers import add_authenticator, code_from_secret, next_code
from tests.accounts.keyhelpers import give_copy, set_up_keys
from tests.browser.signin import password_step, sign_in
from tests.factories import PASSWORD, make_incident, make_org, make_user
from tnr.accounts.actions import invite_from_command_line
from tnr.accounts.models import Role
from tnr.records.identity import set_identity

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "violet-harbour-engine-31"
NAME = "Mariam Canary-Browser"


def new_page(browser, live_server):
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    context.set_default_timeout(10_000)
    return context.new_page()


def join(page, link: str, username: str) -> None:
    """Accept an invitation: account, authenticator, recovery codes."""
    page.goto(link)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/accounts/enrol/"))
    page.get_by_label("Code from the app").fill(code_from_secret(page.locator("#totp-secret").inner_text()))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("link", name=re.compile("continue")).click()


def key_cookie(page) -> dict:
    return next(c for c in page.context.cookies() if c["name"] == "tnr_keys")


def test_first_administrator_sets_up_the_key_and_grants_a_caseworker(page, browser, live_server):
    org = make_org("Gamma Desk")
    incident = make_incident(org, title="Gamma case")
    _invitation, token = invite_from_command_line(org, Role.ADMINISTRATOR)

    # the first administrator joins and is taken to the key set-up after the second factor
    join(page, f"/accounts/invitations/{token}/", "gwen")
    page.wait_for_url(re.compile(r"/accounts/organisations/gamma-desk/key/"))
    assert "Not set up yet" in page.locator("main").inner_text()
    page.get_by_role("button", name="Create the organisation key").click()
    assert page.get_by_role("heading", name="Recovery key of Gamma Desk").is_visible()
    recovery_key = page.locator("#recovery-key").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4}-){13}[A-Z2-7]{3}", recovery_key)
    assert "stay sealed" in page.locator("main").inner_text()
    page.get_by_role("link", name=re.compile("printed or written it down")).click()
    assert recovery_key not in page.content()  # shown once
    cookie = key_cookie(page)
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] == -1

    # she invites a caseworker, who joins in their own browser
    page.goto("/accounts/organisations/gamma-desk/members/")
    page.select_option("#id_role", Role.CASEWORKER)
    page.get_by_role("button", name="Create invitation link").click()
    link = page.locator("#invitation-link").input_value()
    worker = new_page(browser, live_server)
    join(worker, link, "nadia")
    worker.goto("/accounts/")
    assert "has not been granted yet" in worker.locator("main").inner_text()

    # the caseworker records an identity: writing needs no key ...
    person = incident.acts.get().target
    worker.goto(f"/incidents/{incident.uid}/")
    worker.get_by_role("link", name=f"Record or correct the identity of {person.external_id}").click()
    worker.get_by_label("Name", exact=True).fill(NAME)
    worker.get_by_label("Other names").fill("M. C.")
    worker.get_by_label("Contact details").fill("through her sister")
    worker.get_by_role("button", name="Seal and save").click()
    worker.wait_for_url(re.compile(rf"/incidents/{incident.uid}/"))
    assert "saved, sealed to the organisation key" in worker.locator(".messages").inner_text()
    text = worker.locator("main").inner_text()
    assert NAME not in text
    assert "has not been granted yet" in text

    # the administrator grants access; from the caseworker's next sign-in she reads it
    page.goto("/accounts/organisations/gamma-desk/members/")
    page.get_by_role("button", name="Grant access to sealed data to nadia").click()
    assert "nadia can now read sealed data" in page.locator(".messages").inner_text()
    worker.get_by_role("button", name="Log out").click()
    sign_in(worker, "nadia", NEW_PASSWORD)
    worker.goto(f"/incidents/{incident.uid}/")
    identity = worker.locator("section.identity").inner_text()
    assert NAME in identity
    assert "M. C." in identity
    assert "through her sister" in identity
    worker.context.close()

    # and so does the administrator, whose key has been unlocked all along
    page.goto(f"/incidents/{incident.uid}/")
    assert NAME in page.locator("section.identity").inner_text()


@pytest.fixture
def alpha_with_identity():
    org = make_org("Alpha Watch")
    admin = make_user("ada", org, Role.ADMINISTRATOR)
    recovery_key = set_up_keys(org, admin)
    alice = make_user("alice", org, Role.CASEWORKER)
    give_copy(alice, org, recovery_key)
    add_authenticator(alice)
    incident = make_incident(org, title="Alpha case")
    set_identity(alice, incident.acts.get().target, {"name": NAME, "contact": "Signal only"})
    return incident, recovery_key


def test_lost_password_recovered_with_the_printed_key(page, live_server, alpha_with_identity):
    incident, recovery_key = alpha_with_identity
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Lost your password?").click()
    assert "sealed data stay sealed" in page.locator("main").inner_text()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Organisation recovery key").fill(recovery_key.lower())  # as typed from paper
    page.get_by_label("Code").fill(next_code(TOTPDevice.objects.get(user__username="alice")))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert "Your new password is set" in page.locator(".messages").inner_text()

    password_step(page, "alice", PASSWORD)  # the old password is gone
    assert "not right" in page.get_by_role("alert").inner_text()
    sign_in(page, "alice", NEW_PASSWORD)
    page.goto(f"/incidents/{incident.uid}/")
    identity = page.locator("section.identity").inner_text()
    assert NAME in identity
    assert "Signal only" in identity


def test_without_the_recovery_key_the_data_stay_sealed(page, live_server, alpha_with_identity):
    incident, _recovery_key = alpha_with_identity
    page.goto("/accounts/recover/")
    text = page.locator("main").inner_text()
    assert "Without the recovery key, sealed data stay sealed" in text
    # a well-formed key that is not this organisation's changes nothing
    from tnr.core.sealing import new_recovery_key

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Organisation recovery key").fill(new_recovery_key()[1])
    page.get_by_label("Code").fill(next_code(TOTPDevice.objects.get(user__username="alice")))
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    assert "not right" in page.get_by_role("alert").inner_text()
    # a password reset by an operator outside the app does not open the sealed data either
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    alice.set_password(NEW_PASSWORD)
    alice.save()
    password_step(page, "alice", NEW_PASSWORD)
    page.wait_for_url(re.compile(r"/accounts/login/code/"))
    assert "personal key could not be opened" in page.locator(".messages").inner_text()
    page.get_by_label("Code").fill(next_code(TOTPDevice.objects.get(user__username="alice")))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/incidents/$"))
    page.goto(f"/incidents/{incident.uid}/")
    identity = page.locator("section.identity").inner_text()
    assert NAME not in identity
    assert "has not been granted yet" in identity
