"""Who may use the protection mechanisms directory, and permission-checked lookups of entries.

The directory is shared by the whole installation (it lists public organisations, not any
organisation's records), so its permissions are not per organisation:

* searching: any signed-in staff member, i.e. an active user with a membership in at least
  one organisation (or a superuser);
* maintaining it (create, edit, deactivate, import, export): an administrator of any
  organisation, or a superuser (who runs the installation).

Anonymous people reach the directory only through the reporter zone's self-assessment, which
calls ``tnr.cases.directory.find_mechanisms`` and never these pages.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from tnr.accounts.models import Membership, Role
from tnr.cases.models import ProtectionMechanism

Action = Literal["view", "change"]
User = AbstractBaseUser | AnonymousUser


def _signed_in(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active)


def can_search_directory(user: User) -> bool:
    if not _signed_in(user):
        return False
    return bool(getattr(user, "is_superuser", False)) or Membership.objects.filter(
        user_id=cast(Any, user.pk)
    ).exists()


def can_maintain_directory(user: User) -> bool:
    if not _signed_in(user):
        return False
    return bool(getattr(user, "is_superuser", False)) or Membership.objects.filter(
        user_id=cast(Any, user.pk), role=Role.ADMINISTRATOR
    ).exists()


def require_directory(user: User, action: Action = "view") -> None:
    """Raise PermissionDenied unless ``user`` may search (view) or maintain (change)."""
    allowed = can_search_directory(user) if action == "view" else can_maintain_directory(user)
    if not allowed:
        if action == "view":
            raise PermissionDenied("Only staff members can search the protection directory")
        raise PermissionDenied("Only administrators can change the protection directory")


def access_mechanism(user: User, pk: int, action: Action = "view") -> ProtectionMechanism:
    """The entry ``pk`` if ``user`` may ``action`` it; Http404 if there is none."""
    require_directory(user, action)
    try:
        return ProtectionMechanism.objects.prefetch_related("countries", "profiles").get(pk=pk)
    except ProtectionMechanism.DoesNotExist:
        raise Http404("No such directory entry") from None
