"""What each role may do in its organisation: the one table every permission check reads.

A user acts in an organisation only through a membership; their role there decides what they
may do (``ROLE_PERMISSIONS``). Nothing is inherited across organisations, and being a Django
superuser grants nothing here (superusers administer the installation through the Django
admin, not the records). docs/roles.md explains each role in prose; tests/accounts/test_roles.py
pins the whole matrix, so a change here is a deliberate, reviewed change.

Checks are live: ``can`` reads the membership from the database on every call, so a removed
member or a changed role takes effect on the very next request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import models

from tnr.accounts.models import Membership, Organisation, Role


class Perm(models.TextChoices):
    """Permissions a role can hold inside its organisation."""

    MANAGE_MEMBERS = "manage_members", "Invite members, change their roles, remove them"
    VIEW_RECORDS = "view_records", "See all the organisation's de-identified records"
    VIEW_SHARED_RECORDS = (
        "view_shared_records",
        "See only the de-identified records the organisation shares with partners or the public",
    )
    CHANGE_RECORDS = "change_records", "Create and change records"
    VIEW_IDENTITY = (
        "view_identity",
        "Read sealed identities and reports (once the organisation key is unlocked)",
    )
    VIEW_AUDIT = "view_audit", "Read the organisation's audit log"
    EXPORT_RECORDS = "export_records", "Export record-level (de-identified) data"
    EXPORT_AGGREGATES = "export_aggregates", "Export aggregate statistics"


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # Administrators also read identities: they can grant themselves any role anyway, and in a
    # small organisation the administrator is often a caseworker too. Withholding it would be
    # theatre, not protection.
    Role.ADMINISTRATOR: frozenset(
        {
            Perm.MANAGE_MEMBERS,
            Perm.VIEW_RECORDS,
            Perm.CHANGE_RECORDS,
            Perm.VIEW_IDENTITY,
            Perm.VIEW_AUDIT,
            Perm.EXPORT_RECORDS,
            Perm.EXPORT_AGGREGATES,
        }
    ),
    Role.CASEWORKER: frozenset({Perm.VIEW_RECORDS, Perm.CHANGE_RECORDS, Perm.VIEW_IDENTITY}),
    Role.ANALYST: frozenset({Perm.VIEW_RECORDS, Perm.EXPORT_AGGREGATES}),
    # Partners belong to another organisation and read what this one chose to share.
    Role.PARTNER: frozenset({Perm.VIEW_SHARED_RECORDS}),
}

assert set(ROLE_PERMISSIONS) == set(Role.values), "every role needs a row in ROLE_PERMISSIONS"


def permissions_of(role: str) -> frozenset[str]:
    """The permissions of ``role`` (an unknown role has none)."""
    return ROLE_PERMISSIONS.get(role, frozenset())


def roles_with(permission: str) -> frozenset[str]:
    """The roles that hold ``permission``; ValueError for a permission that does not exist."""
    if permission not in Perm.values:
        raise ValueError(f"unknown permission {permission!r}")
    return frozenset(role for role, perms in ROLE_PERMISSIONS.items() if permission in perms)


def role_in(user: AbstractBaseUser | AnonymousUser, organisation: Organisation | int) -> str | None:
    """The role ``user`` holds in ``organisation`` right now, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    org_id = organisation.pk if isinstance(organisation, Organisation) else organisation
    return (
        Membership.objects.filter(user_id=user.pk, organisation_id=org_id)
        .values_list("role", flat=True)
        .first()
    )


def can(
    user: AbstractBaseUser | AnonymousUser, organisation: Organisation | int, permission: str
) -> bool:
    """Whether ``user`` may do ``permission`` in ``organisation`` (a live database check)."""
    allowed = roles_with(permission)  # raises on a misspelt permission, even for anonymous
    role = role_in(user, organisation)
    return role is not None and role in allowed


def require(
    user: AbstractBaseUser | AnonymousUser, organisation: Organisation | int, permission: str
) -> None:
    """Raise PermissionDenied unless ``can(user, organisation, permission)``."""
    if not can(user, organisation, permission):
        raise PermissionDenied("Your role in this organisation does not allow this")


def organisation_ids_with(
    user: AbstractBaseUser | AnonymousUser, permission: str
) -> models.QuerySet[Membership, Any]:
    """Subquery: ids of the organisations where ``user`` holds ``permission``."""
    roles = roles_with(permission)
    if not user.is_authenticated or not user.is_active:
        return Membership.objects.none().values("organisation_id")
    return Membership.objects.filter(user_id=user.pk, role__in=roles).values("organisation_id")
