"""Two-step sign-in, enrolment, recovery codes, the second-factor gate and session lifetime."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.helpers import (
    add_authenticator,
    code_from_secret,
    login_verified,
    next_code,
    wrong_code,
)
from tests.factories import PASSWORD, make_user
from tnr.accounts import actions, secondfactor, sessions
from tnr.accounts.models import Role

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
VERIFY = reverse("accounts:verify")
ENROL = reverse("accounts:enrol")
ACCOUNT = reverse("accounts:account")
INCIDENTS = reverse("records:incident-list")


def password_step(client, username="alice", password=PASSWORD, next_url=None):
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(LOGIN, data)


def enrol(client, user) -> tuple[TOTPDevice, list[str]]:
    """Walk the enrolment page as a user would; returns the device and recovery codes."""
    page = client.get(ENROL).content.decode()
    secret = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', page).group(1)
    response = client.post(ENROL, {"code": code_from_secret(secret)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>", response.content.decode())
    return TOTPDevice.objects.get(user=user, confirmed=True), codes


# --- the two steps -------------------------------------------------------------------------


def test_password_then_code(client, alice):
    device = add_authenticator(alice)
    response = password_step(client, next_url="/incidents/?origin=RU")
    assert response.status_code == 302
    assert response.url.startswith(VERIFY)
    # half signed in: nothing else is reachable
    assert client.get(INCIDENTS).url.startswith(VERIFY)
    assert client.get(ACCOUNT).url.startswith(VERIFY)
    assert client.get(ENROL).url.startswith(VERIFY)  # no second authenticator with a password
    response = client.post(response.url, {"code": next_code(device)})
    assert response.status_code == 302
    assert response.url == "/incidents/?origin=RU"
    assert client.get(INCIDENTS).status_code == 200


def test_code_step_refuses_a_wrong_code(client, alice):
    device = add_authenticator(alice)
    password_step(client)
    response = client.post(VERIFY, {"code": wrong_code(device)})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.get(INCIDENTS).status_code == 302


def test_a_code_works_once(client, alice):
    device = add_authenticator(alice)
    code = next_code(device)
    password_step(client)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    client.post(reverse("accounts:logout"))
    password_step(client)
    response = client.post(VERIFY, {"code": code})
    assert response.status_code == 200  # a replayed code is refused


def test_next_must_stay_on_this_site(client, alice):
    device = add_authenticator(alice)
    response = password_step(client, next_url="https://evil.example/steal")
    assert "evil" not in response.url
    response = client.post(VERIFY, {"code": next_code(device), "next": "//evil.example/"})
    assert response.url == INCIDENTS


def test_anonymous_is_sent_to_sign_in(client):
    for url in (INCIDENTS, ACCOUNT, VERIFY, ENROL, reverse("admin:index")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(LOGIN), url


def test_signed_in_user_may_open_the_sign_in_page(client, alice):
    login_verified(client, alice)
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert "You are signed in as" in page.content.decode()


def test_logout_is_post_only_and_ends_the_session(client, alice):
    login_verified(client, alice)
    assert client.get(reverse("accounts:logout")).status_code == 405
    client.post(reverse("accounts:logout"))
    assert client.get(INCIDENTS).status_code == 302


def test_hook_sees_the_password_once_signed_in(client, alice, monkeypatch):
    calls = []
    monkeypatch.setattr(
        actions, "on_password_verified",
        lambda request, user, password: calls.append((user, password, request.user.pk)),
    )
    password_step(client, password="wrong password!")
    assert calls == []
    password_step(client)
    assert calls == [(alice, PASSWORD, alice.pk)]


# --- enrolment -----------------------------------------------------------------------------


def test_user_without_second_factor_is_sent_to_enrolment(client, alice):
    response = password_step(client)
    assert response.url.startswith(ENROL)
    assert client.get(INCIDENTS).url.startswith(ENROL)
    assert client.get(VERIFY).url.startswith(ENROL)


def test_enrolment_page_draws_the_qr_code_inline(client, alice):
    password_step(client)
    response = client.get(ENROL)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<svg width="' in html
    assert 'class="qr-code"' in html
    assert "<script" not in html
    assert " style=" not in html
    assert "<style" not in html
    assert "data:image" not in html
    assert "https://" not in html
    assert "no-store" in response["Cache-Control"]
    device = TOTPDevice.objects.get(user=alice)
    assert not device.confirmed
    assert secondfactor.secret_for_display(device) in html
    # reloading shows the same secret: the device is made once
    assert client.get(ENROL).content.decode().count(secondfactor.secret_for_display(device)) == 1
    assert TOTPDevice.objects.filter(user=alice).count() == 1


def test_provisioning_uri():
    from django.contrib.auth import get_user_model

    user = get_user_model()(username="al ice", pk=1)
    device = TOTPDevice(user=user, key="00" * 20)
    uri = secondfactor.provisioning_uri(device)
    assert uri.startswith("otpauth://totp/TNR%20Observatory%3Aal%20ice?secret=AAAAAAAA")
    assert "issuer=TNR%20Observatory" in uri
    assert "digits=6" in uri
    assert "period=30" in uri


def test_enrolment_confirms_and_shows_recovery_codes_once(client, alice):
    password_step(client)
    _device, codes = enrol(client, alice)
    assert len(codes) == secondfactor.RECOVERY_CODE_COUNT == len(set(codes))
    assert client.get(INCIDENTS).status_code == 200  # verified now
    # the codes are stored only as keyed hashes
    stored = set(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
    assert len(stored) == len(codes)
    assert not stored & {c.replace("-", "") for c in codes}
    assert not stored & set(codes)
    # and never shown again
    assert codes[0] not in client.get(reverse("accounts:recovery-codes")).content.decode()
    assert client.get(ENROL).url == ACCOUNT


def test_enrolment_refuses_a_wrong_code(client, alice):
    password_step(client)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=alice)
    response = client.post(ENROL, {"code": wrong_code(device)})
    assert "does not match" in response.content.decode()
    assert not TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get(INCIDENTS).url.startswith(ENROL)


# --- recovery codes ------------------------------------------------------------------------


def test_recovery_code_signs_in_once(client, alice):
    add_authenticator(alice)
    codes = secondfactor.new_recovery_codes(alice)
    password_step(client)
    assert client.post(VERIFY, {"code": codes[0].upper().replace("-", " ")}).status_code == 302
    assert client.get(INCIDENTS).status_code == 200
    assert secondfactor.recovery_codes_left(alice) == len(codes) - 1
    client.post(reverse("accounts:logout"))
    password_step(client)
    response = client.post(VERIFY, {"code": codes[0]})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert client.post(VERIFY, {"code": codes[1]}).status_code == 302


def test_regenerating_recovery_codes_needs_a_current_code(client, alice):
    login_verified(client, alice)
    device = add_authenticator(alice)
    old = secondfactor.new_recovery_codes(alice)
    url = reverse("accounts:recovery-codes")
    refused = client.post(url, {"code": wrong_code(device)})
    assert "That code is not right" in refused.content.decode()
    response = client.post(url, {"code": next_code(device)})
    new = re.findall(r"<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>", response.content.decode())
    assert len(new) == secondfactor.RECOVERY_CODE_COUNT
    assert secondfactor.verify_code(alice, old[0]) is None  # old codes stopped working
    assert secondfactor.verify_code(alice, new[0]) is not None


def test_lost_phone_replace_the_authenticator_with_a_recovery_code(client, alice):
    old_device = add_authenticator(alice)
    codes = secondfactor.new_recovery_codes(alice)
    password_step(client)
    client.post(VERIFY, {"code": codes[0]})
    response = client.post(reverse("accounts:replace-authenticator"), {"code": codes[1]})
    assert response.url == ENROL
    assert not TOTPDevice.objects.filter(pk=old_device.pk).exists()  # the lost phone is useless
    device, new_codes = enrol(client, alice)
    assert device.pk != old_device.pk
    assert secondfactor.verify_code(alice, codes[2]) is None
    assert len(new_codes) == secondfactor.RECOVERY_CODE_COUNT


def test_new_phone_replace_with_the_old_apps_code(client, alice):
    old_device = add_authenticator(alice)
    login_verified(client, alice)
    response = client.post(reverse("accounts:replace-authenticator"), {"code": next_code(old_device)})
    assert response.url == ENROL
    assert TOTPDevice.objects.filter(pk=old_device.pk).exists()  # works until the new one does
    assert client.get(INCIDENTS).status_code == 200  # still verified meanwhile
    new_device, _codes = enrol(client, alice)
    assert new_device.pk != old_device.pk
    assert not TOTPDevice.objects.filter(pk=old_device.pk).exists()
    assert client.get(INCIDENTS).status_code == 200
    assert client.get(ENROL).url == ACCOUNT  # done: enrolment closes again


def test_replacing_needs_a_current_code(client, alice):
    device = add_authenticator(alice)
    login_verified(client, alice)
    response = client.post(reverse("accounts:replace-authenticator"), {"code": wrong_code(device)})
    assert response.url == ACCOUNT
    assert client.get(ENROL).url == ACCOUNT


def test_with_only_recovery_codes_left_sign_in_leads_to_enrolment(client, alice):
    codes = secondfactor.new_recovery_codes(alice)  # authenticator replaced, not yet re-enrolled
    assert password_step(client).url.startswith(VERIFY)
    assert client.get(ENROL).url.startswith(VERIFY)  # a password alone cannot enrol
    response = client.post(VERIFY, {"code": codes[0]})
    assert response.url.startswith(ENROL)


# --- session lifetime ----------------------------------------------------------------------


def test_idle_session_ends(client, alice, settings):
    login_verified(client, alice)
    session = client.session
    session[sessions.SEEN] = int(time.time()) - settings.TNR_SESSION_IDLE_SECONDS - 5
    session.save()
    response = client.get(INCIDENTS)
    assert response.status_code == 302
    assert response.url.startswith(LOGIN)
    page = client.get(response.url).content.decode()
    assert "without activity" in page


def test_activity_keeps_the_session_alive(client, alice, settings):
    login_verified(client, alice)
    session = client.session
    session[sessions.SEEN] = int(time.time()) - settings.TNR_SESSION_IDLE_SECONDS + 30
    session.save()
    assert client.get(INCIDENTS).status_code == 200
    assert client.session[sessions.SEEN] >= int(time.time()) - 2  # refreshed


def test_absolute_lifetime_ends_even_an_active_session(client, alice, settings):
    login_verified(client, alice)
    session = client.session
    session[sessions.AUTH_AT] = int(time.time()) - settings.SESSION_COOKIE_AGE - 5
    session.save()
    assert client.get(INCIDENTS).url.startswith(LOGIN)


def test_session_without_stamps_is_refused(client, alice):
    client.force_login(alice)  # bypasses the sign-in steps
    assert client.get(INCIDENTS).url.startswith(LOGIN)


def test_pages_for_signed_in_users_are_not_cached(client, alice):
    login_verified(client, alice)
    assert "no-store" in client.get(INCIDENTS)["Cache-Control"]


# --- password change -----------------------------------------------------------------------


def test_password_change_calls_the_hook_and_ends_other_sessions(client, alice, monkeypatch):
    from django.test import Client

    calls = []
    monkeypatch.setattr(
        actions, "on_password_changed",
        lambda request, user, old, new: calls.append((user.pk, old, new)),
    )
    other = login_verified(Client(), alice)
    login_verified(client, alice)
    new_password = "another-long-passphrase-93"
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert response.url == ACCOUNT
    assert calls == [(alice.pk, PASSWORD, new_password)]
    assert client.get(INCIDENTS).status_code == 200  # this session goes on
    assert other.get(INCIDENTS).status_code == 302  # the other one ended
    alice.refresh_from_db()
    assert alice.check_password(new_password)


def test_password_change_applies_the_validators(client, alice):
    login_verified(client, alice)
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"},
    )
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()


def test_wrong_current_password_counts_towards_the_lock(client, alice):
    login_verified(client, alice)
    for _ in range(5):
        response = client.post(
            reverse("accounts:password-change"),
            {"old_password": "guess", "new_password1": "x" * 20, "new_password2": "x" * 20},
        )
    assert response.url == LOGIN
    assert client.get(INCIDENTS).status_code == 302


# --- admin ---------------------------------------------------------------------------------


def test_admin_needs_the_second_factor_and_has_no_login_form_of_its_own(client, django_user_model):
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    admin_login = client.get(reverse("admin:login"))
    assert admin_login.url.startswith(LOGIN)
    add_authenticator(root)
    password_step(client, "root")
    assert client.get(reverse("admin:index")).url.startswith(VERIFY)
    login_verified(client, root)
    assert client.get(reverse("admin:index")).status_code == 200


def test_admin_refuses_verified_users_who_are_not_staff(client, alice):
    login_verified(client, alice)
    assert client.get(reverse("admin:login")).status_code == 403
    assert client.get(reverse("admin:index")).status_code == 302  # to admin:login → 403


def test_members_of_no_organisation_can_still_sign_in(client):
    loner = make_user("loner")
    login_verified(client, loner)
    page = client.get(ACCOUNT).content.decode()
    assert "not a member of any organisation" in page


def test_account_page_lists_roles_and_what_they_allow(client, alice, alpha, beta):
    from tnr.accounts.models import Membership

    Membership.objects.create(user=alice, organisation=beta, role=Role.PARTNER)
    login_verified(client, alice)
    html = client.get(ACCOUNT).content.decode()
    assert "Alpha Watch" in html
    assert "Beta Monitor" in html
    assert "Caseworker" in html
    assert "Partner" in html
    assert "Create and change records" in html
    assert reverse("accounts:members", args=[alpha.slug]) not in html  # not an administrator
