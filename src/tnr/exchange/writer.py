"""Batch writer for validated incident bundles.

Bundles arrive already checked (codes, types, dates). The writer resolves identifiers to
database rows, refuses identifiers that already exist in the organisation, and inserts in
batches with ``bulk_create`` in foreign-key order. It runs inside the importer's transaction,
so a problem found late still leaves nothing behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tnr.accounts.models import Organisation
from tnr.records import models as rm

if TYPE_CHECKING:
    from tnr.exchange.importer import ImportReport

M2M_INCIDENT_STATES = rm.Incident.perpetrator_states.through
M2M_ACT_TACTICS = rm.Act.secondary_tactics.through
M2M_PERSON_NATIONALITY = rm.Person.nationality.through
M2M_PERSON_CATEGORIES = rm.Person.categories.through

INCIDENT_FIELDS = (
    "title", "summary", "start_date", "end_date", "date_precision", "admin_area", "city",
    "host_state_role", "mass_event", "confidence", "independent_sources", "sensitivity", "sharing",
)
INCIDENT_CODES = {"location_country": "location_country_id", "location_type": "location_type_id",
                  "origin_state": "origin_state_id", "host_state": "host_state_id"}


class Writer:
    def __init__(self, organisation: Organisation, report: ImportReport, *, synthetic: bool = False) -> None:
        self.organisation = organisation
        self.report = report
        self.synthetic = synthetic
        self.person_pk: dict[str, int] = {}
        self.actor_pk: dict[str, int] = {}
        self.new_persons: dict[str, dict[str, Any]] = {}
        self.new_actors: dict[str, dict[str, Any]] = {}
        self.bundles: list[dict[str, Any]] = []
        self.relations: list[tuple[str, str, str]] = []
        self.counts = {"incidents": 0, "acts": 0, "sources": 0, "persons": 0, "actors": 0}

    @property
    def pending(self) -> int:
        return len(self.bundles)

    def add(self, bundle: dict[str, Any]) -> None:
        for person in bundle.get("persons", []):
            if person["id"] not in self.person_pk and person["id"] not in self.new_persons:
                self.new_persons[person["id"]] = person
        for actor in bundle.get("actors", []):
            if actor["id"] not in self.actor_pk and actor["id"] not in self.new_actors:
                self.new_actors[actor["id"]] = actor
        if bundle.get("incident") is not None:
            self.bundles.append(bundle)

    def _existing(self, model: type[rm.Incident | rm.Person | rm.Actor], ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            found.update(
                model.objects.filter(organisation=self.organisation, external_id__in=chunk).values_list("external_id", "pk")
            )
        return found

    def _flush_persons(self) -> None:
        if not self.new_persons:
            return
        # A person already in the database is reused: the same pseudonym is the same person.
        existing = self._existing(rm.Person, list(self.new_persons))
        self.person_pk.update(existing)
        todo = [p for pid, p in self.new_persons.items() if pid not in existing]
        objs = [
            rm.Person(
                organisation=self.organisation,
                external_id=p["id"],
                sex=p.get("sex", "unknown"),
                age_group=p.get("age_group", "unknown"),
                host_status=p.get("host_status", "unknown"),
            )
            for p in todo
        ]
        rm.Person.objects.bulk_create(objs)
        nat, cat, consents = [], [], []
        for p, obj in zip(todo, objs, strict=True):
            self.person_pk[p["id"]] = obj.pk
            nat += [M2M_PERSON_NATIONALITY(person_id=obj.pk, country_id=c) for c in p.get("nationality", [])]
            cat += [M2M_PERSON_CATEGORIES(person_id=obj.pk, targetcategory_id=c) for c in p.get("categories", [])]
            for r in p.get("relations", []):
                self.relations.append((p["id"], r["person"], r["type"]))
            for c in p.get("consents", []):
                consents.append(rm.Consent(person_id=obj.pk, **c))
        M2M_PERSON_NATIONALITY.objects.bulk_create(nat)
        M2M_PERSON_CATEGORIES.objects.bulk_create(cat)
        rm.Consent.objects.bulk_create(consents)
        self.counts["persons"] += len(objs)
        self.new_persons = {}

    def _flush_actors(self) -> None:
        if not self.new_actors:
            return
        existing = self._existing(rm.Actor, list(self.new_actors))
        self.actor_pk.update(existing)
        todo = [a for aid, a in self.new_actors.items() if aid not in existing]
        objs = [
            rm.Actor(organisation=self.organisation, external_id=a["id"], type_id=a["type"],
                     state_id=a.get("state"), name=a.get("name", ""))
            for a in todo
        ]
        rm.Actor.objects.bulk_create(objs)
        for a, obj in zip(todo, objs, strict=True):
            self.actor_pk[a["id"]] = obj.pk
        self.counts["actors"] += len(objs)
        self.new_actors = {}

    def flush(self, *, final: bool = False) -> None:
        """Write what is pending; once the report has a problem, only look for more problems."""
        bundles, self.bundles = self.bundles, []
        self._check_existing(bundles)
        if not self.report.ok:
            self.new_persons, self.new_actors, self.relations = {}, {}, []
            return
        self._flush_persons()
        self._flush_actors()
        if bundles:
            self._flush_incidents(bundles)
        if final and self.relations:
            rels = []
            for a, b, kind in self.relations:
                rels.append(rm.PersonRelation(person_id=self.person_pk[a], related_id=self.person_pk[b], type=kind))
            rm.PersonRelation.objects.bulk_create(rels, ignore_conflicts=True)
            self.relations = []

    def _check_existing(self, bundles: list[dict[str, Any]]) -> None:
        """Refuse incidents whose ids the organisation already has (a file imported twice)."""
        if not bundles:
            return
        where = {b["incident"]["id"]: b.get("where", (None, "incident_id")) for b in bundles}
        for external_id in self._existing(rm.Incident, list(where)):
            line, column = where[external_id]
            self.report.add(line, column, f"incident {external_id!r} already exists in {self.organisation}")

    def _flush_incidents(self, bundles: list[dict[str, Any]]) -> None:
        incidents = []
        for b in bundles:
            inc = b["incident"]
            values = {k: inc[k] for k in INCIDENT_FIELDS if k in inc}
            for key, column in INCIDENT_CODES.items():
                if key in inc:
                    values[column] = inc[key]
            incidents.append(
                rm.Incident(organisation=self.organisation, external_id=inc["id"], synthetic=self.synthetic, **values)
            )
        rm.Incident.objects.bulk_create(incidents)
        states, acts, act_bundles, sources = [], [], [], []
        for b, obj in zip(bundles, incidents, strict=True):
            states += [M2M_INCIDENT_STATES(incident_id=obj.pk, country_id=c) for c in b["incident"].get("perpetrator_states", [])]
            for act in b["acts"]:
                acts.append(
                    rm.Act(
                        incident_id=obj.pk,
                        external_id=act["id"],
                        target_id=self.person_pk[act["target"]] if act.get("target") else None,
                        primary_tactic_id=act["primary_tactic"],
                        pretext=act.get("pretext", ""),
                        outcome_id=act.get("outcome"),
                    )
                )
                act_bundles.append(act)
            for src in b["sources"]:
                sources.append(
                    rm.Source(
                        incident_id=obj.pk,
                        external_id=src["id"],
                        type_id=src["type"],
                        documenting_organisation=src.get("organisation", ""),
                        reference=src.get("reference", ""),
                        date=src.get("date"),
                        reliability=src.get("reliability", "unknown"),
                        connection=src.get("connection", "unknown"),
                    )
                )
        M2M_INCIDENT_STATES.objects.bulk_create(states)
        rm.Act.objects.bulk_create(acts)
        tactics, involvements = [], []
        for act, obj in zip(act_bundles, acts, strict=True):
            tactics += [M2M_ACT_TACTICS(act_id=obj.pk, tactic_id=t) for t in act.get("secondary_tactics", [])]
            seen = set()
            for inv in act.get("involvements", []):
                key = (inv["actor"], inv.get("degree", "unknown"))
                if key in seen:
                    continue
                seen.add(key)
                involvements.append(rm.Involvement(act_id=obj.pk, actor_id=self.actor_pk[inv["actor"]], degree=key[1]))
        M2M_ACT_TACTICS.objects.bulk_create(tactics)
        rm.Involvement.objects.bulk_create(involvements)
        rm.Source.objects.bulk_create(sources)
        self.counts["incidents"] += len(incidents)
        self.counts["acts"] += len(acts)
        self.counts["sources"] += len(sources)
