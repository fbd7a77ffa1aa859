"""Who may run linkage and review its pairs, and permission-checked lookups of runs and pairs.

Need-to-know, in the terms of ``tnr.accounts.roles``:

* seeing runs and their pairs, and starting a run: ``VIEW_RECORDS`` (administrators,
  caseworkers, analysts). A run reads every de-identified incident of the organisation,
  which these roles already see; partners, who see only what is shared with them, never
  see a run (it would tell them about incidents they may not see).
* deciding that two incidents are, or are not, the same: ``CHANGE_RECORDS`` (administrators,
  caseworkers): a decision changes how the organisation's records are counted.

As for incidents, a run of another organisation is "not found" (404) whatever the role, so
that probing run ids reveals nothing; a member whose role may not act gets PermissionDenied.
"""

from __future__ import annotations

import uuid
from typing import Literal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from tnr.accounts.models import Organisation
from tnr.accounts.roles import Perm, can, organisation_ids_with
from tnr.analytics.models import LinkagePair, LinkageRun

User = AbstractBaseUser | AnonymousUser
Action = Literal["view", "run", "decide"]

PERMISSION_FOR_ACTION: dict[str, str] = {
    "view": Perm.VIEW_RECORDS,
    "run": Perm.VIEW_RECORDS,
    "decide": Perm.CHANGE_RECORDS,
}


def _perm(action: str) -> str:
    try:
        return PERMISSION_FOR_ACTION[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}") from None


def organisations_for(user: User, action: Action = "run") -> QuerySet[Organisation]:
    """The organisations in which ``user`` may ``action`` linkage."""
    return Organisation.objects.filter(pk__in=organisation_ids_with(user, _perm(action)))


def may(user: User, organisation: Organisation | int, action: Action) -> bool:
    return can(user, organisation, _perm(action))


def runs_for(user: User) -> QuerySet[LinkageRun]:
    """Every run ``user`` may see (a subquery on memberships: no duplicate rows)."""
    if not user.is_authenticated or not user.is_active:
        return LinkageRun.objects.none()
    return LinkageRun.objects.filter(organisation_id__in=organisation_ids_with(user, Perm.VIEW_RECORDS))


def access_run(user: User, uid: uuid.UUID | str, action: Action = "view") -> LinkageRun:
    """Run ``uid`` if ``user`` may ``action`` it: Http404 for runs of other organisations and
    unknown ids alike, PermissionDenied for a member whose role may not."""
    _perm(action)
    try:
        uid = uuid.UUID(str(uid))
    except ValueError:
        raise Http404("No such linkage run") from None
    run = runs_for(user).select_related("organisation").filter(uid=uid).first()
    if run is None:
        raise Http404("No such linkage run")
    if not may(user, run.organisation_id, action):
        raise PermissionDenied(f"Your role does not allow you to {action} in this linkage run")
    return run


def access_pair(user: User, run_uid: uuid.UUID | str, pair_id: int, action: Action = "view") -> LinkagePair:
    """Pair ``pair_id`` of run ``run_uid`` (checked as ``access_run``); Http404 when the pair is
    not in that run."""
    run = access_run(user, run_uid, action)
    pair = (
        LinkagePair.objects.select_related("run", "run__organisation", "left", "right")
        .filter(run=run, pk=pair_id)
        .first()
    )
    if pair is None:
        raise Http404("No such pair in this linkage run")
    return pair
