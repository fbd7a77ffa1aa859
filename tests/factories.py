"""Small helpers that create organisations, users and incident records for tests.

Plain functions rather than a factory library: each returns saved objects with sensible
defaults, and every default can be overridden by keyword. Vocabulary codes are looked up in
the tables filled by ``sync_vocabularies()``; when a code is not given, the first current term
of that vocabulary is used, so the helpers keep working when the data files change.

    org = make_org("Alpha Watch")
    alice = make_user("alice", org)
    incident = make_incident(org, title="Threats by phone", primary_tactic="coercion_by_proxy")
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db.models import Model
from django.utils.text import slugify

from tnr.accounts.models import Membership, Organisation, Role
from tnr.records import choices as c
from tnr.records.models import Act, Actor, Incident, Involvement, Person, Source
from tnr.taxonomy.models import (
    ActorType,
    Country,
    Outcome,
    SourceType,
    Tactic,
    TargetCategory,
)

# A password that passes the project's validators (length ≥ 12, not common).
PASSWORD = "lantern-orbit-quarry-57"

_serial = itertools.count(1)

T = TypeVar("T", bound=Model)


def ensure_vocabularies() -> None:
    """Fill the vocabulary tables if they are empty (they normally are filled by migrate)."""
    if not Tactic.objects.exists() or not Country.objects.exists():
        from tnr.taxonomy.actions import sync_vocabularies

        sync_vocabularies()


def term(model: type[T], code: str | T | None = None) -> T:
    """The vocabulary term ``code`` (or the first current term when ``code`` is None)."""
    if isinstance(code, Model):
        return code  # type: ignore[return-value]
    ensure_vocabularies()
    if code is None:
        found = model.objects.filter(retired=False).first()
        if found is None:
            raise LookupError(f"the {model.__name__} vocabulary is empty")
        return found
    return model.objects.get(pk=code)


def country(code: str | Country | None) -> Country | None:
    if code is None or isinstance(code, Country):
        return code
    ensure_vocabularies()
    return Country.objects.get(pk=code)


def make_org(name: str = "Alpha Watch", **fields: Any) -> Organisation:
    fields.setdefault("slug", slugify(name)[:60])
    return Organisation.objects.create(name=name, **fields)


def make_user(
    username: str,
    org: Organisation | None = None,
    role: str = Role.CASEWORKER,
    password: str | None = PASSWORD,
    **fields: Any,
) -> AbstractUser:
    """A user, member of ``org`` with ``role`` when ``org`` is given."""
    user = get_user_model().objects.create_user(username=username, password=password, **fields)
    if org is not None:
        Membership.objects.create(user=user, organisation=org, role=role)
    return user


def make_person(org: Organisation, *, categories: Iterable[str] = (), nationality: Iterable[str] = (), **fields: Any) -> Person:
    fields.setdefault("external_id", f"P-{next(_serial):05d}")
    fields.setdefault("sex", c.Sex.FEMALE)
    fields.setdefault("age_group", c.AgeGroup.AGE_30_44)
    fields.setdefault("host_status", c.HostStatus.REFUGEE)
    person = Person.objects.create(organisation=org, **fields)
    person.categories.set([term(TargetCategory, code) for code in categories])
    person.nationality.set([country(code) for code in nationality])
    return person


def make_actor(org: Organisation, *, type: str | None = None, state: str | None = None, **fields: Any) -> Actor:
    fields.setdefault("external_id", f"AC-{next(_serial):05d}")
    return Actor.objects.create(organisation=org, type=term(ActorType, type), state=country(state), **fields)


def make_act(
    incident: Incident,
    *,
    target: Person | None = None,
    primary_tactic: str | Tactic | None = None,
    secondary_tactics: Iterable[str | Tactic] = (),
    outcome: str | Outcome | None = None,
    actor: Actor | None = None,
    degree: str = c.InvolvementDegree.PERPETRATOR,
    **fields: Any,
) -> Act:
    """An act of ``incident``; with ``actor``, also the actor's involvement in it."""
    fields.setdefault("external_id", f"A-{next(_serial):05d}")
    act = Act.objects.create(
        incident=incident,
        target=target,
        primary_tactic=term(Tactic, primary_tactic),
        outcome=term(Outcome, outcome) if outcome is not None else None,
        **fields,
    )
    act.secondary_tactics.set([term(Tactic, code) for code in secondary_tactics])
    if actor is not None:
        Involvement.objects.create(act=act, actor=actor, degree=degree)
    return act


def make_source(incident: Incident, *, type: str | None = None, **fields: Any) -> Source:
    fields.setdefault("external_id", f"S-{next(_serial):05d}")
    fields.setdefault("documenting_organisation", incident.organisation.name)
    fields.setdefault("reliability", c.Reliability.MEDIUM)
    fields.setdefault("connection", c.Connection.FIRST_HAND)
    return Source.objects.create(incident=incident, type=term(SourceType, type), **fields)


def make_incident(
    org: Organisation,
    *,
    origin: str | None = "CN",
    host: str | None = "NL",
    perpetrators: Iterable[str] | None = None,
    primary_tactic: str | Tactic | None = None,
    secondary_tactics: Iterable[str | Tactic] = (),
    target_categories: Iterable[str] = (),
    pretext: str = "",
    reference: str = "Interview notes",
    actor_type: str | None = None,
    acts: int = 1,
    **overrides: Any,
) -> Incident:
    """An incident with ``acts`` acts, each with a target, an involved actor; and one source.

    Model fields go in ``overrides`` (title, start_date, confidence, synthetic, …); the
    keyword arguments above shape the related records.
    """
    serial = next(_serial)
    overrides.setdefault("external_id", f"INC-{serial:05d}")
    overrides.setdefault("title", f"Incident {serial}")
    overrides.setdefault("start_date", datetime.date(2020, 1, 15))
    overrides.setdefault("confidence", c.Confidence.PROBABLE)
    incident = Incident.objects.create(
        organisation=org, origin_state=country(origin), host_state=country(host), **overrides
    )
    if perpetrators is None:
        perpetrators = [origin] if origin else []
    incident.perpetrator_states.set([country(code) for code in perpetrators])
    actor = make_actor(org, type=actor_type, state=origin)
    for _ in range(acts):
        target = make_person(org, categories=target_categories, nationality=[origin] if origin else [])
        make_act(
            incident,
            target=target,
            primary_tactic=primary_tactic,
            secondary_tactics=secondary_tactics,
            pretext=pretext,
            actor=actor,
        )
    make_source(incident, reference=reference, date=incident.start_date)
    return incident
