"""Staff pages of record linkage: runs, the uncertain pairs of a run, and a pair side by side.

Views stay thin: lookups go through ``tnr.analytics.queries`` (permission-checked), changes
through ``tnr.analytics.actions``. Plain HTML forms and links: the pages work without
JavaScript. A run is computed during the request that starts it (there is no task queue
yet); an organisation's few thousand incidents take seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from tnr.accounts.models import Membership, Organisation
from tnr.analytics import actions, queries
from tnr.analytics.forms import DecisionForm, PairFilterForm, RunForm
from tnr.analytics.models import LinkagePair, LinkageRun, PairDecision
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.methods.linkage import level_labels
from tnr.records import choices as c
from tnr.records.models import Act, Incident, Source
from tnr.records.views import SYNTHETIC_NOTICE, display_date

PAGE_SIZE = 50
# Names shown for the comparisons of the default settings; other names are shown as they are.
COMPARISON_LABELS = {
    "date": "Date", "place": "Place", "location_type": "Kind of place", "states": "Origin and host state",
    "host_state_role": "Host-state role", "tactic": "Tactic", "target_profile": "Target profile",
    "targets": "Number of targets", "same_list": "Same list",
}  # fmt: skip


@require_safe
@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = queries.runs_for(request.user).select_related("organisation", "started_by")
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    organisations = queries.organisations_for(request.user, "run")
    context = {
        "page_obj": page,
        "runs": page.object_list,
        "form": RunForm(organisations=organisations) if organisations.exists() else None,
    }
    return render(request, "analytics/run_list.html", context)


@require_POST
@login_required
def run_create(request: HttpRequest) -> HttpResponse:
    allowed = queries.organisations_for(request.user, "run")
    form = RunForm(request.POST, organisations=allowed)
    if not form.is_valid():
        slug = request.POST.get("organisation", "")
        # Need-to-know: an organisation the user is not a member of is "not found".
        if slug and Membership.objects.filter(user_id=cast(Any, request.user.pk), organisation__slug=slug).exists():
            raise PermissionDenied("Your role does not allow running linkage in this organisation")
        if slug or not allowed.exists():
            raise Http404("No such organisation")
        return render(request, "analytics/run_list.html", {"form": form, "runs": [], "page_obj": None}, status=400)
    organisation: Organisation = form.cleaned_data["organisation"]
    run = actions.run_linkage(organisation, by=request.user, via="web")
    if run.status == "done":
        messages.success(request, f"Linkage run done: {run.n_records} incidents, {run.n_clusters} after linkage, "
                                  f"{run.n_uncertain} uncertain pairs to review.")  # fmt: skip
    else:
        messages.error(request, f"The linkage run failed: {run.error}")
    return redirect("analytics:run", uid=run.uid)


@dataclass(frozen=True)
class PairRow:
    pair: LinkagePair
    left_date: str
    right_date: str
    decision: bool | None


def _pairs_for(run: LinkageRun, show: str) -> QuerySet[LinkagePair]:
    decided = PairDecision.objects.filter(left_id=OuterRef("left_id"), right_id=OuterRef("right_id"))
    if show == "undecided":
        pairs = actions.undecided_uncertain(run)
    elif show == "uncertain":
        pairs = actions.uncertain_pairs(run)
    elif show == "decided":
        pairs = run.pairs.filter(Exists(decided)).order_by("-probability", "id")
    else:
        pairs = run.pairs.filter(probability__gte=run.match_threshold).order_by("-probability", "id")
    return pairs.select_related("left", "right")


@require_safe
@login_required
def run_detail(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    run = queries.access_run(request.user, uid, "view")
    form = PairFilterForm(request.GET)
    show = form.choice()
    page = Paginator(_pairs_for(run, show), PAGE_SIZE).get_page(request.GET.get("page"))
    pairs = list(page.object_list)
    decisions = {
        (d.left_id, d.right_id): d.same
        for d in PairDecision.objects.filter(organisation=run.organisation, left_id__in=[p.left_id for p in pairs])
    }
    rows = [
        PairRow(p, display_date(p.left.start_date, p.left.date_precision), display_date(p.right.start_date, p.right.date_precision),
                decisions.get((p.left_id, p.right_id)))
        for p in pairs
    ]  # fmt: skip
    context = {
        "run": run,
        "form": form,
        "show": show,
        "show_label": dict(PairFilterForm.SHOW)[show],
        "page_obj": page,
        "rows": rows,
        "sizes": actions.cluster_sizes(run),
        "remaining": actions.undecided_uncertain(run).count(),
        "may_decide": queries.may(request.user, run.organisation_id, "decide"),
        "any_synthetic": Incident.objects.filter(organisation=run.organisation, synthetic=True).exists(),
        "synthetic_notice": SYNTHETIC_NOTICE,
    }
    return render(request, "analytics/run_detail.html", context)


@require_safe
@login_required
def next_pair(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    """The next uncertain pair nobody has decided, or the run's page when none is left."""
    run = queries.access_run(request.user, uid, "view")
    pair = actions.undecided_uncertain(run).first()
    if pair is None:
        messages.info(request, "No undecided uncertain pair is left in this run.")
        return redirect("analytics:run", uid=run.uid)
    return redirect("analytics:pair", uid=run.uid, pk=pair.pk)


@dataclass(frozen=True)
class Side:
    """One incident of the pair, as the review page shows it."""

    incident: Incident
    date: str
    lists: list[str]
    tactics: list[str]
    secondary: list[str]
    categories: list[str]
    n_targets: int


def _side(incident: Incident) -> Side:
    acts = list(incident.acts.all())
    categories = sorted({cat.label for act in acts if act.target for cat in act.target.categories.all()})
    return Side(
        incident=incident,
        date=display_date(incident.start_date, incident.date_precision),
        lists=list(dict.fromkeys(s.documenting_organisation for s in incident.sources.all() if s.documenting_organisation)),
        tactics=list(dict.fromkeys(act.primary_tactic.label for act in acts)),
        secondary=list(dict.fromkeys(t.label for act in acts for t in act.secondary_tactics.all())),
        categories=categories,
        n_targets=len(acts),
    )


@dataclass(frozen=True)
class Fact:
    label: str
    left: str
    right: str

    @property
    def differs(self) -> bool:
        return self.left != self.right


def _place(incident: Incident) -> str:
    country = incident.location_country.name if incident.location_country else ""
    return ", ".join(part for part in (incident.city, country) if part) or "not recorded"


def _facts(left: Side, right: Side) -> list[Fact]:
    def both(label: str, get: Any) -> Fact:
        return Fact(label, get(left) or "—", get(right) or "—")

    def state(country: Any) -> str:
        return country.name if country else "unknown"

    return [
        both("Date", lambda s: f"{s.date} (to the {s.incident.get_date_precision_display().lower()})"),
        both("Place", lambda s: _place(s.incident)),
        both("Kind of place", lambda s: s.incident.location_type.label if s.incident.location_type else ""),
        both("Origin → host", lambda s: f"{state(s.incident.origin_state)} → {state(s.incident.host_state)}"),
        both("Host-state role", lambda s: s.incident.get_host_state_role_display()),
        both("Tactics", lambda s: ", ".join(s.tactics)),
        both("Other tactics", lambda s: ", ".join(s.secondary)),
        both("Targets", lambda s: str(s.n_targets)),
        both("Target profile", lambda s: ", ".join(s.categories)),
        both("Documented by", lambda s: ", ".join(s.lists)),
        both("Confidence", lambda s: s.incident.get_confidence_display()),
    ]


@dataclass(frozen=True)
class Reason:
    name: str
    level: str
    weight: float


def _reasons(run: LinkageRun, pair: LinkagePair) -> list[Reason]:
    if not run.model:
        return []
    labels = level_labels(run.model)
    out = []
    for name, gamma in pair.levels.items():
        label, weight = labels.get(name, {}).get(int(gamma), ("?", 0.0))
        out.append(Reason(COMPARISON_LABELS.get(name, name), label, weight))
    return out


SIDE_PREFETCH = (
    Prefetch("acts", queryset=Act.objects.select_related("primary_tactic", "target")
             .prefetch_related("secondary_tactics", "target__categories").order_by("id")),
    Prefetch("sources", queryset=Source.objects.order_by("id")),
)  # fmt: skip


@require_http_methods(["GET", "POST"])
@login_required
def pair(request: HttpRequest, uid: uuid.UUID, pk: int) -> HttpResponse:
    action: Any = "decide" if request.method == "POST" else "view"
    found = queries.access_pair(request.user, uid, pk, action)
    run = found.run
    form = DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actions.decide_pair(found, form.value(), by=request.user)
        word = {True: "the same incident", False: "different incidents", None: "undecided again"}[form.value()]
        messages.success(request, f"Recorded: {found.left.external_id} and {found.right.external_id} are {word}.")
        return redirect("analytics:next-pair", uid=run.uid)
    incidents = {
        i.pk: i
        for i in Incident.objects.filter(pk__in=[found.left_id, found.right_id])
        .select_related("organisation", "location_country", "location_type", "origin_state", "host_state")
        .prefetch_related(*SIDE_PREFETCH)
    }
    for incident in incidents.values():
        if incident.sensitivity == c.Sensitivity.HIGH:
            # As on the incident page: recorded before anything is shown.
            audit.record(request.user, AuditAction.VIEW, incident, data={"via": "linkage review"})
    decision = actions.decision_for(found)
    context = {
        "run": run,
        "pair": found,
        "left": (left := _side(incidents[found.left_id])),
        "right": (right := _side(incidents[found.right_id])),
        "facts": _facts(left, right),
        "reasons": _reasons(run, found),
        "decision": decision,
        "form": form,
        "may_decide": queries.may(request.user, run.organisation_id, "decide"),
        "in_band": found.probability is not None and run.review_threshold <= found.probability < run.match_threshold,
        "synthetic_notice": SYNTHETIC_NOTICE,
    }
    return render(request, "analytics/pair.html", context, status=400 if form.errors else 200)
