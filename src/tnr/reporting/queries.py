"""Permission-checked lookups of reports for the staff zone (never a bare ``.get`` in a view).

Reading a report needs ``Perm.VIEW_IDENTITY`` (caseworkers and administrators): the list shows
only metadata, but even that is need-to-know. Changing one (reply, status, tags, deriving
incidents, deleting) needs ``Perm.CHANGE_RECORDS`` as well. A report of another organisation
is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from tnr.accounts.models import Organisation
from tnr.accounts.roles import Perm, can, organisation_ids_with, role_in
from tnr.reporting.models import Report

Action = Literal["view", "change"]


def reports_for(user: Any) -> QuerySet[Report]:
    return Report.objects.filter(organisation_id__in=organisation_ids_with(user, Perm.VIEW_IDENTITY))


def inbox_organisations(user: Any) -> QuerySet[Organisation]:
    return Organisation.objects.filter(pk__in=organisation_ids_with(user, Perm.VIEW_IDENTITY)).order_by("name")


def access_report(user: Any, uid: str, action: Action = "view") -> Report:
    report = reports_for(user).select_related("organisation").filter(uid=uid).first()
    if report is None:
        raise Http404("No such report")
    if action == "change" and not can(user, report.organisation_id, Perm.CHANGE_RECORDS):
        raise PermissionDenied("Your role does not allow you to change reports")
    return report


def access_intake_admin(user: Any, organisation_slug: str) -> Organisation:
    organisation = Organisation.objects.filter(slug=organisation_slug).first()
    if organisation is None or role_in(user, organisation) is None:
        raise Http404("No such organisation")
    if not can(user, organisation, Perm.MANAGE_MEMBERS):
        raise PermissionDenied("Only administrators change how reports are received")
    return organisation
