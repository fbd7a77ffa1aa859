"""Permission-checked lookups for incident records (DESIGN §6).

Views, the API and commands fetch incidents only through these functions, never with a bare
``Incident.objects.get``: the organisation check lives in one place, so a forgotten filter in a
view cannot leak another organisation's records.

Access is need-to-know: a user sees the incidents of the organisations they are a member of,
and nothing else; what their role there allows comes from ``tnr.accounts.roles``. Partners
see only the incidents an organisation shares with partners or the public. Being a Django
superuser does not widen that on the staff pages (the Django admin is the administrators'
separate tool; see ``tnr.records.admin``).
"""

from __future__ import annotations

import uuid
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from tnr.accounts.models import Organisation
from tnr.accounts.roles import Perm, organisation_ids_with, roles_with
from tnr.records import choices as c
from tnr.records.models import Incident, Person

Action = Literal["view", "change"]

# What each action needs, in the terms of tnr.accounts.roles (the one table of what each role
# may do). "view" is either permission: VIEW_RECORDS sees all of an organisation's incidents,
# VIEW_SHARED_RECORDS (partners) only those it shares beyond itself.
PERMISSIONS_FOR_ACTION: dict[str, tuple[str, ...]] = {
    "view": (Perm.VIEW_RECORDS, Perm.VIEW_SHARED_RECORDS),
    "change": (Perm.CHANGE_RECORDS,),
}
# Sharing levels a partner sees as records. "aggregate" means statistics only: not a record.
SHARED_WITH_PARTNERS = frozenset({c.Sharing.PARTNERS, c.Sharing.PUBLIC})

# Kept for callers that want the role sets: derived, never written by hand.
ROLES_FOR_ACTION: dict[str, frozenset[str]] = {
    action: frozenset().union(*(roles_with(perm) for perm in perms))
    for action, perms in PERMISSIONS_FOR_ACTION.items()
}


def _check_action(action: str) -> None:
    if action not in PERMISSIONS_FOR_ACTION:
        raise ValueError(f"unknown action {action!r}")


def _visible(user: AbstractBaseUser | AnonymousUser, action: str) -> Q:
    """The condition on incidents that ``user`` may ``action`` (membership checked live)."""
    _check_action(action)
    if action == "change":
        return Q(organisation_id__in=organisation_ids_with(user, Perm.CHANGE_RECORDS))
    return Q(organisation_id__in=organisation_ids_with(user, Perm.VIEW_RECORDS)) | Q(
        organisation_id__in=organisation_ids_with(user, Perm.VIEW_SHARED_RECORDS),
        sharing__in=SHARED_WITH_PARTNERS,
    )


def organisations_for(
    user: AbstractBaseUser | AnonymousUser, action: Action = "view"
) -> QuerySet[Organisation]:
    """The organisations *all* of whose incidents ``user`` may ``action``.

    Partners are not included for "view": they see only some of an organisation's incidents
    (use ``incidents_for``), so an organisation-wide filter must not open the rest to them.
    """
    _check_action(action)
    perm = Perm.CHANGE_RECORDS if action == "change" else Perm.VIEW_RECORDS
    return Organisation.objects.filter(pk__in=organisation_ids_with(user, perm))


def incidents_for(
    user: AbstractBaseUser | AnonymousUser, action: Action = "view"
) -> QuerySet[Incident]:
    """All incidents ``user`` may ``action``, as a queryset to refine further.

    The restriction is a subquery on memberships rather than a join, so the result never
    holds duplicate rows and callers need no ``.distinct()``.
    """
    _check_action(action)
    if not user.is_authenticated or not user.is_active:
        return Incident.objects.none()
    return Incident.objects.filter(_visible(user, action))


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
    _check_action(action)
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such incident")
    try:
        incident = base.filter(_visible(user, "view")).get(uid=uid)
    except Incident.DoesNotExist:
        raise Http404("No such incident") from None
    if action != "view" and not Incident.objects.filter(
        _visible(user, action), pk=incident.pk
    ).exists():
        raise PermissionDenied(f"Your role does not allow you to {action} this incident")
    return incident


def access_person(
    user: AbstractBaseUser | AnonymousUser, person_id: int, action: Action = "view"
) -> Person:
    """Person ``person_id`` if ``user`` may ``action`` it (as for incidents: Http404 for
    non-members and unknown ids alike, PermissionDenied for a member whose role may not).

    Persons are the organisation's own: partners never see them ("view" needs VIEW_RECORDS),
    so to a partner a person id is not found, exactly like one that does not exist (a 403
    would tell them which ids belong to the organisation).
    """
    _check_action(action)
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such person")
    person = (
        Person.objects.select_related("organisation")
        .filter(pk=person_id, organisation_id__in=organisation_ids_with(user, Perm.VIEW_RECORDS))
        .first()
    )
    if person is None:
        raise Http404("No such person")
    perm = Perm.CHANGE_RECORDS if action == "change" else Perm.VIEW_RECORDS
    if not Person.objects.filter(
        pk=person.pk, organisation_id__in=organisation_ids_with(user, perm)
    ).exists():
        raise PermissionDenied(f"Your role does not allow you to {action} this person")
    return person
