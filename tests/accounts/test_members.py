"""Invitations, role changes and removal: who may, what it does, and that it is immediate."""

from __future__ import annotations

import datetime
import hashlib
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.accounts.helpers import login_verified
from tests.factories import make_incident
from tnr.accounts import actions
from tnr.accounts.actions import LAST_ADMINISTRATOR, AccountsError
from tnr.accounts.models import Invitation, Membership, Role

pytestmark = pytest.mark.django_db

INCIDENTS = reverse("records:incident-list")
NEW_PASSWORD = "violet-harbour-engine-31"


def members_url(org) -> str:
    return reverse("accounts:members", args=[org.slug])


def membership(user, org) -> Membership:
    return Membership.objects.get(user=user, organisation=org)


def invite(client, org, role=Role.CASEWORKER, days=3) -> str:
    """Create an invitation through the members page; returns the link's path."""
    response = client.post(reverse("accounts:invite", args=[org.slug]), {"role": role, "days": days})
    assert response.status_code == 200, response.content.decode()
    link = re.search(r'id="invitation-link" class="link-box" value="([^"]+)"', response.content.decode())
    return link.group(1).replace("http://testserver", "")


# --- who may manage members ----------------------------------------------------------------


def test_members_page_three_personas(client, alpha, ada, alice, charlie):
    url = members_url(alpha)
    assert client.get(url).status_code == 302  # anonymous: to sign in
    login_verified(client, ada)
    page = client.get(url)
    assert page.status_code == 200
    for name in ("ada", "alice"):
        assert name in page.content.decode()
    login_verified(client, alice)
    assert client.get(url).status_code == 403  # colleague without the role
    login_verified(client, charlie)
    assert client.get(url).status_code == 404  # outsider: looks like no such organisation
    assert client.get(reverse("accounts:members", args=["no-such-org"])).status_code == 404


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_only_administrators_can_act_on_members(client, alpha, ada, alice, bob, charlie, who):
    actor = {"alice": alice, "charlie": charlie}[who]
    target = membership(bob, alpha)
    login_verified(client, actor)
    expected = 403 if who == "alice" else 404
    posts = [
        (reverse("accounts:invite", args=[alpha.slug]), {"role": Role.ADMINISTRATOR, "days": 3}),
        (reverse("accounts:change-role", args=[alpha.slug, target.pk]), {f"m{target.pk}-role": Role.ADMINISTRATOR}),
        (reverse("accounts:remove-member", args=[alpha.slug, target.pk]), {}),
        (reverse("accounts:unlock-member", args=[alpha.slug, target.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == expected, url
    assert membership(bob, alpha).role == Role.ANALYST
    assert not Invitation.objects.exists()
    with pytest.raises(Exception, match="does not allow"):
        actions.change_role(actor, target, Role.ADMINISTRATOR)


def test_administrator_of_one_organisation_cannot_touch_another(client, alpha, beta, ada, charlie):
    login_verified(client, ada)
    target = membership(charlie, beta)
    # Beta's member addressed through Alpha's URL: not found
    url = reverse("accounts:remove-member", args=[alpha.slug, target.pk])
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=target.pk).exists()


# --- invitations ---------------------------------------------------------------------------


def test_invite_accept_enrol(client, alpha, ada):
    login_verified(client, ada)
    link = invite(client, alpha, Role.ANALYST)
    invitation = Invitation.objects.get()
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invitation.objects.values().get())  # only the hash is stored
    assert invitation.created_by == ada
    # the pending invitation is listed (without its link)
    page = client.get(members_url(alpha)).content.decode()
    assert "Invitations not yet used" in page
    assert token not in page

    invitee = Client()
    page = invitee.get(link)
    assert page.status_code == 200
    assert "Alpha Watch" in page.content.decode()
    assert "Analyst" in page.content.decode()
    response = invitee.post(link, {"username": "nadia", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.url == reverse("accounts:enrol")
    nadia = get_user_model().objects.get(username="nadia")
    assert membership(nadia, alpha).role == Role.ANALYST
    assert nadia.check_password(NEW_PASSWORD)
    assert invitee.get(INCIDENTS).url.startswith(reverse("accounts:enrol"))  # 2FA first
    invitation.refresh_from_db()
    assert invitation.status == "accepted"
    assert invitation.accepted_by == nadia


def test_invitation_works_once(client, alpha, ada):
    login_verified(client, ada)
    link = invite(client, alpha)
    Client().post(link, {"username": "first", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    second = Client()
    page = second.get(link)
    assert page.status_code == 404
    assert "cannot be used" in page.content.decode()
    second.post(link, {"username": "second", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert not get_user_model().objects.filter(username="second").exists()


def test_expired_invitation_is_refused(client, alpha, ada):
    login_verified(client, ada)
    link = invite(client, alpha, days=1)
    Invitation.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    invitee = Client()
    assert invitee.get(link).status_code == 404
    invitee.post(link, {"username": "late", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert not get_user_model().objects.filter(username="late").exists()
    assert Invitation.objects.get().status == "expired"


def test_invitation_expiry_is_as_chosen(client, alpha, ada):
    login_verified(client, ada)
    before = timezone.now()
    invite(client, alpha, days=7)
    expires = Invitation.objects.get().expires_at
    assert before + datetime.timedelta(days=7) <= expires <= timezone.now() + datetime.timedelta(days=7)


def test_withdrawn_invitation_is_refused(client, alpha, ada):
    login_verified(client, ada)
    link = invite(client, alpha)
    invitation = Invitation.objects.get()
    client.post(reverse("accounts:revoke-invitation", args=[alpha.slug, invitation.pk]))
    assert Client().get(link).status_code == 404
    assert Invitation.objects.get().status == "revoked"


def test_unknown_or_mangled_tokens_look_the_same(client, alpha, ada):
    login_verified(client, ada)
    link = invite(client, alpha)
    invalid = [Client().get(link[:-5] + "AAAA/"), Client().get("/accounts/invitations/x/"),
               Client().get("/accounts/invitations/" + "a" * 200 + "/")]
    assert {r.status_code for r in invalid} == {404}
    assert len({r.content for r in invalid}) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "nadia", "password1": "short", "password2": "short"}, "at least 12 characters"),
        ({"username": "nadia", "password1": "password1234", "password2": "password1234"}, "too common"),
        ({"username": "nadia", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}, "not the same"),
        ({"username": "ADA", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "taken"),
        ({"username": "bad name!", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "valid username"),
    ],
)
def test_accepting_validates_username_and_password(client, alpha, ada, data, message):
    login_verified(client, ada)
    link = invite(client, alpha)
    response = Client().post(link, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Invitation.objects.get().status == "pending"  # still usable after a mistake
    assert not get_user_model().objects.filter(username=data["username"]).exclude(pk=ada.pk).exists()


def test_existing_user_joins_with_their_account(client, alpha, beta, ada, charlie):
    login_verified(client, ada)
    link = invite(client, alpha, Role.PARTNER)
    other = login_verified(Client(), charlie)
    page = other.get(link).content.decode()
    assert "Join as charlie" in page
    assert other.post(link).url == reverse("accounts:account")
    assert membership(charlie, alpha).role == Role.PARTNER
    assert membership(charlie, beta).role == Role.CASEWORKER


def test_existing_member_cannot_join_twice(client, alpha, ada, alice):
    login_verified(client, ada)
    link = invite(client, alpha, Role.ADMINISTRATOR)
    other = login_verified(Client(), alice)
    response = other.post(link)
    assert "already a member" in response.content.decode()
    assert membership(alice, alpha).role == Role.CASEWORKER
    assert Invitation.objects.get().status == "pending"


def test_bad_invitation_form_input_gets_a_message(client, alpha, ada):
    login_verified(client, ada)
    response = client.post(reverse("accounts:invite", args=[alpha.slug]), {"role": "owner", "days": 99})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Invitation.objects.exists()


def test_invite_command_prints_a_working_link(alpha):
    out, err = io.StringIO(), io.StringIO()
    call_command("invite", alpha.slug, "--site", "https://tnr.example.org/", stdout=out, stderr=err)
    link = out.getvalue().strip()
    assert link.startswith("https://tnr.example.org/accounts/invitations/")
    assert "Administrator" in err.getvalue()
    path = link.replace("https://tnr.example.org", "")
    Client().post(path, {"username": "first-admin", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert Membership.objects.get(user__username="first-admin").role == Role.ADMINISTRATOR
    with pytest.raises(CommandError, match="No organisation"):
        call_command("invite", "nope")


# --- role changes --------------------------------------------------------------------------


def test_role_change_takes_effect_on_the_next_request(client, alpha, ada, alice):
    incident = make_incident(alpha, title="Internal case")
    alice_client = login_verified(Client(), alice)
    detail = reverse("records:incident-detail", args=[incident.uid])
    assert alice_client.get(detail).status_code == 200
    login_verified(client, ada)
    m = membership(alice, alpha)
    response = client.post(reverse("accounts:change-role", args=[alpha.slug, m.pk]), {f"m{m.pk}-role": Role.PARTNER})
    assert response.url == members_url(alpha)
    assert membership(alice, alpha).role == Role.PARTNER
    assert alice_client.get(detail).status_code == 404  # internal record: partners do not see it


def test_last_administrator_cannot_step_down_or_leave(alpha, ada, alice):
    with pytest.raises(AccountsError, match="at least one administrator"):
        actions.change_role(ada, membership(ada, alpha), Role.CASEWORKER)
    with pytest.raises(AccountsError, match="at least one administrator"):
        actions.remove_member(ada, membership(ada, alpha))
    actions.change_role(ada, membership(alice, alpha), Role.ADMINISTRATOR)
    actions.change_role(ada, membership(ada, alpha), Role.CASEWORKER)  # now someone else is
    with pytest.raises(AccountsError, match="at least one administrator"):
        actions.remove_member(alice, membership(alice, alpha))
    assert Membership.objects.filter(organisation=alpha, role=Role.ADMINISTRATOR).count() == 1


def test_last_administrator_message_on_the_page(client, alpha, ada):
    login_verified(client, ada)
    m = membership(ada, alpha)
    client.post(reverse("accounts:change-role", args=[alpha.slug, m.pk]), {f"m{m.pk}-role": Role.ANALYST})
    page = client.get(members_url(alpha)).content.decode()
    assert LAST_ADMINISTRATOR in page
    assert membership(ada, alpha).role == Role.ADMINISTRATOR


# --- removal -------------------------------------------------------------------------------


def test_removal_ends_the_members_sessions_at_once(client, alpha, beta, ada, alice):
    Membership.objects.create(user=alice, organisation=beta, role=Role.CASEWORKER)
    alice_browser = login_verified(Client(), alice)
    alice_phone = login_verified(Client(), alice)
    assert alice_browser.get(INCIDENTS).status_code == 200
    login_verified(client, ada)
    m = membership(alice, alpha)
    confirm = client.get(reverse("accounts:remove-member", args=[alpha.slug, m.pk]))
    assert "Remove alice from Alpha Watch?" in confirm.content.decode()
    response = client.post(reverse("accounts:remove-member", args=[alpha.slug, m.pk]))
    assert response.url == members_url(alpha)
    assert not Membership.objects.filter(pk=m.pk).exists()
    for session in (alice_browser, alice_phone):
        response = session.get(INCIDENTS)
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:login"))
        assert session.get(reverse("accounts:account")).status_code == 302
    # signing in again works (alice is still in Beta), but Alpha's records are gone for her
    make_incident(alpha, title="Alpha only")
    again = login_verified(Client(), alice)
    assert "Alpha only" not in again.get(INCIDENTS).content.decode()
    assert client.get(INCIDENTS).status_code == 200  # the administrator's session is untouched


def test_removal_calls_the_hook_inside_the_transaction(alpha, ada, alice, monkeypatch):
    seen = []

    def hook(m):
        seen.append((m.user_id, m.organisation_id, Membership.objects.filter(pk=m.pk).exists()))

    monkeypatch.setattr(actions, "on_member_removed", hook)
    actions.remove_member(ada, membership(alice, alpha))
    assert seen == [(alice.pk, alpha.pk, True)]  # called before the row goes


def test_failing_hook_undoes_the_removal(alpha, ada, alice, monkeypatch):
    def hook(m):
        raise RuntimeError("key store unavailable")

    monkeypatch.setattr(actions, "on_member_removed", hook)
    with pytest.raises(RuntimeError):
        actions.remove_member(ada, membership(alice, alpha))
    assert Membership.objects.filter(user=alice).exists()


def test_administrator_removing_themselves_is_signed_out(client, alpha, ada, alice):
    actions.change_role(ada, membership(alice, alpha), Role.ADMINISTRATOR)
    login_verified(client, ada)
    m = membership(ada, alpha)
    response = client.post(reverse("accounts:remove-member", args=[alpha.slug, m.pk]))
    assert response.url == reverse("accounts:login")
    assert client.get(INCIDENTS).status_code == 302


def test_three_personas_on_the_record_pages_after_removal(client, alpha, ada, bob):
    make_incident(alpha, title="Alpha case")
    bob_client = login_verified(Client(), bob)
    assert "Alpha case" in bob_client.get(INCIDENTS).content.decode()
    actions.remove_member(ada, membership(bob, alpha))
    assert bob_client.get(INCIDENTS).status_code == 302
    assert get_user_model().objects.filter(username="bob").exists()  # only the membership goes
