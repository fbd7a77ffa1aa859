"""Permission-checked lookups for organisations, members and invitations.

As in ``tnr.records.queries``: a non-member gets Http404 (an organisation they do not belong
to looks the same as one that does not exist), a member whose role does not allow the
permission gets PermissionDenied.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from tnr.accounts.models import Invitation, Membership, Organisation
from tnr.accounts.roles import require


def memberships_of(user: Any) -> QuerySet[Membership]:
    """``user``'s memberships, with their organisations, by organisation name."""
    if not user.is_authenticated:
        return Membership.objects.none()
    return (
        Membership.objects.filter(user_id=user.pk)
        .select_related("organisation")
        .order_by("organisation__name")
    )


def access_organisation(user: Any, slug: str, permission: str) -> Organisation:
    """The organisation ``slug`` if ``user`` is a member holding ``permission``."""
    organisation = (
        Organisation.objects.filter(slug=slug, memberships__user_id=user.pk).first()
        if user.is_authenticated
        else None
    )
    if organisation is None:
        raise Http404("No such organisation")
    require(user, organisation, permission)
    return organisation


def access_membership(organisation: Organisation, membership_id: int) -> Membership:
    """Membership ``membership_id`` of ``organisation`` (already permission-checked)."""
    membership = (
        Membership.objects.select_related("user", "organisation")
        .filter(pk=membership_id, organisation=organisation)
        .first()
    )
    if membership is None:
        raise Http404("No such member")
    return membership


def access_invitation(organisation: Organisation, invitation_id: int) -> Invitation:
    """Invitation ``invitation_id`` of ``organisation`` (already permission-checked)."""
    invitation = Invitation.objects.filter(pk=invitation_id, organisation=organisation).first()
    if invitation is None:
        raise Http404("No such invitation")
    return invitation
