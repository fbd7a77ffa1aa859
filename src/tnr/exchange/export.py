"""Export incidents as a JSON exchange document, a flat CSV or a Frictionless Data Package.

Exports stream: incidents are read in chunks (keyset pagination on the primary key) and, for
each chunk, their acts, involvements, sources and codes come in one query per table (plain
value rows, no model instances: building those cost far more than the database's work), so
memory does not grow with the number of incidents. Lists are in a stable order (by primary
key, codes sorted), so exporting the same records twice gives the same file.

Text cells in CSV are neutralised against formula injection (a leading =, +, -, @, tab or CR
gets an apostrophe), which the importer undoes, so a CSV round trip stays lossless.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from tnr.exchange import schema as sch
from tnr.exchange import spec as s
from tnr.exchange.flat import FLAT_COLUMN_NAMES
from tnr.records import models as rm
from tnr.taxonomy import vocab

CHUNK = 2000

INCIDENT_STATES = rm.Incident.perpetrator_states.through
ACT_TACTICS = rm.Act.secondary_tactics.through
PERSON_NATIONALITY = rm.Person.nationality.through
PERSON_CATEGORIES = rm.Person.categories.through

# (exchange name, model field) of the incident columns, in document order
INCIDENT_COLUMNS = (
    ("id", "external_id"), ("title", "title"), ("summary", "summary"), ("start_date", "start_date"),
    ("end_date", "end_date"), ("date_precision", "date_precision"), ("location_country", "location_country_id"),
    ("admin_area", "admin_area"), ("city", "city"), ("location_type", "location_type_id"),
    ("origin_state", "origin_state_id"), ("perpetrator_states", None), ("host_state", "host_state_id"),
    ("host_state_role", "host_state_role"), ("mass_event", "mass_event"), ("confidence", "confidence"),
    ("independent_sources", "independent_sources"), ("sensitivity", "sensitivity"), ("sharing", "sharing"),
)
_DATES = {"start_date", "end_date"}


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _grouped(rows: Iterable[tuple[Any, ...]]) -> dict[Any, list[Any]]:
    """{first value: [the rest (or the second value alone)]} in row order."""
    out: dict[Any, list[Any]] = defaultdict(list)
    for key, *rest in rows:
        out[key].append(rest[0] if len(rest) == 1 else tuple(rest))
    return out


def incident_chunks(incidents: QuerySet[rm.Incident]) -> Iterator[list[dict[str, Any]]]:
    """The exchange dicts of ``incidents`` (with acts and sources), a chunk at a time.

    Each act dict also carries ``_target_pk`` (the target's primary key, or None) for the flat
    form; ``write_json`` leaves it out.
    """
    base = incidents.order_by("pk")
    fields = [f for _n, f in INCIDENT_COLUMNS if f is not None]
    last = 0
    while True:
        rows = list(base.filter(pk__gt=last).values_list("pk", *fields)[:CHUNK])
        if not rows:
            return
        high = rows[-1][0]
        # the chunk as a subquery: no long lists of ids in the statements
        chunk = incidents.filter(pk__gt=last, pk__lte=high).values("pk")
        states = _grouped(
            INCIDENT_STATES.objects.filter(incident__in=chunk).order_by("incident_id", "country_id")
            .values_list("incident_id", "country_id")
        )
        acts = list(
            rm.Act.objects.filter(incident__in=chunk).order_by("pk").values_list(
                "pk", "incident_id", "external_id", "target__external_id", "primary_tactic_id", "pretext",
                "outcome_id", "target_id",
            )
        )
        tactics = _grouped(
            ACT_TACTICS.objects.filter(act__incident__in=chunk).order_by("act_id", "tactic_id")
            .values_list("act_id", "tactic_id")
        )
        involvements = _grouped(
            rm.Involvement.objects.filter(act__incident__in=chunk).order_by("pk")
            .values_list("act_id", "actor__external_id", "degree")
        )
        sources = _grouped(
            rm.Source.objects.filter(incident__in=chunk).order_by("pk").values_list(
                "incident_id", "external_id", "type_id", "documenting_organisation", "reference", "date",
                "reliability", "connection",
            )
        )
        acts_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for pk, incident_pk, external_id, target, primary, pretext, outcome, target_pk in acts:
            acts_of[incident_pk].append({
                "id": external_id,
                "target": target,
                "primary_tactic": primary,
                "secondary_tactics": tactics.get(pk, []),
                "pretext": pretext,
                "outcome": outcome,
                "involvements": [{"actor": actor, "degree": degree} for actor, degree in involvements.get(pk, ())],
                "_target_pk": target_pk,
            })
        out = []
        for row in rows:
            pk = row[0]
            values = iter(row[1:])
            d: dict[str, Any] = {}
            for name, field in INCIDENT_COLUMNS:
                if field is None:
                    d[name] = states.get(pk, [])
                elif name in _DATES:
                    d[name] = _iso(next(values))
                else:
                    d[name] = next(values)
            d["acts"] = acts_of.get(pk, [])
            d["sources"] = [
                {"id": sid, "type": stype, "organisation": org, "reference": ref, "date": _iso(date),
                 "reliability": reliability, "connection": connection}
                for sid, stype, org, ref, date, reliability, connection in sources.get(pk, ())
            ]
            out.append(d)
        yield out
        last = high


def _public(incident: dict[str, Any]) -> dict[str, Any]:
    """An incident dict as it goes into a document (without the export's own keys)."""
    return {**incident, "acts": [{k: v for k, v in a.items() if k[0] != "_"} for a in incident["acts"]]}


PROFILE_FIELDS = ("external_id", "sex", "age_group", "host_status")


def person_dicts(pks: list[int], *, full: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(pk, exchange dict)`` of the persons ``pks``, in that order, a chunk at a time.

    Without ``full``, only the profile (no relations, no consents): what the flat form needs.
    """
    for i in range(0, len(pks), CHUNK):
        part = pks[i : i + CHUNK]
        persons = {
            row[0]: row[1:] for row in rm.Person.objects.filter(pk__in=part).values_list("pk", *PROFILE_FIELDS)
        }
        nationality = _grouped(
            PERSON_NATIONALITY.objects.filter(person_id__in=part).order_by("person_id", "country_id")
            .values_list("person_id", "country_id")
        )
        categories = _grouped(
            PERSON_CATEGORIES.objects.filter(person_id__in=part).order_by("person_id", "targetcategory_id")
            .values_list("person_id", "targetcategory_id")
        )
        if full:
            relations = _grouped(
                rm.PersonRelation.objects.filter(person_id__in=part).order_by("pk")
                .values_list("person_id", "type", "related__external_id")
            )
            consents = _grouped(
                rm.Consent.objects.filter(person_id__in=part).order_by("pk").values_list(
                    "person_id", "scope", "obtained", "obtained_on", "permitted_sharing", "withdrawn_on"
                )
            )
        for pk in part:
            external_id, sex, age_group, host_status = persons[pk]
            d: dict[str, Any] = {
                "id": external_id,
                "sex": sex,
                "age_group": age_group,
                "nationality": nationality.get(pk, []),
                "host_status": host_status,
                "categories": categories.get(pk, []),
            }
            if full:
                d["relations"] = [{"type": t, "person": other} for t, other in relations.get(pk, ())]
                d["consents"] = [
                    {"scope": scope, "obtained": obtained, "obtained_on": _iso(on),
                     "permitted_sharing": sharing, "withdrawn_on": _iso(withdrawn)}
                    for scope, obtained, on, sharing, withdrawn in consents.get(pk, ())
                ]
            yield pk, d


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


def actor_dicts(incidents: QuerySet[rm.Incident]) -> Iterator[dict[str, Any]]:
    """The actors involved in ``incidents``, in primary-key order."""
    actors = rm.Actor.objects.filter(involvements__act__incident__in=incidents.values("pk")).distinct().order_by("pk")
    last = 0
    while True:
        rows = list(actors.filter(pk__gt=last).values_list("pk", "external_id", "type_id", "state_id", "name")[:CHUNK])
        if not rows:
            return
        for _pk, external_id, type_, state, name in rows:
            yield {"id": external_id, "type": type_, "state": state, "name": name}
        last = rows[-1][0]


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
    items: tuple[tuple[str, Iterator[dict[str, Any]]], ...] = (
        ("persons", (d for _pk, d in person_dicts(_person_ids(incidents)))),
        ("actors", actor_dicts(incidents)),
    )
    for key, objects in items:
        out.write(f', "{key}": [')
        for i, obj in enumerate(objects):
            out.write(("," if i else "") + "\n" + json.dumps(obj, ensure_ascii=False))
            counts[key] += 1
        out.write("]")
    out.write(', "incidents": [')
    n = 0
    for chunk in incident_chunks(incidents):
        for inc in chunk:
            out.write(("," if n else "") + "\n" + json.dumps(_public(inc), ensure_ascii=False))
            n += 1
    out.write("]}\n")
    counts["incidents"] = n
    return counts


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return s.neutralise_formula(value)
    if isinstance(value, list):
        return s.LIST_SEPARATOR.join(value)
    return str(value)


def flat_rows(incidents: QuerySet[rm.Incident]) -> Iterator[list[str]]:
    """One row per act and involvement; extra sources go on further rows repeating the last act.

    Rows that repeat an act id describe the same act (the importer merges them), so every
    actor and source survives the round trip.
    """
    actors = {a["id"]: a for a in actor_dicts(incidents)}
    for chunk in incident_chunks(incidents):
        target_pks = sorted({a["_target_pk"] for inc in chunk for a in inc["acts"] if a["_target_pk"]})
        profiles = dict(person_dicts(target_pks, full=False))
        for d in chunk:
            base = {("incident_id" if k == "id" else k): v for k, v in d.items() if k not in {"acts", "sources"}}
            act_rows: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
            for act in d["acts"]:
                act_rows += [(act, inv) for inv in (act["involvements"] or [None])]
            sources = d["sources"]
            for i in range(max(len(act_rows), len(sources), 1)):
                row = dict(base)
                if act_rows:
                    act, inv = act_rows[min(i, len(act_rows) - 1)]
                    row.update(
                        act_id=act["id"], target_id=act["target"], primary_tactic=act["primary_tactic"],
                        secondary_tactics=act["secondary_tactics"], pretext=act["pretext"], outcome=act["outcome"],
                    )
                    if act["_target_pk"] is not None:
                        p = profiles[act["_target_pk"]]
                        row.update(
                            target_sex=p["sex"], target_age_group=p["age_group"], target_nationality=p["nationality"],
                            target_host_status=p["host_status"], target_categories=p["categories"],
                        )
                    if inv is not None:
                        a = actors[inv["actor"]]
                        row.update(actor_id=a["id"], actor_type=a["type"], actor_state=a["state"],
                                   actor_name=a["name"], involvement_degree=inv["degree"])
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

        for chunk in incident_chunks(incidents):
            for d in chunk:
                put("incidents", d)
                for act in d["acts"]:
                    put("acts", {**act, "incident_id": d["id"]})
                    for inv in act["involvements"]:
                        put("involvements", {**inv, "incident_id": d["id"], "act_id": act["id"]})
                for src in d["sources"]:
                    put("sources", {**src, "incident_id": d["id"]})
        for _pk, pd in person_dicts(_person_ids(incidents)):
            put("persons", pd)
            for r in pd["relations"]:
                put("relations", {**r, "person_id": pd["id"]})
            for c in pd["consents"]:
                put("consents", {**c, "person_id": pd["id"]})
        for a in actor_dicts(incidents):
            put("actors", a)
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
