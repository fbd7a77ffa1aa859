"""Organisation keys: set-up, unlocking at sign-in, the session cookie, damage detection,
password change, removal, grants, recovery (docs/keys.md).

Personas (tests/accounts/conftest.py): ada administers Alpha Watch, alice is a caseworker
there, bob an analyst; charlie is a caseworker in Beta Monitor.
"""

from __future__ import annotations

import base64
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.accounts.helpers import add_authenticator, login_verified, next_code, wrong_code
from tests.accounts.keyhelpers import give_copy, password_step, request_for, set_up_keys, sign_in
from tests.factories import PASSWORD, make_user
from tnr.accounts import actions, keys
from tnr.accounts.keys import KeyStatus
from tnr.accounts.models import MemberKey, Membership, OrganisationKey, Role, UserKey
from tnr.core import sealing
from tnr.core.models import AuditEntry

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "violet-harbour-engine-31"


@pytest.fixture
def recovery_key(alpha, ada):
    return set_up_keys(alpha, ada)


@pytest.fixture
def alice_with_copy(alpha, alice, recovery_key):
    give_copy(alice, alpha, recovery_key)
    return alice


def status(client, organisation) -> KeyStatus:
    return keys.key_status(request_for(client), organisation)


def flip(blob: bytes | memoryview, position: int = -5) -> bytes:
    data = bytearray(bytes(blob))
    data[position] ^= 0x01
    return bytes(data)


def audit_summaries(action: str) -> list[str]:
    return list(AuditEntry.objects.filter(action=action).order_by("id").values_list("summary", flat=True))


# --- set-up ----------------------------------------------------------------------------------


def test_first_sign_in_makes_a_personal_key_wrapped_under_the_password(client, alice):
    assert not UserKey.objects.filter(user=alice).exists()
    sign_in(client, alice)
    user_key = UserKey.objects.get(user=alice)
    private = keys.open_user_key(user_key, PASSWORD)
    assert sealing.public_from_private(private) == bytes(user_key.public_key)
    assert private not in bytes(user_key.private_wrapped)
    with pytest.raises(sealing.SealError):
        keys.open_user_key(user_key, "not-the-password-at-all")
    # test settings: the cheap parameters are what got stored
    wrapped = sealing.PasswordWrapped.from_bytes(bytes(user_key.private_wrapped))
    assert (wrapped.opslimit, wrapped.memlimit) == (1, 8192)


def test_administrator_sets_up_the_key_and_sees_the_recovery_key_once(client, alpha, ada):
    sign_in(client, ada)
    page = client.get(reverse("accounts:org-key", args=[alpha.slug]))
    assert "Not set up yet" in page.content.decode()
    members = client.get(reverse("accounts:members", args=[alpha.slug])).content.decode()
    assert "Sealed data are not set up yet" in members

    response = client.post(reverse("accounts:org-key-create", args=[alpha.slug]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "shown only now" in html
    assert "stay sealed" in html
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    text = html.split('id="recovery-key">', 1)[1].split("<", 1)[0]
    org_key = OrganisationKey.objects.get(organisation=alpha)
    # the printed key opens the stored copy; ada holds a copy and it is unlocked already
    assert sealing.public_from_private(keys.private_from_recovery_key(alpha, text)) == bytes(org_key.public_key)
    assert MemberKey.objects.filter(membership__user=ada, membership__organisation=alpha).exists()
    assert status(client, alpha) is KeyStatus.UNLOCKED
    assert AuditEntry.objects.filter(action="key_created", organisation=alpha).count() == 1
    # the key page no longer offers set-up, and never shows the recovery key again
    again = client.get(reverse("accounts:org-key", args=[alpha.slug])).content.decode()
    assert text not in again
    assert "Not set up yet" not in again
    refused = client.post(reverse("accounts:org-key-create", args=[alpha.slug]), follow=True)
    assert "already has a key" in refused.content.decode()
    assert OrganisationKey.objects.count() == 1


@pytest.mark.parametrize("who", ["alice", "bob", "charlie"])
def test_only_administrators_set_up_keys(client, alpha, request, who):
    user = request.getfixturevalue(who)
    login_verified(client, user)
    expected = 404 if who == "charlie" else 403
    assert client.get(reverse("accounts:org-key", args=[alpha.slug])).status_code == expected
    assert client.post(reverse("accounts:org-key-create", args=[alpha.slug])).status_code == expected
    assert not OrganisationKey.objects.exists()


# --- sign-in, the cookie, the second factor ---------------------------------------------------


def test_sign_in_unlocks_into_the_session_under_a_cookie_key(client, alpha, alice_with_copy):
    response = password_step(client, alice_with_copy)
    cookie = response.cookies[keys.COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["max-age"]
    assert not cookie["expires"]
    held = client.session[keys.SESSION_KEYS]
    assert set(held) == {str(alpha.pk)}
    # neither half alone is the key, and the key itself is in neither
    blob = base64.b64decode(held[str(alpha.pk)])
    secret = base64.urlsafe_b64decode(cookie.value + "=")
    private = sealing.unwrap(secret, blob)
    assert sealing.public_from_private(private) == bytes(OrganisationKey.objects.get(organisation=alpha).public_key)
    assert private not in blob
    assert cookie.value not in str(dict(client.session))
    assert AuditEntry.objects.filter(action="key_unlocked", organisation=alpha, actor_id=alice_with_copy.pk).exists()


def test_key_is_unusable_before_the_second_factor(client, alpha, alice_with_copy):
    password_step(client, alice_with_copy)
    assert client.session.get(keys.SESSION_KEYS)  # held, but ...
    assert status(client, alpha) is KeyStatus.LOCKED
    assert keys.unlocked_org_key(request_for(client), alpha) is None
    # ... the code step makes it usable
    device = add_authenticator(alice_with_copy)
    client.post(reverse("accounts:verify"), {"code": next_code(device)})
    assert status(client, alpha) is KeyStatus.UNLOCKED


def test_a_lock_at_the_code_step_drops_the_held_keys_and_the_cookie(client, alpha, alice_with_copy):
    password_step(client, alice_with_copy)
    device = add_authenticator(alice_with_copy)
    for _ in range(5):
        response = client.post(reverse("accounts:verify"), {"code": wrong_code(device)})
    assert "Too many failed attempts" in response.content.decode()
    assert keys.SESSION_KEYS not in client.session
    assert response.cookies[keys.COOKIE_NAME].value == ""  # deleted


def test_sign_out_deletes_the_cookie_and_the_held_keys(client, alpha, alice_with_copy):
    sign_in(client, alice_with_copy)
    session_key = client.session.session_key
    response = client.post(reverse("accounts:logout"))
    assert response.cookies[keys.COOKIE_NAME].value == ""
    assert response.cookies[keys.COOKIE_NAME]["max-age"] == 0
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=session_key).exists()


def test_a_missing_cookie_means_sign_in_again(client, alpha, alice_with_copy):
    sign_in(client, alice_with_copy)
    del client.cookies[keys.COOKIE_NAME]
    assert status(client, alpha) is KeyStatus.LOCKED
    page = client.get(reverse("accounts:account")).content.decode()
    assert "sign in again to unlock" in page


def test_a_wrong_cookie_is_detected_reported_and_nothing_is_decrypted(client, alpha, alice_with_copy, caplog):
    sign_in(client, alice_with_copy)
    client.cookies[keys.COOKIE_NAME] = base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")
    with caplog.at_level(logging.WARNING, logger="tnr"):
        request = request_for(client)
        assert keys.unlock_state(request, alpha) == (KeyStatus.DAMAGED, None)
    assert f"key damage detected (organisation #{alpha.pk}): the organisation key held in a session" in caplog.text
    assert "alice" not in caplog.text
    assert keys.DAMAGED_SUMMARY in audit_summaries("key_unlocked")
    # the page says so, without crashing, on every later request too (the held copy is dropped)
    page = client.get(reverse("accounts:account"))
    assert page.status_code == 200
    assert "could not be opened" in page.content.decode()


@pytest.mark.parametrize("garbage", ["", "bm90IGEga2V5", "!!!", "A" * 200])
def test_a_malformed_cookie_is_never_accepted(client, alpha, alice_with_copy, garbage):
    sign_in(client, alice_with_copy)
    client.cookies[keys.COOKIE_NAME] = garbage
    assert keys.unlocked_org_key(request_for(client), alpha) is None


def test_a_corrupted_session_blob_is_detected(client, alpha, alice_with_copy):
    sign_in(client, alice_with_copy)
    session = client.session
    held = dict(session[keys.SESSION_KEYS])
    held[str(alpha.pk)] = base64.b64encode(flip(base64.b64decode(held[str(alpha.pk)]))).decode()
    session[keys.SESSION_KEYS] = held
    session.save()
    assert status(client, alpha) is KeyStatus.DAMAGED
    assert keys.DAMAGED_SUMMARY in audit_summaries("key_unlocked")


def test_a_key_swapped_in_from_another_organisation_is_refused(client, alpha, beta, ada, alice_with_copy):
    """The session blob opens (same cookie), but holds Beta's key under Alpha's id."""
    beta_key = set_up_keys(beta, make_user("bea", beta, Role.ADMINISTRATOR))
    Membership.objects.create(user=alice_with_copy, organisation=beta, role=Role.CASEWORKER)
    give_copy(alice_with_copy, beta, beta_key)
    sign_in(client, alice_with_copy)
    session = client.session
    held = dict(session[keys.SESSION_KEYS])
    held[str(alpha.pk)] = held[str(beta.pk)]
    session[keys.SESSION_KEYS] = held
    session.save()
    assert status(client, alpha) is KeyStatus.DAMAGED
    assert status(client, beta) is KeyStatus.UNLOCKED


def test_a_corrupted_copy_is_detected_at_sign_in(client, alpha, alice_with_copy, caplog):
    copy = MemberKey.objects.get(membership__user=alice_with_copy)
    copy.sealed_key = flip(copy.sealed_key)
    copy.save()
    with caplog.at_level(logging.WARNING, logger="tnr"):
        response = password_step(client, alice_with_copy)
    assert "key damage detected" in caplog.text
    session = client.session
    session["otp_device_id"] = add_authenticator(alice_with_copy).persistent_id
    session.save()
    assert status(client, alpha) is KeyStatus.DAMAGED
    assert str(alpha.pk) not in client.session[keys.SESSION_KEYS]
    page = client.get(response.url, follow=True).content.decode()
    assert "could not be opened" in page
    assert keys.DAMAGED_SUMMARY in audit_summaries("key_unlocked")


def test_a_copy_of_another_organisations_key_is_refused(client, alpha, beta, alice_with_copy):
    beta_key = set_up_keys(beta, make_user("bea", beta, Role.ADMINISTRATOR))
    copy = MemberKey.objects.get(membership__user=alice_with_copy)
    user_key = UserKey.objects.get(user=alice_with_copy)
    copy.sealed_key = sealing.seal(bytes(user_key.public_key), keys.private_from_recovery_key(beta, beta_key))
    copy.save()
    sign_in(client, alice_with_copy)
    assert status(client, alpha) is KeyStatus.DAMAGED


def test_a_corrupted_personal_key_is_reported_and_replaced(client, alpha, alice_with_copy):
    user_key = UserKey.objects.get(user=alice_with_copy)
    old_public = bytes(user_key.public_key)
    user_key.private_wrapped = flip(user_key.private_wrapped)
    user_key.save()
    sign_in(client, alice_with_copy)
    page = client.get(reverse("accounts:account")).content.decode()
    assert "personal key could not be opened" in page
    assert bytes(UserKey.objects.get(user=alice_with_copy).public_key) != old_public
    # the old copy was sealed to the old key: gone, to be granted again
    assert status(client, alpha) is KeyStatus.NOT_GRANTED
    assert keys.DAMAGED_SUMMARY in audit_summaries("key_unlocked")


@pytest.mark.parametrize("position", [0, 5, 20, 24, 30, -1])
def test_any_damage_to_a_personal_key_is_caught(alice, position):
    keys.make_user_key(alice, PASSWORD)
    user_key = UserKey.objects.get(user=alice)
    user_key.private_wrapped = flip(user_key.private_wrapped, position)
    with pytest.raises(sealing.SealError):
        keys.open_user_key(user_key, PASSWORD)


def test_a_password_reset_outside_the_app_cuts_access_until_granted_again(client, alpha, alice_with_copy):
    alice_with_copy.set_password(NEW_PASSWORD)  # e.g. Django admin or `tnr changepassword`
    alice_with_copy.save()
    sign_in(client, alice_with_copy, NEW_PASSWORD)
    assert status(client, alpha) is KeyStatus.NOT_GRANTED
    keys.open_user_key(UserKey.objects.get(user=alice_with_copy), NEW_PASSWORD)


def test_changed_kdf_parameters_are_applied_at_the_next_sign_in(client, settings, alpha, alice_with_copy):
    settings.TNR_KDF_OPSLIMIT = 2
    sign_in(client, alice_with_copy)
    wrapped = sealing.PasswordWrapped.from_bytes(bytes(UserKey.objects.get(user=alice_with_copy).private_wrapped))
    assert wrapped.opslimit == 2
    assert status(client, alpha) is KeyStatus.UNLOCKED


# --- password change, removal, role change ------------------------------------------------------


def test_password_change_rewraps_the_personal_key(client, alpha, alice_with_copy):
    sign_in(client, alice_with_copy)
    public = bytes(UserKey.objects.get(user=alice_with_copy).public_key)
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user_key = UserKey.objects.get(user=alice_with_copy)
    assert bytes(user_key.public_key) == public  # same key, new wrapping
    with pytest.raises(sealing.SealError):
        keys.open_user_key(user_key, PASSWORD)
    keys.open_user_key(user_key, NEW_PASSWORD)
    assert status(client, alpha) is KeyStatus.UNLOCKED  # this session keeps its keys
    other = type(client)()
    sign_in(other, alice_with_copy, NEW_PASSWORD)
    assert status(other, alpha) is KeyStatus.UNLOCKED


def test_a_failed_password_change_leaves_the_key_as_it_was(client, alice_with_copy):
    sign_in(client, alice_with_copy)
    before = bytes(UserKey.objects.get(user=alice_with_copy).private_wrapped)
    client.post(
        reverse("accounts:password-change"),
        {"old_password": "wrong-old-password-1", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert bytes(UserKey.objects.get(user=alice_with_copy).private_wrapped) == before


def test_removal_drops_the_members_copy(client, alpha, ada, alice_with_copy):
    membership = Membership.objects.get(user=alice_with_copy, organisation=alpha)
    actions.remove_member(ada, membership)
    assert not MemberKey.objects.filter(membership__user=alice_with_copy).exists()
    assert UserKey.objects.filter(user=alice_with_copy).exists()  # their own key stays theirs


def test_removal_is_all_or_nothing(alpha, ada, alice_with_copy, monkeypatch):
    membership = Membership.objects.get(user=alice_with_copy, organisation=alpha)
    monkeypatch.setattr("tnr.accounts.sessions.end_all_sessions", lambda user: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        actions.remove_member(ada, membership)
    assert MemberKey.objects.filter(membership=membership).exists()


def test_a_role_without_identities_keeps_no_copy(client, alpha, ada, alice_with_copy):
    sign_in(client, alice_with_copy)
    membership = Membership.objects.get(user=alice_with_copy, organisation=alpha)
    actions.change_role(ada, membership, Role.ANALYST)
    assert not MemberKey.objects.filter(membership=membership).exists()
    # the held key is refused on the very next request, though the session goes on
    assert status(client, alpha) is KeyStatus.NOT_ALLOWED


# --- granting access ----------------------------------------------------------------------------


def test_an_invitee_is_granted_access_by_an_administrator(client, alpha, ada, recovery_key):
    _invitation, token = actions.invite_member(ada, alpha, Role.CASEWORKER)
    invitee = type(client)()
    invitee.post(
        reverse("accounts:accept-invitation", args=[token]),
        {"username": "nadia", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    nadia = Membership.objects.get(user__username="nadia")
    assert UserKey.objects.filter(user=nadia.user).exists()  # made when she set her password
    sign_in(invitee, nadia.user, NEW_PASSWORD)
    assert status(invitee, alpha) is KeyStatus.NOT_GRANTED
    page = invitee.get(reverse("accounts:account")).content.decode()
    assert "has not been granted yet" in page

    sign_in(client, ada)
    members = client.get(reverse("accounts:members", args=[alpha.slug])).content.decode()
    assert "Grant access to sealed data" in members
    response = client.post(reverse("accounts:grant-access", args=[alpha.slug, nadia.pk]), follow=True)
    assert "can now read sealed data" in response.content.decode()
    copy = MemberKey.objects.get(membership=nadia)
    assert copy.granted_by == ada
    assert AuditEntry.objects.filter(action="change", object_type="accounts.membership", object_id=str(nadia.pk)).exists()

    sign_in(invitee, nadia.user, NEW_PASSWORD)  # from her next sign-in
    assert status(invitee, alpha) is KeyStatus.UNLOCKED


def test_granting_needs_the_administrators_key_unlocked(client, alpha, ada, alice, recovery_key):
    keys.make_user_key(alice, PASSWORD)
    login_verified(client, ada)  # a session that never went through the password step
    membership = Membership.objects.get(user=alice, organisation=alpha)
    members = client.get(reverse("accounts:members", args=[alpha.slug])).content.decode()
    assert "Grant access to sealed data" not in members
    response = client.post(reverse("accounts:grant-access", args=[alpha.slug, membership.pk]), follow=True)
    assert "not unlocked" in response.content.decode()
    assert not MemberKey.objects.filter(membership=membership).exists()


def test_no_copy_for_roles_that_read_no_identities(client, alpha, ada, bob, recovery_key):
    keys.make_user_key(bob, PASSWORD)
    sign_in(client, ada)
    membership = Membership.objects.get(user=bob, organisation=alpha)
    response = client.post(reverse("accounts:grant-access", args=[alpha.slug, membership.pk]), follow=True)
    assert "get no key" in response.content.decode()
    assert not MemberKey.objects.filter(membership=membership).exists()


def test_no_grant_before_the_members_first_sign_in(client, alpha, ada, alice, recovery_key):
    sign_in(client, ada)
    membership = Membership.objects.get(user=alice, organisation=alpha)
    members = client.get(reverse("accounts:members", args=[alpha.slug])).content.decode()
    assert "after their next sign-in" in members
    response = client.post(reverse("accounts:grant-access", args=[alpha.slug, membership.pk]), follow=True)
    assert "no personal key yet" in response.content.decode()


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_only_administrators_grant(client, alpha, ada, alice_with_copy, bob, who, request):
    keys.make_user_key(bob, PASSWORD)
    user = request.getfixturevalue(who)
    sign_in(client, user)
    membership = Membership.objects.get(user=bob, organisation=alpha)
    response = client.post(reverse("accounts:grant-access", args=[alpha.slug, membership.pk]))
    assert response.status_code == (403 if who == "alice" else 404)


# --- recovery ---------------------------------------------------------------------------------


def recover(client, username, recovery_key, code, password=NEW_PASSWORD, password2=None):
    return client.post(
        reverse("accounts:recover"),
        {"username": username, "recovery_key": recovery_key, "code": code,
         "password1": password, "password2": password2 or password},
    )


def test_recovery_with_the_recovery_key_end_to_end(client, alpha, alice_with_copy, recovery_key, charlie):
    beta_membership = Membership.objects.create(user=alice_with_copy, organisation=charlie.memberships.get().organisation, role=Role.CASEWORKER)
    old_public = bytes(UserKey.objects.get(user=alice_with_copy).public_key)
    device = add_authenticator(alice_with_copy)
    page = client.get(reverse("accounts:recover")).content.decode()
    assert "sealed data stay sealed" in page
    response = recover(client, "alice", recovery_key.lower().replace("-", " "), next_code(device))
    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    alice_with_copy.refresh_from_db()
    assert alice_with_copy.check_password(NEW_PASSWORD)
    assert not alice_with_copy.check_password(PASSWORD)
    user_key = UserKey.objects.get(user=alice_with_copy)
    assert bytes(user_key.public_key) != old_public
    keys.open_user_key(user_key, NEW_PASSWORD)
    assert MemberKey.objects.filter(membership__user=alice_with_copy, membership__organisation=alpha).exists()
    assert not MemberKey.objects.filter(membership=beta_membership).exists()
    assert AuditEntry.objects.filter(action="key_recovered", organisation=alpha, actor_id=alice_with_copy.pk).exists()
    # signing in with the new password unlocks the key again
    sign_in(client, alice_with_copy, NEW_PASSWORD)
    assert status(client, alpha) is KeyStatus.UNLOCKED


def test_recovery_ends_the_users_other_sessions(client, alpha, alice_with_copy, recovery_key):
    other = type(client)()
    sign_in(other, alice_with_copy)
    recover(client, "alice", recovery_key, next_code(add_authenticator(alice_with_copy)))
    assert other.get(reverse("accounts:account")).status_code == 302


@pytest.mark.parametrize("wrong", ["username", "code", "recovery_key", "member"])
def test_wrong_recovery_attempts_get_one_message_and_count(client, alpha, beta, alice_with_copy, recovery_key, wrong):
    device = add_authenticator(alice_with_copy)
    username, code, key = "alice", next_code(device), recovery_key
    if wrong == "username":
        username = "nobody-here"
    elif wrong == "code":
        code = wrong_code(device)
    elif wrong == "recovery_key":
        key = sealing.new_recovery_key()[1]  # well-formed, another organisation's
    else:  # a valid recovery key of an organisation alice is not a member of
        key = set_up_keys(beta, make_user("bea", beta, Role.ADMINISTRATOR))
    response = recover(client, username, key, code)
    assert response.status_code == 400
    assert keys.WRONG_RECOVERY in response.content.decode()
    alice_with_copy.refresh_from_db()
    assert alice_with_copy.check_password(PASSWORD)
    from tnr.accounts.lockout import throttle_key
    from tnr.accounts.models import LoginThrottle

    assert LoginThrottle.objects.get(key=throttle_key(username)).failures == 1


def test_a_mistyped_recovery_key_is_named_and_not_counted(client, alice_with_copy, recovery_key):
    typo = ("B" if recovery_key[0] != "B" else "C") + recovery_key[1:]
    response = recover(client, "alice", typo, next_code(add_authenticator(alice_with_copy)))
    assert "mistyped" in response.content.decode()
    from tnr.accounts.models import LoginThrottle

    assert not LoginThrottle.objects.exists()


def test_recovery_obeys_the_lockout(client, alice_with_copy, recovery_key):
    device = add_authenticator(alice_with_copy)
    for _ in range(5):
        response = recover(client, "alice", recovery_key, wrong_code(device))
    assert "Too many failed attempts" in response.content.decode()
    response = recover(client, "alice", recovery_key, next_code(device))  # right, but locked
    assert "Too many failed attempts" in response.content.decode()
    alice_with_copy.refresh_from_db()
    assert alice_with_copy.check_password(PASSWORD)


def test_recovery_validates_the_new_password(client, alice_with_copy, recovery_key):
    response = recover(client, "alice", recovery_key, "123456", password="short")
    assert response.status_code == 400
    response = recover(client, "alice", recovery_key, "123456", password=NEW_PASSWORD, password2=NEW_PASSWORD + "x")
    assert "not the same" in response.content.decode()


def test_without_an_organisation_key_there_is_nothing_to_recover(alpha, alice):
    with pytest.raises(keys.KeysError, match="nothing to recover"):
        keys.recover_with_recovery_key(alpha, alice, sealing.new_recovery_key()[1], NEW_PASSWORD)


def test_a_new_recovery_key_replaces_the_old_one(client, alpha, ada, recovery_key):
    sign_in(client, ada)
    response = client.post(reverse("accounts:recovery-key-renew", args=[alpha.slug]))
    html = response.content.decode()
    assert "previous one no longer works" in html
    new_key = html.split('id="recovery-key">', 1)[1].split("<", 1)[0]
    keys.private_from_recovery_key(alpha, new_key)
    with pytest.raises(keys.KeysError, match="does not open"):
        keys.private_from_recovery_key(alpha, recovery_key)


def test_a_damaged_recovery_copy_is_detected(alpha, alice_with_copy, recovery_key):
    OrganisationKey.objects.filter(organisation=alpha).update(
        recovery_wrapped=flip(OrganisationKey.objects.get(organisation=alpha).recovery_wrapped)
    )
    with pytest.raises(keys.KeysError, match="damaged"):
        keys.recover_with_recovery_key(alpha, alice_with_copy, recovery_key, NEW_PASSWORD)
    alice_with_copy.refresh_from_db()
    assert alice_with_copy.check_password(PASSWORD)


# --- the command line -------------------------------------------------------------------------


def run_keys(*args, inputs=(), monkeypatch=None):
    answers = iter(inputs)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    out = StringIO()
    call_command("keys", *args, stdout=out)
    return out.getvalue()


def test_cli_init_status_and_recover(alpha, ada, alice, monkeypatch):
    out = run_keys("init", "--organisation", alpha.slug, "--username", "ada", inputs=[PASSWORD], monkeypatch=monkeypatch)
    text = out.split("\n    ", 1)[1].split("\n", 1)[0]
    keys.private_from_recovery_key(alpha, text)
    status_out = run_keys("status", monkeypatch=monkeypatch)
    assert "ada" in status_out
    assert "granted" in status_out
    assert "no_personal_key" in status_out

    out = run_keys("recover", "--organisation", alpha.slug, "--username", "alice",
                   inputs=[text, NEW_PASSWORD, NEW_PASSWORD], monkeypatch=monkeypatch)
    assert "New password set" in out
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert MemberKey.objects.filter(membership__user=alice).exists()


def test_cli_refuses_wrong_secrets(alpha, ada, alice, monkeypatch, recovery_key):
    with pytest.raises(CommandError, match="does not open"):
        run_keys("recover", "--organisation", alpha.slug, "--username", "alice",
                 inputs=[sealing.new_recovery_key()[1]], monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="not the same"):
        run_keys("recover", "--organisation", alpha.slug, "--username", "alice",
                 inputs=[recovery_key, NEW_PASSWORD, "other-password-123"], monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="already has a key"):
        run_keys("init", "--organisation", alpha.slug, "--username", "ada", monkeypatch=monkeypatch)
    with pytest.raises(CommandError, match="not a member"):
        run_keys("recover", "--organisation", alpha.slug, "--username", "charlie-x", monkeypatch=monkeypatch)
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_damaged_copy_leaves_the_other_organisations_unlocked(client, alpha, beta, alice_with_copy):
    """Alpha sorts first: its damage must still be remembered after Beta's key is held."""
    beta_key = set_up_keys(beta, make_user("bea", beta, Role.ADMINISTRATOR))
    Membership.objects.create(user=alice_with_copy, organisation=beta, role=Role.CASEWORKER)
    give_copy(alice_with_copy, beta, beta_key)
    copy = MemberKey.objects.get(membership__user=alice_with_copy, membership__organisation=alpha)
    copy.sealed_key = flip(copy.sealed_key)
    copy.save()
    sign_in(client, alice_with_copy)
    assert status(client, alpha) is KeyStatus.DAMAGED
    assert status(client, beta) is KeyStatus.UNLOCKED


def test_keys_unlocked_later_in_a_session_join_the_held_ones(client, alpha, beta, ada, alice_with_copy):
    """An administrator who sets up a second organisation's key keeps the first one unlocked."""
    Membership.objects.create(user=ada, organisation=beta, role=Role.ADMINISTRATOR)
    sign_in(client, ada)
    cookie = client.cookies[keys.COOKIE_NAME].value
    client.post(reverse("accounts:org-key-create", args=[beta.slug]))
    assert client.cookies[keys.COOKIE_NAME].value == cookie  # same session key
    assert status(client, alpha) is KeyStatus.UNLOCKED
    assert status(client, beta) is KeyStatus.UNLOCKED
