"""Account events reach the organisations' audit chains, without addresses or passwords."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.accounts.helpers import add_authenticator, next_code, wrong_code
from tests.factories import PASSWORD, make_org, make_user
from tnr.accounts import actions
from tnr.accounts.models import Membership, Role
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def actions_in(org) -> list[str]:
    return list(AuditEntry.objects.filter(organisation=org).order_by("seq").values_list("action", flat=True))


def test_sign_in_and_failures_are_recorded_in_every_organisation_of_the_user(client):
    a, b = make_org("Audit A"), make_org("Audit B")
    user = make_user("ayla", a, role=Role.CASEWORKER)
    Membership.objects.create(user=user, organisation=b, role=Role.ANALYST)
    device = add_authenticator(user)
    client.post(reverse("accounts:login"), {"username": "ayla", "password": "wrong-password-123"})
    client.post(reverse("accounts:login"), {"username": "ayla", "password": PASSWORD})
    client.post(reverse("accounts:verify"), {"code": wrong_code(device)})
    client.post(reverse("accounts:verify"), {"code": next_code(device)})
    for org in (a, b):
        assert actions_in(org) == [AuditAction.LOGIN_FAILED, AuditAction.LOGIN_FAILED, AuditAction.LOGIN]
    # nothing that identifies where the request came from, and no password, is kept
    text = " ".join(
        f"{e.summary} {e.data} {e.object_id}" for e in AuditEntry.objects.filter(organisation__in=[a, b])
    )
    assert "127.0.0.1" not in text
    assert PASSWORD not in text
    assert "wrong-password-123" not in text
    assert audit.verify().ok


def test_unknown_username_leaves_no_entry(client):
    org = make_org("Audit C")
    make_user("bora", org)
    before = AuditEntry.objects.count()
    client.post(reverse("accounts:login"), {"username": "nobody-here", "password": "whatever-123456"})
    assert AuditEntry.objects.count() == before


def test_member_changes_are_recorded():
    org = make_org("Audit D")
    admin = make_user("cem", org, role=Role.ADMINISTRATOR)
    member = make_user("deniz", org, role=Role.CASEWORKER)
    actions.invite_member(admin, org, Role.ANALYST, days=3)
    membership = Membership.objects.get(user=member, organisation=org)
    actions.change_role(admin, membership, Role.ANALYST)
    actions.remove_member(admin, membership)
    assert actions_in(org)[-3:] == [AuditAction.MEMBER_INVITED, AuditAction.ROLE_CHANGED, AuditAction.MEMBER_REMOVED]
    entry = AuditEntry.objects.filter(organisation=org, action=AuditAction.ROLE_CHANGED).get()
    assert entry.actor_username == "cem"
    assert "caseworker -> analyst" in entry.summary
