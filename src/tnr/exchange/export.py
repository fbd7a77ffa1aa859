"""Export incidents as a JSON exchange document, a flat CSV or a Frictionless Data Package.

Exports stream: incidents are read in chunks with their related rows prefetched, and written
as they come, so memory does not grow with the number of incidents. Text cells in CSV are
neutralised against formula injection (a leading =, +, -, @ gets an apostrophe), which the
importer undoes, so a CSV round trip stays lossless.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from tnr.exchange import schema as sch
from tnr.exchange import spec as s
from tnr.exchange.flat import FLAT_COLUMN_NAMES
from tnr.records import models as rm
from tnr.taxonomy import vocab

CHUNK = 2000


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _chunks(incidents: QuerySet[rm.Incident], *, profiles: bool = False) -> Iterator[list[rm.Incident]]:
    """Incidents with everything an export needs, a chunk at a time (keyset pagination).

    With ``profiles``, the targets' nationalities and categories come too (the flat form
    repeats them on every row).
    """
    base = incidents.order_by("pk").select_related("organisation")
    act_related: list[Any] = [
        "secondary_tactics",
        Prefetch("involvements", queryset=rm.Involvement.objects.order_by("pk").select_related("actor")),
    ]
    if profiles:
        act_related += ["target__nationality", "target__categories"]
    last = 0
    while True:
        chunk = list(
            base.filter(pk__gt=last).prefetch_related(
                "perpetrator_states",
                Prefetch("sources", queryset=rm.Source.objects.order_by("pk")),
                Prefetch(
                    "acts",
                    queryset=rm.Act.objects.order_by("pk").select_related("target").prefetch_related(*act_related),
                ),
            )[:CHUNK]
        )
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def incident_dict(inc: rm.Incident) -> dict[str, Any]:
    return {
        "id": inc.external_id,
        "title": inc.title,
        "summary": inc.summary,
        "start_date": _iso(inc.start_date),
        "end_date": _iso(inc.end_date),
        "date_precision": inc.date_precision,
        "location_country": inc.location_country_id,
        "admin_area": inc.admin_area,
        "city": inc.city,
        "location_type": inc.location_type_id,
        "origin_state": inc.origin_state_id,
        "perpetrator_states": sorted(c.pk for c in inc.perpetrator_states.all()),
        "host_state": inc.host_state_id,
        "host_state_role": inc.host_state_role,
        "mass_event": inc.mass_event,
        "confidence": inc.confidence,
        "independent_sources": inc.independent_sources,
        "sensitivity": inc.sensitivity,
        "sharing": inc.sharing,
        "acts": [
            {
                "id": act.external_id,
                "target": act.target.external_id if act.target else None,
                "primary_tactic": act.primary_tactic_id,
                "secondary_tactics": sorted(t.pk for t in act.secondary_tactics.all()),
                "pretext": act.pretext,
                "outcome": act.outcome_id,
                "involvements": [
                    {"actor": inv.actor.external_id, "degree": inv.degree} for inv in act.involvements.all()
                ],
            }
            for act in inc.acts.all()
        ],
        "sources": [
            {
                "id": src.external_id,
                "type": src.type_id,
                "organisation": src.documenting_organisation,
                "reference": src.reference,
                "date": _iso(src.date),
                "reliability": src.reliability,
                "connection": src.connection,
            }
            for src in inc.sources.all()
        ],
    }


def person_profile(p: rm.Person) -> dict[str, Any]:
    return {
        "id": p.external_id,
        "sex": p.sex,
        "age_group": p.age_group,
        "nationality": sorted(c.pk for c in p.nationality.all()),
        "host_status": p.host_status,
        "categories": sorted(c.pk for c in p.categories.all()),
    }


def person_dict(p: rm.Person) -> dict[str, Any]:
    return {
        **person_profile(p),
        "relations": [{"type": r.type, "person": r.related.external_id} for r in p.relations.all()],
        "consents": [
            {
                "scope": c.scope,
                "obtained": c.obtained,
                "obtained_on": _iso(c.obtained_on),
                "permitted_sharing": c.permitted_sharing,
                "withdrawn_on": _iso(c.withdrawn_on),
            }
            for c in p.consents.all()
        ],
    }


def actor_dict(a: rm.Actor) -> dict[str, Any]:
    return {"id": a.external_id, "type": a.type_id, "state": a.state_id, "name": a.name}


def _person_ids(incidents: QuerySet[rm.Incident]) -> list[int]:
    """The targets of the incidents' acts and, through relations, everyone related to them.

    Relations point at persons, so the persons they reach are exported too (a relative who is
    nobody's target is still a person of the document); otherwise the export would hold
    references the importer must refuse.
    """
    targets = rm.Person.objects.filter(acts__incident__in=incidents.values("pk")).values("pk")
    found = set(targets.values_list("pk", flat=True))
    if not rm.PersonRelation.objects.filter(Q(person__in=targets) | Q(related__in=targets)).exists():
        return sorted(found)
    frontier = set(found)
    while frontier:
        linked: set[int] = set()
        todo = sorted(frontier)
        for i in range(0, len(todo), 500):
            part = todo[i : i + 500]
            rels = rm.PersonRelation.objects.filter(Q(person__in=part) | Q(related__in=part))
            for a, b in rels.values_list("person_id", "related_id"):
                linked.update((a, b))
        frontier = linked - found
        found |= frontier
    return sorted(found)


def _persons(ids: list[int]) -> Iterator[rm.Person]:
    qs = rm.Person.objects.order_by("pk").prefetch_related(
        "nationality",
        "categories",
        Prefetch("consents", queryset=rm.Consent.objects.order_by("pk")),
        Prefetch("relations", queryset=rm.PersonRelation.objects.order_by("pk").select_related("related")),
    )
    for i in range(0, len(ids), CHUNK):
        yield from qs.filter(pk__in=ids[i : i + CHUNK])


def _actors(incidents: QuerySet[rm.Incident]) -> QuerySet[rm.Actor]:
    return rm.Actor.objects.filter(involvements__act__incident__in=incidents.values("pk")).distinct().order_by("pk")


def _iter_chunked(qs: QuerySet[Any]) -> Iterator[Any]:
    last = 0
    while True:
        chunk = list(qs.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1].pk


def write_json(incidents: QuerySet[rm.Incident], out: IO[str], *, organisation: str = "") -> dict[str, int]:
    """Stream a whole exchange document to ``out``."""
    counts = {"incidents": 0, "persons": 0, "actors": 0}
    synthetic = incidents.filter(synthetic=True).exists()
    header = {
        "format": s.FORMAT_NAME,
        "version": s.FORMAT_VERSION,
        "synthetic": synthetic,
        "organisation": organisation,
        "exported_at": timezone.now().isoformat(),
        "vocabularies": {name: v.version for name, v in vocab.load_all().items()},
    }
    out.write(json.dumps(header, ensure_ascii=False)[:-1])
    items: tuple[tuple[str, Iterator[Any], Any], ...] = (
        ("persons", _persons(_person_ids(incidents)), person_dict),
        ("actors", _iter_chunked(_actors(incidents)), actor_dict),
    )
    for key, objects, fn in items:
        out.write(f', "{key}": [')
        for i, obj in enumerate(objects):
            out.write(("," if i else "") + "\n" + json.dumps(fn(obj), ensure_ascii=False))
            counts[key] += 1
        out.write("]")
    out.write(', "incidents": [')
    n = 0
    for chunk in _chunks(incidents):
        for inc in chunk:
            out.write(("," if n else "") + "\n" + json.dumps(incident_dict(inc), ensure_ascii=False))
            n += 1
    out.write("]}\n")
    counts["incidents"] = n
    return counts


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return s.LIST_SEPARATOR.join(value)
    if isinstance(value, int):
        return str(value)
    return s.neutralise_formula(str(value))


def flat_rows(incidents: QuerySet[rm.Incident]) -> Iterator[list[str]]:
    """One row per act and involvement; extra sources go on further rows repeating the last act.

    Rows that repeat an act id describe the same act (the importer merges them), so every
    actor and source survives the round trip.
    """
    for chunk in _chunks(incidents, profiles=True):
        for inc in chunk:
            d = incident_dict(inc)
            base = {("incident_id" if k == "id" else k): v for k, v in d.items() if k not in {"acts", "sources"}}
            act_rows: list[tuple[dict[str, Any], rm.Act, rm.Involvement | None]] = []
            for act, orm_act in zip(d["acts"], inc.acts.all(), strict=True):
                act_rows += [(act, orm_act, inv) for inv in (list(orm_act.involvements.all()) or [None])]
            sources = d["sources"]
            for i in range(max(len(act_rows), len(sources), 1)):
                row = dict(base)
                if act_rows:
                    act, orm_act, inv = act_rows[min(i, len(act_rows) - 1)]
                    row.update(
                        act_id=act["id"], target_id=act["target"], primary_tactic=act["primary_tactic"],
                        secondary_tactics=act["secondary_tactics"], pretext=act["pretext"], outcome=act["outcome"],
                    )
                    if orm_act.target is not None:
                        p = person_profile(orm_act.target)
                        row.update(
                            target_sex=p["sex"], target_age_group=p["age_group"], target_nationality=p["nationality"],
                            target_host_status=p["host_status"], target_categories=p["categories"],
                        )
                    if inv is not None:
                        a = inv.actor
                        row.update(actor_id=a.external_id, actor_type=a.type_id, actor_state=a.state_id,
                                   actor_name=a.name, involvement_degree=inv.degree)
                if i < len(sources):
                    row.update({f"source_{k}": v for k, v in sources[i].items()})
                yield [_cell(row.get(c)) for c in FLAT_COLUMN_NAMES]


def write_flat_csv(incidents: QuerySet[rm.Incident], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FLAT_COLUMN_NAMES)
    n = 0
    for row in flat_rows(incidents):
        writer.writerow(row)
        n += 1
    return n


def write_datapackage(incidents: QuerySet[rm.Incident], folder: Path, *, title: str = "TNR incidents") -> Path:
    """Write a Frictionless Data Package (CSV tables + datapackage.json) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    writers: dict[str, Any] = {}
    try:
        for name, _resource, _parent in sch.TABLES:
            f = open(folder / f"{name}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
            files[name] = f
            writers[name] = csv.writer(f, lineterminator="\n")
            writers[name].writerow(sch.table_columns(name))
        cols = {name: sch.table_columns(name) for name in files}

        def put(table: str, row: dict[str, Any]) -> None:
            writers[table].writerow([_cell(row.get(c)) for c in cols[table]])

        for chunk in _chunks(incidents):
            for inc in chunk:
                d = incident_dict(inc)
                put("incidents", d)
                for act in d["acts"]:
                    put("acts", {**act, "incident_id": d["id"]})
                    for inv in act["involvements"]:
                        put("involvements", {**inv, "incident_id": d["id"], "act_id": act["id"]})
                for src in d["sources"]:
                    put("sources", {**src, "incident_id": d["id"]})
        for p in _persons(_person_ids(incidents)):
            pd = person_dict(p)
            put("persons", pd)
            for r in pd["relations"]:
                put("relations", {**r, "person_id": pd["id"]})
            for c in pd["consents"]:
                put("consents", {**c, "person_id": pd["id"]})
        for a in _iter_chunked(_actors(incidents)):
            put("actors", actor_dict(a))
    finally:
        for f in files.values():
            f.close()
    synthetic = incidents.filter(synthetic=True).exists()
    descriptor = {
        "name": "tnr-incidents",
        "title": title + (" (synthetic demo data)" if synthetic else ""),
        "description": "Incidents of transnational repression on the TNR Observatory common data model, de-identified.",
        "created": timezone.now().isoformat(),
        "profile": "tabular-data-package",
        "x_tnr": {"format": s.FORMAT_NAME, "version": s.FORMAT_VERSION, "synthetic": synthetic,
                  "vocabularies": {n: v.version for n, v in vocab.load_all().items()},
                  "formula_guard": sch.FORMULA_NOTE},
        "resources": [
            {
                "name": name,
                "path": f"{name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": sch.table_schema(name),
            }
            for name, _r, _p in sch.TABLES
        ],
    }
    path = folder / "datapackage.json"
    path.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
