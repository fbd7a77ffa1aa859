"""Staff pages for incident records: a filtered list and an incident's full record.

Views stay thin: access goes through ``tnr.records.queries``, filtering through
``tnr.records.filters``; the views only paginate, load related rows in bulk and render.
Pages are plain HTML forms and links and work with JavaScript disabled.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from tnr.records import choices as c
from tnr.records.filters import IncidentFilterForm, filter_incidents
from tnr.records.models import Act, Incident, Involvement, Source
from tnr.records.queries import access_incident, incidents_for

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
    prefetch_related_objects([incident], *DETAIL_PREFETCH)
    context = {
        "incident": incident,
        "start": display_date(incident.start_date, incident.date_precision),
        "end": display_date(incident.end_date, incident.date_precision),
        "synthetic_notice": SYNTHETIC_NOTICE,
    }
    return render(request, "records/incident_detail.html", context)
