"""Staff pages for incident records: a filtered list and an incident's full record.

Views stay thin: access goes through ``tnr.records.queries``, filtering through
``tnr.records.filters``; the views only paginate, load related rows in bulk and render.
Pages are plain HTML forms and links and work with JavaScript disabled.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_safe

from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.records import choices as c
from tnr.records import identity as sealed_identity
from tnr.records.filters import IncidentFilterForm, filter_incidents
from tnr.records.forms import IdentityForm
from tnr.records.models import Act, Incident, Involvement, Source
from tnr.records.queries import access_incident, access_person, incidents_for

PAGE_SIZE = 50

SYNTHETIC_NOTICE = "Synthetic demo data — not real incidents"


def display_date(value: datetime.date | None, precision: str) -> str:
    """A date shown only as precisely as it is known: 2019-03-04, 2019-03 or 2019."""
    if value is None:
        return ""
    if precision == c.DatePrecision.YEAR:
        return f"{value.year:04d}"
    if precision == c.DatePrecision.MONTH:
        return f"{value.year:04d}-{value.month:02d}"
    return value.isoformat()


@dataclass(frozen=True)
class IncidentRow:
    """One line of the incident list."""

    incident: Incident
    date: str
    primary_tactics: list[str]


def _rows(incidents: list[Incident]) -> list[IncidentRow]:
    rows = []
    for incident in incidents:
        tactics = list(dict.fromkeys(act.primary_tactic.label for act in incident.acts.all()))
        rows.append(
            IncidentRow(
                incident=incident,
                date=display_date(incident.start_date, incident.date_precision),
                primary_tactics=tactics,
            )
        )
    return rows


@require_safe
@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    visible = incidents_for(request.user)
    form = IncidentFilterForm(request.GET, incidents=visible)
    # With an invalid filter, list nothing rather than a list that silently ignores it.
    incidents = filter_incidents(visible, form.cleaned_data) if form.is_valid() else visible.none()
    incidents = incidents.select_related("origin_state", "host_state").prefetch_related(
        Prefetch("acts", queryset=Act.objects.select_related("primary_tactic").order_by("id"))
    )
    page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page_obj": page,
        "rows": _rows(list(page.object_list)),
        "total": page.paginator.count,
        "any_synthetic": form.is_valid() and incidents.filter(synthetic=True).exists(),
        "synthetic_notice": SYNTHETIC_NOTICE,
    }
    return render(request, "records/incident_list.html", context)


DETAIL_PREFETCH = (
    "perpetrator_states",
    Prefetch(
        "acts",
        queryset=Act.objects.select_related("primary_tactic", "outcome", "target")
        .prefetch_related(
            "secondary_tactics",
            "target__nationality",
            "target__categories",
            Prefetch(
                "involvements",
                queryset=Involvement.objects.select_related(
                    "actor", "actor__type", "actor__state"
                ).order_by("id"),
            ),
        )
        .order_by("id"),
    ),
    Prefetch("sources", queryset=Source.objects.select_related("type").order_by("id")),
)


@require_safe
@login_required
def incident_detail(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    incident = access_incident(
        request.user,
        uid,
        "view",
        queryset=Incident.objects.select_related(
            "organisation", "location_country", "location_type", "origin_state", "host_state"
        ),
    )
    if incident.sensitivity == c.Sensitivity.HIGH:
        # Recorded before anything is shown: if the audit log cannot be written, the page fails.
        audit.record(request.user, AuditAction.VIEW, incident)
    prefetch_related_objects([incident], *DETAIL_PREFETCH)
    for act in incident.acts.all():
        # Each identity shown is audited; one the user may not read stays sealed, with why.
        setattr(act, "identity", sealed_identity.reveal_identity(request, act.target) if act.target else None)  # noqa: B010
    context = {
        "incident": incident,
        "can_edit_identity": sealed_identity.can_edit_identity(request.user, incident.organisation_id),
        "start": display_date(incident.start_date, incident.date_precision),
        "end": display_date(incident.end_date, incident.date_precision),
        "synthetic_notice": SYNTHETIC_NOTICE,
    }
    return render(request, "records/incident_detail.html", context)


@sensitive_post_parameters("name", "aliases", "contact")
@require_http_methods(["GET", "POST"])
@login_required
def person_identity(request: HttpRequest, pk: int) -> HttpResponse:
    """Record or correct a person's sealed identity (caseworkers and administrators).

    The current identity is shown only when the organisation key is unlocked; without it, an
    identity already recorded cannot be replaced blindly.
    """
    person = access_person(request.user, pk, "change")
    if not sealed_identity.can_edit_identity(request.user, person.organisation_id):
        raise PermissionDenied("Your role does not allow recording identities")
    current = sealed_identity.reveal_identity(request, person)
    may_write = current.unlocked or current.status == sealed_identity.EMPTY
    back = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    form = IdentityForm(request.POST or None, initial=current.identity.as_dict() if current.identity else None)
    if current.identity is not None and not form.is_bound:
        form.initial["aliases"] = "\n".join(current.identity.aliases)
    if request.method == "POST" and not may_write:
        form.add_error(None, f"An identity is recorded but not unlocked for you, so it cannot be replaced. {current.message}")
    elif request.method == "POST" and form.is_valid():
        try:
            sealed_identity.set_identity(request.user, person, form.cleaned_data)
        except sealed_identity.IdentityError as error:
            form.add_error(None, str(error))
        else:
            # The message names the pseudonym only: messages can end up stored in the session.
            messages.success(request, f"Identity of {person.external_id} saved, sealed to the organisation key.")
            if back:
                return redirect(back)
            return redirect("records:person-identity", pk=person.pk)
    context = {"person": person, "current": current, "may_write": may_write, "form": form, "next": back}
    return render(request, "records/person_identity.html", context, status=400 if form.errors else 200)
