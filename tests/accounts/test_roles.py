"""The written meaning of each role, pinned: the permission table, ``can``, and what each role
sees of an organisation's incidents (partners: only what is shared with partners or public).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from tests.factories import make_incident, make_user
from tnr.accounts.models import Membership, Role
from tnr.accounts.roles import ROLE_PERMISSIONS, Perm, can, require, role_in, roles_with
from tnr.records import choices as c
from tnr.records.queries import access_incident, incidents_for, organisations_for

pytestmark = pytest.mark.django_db

A, CW, AN, P = Role.ADMINISTRATOR, Role.CASEWORKER, Role.ANALYST, Role.PARTNER

# The matrix as docs/roles.md states it. Changing a role's meaning means changing this too.
EXPECTED = {
    Perm.MANAGE_MEMBERS: {A},
    Perm.VIEW_RECORDS: {A, CW, AN},
    Perm.VIEW_SHARED_RECORDS: {P},
    Perm.CHANGE_RECORDS: {A, CW},
    Perm.VIEW_IDENTITY: {A, CW},
    Perm.VIEW_AUDIT: {A},
    Perm.EXPORT_RECORDS: {A},
    Perm.EXPORT_AGGREGATES: {A, AN},
}


def test_every_role_and_permission_is_in_the_table():
    assert set(ROLE_PERMISSIONS) == set(Role.values)
    assert set(EXPECTED) == set(Perm)
    for role, perms in ROLE_PERMISSIONS.items():
        assert perms <= set(Perm.values), role


@pytest.mark.parametrize("perm", list(Perm))
def test_roles_with_each_permission(perm):
    assert roles_with(perm) == EXPECTED[perm]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("perm", list(Perm))
def test_can_follows_the_table_for_a_member(alpha, beta, role, perm):
    user = make_user("member", alpha, role)
    assert can(user, alpha, perm) is (role in EXPECTED[perm])
    assert can(user, alpha.pk, perm) is (role in EXPECTED[perm])
    assert can(user, beta, perm) is False  # nothing carries over to another organisation


def test_partners_see_no_identity_and_change_nothing():
    assert Perm.VIEW_IDENTITY not in ROLE_PERMISSIONS[P]
    assert Perm.CHANGE_RECORDS not in ROLE_PERMISSIONS[P]
    assert Perm.VIEW_RECORDS not in ROLE_PERMISSIONS[P]
    assert Perm.VIEW_IDENTITY not in ROLE_PERMISSIONS[AN]


def test_outsiders_anonymous_inactive_and_superusers_get_nothing(alpha, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    loner = make_user("loner")
    root = django_user_model.objects.create_superuser("root", password="x" * 12)
    gone = make_user("gone", alpha, A, is_active=False)
    for user in (loner, root, AnonymousUser(), gone):
        for perm in Perm:
            assert not can(user, alpha, perm), (user, perm)
    assert role_in(gone, alpha) is None


def test_unknown_permission_is_an_error_not_a_no(alpha, ada):
    with pytest.raises(ValueError, match="unknown permission"):
        can(ada, alpha, "delete_everything")


def test_require_raises_permission_denied(alpha, alice):
    require(alice, alpha, Perm.CHANGE_RECORDS)
    with pytest.raises(PermissionDenied):
        require(alice, alpha, Perm.MANAGE_MEMBERS)


def test_checks_are_live(alpha, alice):
    assert can(alice, alpha, Perm.CHANGE_RECORDS)
    Membership.objects.filter(user=alice).update(role=Role.ANALYST)
    assert not can(alice, alpha, Perm.CHANGE_RECORDS)
    Membership.objects.filter(user=alice).delete()
    assert not can(alice, alpha, Perm.VIEW_RECORDS)


# --- what each role sees of the records ----------------------------------------------------


@pytest.fixture
def shared_set(alpha, beta):
    """One Alpha incident per sharing level, and one Beta incident shared publicly."""
    incidents = {level: make_incident(alpha, title=level, sharing=level) for level in c.Sharing.values}
    incidents["beta"] = make_incident(beta, title="beta", sharing=c.Sharing.PUBLIC)
    return incidents


def titles(queryset) -> set[str]:
    return set(queryset.values_list("title", flat=True))


@pytest.mark.parametrize("role", [A, CW, AN])
def test_staff_roles_see_every_incident_of_their_organisation(shared_set, alpha, role):
    user = make_user("member", alpha, role)
    assert titles(incidents_for(user)) == set(c.Sharing.values)
    assert list(organisations_for(user)) == [alpha]


def test_partner_sees_only_what_is_shared_with_partners_or_public(shared_set, alpha, pat):
    assert titles(incidents_for(pat)) == {c.Sharing.PARTNERS, c.Sharing.PUBLIC}
    assert access_incident(pat, shared_set[c.Sharing.PUBLIC].uid).title == c.Sharing.PUBLIC
    for level in (c.Sharing.INTERNAL, c.Sharing.AGGREGATE):
        with pytest.raises(Http404):  # looks exactly like a missing incident
            access_incident(pat, shared_set[level].uid)
    with pytest.raises(Http404):  # another organisation's public incident: not theirs
        access_incident(pat, shared_set["beta"].uid)
    # an organisation-wide filter (e.g. the admin's) never opens the rest to a partner
    assert list(organisations_for(pat)) == []
    assert titles(incidents_for(pat, "change")) == set()


@pytest.mark.parametrize(
    ("role", "may_change"), [(A, True), (CW, True), (AN, False), (P, False)]
)
def test_change_follows_the_table(shared_set, alpha, role, may_change):
    user = make_user("member", alpha, role)
    incident = shared_set[c.Sharing.PUBLIC]
    if may_change:
        assert access_incident(user, incident.uid, "change") == incident
        assert list(organisations_for(user, "change")) == [alpha]
    else:
        with pytest.raises(PermissionDenied):
            access_incident(user, incident.uid, "change")
        assert list(organisations_for(user, "change")) == []


def test_outsider_sees_none_of_them(shared_set, charlie):
    assert titles(incidents_for(charlie)) == {"beta"}
    with pytest.raises(Http404):
        access_incident(charlie, shared_set[c.Sharing.PUBLIC].uid)


def test_partner_on_the_incident_pages(client, shared_set, pat):
    from django.urls import reverse

    from tests.accounts.helpers import login_verified

    login_verified(client, pat)
    html = client.get(reverse("records:incident-list")).content.decode()
    assert "2 incidents" in html
    internal = shared_set[c.Sharing.INTERNAL]
    assert client.get(reverse("records:incident-detail", args=[internal.uid])).status_code == 404
