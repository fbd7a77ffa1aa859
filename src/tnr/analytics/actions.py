"""Verbs of record linkage: run it over an organisation's incidents, decide on a pair.

Views, the ``tnr link`` command and tests call these; permission checks happen at the edge
(``tnr.analytics.queries``). The computation runs outside any transaction (it can take a
while); only its results are written, in one transaction with the audit entry, so a run is
stored whole or not at all.

The adapter (``incident_records``) turns the incidents of an organisation into the
exchange-format dicts that ``tnr.methods.linkage.incident_frame`` reads: one query per table,
no per-incident query. The documenting organisation of an incident's first source names the
list it comes from (an organisation that imported several partners' lists links across
them); without a source, the organisation itself is the list.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, QuerySet

from tnr.accounts.models import Organisation
from tnr.analytics.models import ClusterMember, LinkagePair, LinkageRun, PairDecision, RunStatus
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.methods import linkage
from tnr.methods.linkage_settings import LinkageSettings, SettingsError, default_incident_settings
from tnr.records.models import Act, Incident, Person, Source

logger = logging.getLogger(__name__)
By = AbstractBaseUser | AnonymousUser | None
ERROR_MAX = 500
BULK = 5000


def _user(by: By) -> Any:
    return by if by is not None and by.is_authenticated else None


# --- the adapter ----------------------------------------------------------------------------


def incident_records(incidents: QuerySet[Incident], default_list: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Exchange-format incident and person dicts (only the fields linkage compares) for
    ``incidents``; ids are primary keys as text."""
    rows = list(incidents.order_by("pk").values_list(
        "pk", "start_date", "date_precision", "location_country_id", "city", "location_type_id",
        "origin_state_id", "host_state_id", "host_state_role",
    ))  # fmt: skip
    ids = [r[0] for r in rows]
    acts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    secondary: dict[int, list[str]] = defaultdict(list)
    through = Act.secondary_tactics.through
    act_rows = list(Act.objects.filter(incident_id__in=ids).order_by("pk").values_list("pk", "incident_id", "primary_tactic_id", "target_id"))
    for act_id, tactic_id in through.objects.filter(act__incident_id__in=ids).values_list("act_id", "tactic_id"):
        secondary[act_id].append(tactic_id)
    targets = set()
    for act_id, incident_id, tactic, target in act_rows:
        acts[incident_id].append({"primary_tactic": tactic, "secondary_tactics": secondary.get(act_id, []),
                                  "target": str(target) if target else None})  # fmt: skip
        if target:
            targets.add(target)
    categories: dict[int, list[str]] = defaultdict(list)
    for person_id, category in Person.categories.through.objects.filter(person_id__in=targets).values_list(
        "person_id", "targetcategory_id"
    ):
        categories[person_id].append(category)
    lists: dict[int, str] = {}
    for incident_id, name in Source.objects.filter(incident_id__in=ids).exclude(documenting_organisation="").order_by(
        "incident_id", "pk"
    ).values_list("incident_id", "documenting_organisation"):
        lists.setdefault(incident_id, name)
    incidents_out = [
        {
            "id": str(pk), "start_date": start, "date_precision": precision, "location_country": country,
            "city": city, "location_type": location_type, "origin_state": origin, "host_state": host,
            "host_state_role": role, "acts": acts.get(pk, []),
            "sources": [{"organisation": lists.get(pk, default_list)}],
        }
        for pk, start, precision, country, city, location_type, origin, host, role in rows
    ]  # fmt: skip
    persons = [{"id": str(pid), "categories": categories.get(pid, [])} for pid in targets]
    return incidents_out, persons


def decisions_of(organisation: Organisation) -> list[linkage.Decision]:
    return [
        linkage.Decision(str(left), str(right), same)
        for left, right, same in PairDecision.objects.filter(organisation=organisation).values_list("left_id", "right_id", "same")
    ]


# --- running --------------------------------------------------------------------------------


def run_linkage(
    organisation: Organisation,
    *,
    by: By = None,
    settings: LinkageSettings | None = None,
    backend: str = "duckdb",
    spark: Any = None,
    via: str = "web",
) -> LinkageRun:
    """Link the incidents of ``organisation``, with its caseworkers' decisions, and store the
    run. A run that cannot be done (too few incidents, settings the data cannot satisfy, a
    training that finds nothing) is stored as failed, with the reason, and returned."""
    settings = settings or default_incident_settings()
    started = time.perf_counter()
    incidents = Incident.objects.filter(organisation=organisation)
    decisions = decisions_of(organisation)
    result: linkage.LinkageResult | None = None
    error = ""
    try:
        records, persons = incident_records(incidents, organisation.name)
        if len(records) < 2:
            raise linkage.FrameError(f"linkage needs at least 2 incidents; {organisation.name} has {len(records)}")
        frame = linkage.incident_frame(records, persons)
        result = linkage.link(frame, settings, backend=backend, spark=spark, decisions=decisions)
    except (linkage.FrameError, SettingsError) as problem:
        error = str(problem)
    except Exception as problem:  # a backend failing on odd data must not lose the request
        logger.exception("linkage run failed for organisation %s", organisation.pk)
        error = f"the linkage backend failed: {type(problem).__name__}: {problem}"
    return _store(organisation, settings, result, error, decisions, by=by, backend=backend, via=via,
                  seconds=time.perf_counter() - started)  # fmt: skip


@transaction.atomic(durable=True)
def _store(
    organisation: Organisation, settings: LinkageSettings, result: linkage.LinkageResult | None, error: str,
    decisions: list[linkage.Decision], *, by: By, backend: str, via: str, seconds: float,
) -> LinkageRun:  # fmt: skip
    used = result.settings if result is not None else settings
    run = LinkageRun.objects.create(
        organisation=organisation, started_by=_user(by), backend=backend, settings=used.to_dict(),
        match_threshold=used.match_threshold, review_threshold=used.review_threshold, seconds=seconds,
        status=RunStatus.DONE if result is not None else RunStatus.FAILED, error=error[:ERROR_MAX],
        n_decisions=len(decisions),
    )  # fmt: skip
    if result is not None:
        # Incidents deleted while the run computed are skipped rather than failing the run.
        alive = set(Incident.objects.filter(organisation=organisation).values_list("pk", flat=True))
        pairs = _pair_rows(run, result, alive)
        LinkagePair.objects.bulk_create(pairs, batch_size=BULK)
        members = _member_rows(run, result, alive)
        ClusterMember.objects.bulk_create(members, batch_size=BULK)
        run.model = result.model
        run.n_records = result.n_records
        run.n_pairs = len(pairs)
        run.n_uncertain = len(result.uncertain())
        run.n_clusters = len({m.cluster for m in members})
        run.save(update_fields=["model", "n_records", "n_pairs", "n_uncertain", "n_clusters"])
    audit.record(
        by, AuditAction.CREATE, run,
        summary="Linkage run" + (" done" if result is not None else " failed"),
        data={"via": via, "status": run.status, "records": run.n_records, "pairs": run.n_pairs,
              "uncertain": run.n_uncertain, "clusters": run.n_clusters, "decisions_applied": run.n_decisions},
    )  # fmt: skip
    return run


def _pair_rows(run: LinkageRun, result: linkage.LinkageResult, alive: set[int]) -> list[LinkagePair]:
    gamma = [c for c in result.pairs.columns if c.startswith("gamma_")]
    out = []
    for row in result.pairs.itertuples(index=False):
        a, b = int(row.unique_id_l), int(row.unique_id_r)
        if a not in alive or b not in alive:
            continue
        left, right = min(a, b), max(a, b)
        levels = {c.removeprefix("gamma_"): int(getattr(row, c)) for c in gamma if getattr(row, c) == getattr(row, c)}
        probability = None if row.match_probability != row.match_probability else float(row.match_probability)
        weight = None if row.match_weight != row.match_weight else float(row.match_weight)
        out.append(LinkagePair(run=run, left_id=left, right_id=right, probability=probability,
                               match_weight=weight, levels=levels))  # fmt: skip
    return out


def _member_rows(run: LinkageRun, result: linkage.LinkageResult, alive: set[int]) -> list[ClusterMember]:
    # Clusters are numbered 1, 2, … in the order of their smallest incident id.
    number: dict[str, int] = {}
    out = []
    clusters = result.clusters.assign(pk=result.clusters["unique_id"].astype(int)).sort_values("pk")
    for pk, cluster in zip(clusters["pk"], clusters["cluster_id"], strict=True):
        if int(pk) not in alive:
            continue
        out.append(ClusterMember(run=run, incident_id=int(pk), cluster=number.setdefault(cluster, len(number) + 1)))
    return out


# --- decisions ------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def decide_pair(pair: LinkagePair, same: bool | None, *, by: By = None) -> PairDecision | None:
    """Record that the two incidents of ``pair`` are the same (True) or not (False), or clear
    the decision (None). The decision belongs to the organisation and overrides the model in
    every later run; it is recorded in the organisation's audit chain."""
    organisation_id = pair.run.organisation_id
    existing = PairDecision.objects.select_for_update().filter(left_id=pair.left_id, right_id=pair.right_id).first()
    data = {"left": str(pair.left.uid), "right": str(pair.right.uid), "run": str(pair.run.uid),
            "probability": pair.probability}  # fmt: skip
    if same is None:
        if existing is None:
            return None
        existing.delete()
        audit.record(by, AuditAction.DELETE, object_type="analytics.pairdecision", object_id=f"{pair.left_id}-{pair.right_id}",
                     organisation=organisation_id, summary="Linkage decision withdrawn", data=data | {"was": existing.same})  # fmt: skip
        return None
    if existing is None:
        decision = PairDecision.objects.create(organisation_id=organisation_id, left_id=pair.left_id,
                                               right_id=pair.right_id, same=same, decided_by=_user(by), run=pair.run)  # fmt: skip
        action = AuditAction.CREATE
    else:
        if existing.same == same:
            return existing
        existing.same, existing.decided_by, existing.run = same, _user(by), pair.run
        existing.save()
        decision, action = existing, AuditAction.CHANGE
    audit.record(by, action, decision, object_id=f"{pair.left_id}-{pair.right_id}", organisation=organisation_id,
                 summary="Linkage decision: " + ("same incident" if same else "different incidents"),
                 data=data | {"same": same})  # fmt: skip
    return decision


def decision_for(pair: LinkagePair) -> PairDecision | None:
    return PairDecision.objects.filter(left_id=pair.left_id, right_id=pair.right_id).first()


def undecided_uncertain(run: LinkageRun) -> QuerySet[LinkagePair]:
    """The run's pairs between the two thresholds that nobody has decided yet, most likely first."""
    decided = PairDecision.objects.filter(left_id=OuterRef("left_id"), right_id=OuterRef("right_id"))
    return uncertain_pairs(run).exclude(Exists(decided))


def uncertain_pairs(run: LinkageRun) -> QuerySet[LinkagePair]:
    return run.pairs.filter(probability__gte=run.review_threshold, probability__lt=run.match_threshold).order_by(
        "-probability", "id"
    )


def cluster_sizes(run: LinkageRun) -> dict[int, int]:
    """Number of clusters by size (1: incidents no other record was linked to)."""
    sizes: dict[int, int] = defaultdict(int)
    for row in run.members.values("cluster").annotate(n=Count("id")).values_list("n", flat=True):
        sizes[row] += 1
    return dict(sorted(sizes.items()))
