"""Permission-checked lookups for incident records (DESIGN §6).

Views, the API and commands fetch incidents only through these functions, never with a bare
``Incident.objects.get``: the organisation check lives in one place, so a forgotten filter in a
view cannot leak another organisation's records.

Access is need-to-know: a user sees the incidents of the organisations they are a member of,
and nothing else. Being a Django superuser does not widen that on the staff pages (the Django
admin is the administrators' separate tool; see ``tnr.records.admin``).
"""

from __future__ import annotations

import uuid
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from tnr.accounts.models import Membership, Organisation, Role
from tnr.records.models import Incident

Action = Literal["view", "change"]

# Which membership roles may do what with an organisation's incidents. Partners are read-only.
ROLES_FOR_ACTION: dict[str, frozenset[str]] = {
    "view": frozenset(Role.values),
    "change": frozenset({Role.ADMINISTRATOR, Role.CASEWORKER}),
}


def _roles_for(action: str) -> frozenset[str]:
    try:
        return ROLES_FOR_ACTION[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}") from None


def _member_organisation_ids(user: AbstractBaseUser | AnonymousUser, action: str) -> QuerySet:
    """Subquery of the ids of organisations where ``user`` holds a role allowing ``action``."""
    roles = _roles_for(action)
    if not user.is_authenticated or not user.is_active:
        return Membership.objects.none().values("organisation_id")
    return Membership.objects.filter(user_id=user.pk, role__in=roles).values("organisation_id")


def organisations_for(
    user: AbstractBaseUser | AnonymousUser, action: Action = "view"
) -> QuerySet[Organisation]:
    """The organisations whose incidents ``user`` may ``action``."""
    return Organisation.objects.filter(pk__in=_member_organisation_ids(user, action))


def incidents_for(
    user: AbstractBaseUser | AnonymousUser, action: Action = "view"
) -> QuerySet[Incident]:
    """All incidents ``user`` may ``action``, as a queryset to refine further.

    The restriction is a subquery on memberships rather than a join, so the result never
    holds duplicate rows and callers need no ``.distinct()``.
    """
    if not user.is_authenticated or not user.is_active:
        return Incident.objects.none()
    return Incident.objects.filter(organisation_id__in=_member_organisation_ids(user, action))


def access_incident(
    user: AbstractBaseUser | AnonymousUser,
    uid: uuid.UUID | str,
    action: Action = "view",
    *,
    queryset: QuerySet[Incident] | None = None,
) -> Incident:
    """The incident ``uid`` if ``user`` may ``action`` it.

    Raises Http404 when the incident does not exist *or* belongs to an organisation the user
    is not a member of: the two cases look the same, so probing uids reveals nothing. A member
    who may see the incident but not ``action`` it gets PermissionDenied (it is no secret to
    them that the incident exists).

    ``queryset`` lets a caller add ``select_related``/``prefetch_related``; it is always
    narrowed to the user's organisations here.
    """
    base = queryset if queryset is not None else Incident.objects.all()
    try:
        uid = uuid.UUID(str(uid))
    except ValueError:
        raise Http404("No such incident") from None
    visible = base.filter(organisation_id__in=_member_organisation_ids(user, "view"))
    try:
        incident = visible.get(uid=uid)
    except Incident.DoesNotExist:
        raise Http404("No such incident") from None
    if action != "view" and not _member_organisation_ids(user, action).filter(
        organisation_id=incident.organisation_id
    ).exists():
        raise PermissionDenied(f"Your role does not allow you to {action} this incident")
    return incident
