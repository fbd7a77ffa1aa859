"""Deterministic synthetic transnational-repression incidents, documented by several organisations.

The simulator draws a hidden *ground truth* of incidents (ids ``T-...``) calibrated on Freedom
House's published physical-incident figures (see ``calibration.yaml``), then lets each
documenting organisation detect each incident independently, with a probability built from its
coverage, its focus on some origin states, its bias towards some tactics and a per-incident
*visibility* that every organisation shares. The shared visibility makes captures positively
correlated, as they are in reality, which is what record linkage and multiple systems estimation
have to cope with. Each organisation's copy has its own record and person ids and its own noise
(typos in city names, shifted or coarsened dates, a confused tactic, missing fields, its own
confidence). ``Simulation.links`` and ``Simulation.person_links`` hold the hidden truth.

Everything is in the exchange format (plain dicts, see ``Dataset.to_exchange``) and every dataset
is marked ``synthetic``. The same seed gives identical output; organisations draw from their own
random streams, so adding or removing one organisation does not change the others' records.

Typical use::

    sim = simulate(SimulationConfig(seed=1, n_incidents=5000))
    sim.documented["ORGA"].to_exchange("ORGA")   # one organisation's records
    sim.capture_histories()                       # for multiple systems estimation

For very large runs ``iter_incidents`` streams one ``SimulatedIncident`` at a time, holding only
a bounded pool of repeat targets in memory (n = 100,000 with the four default organisations:
about 11 s and 125 MB streamed, about 16 s and 0.9 GB with ``simulate``, on one loaded core).

This module must stay free of Django and of the other ``tnr`` packages.
"""

from __future__ import annotations

import bisect
import calendar
import contextlib
import datetime as dt
import functools
import gc
import math
import random
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pycountry
import yaml

__all__ = [
    "ACTOR_TYPES",
    "AGE_GROUPS",
    "CONFIDENCE_LEVELS",
    "CONNECTIONS",
    "CO_OPTED_HOST_TACTICS",
    "DATE_PRECISIONS",
    "DEFAULT_ORGANISATIONS",
    "DIGITAL_TACTICS",
    "HOST_STATE_ROLES",
    "HOST_STATUSES",
    "INVOLVEMENT_DEGREES",
    "LOCATION_TYPES",
    "OUTCOMES",
    "OUTCOMES_BY_TACTIC",
    "PHYSICAL_TACTICS",
    "RELATION_TYPES",
    "RELIABILITY_LEVELS",
    "SENSITIVITY_LEVELS",
    "SEXES",
    "SHARING_LEVELS",
    "SOURCE_TYPES",
    "TACTICS",
    "TARGET_CATEGORIES",
    "Calibration",
    "Dataset",
    "OrganisationProfile",
    "Record",
    "SimulatedIncident",
    "Simulation",
    "SimulationConfig",
    "default_tactic_mix",
    "incident_tactic",
    "iter_incidents",
    "load_calibration",
    "primary_tactic",
    "simulate",
]

EXCHANGE_FORMAT = "tnr-exchange"
EXCHANGE_VERSION = "1.0"
CALIBRATION_PATH = Path(__file__).with_name("calibration.yaml")
#: No organisation documents an incident with certainty (nor can its coverage reach this).
MAX_DETECTION = 0.95

# --------------------------------------------------------------------------------------------
# Codes (DESIGN.md section 4). Tactics are listed in precedence order: an act's primary tactic
# is the highest-precedence one among its tactics.
# --------------------------------------------------------------------------------------------
TACTICS: tuple[str, ...] = (
    "killing",
    "abduction_rendition",
    "assault",
    "intimidation_surveillance",
    "detention_on_request",
    "unlawful_deportation",
    "legal_process_abuse",
    "document_denial",
    "citizenship_travel_ban",
    "coercion_by_proxy",
    "spyware_account_compromise",
    "online_threats_smear",
    "monitoring_infiltration",
    "asset_financial_measures",
)
TACTIC_PRECEDENCE: Mapping[str, int] = {t: i for i, t in enumerate(TACTICS)}
#: Freedom House's physical categories (assassination, rendition, assault, physical
#: intimidation, detention, unlawful deportation).
PHYSICAL_TACTICS = frozenset(TACTICS[:6])
#: Tactics that need a host state acting on the origin state's request.
CO_OPTED_HOST_TACTICS = frozenset(
    {"detention_on_request", "unlawful_deportation", "legal_process_abuse"}
)
DIGITAL_TACTICS = frozenset(
    {"spyware_account_compromise", "online_threats_smear", "monitoring_infiltration"}
)
TARGET_CATEGORIES: tuple[str, ...] = (
    "journalist",
    "human_rights_defender",
    "trade_unionist",
    "political_opposition",
    "religious_minority",
    "ethnic_minority",
    "former_insider",
    "academic",
    "relative_of_target",
    "lgbti",
    "student",
    "activist",
    "other",
)
ACTOR_TYPES: tuple[str, ...] = (
    "state_intelligence",
    "state_police",
    "state_consular",
    "state_judiciary",
    "state_military",
    "state_other",
    "proxy_criminal",
    "proxy_coerced_relative",
    "proxy_front_organisation",
    "proxy_online_network",
    "host_authority",
    "company_platform",
    "company_bank",
    "company_spyware_vendor",
    "company_airline",
    "international_body",
    "unknown",
)
OUTCOMES: tuple[str, ...] = (
    "killed",
    "injured",
    "abducted",
    "disappeared",
    "detained",
    "deported",
    "extradited",
    "extradition_refused",
    "released",
    "escaped",
    "device_compromised",
    "account_compromised",
    "assets_frozen",
    "document_denied",
    "family_harmed",
    "intimidated",
    "ongoing",
    "no_harm",
    "unknown",
)
INVOLVEMENT_DEGREES: tuple[str, ...] = (
    "perpetrator",
    "instigator",
    "facilitator",
    "co_opted_host_authority",
    "unknown",
)
SOURCE_TYPES: tuple[str, ...] = (
    "testimony",
    "ngo",
    "media",
    "court",
    "government",
    "un",
    "social_media",
    "other",
)
LOCATION_TYPES: tuple[str, ...] = (
    "residence",
    "public_place",
    "consulate_embassy",
    "airport_border",
    "detention_facility",
    "online",
    "workplace",
    "other",
    "unknown",
)
HOST_STATE_ROLES: tuple[str, ...] = ("none", "co_opted", "complicit", "unknown")
CONFIDENCE_LEVELS: tuple[str, ...] = ("confirmed", "probable", "possible")
SENSITIVITY_LEVELS: tuple[str, ...] = ("low", "medium", "high")
SHARING_LEVELS: tuple[str, ...] = ("internal", "partners", "aggregate", "public")
DATE_PRECISIONS: tuple[str, ...] = ("day", "month", "year")
SEXES: tuple[str, ...] = ("female", "male", "other", "unknown")
AGE_GROUPS: tuple[str, ...] = ("under_18", "18_29", "30_44", "45_64", "65_plus", "unknown")
HOST_STATUSES: tuple[str, ...] = (
    "citizen",
    "resident",
    "refugee",
    "asylum_seeker",
    "student",
    "worker",
    "undocumented",
    "stateless",
    "unknown",
)
RELATION_TYPES: tuple[str, ...] = ("relative_of",)
RELIABILITY_LEVELS: tuple[str, ...] = ("high", "medium", "low", "unknown")
CONNECTIONS: tuple[str, ...] = ("first_hand", "second_hand", "unknown")

_STATE_ACTORS = frozenset(t for t in ACTOR_TYPES if t.startswith(("state_", "proxy_")))


def primary_tactic(tactics: Iterable[str]) -> str:
    """The highest-precedence tactic among ``tactics`` (the act's primary tactic)."""
    return min(tactics, key=TACTIC_PRECEDENCE.__getitem__)


def incident_tactic(incident: Mapping[str, Any]) -> str:
    """An incident's main tactic: the highest-precedence primary tactic among its acts."""
    return primary_tactic(act["primary_tactic"] for act in incident["acts"])


# --------------------------------------------------------------------------------------------
# How each tactic plays out (model structure; assumptions for synthetic data only).
# --------------------------------------------------------------------------------------------
class _TacticProfile(NamedTuple):
    outcomes: Mapping[str, float]
    locations: Mapping[str, float]
    pretexts: Mapping[str, float]
    # Probability of each lower-precedence secondary tactic.
    companions: Mapping[str, float]
    # Alternative sets of (actor type, degree) of the origin side, with weights.
    plans: tuple[tuple[float, tuple[tuple[str, str], ...]], ...]
    # Optional extra involvements: (probability, actor type, degree).
    extras: tuple[tuple[float, str, str], ...] = ()


_P = "perpetrator"
_I = "instigator"
_F = "facilitator"

_TACTIC_PROFILES: Mapping[str, _TacticProfile] = {
    "killing": _TacticProfile(
        outcomes={"killed": 0.55, "injured": 0.28, "no_harm": 0.15, "unknown": 0.02},
        locations={"residence": 0.4, "public_place": 0.5, "workplace": 0.1},
        pretexts={"": 1.0},
        companions={
            "intimidation_surveillance": 0.3,
            "monitoring_infiltration": 0.15,
            "online_threats_smear": 0.1,
        },
        plans=(
            (0.5, (("proxy_criminal", _P), ("state_intelligence", _I))),
            (0.5, (("state_intelligence", _P),)),
        ),
    ),
    "abduction_rendition": _TacticProfile(
        outcomes={
            "abducted": 0.53,
            "disappeared": 0.2,
            "detained": 0.1,
            "released": 0.1,
            "escaped": 0.05,
            "unknown": 0.02,
        },
        locations={
            "public_place": 0.4,
            "residence": 0.3,
            "airport_border": 0.2,
            "detention_facility": 0.1,
        },
        pretexts={"": 0.8, "terrorism charge": 0.1, "membership of a banned organisation": 0.1},
        companions={
            "detention_on_request": 0.15,
            "unlawful_deportation": 0.1,
            "legal_process_abuse": 0.2,
        },
        plans=(
            (0.7, (("state_intelligence", _P),)),
            (0.3, (("state_intelligence", _P), ("state_police", _F))),
        ),
        extras=((0.1, "company_airline", _F),),
    ),
    "assault": _TacticProfile(
        outcomes={"injured": 0.6, "intimidated": 0.23, "no_harm": 0.15, "unknown": 0.02},
        locations={"public_place": 0.6, "residence": 0.3, "workplace": 0.1},
        pretexts={"": 1.0},
        companions={"intimidation_surveillance": 0.3, "online_threats_smear": 0.2},
        plans=(
            (0.4, (("proxy_criminal", _P), ("state_intelligence", _I))),
            (0.3, (("state_intelligence", _P),)),
            (0.3, (("proxy_front_organisation", _P), ("state_consular", _I))),
        ),
    ),
    "intimidation_surveillance": _TacticProfile(
        outcomes={"intimidated": 0.73, "no_harm": 0.15, "ongoing": 0.1, "unknown": 0.02},
        locations={
            "residence": 0.35,
            "public_place": 0.35,
            "consulate_embassy": 0.15,
            "workplace": 0.15,
        },
        pretexts={"": 1.0},
        companions={
            "coercion_by_proxy": 0.2,
            "online_threats_smear": 0.25,
            "monitoring_infiltration": 0.2,
        },
        plans=(
            (0.5, (("state_intelligence", _P),)),
            (0.2, (("state_consular", _P),)),
            (0.3, (("proxy_front_organisation", _P), ("state_intelligence", _I))),
        ),
    ),
    "detention_on_request": _TacticProfile(
        outcomes={
            "detained": 0.3,
            "released": 0.33,
            "extradited": 0.15,
            "deported": 0.15,
            "extradition_refused": 0.05,
            "unknown": 0.02,
        },
        locations={"detention_facility": 0.55, "airport_border": 0.45},
        pretexts={
            "": 0.25,
            "terrorism charge": 0.25,
            "extremism charge": 0.15,
            "red notice": 0.25,
            "fraud charge": 0.1,
        },
        companions={"legal_process_abuse": 0.4, "document_denial": 0.05},
        plans=((0.6, (("state_police", _I),)), (0.4, (("state_judiciary", _I),))),
    ),
    "unlawful_deportation": _TacticProfile(
        outcomes={"deported": 0.74, "extradited": 0.24, "unknown": 0.02},
        locations={"airport_border": 0.7, "detention_facility": 0.3},
        pretexts={
            "": 0.3,
            "immigration violation": 0.35,
            "national security risk": 0.15,
            "red notice": 0.1,
            "terrorism charge": 0.1,
        },
        companions={"legal_process_abuse": 0.3, "document_denial": 0.1},
        plans=((0.6, (("state_police", _I),)), (0.4, (("state_intelligence", _I),))),
        extras=((0.15, "company_airline", _F),),
    ),
    "legal_process_abuse": _TacticProfile(
        outcomes={
            "extradition_refused": 0.3,
            "released": 0.2,
            "detained": 0.15,
            "ongoing": 0.23,
            "no_harm": 0.1,
            "unknown": 0.02,
        },
        locations={"other": 0.5, "detention_facility": 0.3, "airport_border": 0.2},
        pretexts={
            "": 0.15,
            "red notice": 0.45,
            "terrorism charge": 0.15,
            "fraud charge": 0.15,
            "membership of a banned organisation": 0.1,
        },
        companions={
            "document_denial": 0.15,
            "citizenship_travel_ban": 0.1,
            "asset_financial_measures": 0.15,
        },
        plans=((0.6, (("state_judiciary", _P),)), (0.4, (("state_police", _P),))),
    ),
    "document_denial": _TacticProfile(
        outcomes={"document_denied": 0.78, "ongoing": 0.2, "unknown": 0.02},
        locations={"consulate_embassy": 1.0},
        pretexts={"": 0.7, "order to return home to renew documents": 0.3},
        companions={"citizenship_travel_ban": 0.2, "coercion_by_proxy": 0.1},
        plans=((1.0, (("state_consular", _P),)),),
    ),
    "citizenship_travel_ban": _TacticProfile(
        outcomes={"document_denied": 0.5, "ongoing": 0.4, "unknown": 0.1},
        locations={"consulate_embassy": 0.5, "airport_border": 0.3, "other": 0.2},
        pretexts={"": 0.4, "threat to national security": 0.4, "terrorism charge": 0.2},
        companions={"coercion_by_proxy": 0.15, "asset_financial_measures": 0.2},
        plans=((0.5, (("state_other", _P),)), (0.5, (("state_judiciary", _P),))),
    ),
    "coercion_by_proxy": _TacticProfile(
        # Outcomes of the act on the exile; a relative's own act uses _RELATIVE_OUTCOMES.
        outcomes={"family_harmed": 0.35, "intimidated": 0.48, "ongoing": 0.15, "unknown": 0.02},
        locations={"residence": 0.8, "other": 0.2},
        pretexts={"": 0.8, "questioning about a relative abroad": 0.2},
        companions={
            "online_threats_smear": 0.2,
            "monitoring_infiltration": 0.15,
            "asset_financial_measures": 0.1,
        },
        plans=((0.6, (("state_police", _P),)), (0.4, (("state_intelligence", _P),))),
        extras=((0.3, "proxy_coerced_relative", _F),),
    ),
    "spyware_account_compromise": _TacticProfile(
        outcomes={
            "device_compromised": 0.55,
            "account_compromised": 0.33,
            "no_harm": 0.1,
            "unknown": 0.02,
        },
        locations={"online": 1.0},
        pretexts={"": 1.0},
        companions={"online_threats_smear": 0.25, "monitoring_infiltration": 0.3},
        plans=(
            (0.6, (("state_intelligence", _P), ("company_spyware_vendor", _F))),
            (0.4, (("state_intelligence", _P),)),
        ),
    ),
    "online_threats_smear": _TacticProfile(
        outcomes={"intimidated": 0.6, "ongoing": 0.28, "no_harm": 0.1, "unknown": 0.02},
        locations={"online": 1.0},
        pretexts={"": 1.0},
        companions={"monitoring_infiltration": 0.3},
        plans=(
            (0.5, (("proxy_online_network", _P), ("state_other", _I))),
            (0.5, (("state_intelligence", _P),)),
        ),
        extras=((0.05, "company_platform", _F),),
    ),
    "monitoring_infiltration": _TacticProfile(
        outcomes={"ongoing": 0.6, "intimidated": 0.2, "no_harm": 0.1, "unknown": 0.1},
        locations={"online": 1.0},
        pretexts={"": 1.0},
        companions={"asset_financial_measures": 0.02},
        plans=(
            (0.6, (("state_intelligence", _P),)),
            (0.4, (("proxy_front_organisation", _P), ("state_intelligence", _I))),
        ),
    ),
    "asset_financial_measures": _TacticProfile(
        outcomes={"assets_frozen": 0.78, "ongoing": 0.2, "unknown": 0.02},
        locations={"other": 0.8, "residence": 0.2},
        pretexts={"": 0.4, "fraud charge": 0.3, "terrorism financing charge": 0.3},
        companions={},
        plans=((0.7, (("state_judiciary", _P),)), (0.3, (("state_other", _P),))),
        extras=((0.3, "company_bank", _F),),
    ),
}
# A relative back home, targeted to pressure the exile.
_RELATIVE_OUTCOMES: Mapping[str, float] = {"detained": 0.35, "intimidated": 0.55, "no_harm": 0.1}
_RELATIVE_LOCATIONS: Mapping[str, float] = {
    "residence": 0.6,
    "detention_facility": 0.25,
    "other": 0.15,
}

#: Outcomes that are coherent with each primary tactic.
OUTCOMES_BY_TACTIC: Mapping[str, frozenset[str]] = {
    t: frozenset(p.outcomes)
    | (frozenset(_RELATIVE_OUTCOMES) if t == "coercion_by_proxy" else frozenset())
    for t, p in _TACTIC_PROFILES.items()
}

# Tactics an organisation may mistake for one another (same location kind and host-role
# constraints, so that a confused record stays internally coherent).
_CONFUSABLE: Mapping[str, tuple[str, ...]] = {
    "killing": ("assault",),
    "assault": ("intimidation_surveillance", "killing"),
    "intimidation_surveillance": ("assault",),
    "detention_on_request": ("unlawful_deportation", "legal_process_abuse"),
    "unlawful_deportation": ("detention_on_request",),
    "legal_process_abuse": ("detention_on_request",),
    "document_denial": ("citizenship_travel_ban",),
    "citizenship_travel_ban": ("document_denial",),
    "spyware_account_compromise": ("monitoring_infiltration",),
    "online_threats_smear": ("monitoring_infiltration",),
    "monitoring_infiltration": ("online_threats_smear", "spyware_account_compromise"),
}

# --------------------------------------------------------------------------------------------
# Text templates (English, de-identified: no names, only categories and countries).
# --------------------------------------------------------------------------------------------
_TITLES: Mapping[str, tuple[str, ...]] = {
    "killing": ("Suspected assassination in {loc}", "Lethal attack on an exile in {loc}"),
    "abduction_rendition": ("Rendition from {loc}", "Abduction of an exile in {loc}"),
    "assault": ("Assault on an exile in {loc}", "Physical attack on a diaspora member in {loc}"),
    "intimidation_surveillance": (
        "Physical intimidation in {loc}",
        "Surveillance and threats in {loc}",
    ),
    "detention_on_request": (
        "Detention at origin's request in {loc}",
        "Detention in {loc} at the request of {origin}",
    ),
    "unlawful_deportation": (
        "Unlawful deportation from {loc}",
        "Deportation from {loc} to {origin}",
    ),
    "legal_process_abuse": (
        "Abusive extradition request in {loc}",
        "Misuse of legal process against an exile in {loc}",
    ),
    "document_denial": ("Consular services denied in {loc}", "Passport renewal refused in {loc}"),
    "citizenship_travel_ban": (
        "Travel ban on an exile in {loc}",
        "Citizenship revoked for an exile in {loc}",
    ),
    "coercion_by_proxy": (
        "Pressure on relatives of an exile ({origin})",
        "Family members targeted in {origin}",
    ),
    "spyware_account_compromise": (
        "Spyware attack on an exile in {loc}",
        "Account compromise targeting an exile in {loc}",
    ),
    "online_threats_smear": (
        "Online threats against an exile in {loc}",
        "Smear campaign against a diaspora member in {loc}",
    ),
    "monitoring_infiltration": (
        "Infiltration of a diaspora community in {loc}",
        "Monitoring of an exile community in {loc}",
    ),
    "asset_financial_measures": (
        "Assets of an exile in {loc} frozen",
        "Financial measures against an exile in {loc}",
    ),
}
_VERBS: Mapping[str, str] = {
    "killing": "{be} the target of a suspected assassination in {loc}",
    "abduction_rendition": "{be} abducted in {loc} and forcibly taken towards {origin}",
    "assault": "{be} physically attacked in {loc}",
    "intimidation_surveillance": "{be} followed, photographed and threatened in {loc}",
    "detention_on_request": "{be} detained in {loc} at the request of the authorities of {origin}",
    "unlawful_deportation": "{be} deported from {loc} to {origin} without a fair procedure",
    "legal_process_abuse": "{be} targeted in {loc} through an abusive legal request from {origin}",
    "document_denial": "{be} refused a passport or consular service by {origin}'s representation in {loc}",
    "citizenship_travel_ban": "{be} stripped of citizenship or banned from travel by {origin} while living in {loc}",
    "coercion_by_proxy": "had relatives in {origin} questioned and threatened to pressure them into silence",
    "spyware_account_compromise": "had a phone or an online account compromised while living in {loc}",
    "online_threats_smear": "{be} the subject of online threats and a smear campaign while living in {loc}",
    "monitoring_infiltration": "reported that their community in {loc} was monitored and infiltrated",
    "asset_financial_measures": "had property or bank accounts frozen by {origin} while living in {loc}",
}
_RELATIVE_VERB = (
    "{be} questioned and threatened in {origin} because of a family member's activities abroad"
)
_OUTCOME_SENTENCES: Mapping[str, str] = {
    "killed": "{S} {be} killed.",
    "injured": "{S} {be} injured.",
    "abducted": "{S} {be} taken to {origin}.",
    "disappeared": "Their whereabouts remain unknown.",
    "detained": "{S} remained in detention at last report.",
    "deported": "{S} {be} returned to {origin}.",
    "extradited": "{S} {be} extradited to {origin}.",
    "extradition_refused": "Extradition was refused.",
    "released": "{S} {be} later released.",
    "escaped": "{S} escaped.",
    "device_compromised": "A device was compromised.",
    "account_compromised": "An online account was compromised.",
    "assets_frozen": "Assets were frozen.",
    "document_denied": "The document was denied.",
    "family_harmed": "Family members were harmed.",
    "intimidated": "{S} reported being intimidated.",
    "ongoing": "The situation is ongoing.",
    "no_harm": "No physical harm was reported.",
    "unknown": "The outcome is not known.",
}
_ROLE_SENTENCES: Mapping[str, str] = {
    "co_opted": " Host authorities acted on the request.",
    "complicit": " Host authorities appear to have cooperated.",
}
_SUBJECTS: Mapping[str, tuple[str, str]] = {
    "journalist": ("an exiled journalist", "exiled journalists"),
    "human_rights_defender": ("a human rights defender", "human rights defenders"),
    "trade_unionist": ("a trade unionist", "trade unionists"),
    "political_opposition": ("an opposition activist", "opposition activists"),
    "religious_minority": ("a member of a religious minority", "members of a religious minority"),
    "ethnic_minority": ("a member of an ethnic minority", "members of an ethnic minority"),
    "former_insider": ("a former official", "former officials"),
    "academic": ("an academic", "academics"),
    "relative_of_target": ("a relative of an exile", "relatives of an exile"),
    "lgbti": ("an LGBTI activist", "LGBTI activists"),
    "student": ("a student", "students"),
    "activist": ("an activist", "activists"),
    "other": ("a diaspora member", "diaspora members"),
}
_ACTOR_LABELS: Mapping[str, str] = {
    "state_intelligence": "State intelligence service",
    "state_police": "State police",
    "state_consular": "Consular service",
    "state_judiciary": "Prosecution service",
    "state_military": "Military",
    "state_other": "State authorities",
    "proxy_criminal": "Hired criminal group",
    "proxy_coerced_relative": "Coerced relative",
    "proxy_front_organisation": "Front organisation",
    "proxy_online_network": "Online influence network",
}
_FIXED_ACTOR_NAMES: Mapping[str, str] = {
    "host_authority": "Police and immigration authorities of {country}",
    "company_platform": "Social media platform",
    "company_bank": "Bank",
    "company_spyware_vendor": "Spyware vendor",
    "company_airline": "Airline",
    "international_body": "Interpol",
    "unknown": "Unidentified actor",
}


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------
def _country(code: str) -> str:
    """Validate an ISO 3166-1 alpha-2 code (raises ValueError) and return it."""
    if not (isinstance(code, str) and len(code) == 2 and pycountry.countries.get(alpha_2=code)):
        raise ValueError(f"not an ISO 3166-1 alpha-2 country code: {code!r}")
    return code


def _normalise(weights: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(weights.values()))
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be non-negative with a positive sum: {dict(weights)}")
    return {k: float(w) / total for k, w in weights.items()}


@dataclass(frozen=True, eq=False)  # hashed by identity (it keys the text caches)
class Calibration:
    """Calibration figures read from ``calibration.yaml`` (see the ``source:`` notes there)."""

    totals: Mapping[str, int]
    origin_weights: Mapping[str, float]  # 48 origin states, summing to 1
    top_ten: tuple[str, ...]
    year_table: Mapping[int, float]
    trend_intercept: float
    trend_slope: float
    physical_shares: Mapping[str, float]
    non_physical_weights: Mapping[str, float]
    physical_share: float
    tactic_visibility: Mapping[str, float]
    hosts_by_origin: Mapping[str, Mapping[str, float]]
    host_universe: tuple[str, ...]
    host_spill: float
    persons: Mapping[str, Any]
    actor_names: Mapping[str, Mapping[str, str]]
    country_names: Mapping[str, str]
    cities: Mapping[str, tuple[str, ...]]

    def year_weight(self, year: int) -> float:
        """Relative weight of ``year`` (the table, else the linear trend, at least 1)."""
        if year in self.year_table:
            return self.year_table[year]
        return max(1.0, self.trend_intercept + self.trend_slope * (year - 2014))

    def country_name(self, code: str) -> str:
        return self.country_names[code]


def _load_calibration(path: Path) -> Calibration:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    o = raw["origins"]
    top = {_country(k): float(v) for k, v in o["top_ten"].items()}
    others = _normalise({_country(k): float(v) for k, v in o["others"].items()})
    origin_weights = dict(top)
    for k, v in others.items():
        origin_weights[k] = float(o["others_share"]) * v
    if len(origin_weights) != len(top) + len(others):
        raise ValueError("calibration: an origin is listed twice")
    origin_weights = _normalise(origin_weights)

    h = raw["hosts"]
    universe = tuple(_country(c) for c in h["universe"])
    regions = {r: {_country(k): float(v) for k, v in w.items()} for r, w in h["regions"].items()}
    hosts: dict[str, dict[str, float]] = {}
    for origin in origin_weights:
        if origin in h["by_origin"]:
            table = {_country(k): float(v) for k, v in h["by_origin"][origin].items()}
        else:
            table = dict(regions[h["origin_region"][origin]])
        table.pop(origin, None)  # a host is never the origin itself
        missing = set(table) - set(universe)
        if missing:
            raise ValueError(f"calibration: hosts {sorted(missing)} are not in hosts.universe")
        hosts[origin] = _normalise(table)

    phys = raw["physical_tactics"]["shares"]
    nonphys = raw["non_physical_tactics"]["weights"]
    for t in [*phys, *nonphys, *raw["tactic_visibility"]["weights"]]:
        if t not in TACTIC_PRECEDENCE:
            raise ValueError(f"calibration: unknown tactic {t!r}")
    if set(phys) != set(PHYSICAL_TACTICS) or set(phys) & set(nonphys):
        raise ValueError("calibration: physical_tactics must list exactly the physical tactics")

    persons = raw["persons"]
    for key, codes in (
        ("sex", SEXES),
        ("age_group", AGE_GROUPS),
        ("host_status", HOST_STATUSES),
        ("categories", TARGET_CATEGORIES),
    ):
        if set(persons[key]) - set(codes):
            raise ValueError(f"calibration: unknown {key} codes {set(persons[key]) - set(codes)}")

    cities = {_country(k): tuple(v) for k, v in raw["cities"].items() if k != "source"}
    needed = set(universe) | set(origin_weights)
    if needed - set(cities):
        raise ValueError(f"calibration: no cities for {sorted(needed - set(cities))}")
    names: dict[str, str] = {}
    overrides = raw["country_names"]["names"]
    for code in sorted(needed):
        country = pycountry.countries.get(alpha_2=code)  # validated above, never None
        names[code] = overrides.get(code) or getattr(country, "common_name", None) or country.name  # type: ignore[union-attr]

    years = raw["years"]
    return Calibration(
        totals={k: int(v) for k, v in raw["totals"].items() if k != "source"},
        origin_weights=origin_weights,
        top_ten=tuple(top),
        year_table={int(y): float(w) for y, w in years["weights"].items()},
        trend_intercept=float(years["trend_intercept"]),
        trend_slope=float(years["trend_slope"]),
        physical_shares=_normalise(phys),
        non_physical_weights=_normalise(nonphys),
        physical_share=float(raw["non_physical_tactics"]["physical_share"]),
        tactic_visibility={
            t: float(raw["tactic_visibility"]["weights"].get(t, 1.0)) for t in TACTICS
        },
        hosts_by_origin=hosts,
        host_universe=universe,
        host_spill=float(h["spill"]),
        persons=persons,
        actor_names={_country(k): dict(v) for k, v in raw["actors"]["names"].items()},
        country_names=names,
        cities=cities,
    )


@functools.lru_cache(maxsize=8)
def _cached_calibration(path: str) -> Calibration:
    return _load_calibration(Path(path))


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Read (and validate) a calibration file; the packaged one by default. Cached."""
    return _cached_calibration(str(Path(path or CALIBRATION_PATH).resolve()))


def default_tactic_mix(
    physical_share: float | None = None, *, include_non_physical: bool = True
) -> dict[str, float]:
    """Share of incidents by main tactic: Freedom House's physical proportions, scaled to
    ``physical_share`` (calibration default 0.6), the rest split among non-physical tactics."""
    cal = load_calibration()
    share = cal.physical_share if physical_share is None else physical_share
    if not include_non_physical:
        share = 1.0
    if not 0.0 < share <= 1.0:
        raise ValueError("physical_share must be in (0, 1]")
    mix = {t: share * cal.physical_shares.get(t, 0.0) for t in TACTICS}
    for t, w in cal.non_physical_weights.items():
        mix[t] += (1.0 - share) * w
    return mix


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


@dataclass(frozen=True)
class OrganisationProfile:
    """A documenting organisation: what it tends to see and how carefully it records it.

    It documents an incident with probability ``min(MAX_DETECTION, s * focus * bias * v)``:
    ``focus`` is ``focus_boost`` for its focus origins (else 1), ``bias`` its ``tactic_bias`` for
    the incident's main tactic (else 1), ``v`` the incident's visibility, which every
    organisation shares, and ``s`` is solved for so that it documents ``coverage`` of all
    incidents on average.
    """

    code: str  # short upper-case code; prefixes all its ids ("ORGA-000123")
    name: str
    coverage: float  # base detection probability: the expected share of incidents documented
    focus_origins: tuple[str, ...] = ()  # origin states it specialises in
    focus_boost: float = 2.0  # relative detection weight of its focus origins
    tactic_bias: Mapping[str, float] | None = field(default=None, hash=False)  # tactic -> weight
    typo_rate: float = 0.05  # share of records with a misspelt city
    date_noise_rate: float = 0.10  # share of day-precise dates shifted
    date_noise_days: int = 7  # maximal shift in days
    precision_loss_rate: float = 0.05  # share of dates recorded at month or year precision only
    tactic_error_rate: float = 0.03  # share of acts with a confused primary or secondary tactic
    missing_rate: float = 0.10  # share of fields left unknown (age group, pretext, host role...)
    source_type: str = "ngo"  # type of its usual source
    sharing: str = "partners"  # its usual sharing level

    def __post_init__(self) -> None:
        if (
            not (self.code.isascii() and self.code.isalnum() and self.code.isupper())
            or self.code == "T"
        ):
            raise ValueError(
                f"organisation code must be upper-case letters/digits, not 'T': {self.code!r}"
            )
        if not 0.0 < self.coverage < MAX_DETECTION:
            raise ValueError(f"coverage must be in (0, {MAX_DETECTION}), got {self.coverage!r}")
        for name in (
            "typo_rate",
            "date_noise_rate",
            "precision_loss_rate",
            "tactic_error_rate",
            "missing_rate",
        ):
            _check_rate(name, getattr(self, name))
        if self.focus_boost <= 0 or self.date_noise_days < 1:
            raise ValueError("focus_boost must be > 0 and date_noise_days >= 1")
        for c in self.focus_origins:
            _country(c)
        if self.tactic_bias is not None:
            unknown = set(self.tactic_bias) - set(TACTICS)
            if unknown or any(v < 0 for v in self.tactic_bias.values()):
                raise ValueError(
                    f"tactic_bias: unknown tactics {sorted(unknown)} or negative weight"
                )
        if self.source_type not in SOURCE_TYPES or self.sharing not in SHARING_LEVELS:
            raise ValueError("source_type or sharing is not a known code")


_DIGITAL_BIAS = dict.fromkeys(TACTICS[:6], 0.6) | {  # physical tactics: less often seen
    "spyware_account_compromise": 4.0,
    "online_threats_smear": 3.0,
    "monitoring_infiltration": 3.0,
}

#: Four organisations with different coverage, focus and noise (all names are synthetic).
DEFAULT_ORGANISATIONS: tuple[OrganisationProfile, ...] = (
    OrganisationProfile(
        code="ORGA",
        name="Diaspora Rights Watch (synthetic)",
        coverage=0.45,
        typo_rate=0.03,
        date_noise_rate=0.08,
        date_noise_days=5,
        precision_loss_rate=0.04,
        tactic_error_rate=0.02,
        missing_rate=0.08,
        source_type="ngo",
        sharing="partners",
    ),
    OrganisationProfile(
        code="ORGB",
        name="East Asia Exile Monitor (synthetic)",
        coverage=0.35,
        focus_origins=("CN", "KH", "VN", "LA", "TH", "MM"),
        focus_boost=2.5,
        typo_rate=0.08,
        date_noise_rate=0.15,
        date_noise_days=10,
        precision_loss_rate=0.10,
        tactic_error_rate=0.04,
        missing_rate=0.15,
        source_type="testimony",
        sharing="aggregate",
    ),
    OrganisationProfile(
        code="ORGC",
        name="Digital Threats Lab (synthetic)",
        coverage=0.25,
        tactic_bias=_DIGITAL_BIAS,
        typo_rate=0.04,
        date_noise_rate=0.05,
        date_noise_days=3,
        precision_loss_rate=0.02,
        tactic_error_rate=0.03,
        missing_rate=0.12,
        source_type="other",
        sharing="partners",
    ),
    OrganisationProfile(
        code="ORGD",
        name="Press Freedom Desk (synthetic)",
        coverage=0.60,
        focus_origins=("TR", "RU", "EG", "IR", "SA", "BY"),
        focus_boost=1.5,
        tactic_bias={
            "killing": 2.0,
            "abduction_rendition": 1.5,
            "assault": 1.3,
            "detention_on_request": 1.2,
            "unlawful_deportation": 1.2,
            "monitoring_infiltration": 0.5,
        },
        typo_rate=0.10,
        date_noise_rate=0.20,
        date_noise_days=14,
        precision_loss_rate=0.12,
        tactic_error_rate=0.06,
        missing_rate=0.20,
        source_type="media",
        sharing="public",
    ),
)


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. ``n_incidents`` counts all true incidents (physical or not); with
    ``include_non_physical=False`` every incident is physical, as in Freedom House's count."""

    seed: int = 0
    n_incidents: int = 1219
    years: tuple[int, int] = (2014, 2024)  # inclusive
    organisations: tuple[OrganisationProfile, ...] = DEFAULT_ORGANISATIONS
    include_non_physical: bool = True
    tactic_mix: Mapping[str, float] | None = field(default=None, hash=False)  # main tactic weights
    visibility_shape: float = (
        2.5  # gamma shape of shared visibility; lower = more correlated capture
    )
    calibration_path: str | None = None  # another calibration.yaml

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError("seed must be a non-negative int")
        if self.n_incidents < 0:
            raise ValueError("n_incidents must be >= 0")
        if not (1900 <= self.years[0] <= self.years[1] <= 2100):
            raise ValueError(f"years must be an increasing pair, got {self.years!r}")
        codes = [o.code for o in self.organisations]
        if len(set(codes)) != len(codes):
            raise ValueError(f"organisation codes must be unique: {codes}")
        if self.tactic_mix is not None and set(self.tactic_mix) - set(TACTICS):
            raise ValueError(
                f"tactic_mix: unknown tactics {sorted(set(self.tactic_mix) - set(TACTICS))}"
            )
        if self.visibility_shape <= 0:
            raise ValueError("visibility_shape must be > 0")

    def resolved_tactic_mix(self) -> dict[str, float]:
        """The normalised main-tactic distribution this configuration uses."""
        mix = dict(self.tactic_mix) if self.tactic_mix is not None else default_tactic_mix()
        mix = {t: float(mix.get(t, 0.0)) for t in TACTICS}
        if not self.include_non_physical:
            mix = {t: (w if t in PHYSICAL_TACTICS else 0.0) for t, w in mix.items()}
        return _normalise(mix)


# --------------------------------------------------------------------------------------------
# Output containers
# --------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """Incidents with the persons and actors they reference, in the exchange format."""

    incidents: list[dict[str, Any]] = field(default_factory=list)
    persons: list[dict[str, Any]] = field(default_factory=list)
    actors: list[dict[str, Any]] = field(default_factory=list)
    synthetic: bool = True

    def add(self, record: Record) -> None:
        """Append one record (its incident and the persons and actors it introduces)."""
        self.incidents.append(record.incident)
        self.persons.extend(record.persons)
        self.actors.extend(record.actors)

    def to_exchange(self, organisation: str) -> dict[str, Any]:
        """The exchange document. Lists are new, the dicts in them are shared, not copied."""
        return {
            "format": EXCHANGE_FORMAT,
            "version": EXCHANGE_VERSION,
            "synthetic": self.synthetic,
            "organisation": organisation,
            "incidents": list(self.incidents),
            "persons": list(self.persons),
            "actors": list(self.actors),
        }

    @classmethod
    def from_exchange(cls, document: Mapping[str, Any]) -> Dataset:
        """Read back an exchange document (as made by ``to_exchange``)."""
        if document.get("format") != EXCHANGE_FORMAT:
            raise ValueError(f"not a {EXCHANGE_FORMAT} document")
        return cls(
            incidents=list(document["incidents"]),
            persons=list(document["persons"]),
            actors=list(document["actors"]),
            synthetic=bool(document.get("synthetic", False)),
        )


@dataclass(frozen=True, slots=True)
class Record:
    """One dataset's copy of one incident, with the persons and actors it references for the
    first time in that dataset (so a stream of records never repeats a person or an actor)."""

    incident: dict[str, Any]
    persons: list[dict[str, Any]]
    actors: list[dict[str, Any]]
    #: For organisation records: new organisation person id -> true person id. Hidden truth.
    person_links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimulatedIncident:
    """One true incident and the records of the organisations that documented it."""

    truth: Record
    documented: dict[str, Record]  # organisation code -> its record (only those that saw it)


@dataclass
class Simulation:
    """A simulated ground truth and what each organisation documented of it."""

    truth: Dataset
    documented: dict[str, Dataset]
    links: dict[tuple[str, str], str]  # (org code, org incident id) -> true incident id
    person_links: dict[tuple[str, str], str]  # (org code, org person id) -> true person id
    n_undocumented: int  # true incidents nobody documented
    config: SimulationConfig = field(default_factory=SimulationConfig)

    @property
    def organisations(self) -> tuple[str, ...]:
        """Organisation codes, in configuration order (the order of capture histories)."""
        return tuple(self.documented)

    @property
    def n_documented(self) -> int:
        """True incidents that at least one organisation documented."""
        return len(set(self.links.values()))

    def capture_histories(self) -> list[tuple[tuple[int, ...], int]]:
        """Observed capture histories: (1/0 per organisation in order, number of true incidents
        with that history), without the unobservable all-zero history; sorted by history."""
        index = {code: i for i, code in enumerate(self.documented)}
        seen: dict[str, list[int]] = {}
        for (org, _rid), tid in self.links.items():
            seen.setdefault(tid, [0] * len(index))[index[org]] = 1
        counts: dict[tuple[int, ...], int] = defaultdict(int)
        for history in seen.values():
            counts[tuple(history)] += 1
        return sorted(counts.items())

    def merged(self) -> Dataset:
        """All organisations' records in one dataset (ids are unique, being prefixed)."""
        out = Dataset()
        for ds in self.documented.values():
            out.incidents.extend(ds.incidents)
            out.persons.extend(ds.persons)
            out.actors.extend(ds.actors)
        return out


# --------------------------------------------------------------------------------------------
# Generator internals. The hot loop binds random.Random.random once and draws with bisection:
# randrange, choice and attribute look-ups cost several times more and n = 100,000 is the
# benchmark size.
# --------------------------------------------------------------------------------------------
_RELIABILITY_CUTS = (0.4, 0.8, 0.95)


class _Sampler:
    """Draws keys in proportion to weights, from one uniform by bisection."""

    __slots__ = ("cum", "keys", "total")

    def __init__(self, weights: Mapping[Any, float] | Sequence[tuple[Any, float]]) -> None:
        items = list(weights.items()) if isinstance(weights, Mapping) else list(weights)
        items = [(k, float(w)) for k, w in items if w > 0]
        if not items:
            raise ValueError("nothing to sample from")
        self.keys = [k for k, _ in items]
        self.cum: list[float] = []
        total = 0.0
        for _, w in items:
            total += w
            self.cum.append(total)
        self.total = total

    def bind(self, rng: random.Random) -> Callable[[], Any]:
        """A no-argument drawing function on ``rng``."""
        keys, cum, total, rand, bis = (
            self.keys,
            self.cum,
            self.total,
            rng.random,
            bisect.bisect_right,
        )
        if len(keys) == 1:
            only = keys[0]
            return lambda: only
        return lambda: keys[bis(cum, rand() * total)]


def _rng(seed: int, *key: int) -> random.Random:
    """An independent stream for (seed, key), derived with numpy's SeedSequence."""
    state = np.random.SeedSequence(entropy=seed, spawn_key=key).generate_state(4, dtype=np.uint64)
    return random.Random(int.from_bytes(state.tobytes(), "little"))


class _IdAllocator:
    """Random, unique, zero-padded numbers, so that record numbers do not reveal the order of
    the hidden truth (a linkage method could otherwise cheat by matching record order)."""

    def __init__(self, rng: random.Random, prefix: str, width: int) -> None:
        self.rand, self.prefix, self.width = rng.random, prefix, width
        self.cap = 10**width
        self.used: set[int] = set()

    def next(self) -> str:
        if len(self.used) * 2 > self.cap:  # not at the documented sizes: widen, never slow down
            self.width += 1
            self.cap *= 10
        used, rand, cap = self.used, self.rand, self.cap - 1
        while True:
            k = int(rand() * cap) + 1
            if k not in used:
                used.add(k)
                return f"{self.prefix}{k:0{self.width}d}"


def _typo(rand: Callable[[], float], text: str) -> str:
    """Swap two neighbouring letters, drop one or double one."""
    if len(text) < 3:
        return text
    i = 1 + int(rand() * (len(text) - 2))
    op = rand()
    if op < 0.4 and text[i] != text[i + 1]:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if op < 0.75:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


@functools.lru_cache(maxsize=8)
def _visibility_sample(shape: float) -> np.ndarray:
    """A fixed sample of the visibility distribution (gamma, mean 1), for calibration only."""
    return np.random.default_rng(20250101).gamma(shape, 1.0 / shape, size=4096)


@functools.lru_cache(maxsize=256)
def _detection_scale(
    groups: tuple[tuple[float, float], ...], coverage: float, shape: float
) -> float:
    """Scale s such that E[min(MAX_DETECTION, s * weight * visibility)] = coverage, where
    ``groups`` lists (probability, weight) of the incident kinds an organisation sees."""
    probs = np.array([p for p, _ in groups])
    weights = np.array([w for _, w in groups])[:, None]
    vis = _visibility_sample(shape)[None, :]

    def expected(s: float) -> float:
        return float(probs @ np.minimum(MAX_DETECTION, s * weights * vis).mean(axis=1))

    hi = 1.0
    while expected(hi) < coverage:
        hi *= 2.0
        if hi > 1e9:
            raise ValueError(
                f"coverage {coverage} is unreachable (detection is capped at {MAX_DETECTION})"
            )
    lo = 0.0
    for _ in range(32):  # precision far below the Monte Carlo error of the sample
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected(mid) < coverage else (lo, mid)
    return (lo + hi) / 2


class _Hidden(NamedTuple):
    """What the organisations' copies need from a true incident beyond its record."""

    visibility: float
    tactic: str
    start: dt.date
    end: dt.date | None
    persons: Mapping[str, dict[str, Any]]  # every person the incident references


class _OrgState:
    """An organisation's random stream, ids and person/actor registries."""

    def __init__(
        self, profile: OrganisationProfile, config: SimulationConfig, width: int, scale: float
    ):
        self.profile = profile
        rng = self.rng = _rng(config.seed, 3, zlib.crc32(profile.code.encode()))
        self.rand = rng.random
        self.incident_ids = _IdAllocator(rng, f"{profile.code}-", width)
        self.person_ids = _IdAllocator(rng, f"{profile.code}-P", width)
        self.persons: dict[str, str] = {}  # true person id -> org person id
        self.actors: dict[str, str] = {}  # true actor id -> org actor id
        bias = profile.tactic_bias or {}
        self.tactic_weight = {t: scale * float(bias.get(t, 1.0)) for t in TACTICS}
        self.focus = frozenset(profile.focus_origins)
        self.source_type = _Sampler(_OTHER_SOURCES).bind(rng)


_OTHER_SOURCES: Mapping[str, float] = {
    "media": 0.35,
    "ngo": 0.2,
    "testimony": 0.2,
    "social_media": 0.1,
    "court": 0.07,
    "government": 0.04,
    "un": 0.02,
    "other": 0.02,
}
_LONG_RUNNING = frozenset(
    {"intimidation_surveillance", "online_threats_smear", "monitoring_infiltration"}
)


class _Generator:
    """Draws the truth incident by incident and copies it into each organisation's records."""

    # Repeat targets come from a bounded pool per origin, so streaming memory stays flat.
    POOL_SIZE = 400

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        cal = self.cal = load_calibration(config.calibration_path)
        rng = self.rng = _rng(config.seed, 1)
        self.rand = rng.random
        self.detect_rng = _rng(config.seed, 2)
        self.width = max(6, len(str(config.n_incidents)))
        first, last = config.years
        self.draw_year = _Sampler({y: cal.year_weight(y) for y in range(first, last + 1)}).bind(rng)
        self.draw_origin = _Sampler(cal.origin_weights).bind(rng)
        self.mix = config.resolved_tactic_mix()
        self.draw_tactic = _Sampler(self.mix).bind(rng)
        self.draw_host = {o: _Sampler(w).bind(rng) for o, w in cal.hosts_by_origin.items()}
        p = cal.persons
        self.draw_sex = _Sampler(p["sex"]).bind(rng)
        self.draw_age = _Sampler(p["age_group"]).bind(rng)
        self.draw_status = _Sampler(p["host_status"]).bind(rng)
        self.draw_category: dict[str, Callable[[], str]] = {}
        self.p_second_category = float(p["second_category"])
        self.p_repeat = float(p["repeat_target"])
        self.p_second_target = float(p["second_target"])
        self.p_mass = float(p["mass_event"])
        profiles = _TACTIC_PROFILES
        self.draw_outcome = {t: _Sampler(tp.outcomes).bind(rng) for t, tp in profiles.items()}
        self.draw_location = {t: _Sampler(tp.locations).bind(rng) for t, tp in profiles.items()}
        self.draw_pretext = {t: _Sampler(tp.pretexts).bind(rng) for t, tp in profiles.items()}
        self.draw_plan = {
            t: _Sampler([(pl, w) for w, pl in tp.plans]).bind(rng) for t, tp in profiles.items()
        }
        self.companions = {
            t: tuple(
                (c, pc)
                for c, pc in tp.companions.items()
                if TACTIC_PRECEDENCE[c] > TACTIC_PRECEDENCE[t]
            )
            for t, tp in profiles.items()
        }
        self.draw_relative_outcome = _Sampler(_RELATIVE_OUTCOMES).bind(rng)
        self.draw_relative_location = _Sampler(_RELATIVE_LOCATIONS).bind(rng)
        # Truth registries.
        self.n_persons = 0
        self.actors: dict[tuple[str, str | None], dict[str, Any]] = {}
        self.actors_by_id: dict[str, dict[str, Any]] = {}
        self.new_actors: list[dict[str, Any]] = []
        self.pools: dict[str, deque[str]] = {}
        self.live: dict[str, dict[str, Any]] = {}  # persons a later incident may target again
        self.live_host: dict[str, str] = {}
        org_width = max(6, len(str(config.n_incidents * 10)))
        self.orgs = [_OrgState(o, config, org_width, self._scale(o)) for o in config.organisations]

    def _scale(self, org: OrganisationProfile) -> float:
        """Detection scale of ``org``: origin and tactic are drawn independently, so the kinds
        of incident it sees are (in focus or not) x tactic."""
        p_focus = sum(w for o, w in self.cal.origin_weights.items() if o in set(org.focus_origins))
        bias = org.tactic_bias or {}
        groups = []
        for t, share in self.mix.items():
            base = float(bias.get(t, 1.0)) * self.cal.tactic_visibility[t]
            if share > 0 and base > 0:
                if p_focus > 0:
                    groups.append((share * p_focus, base * org.focus_boost))
                if p_focus < 1:
                    groups.append((share * (1 - p_focus), base))
        if not groups:
            return 0.0
        return _detection_scale(tuple(groups), org.coverage, self.config.visibility_shape)

    # -- truth -------------------------------------------------------------------------------
    def _categories(self, origin: str) -> Callable[[], str]:
        draw = self.draw_category.get(origin)
        if draw is None:
            weights = dict(self.cal.persons["categories"])
            for cat, factor in self.cal.persons.get("category_boost", {}).get(origin, {}).items():
                weights[cat] = weights.get(cat, 0.0) * float(factor)
            draw = self.draw_category[origin] = _Sampler(weights).bind(self.rng)
        return draw

    def _new_person(
        self,
        origin: str,
        host: str,
        *,
        categories: list[str] | None = None,
        relative_of: str | None = None,
        in_origin: bool = False,
    ) -> dict[str, Any]:
        self.n_persons += 1
        status = "citizen" if in_origin else self.draw_status()
        if categories is None:
            if relative_of is not None:
                categories = ["relative_of_target"]
            else:
                draw = self._categories(origin)
                categories = [draw()]
                if self.rand() < self.p_second_category:
                    extra = draw()
                    if extra != categories[0]:
                        categories.append(extra)
        return {
            "id": f"T-P{self.n_persons:0{self.width}d}",
            "sex": self.draw_sex(),
            "age_group": self.draw_age(),
            # A citizen of the host country keeps (for this model) the origin nationality too.
            "nationality": [origin, host] if status == "citizen" and not in_origin else [origin],
            "host_status": status,
            "categories": list(categories),
            "relations": [{"type": "relative_of", "person": relative_of}] if relative_of else [],
        }

    def _actor_id(self, kind: str, origin: str, host: str) -> str:
        state = origin if kind in _STATE_ACTORS else host if kind == "host_authority" else None
        actor = self.actors.get((kind, state))
        if actor is None:
            if kind in _STATE_ACTORS:
                country = self.cal.country_name(origin)
                name = self.cal.actor_names.get(origin, {}).get(kind) or (
                    f"{_ACTOR_LABELS[kind]} acting for {country}"
                    if kind.startswith("proxy_")
                    else f"{_ACTOR_LABELS[kind]} of {country}"
                )
            else:
                name = _FIXED_ACTOR_NAMES[kind].format(country=self.cal.country_name(host))
            actor = {
                "id": f"T-X{len(self.actors) + 1:04d}",
                "type": kind,
                "state": state,
                "name": f"{name} (synthetic)",
            }
            self.actors[(kind, state)] = actor
            self.actors_by_id[actor["id"]] = actor
            self.new_actors.append(actor)
        return actor["id"]

    def _involvements(
        self, tactic: str, origin: str, host: str, pretext: str, host_involved: bool, on_exile: bool
    ) -> list[dict[str, str]]:
        rand = self.rand
        # Attribution is sometimes uncertain: an unidentified actor.
        plan = (("unknown", _P),) if rand() < 0.03 else self.draw_plan[tactic]()
        out = [
            {"actor": self._actor_id(kind, origin, host), "degree": degree} for kind, degree in plan
        ]
        for prob, kind, degree in _TACTIC_PROFILES[tactic].extras:
            if (on_exile or kind != "proxy_coerced_relative") and rand() < prob:
                out.append({"actor": self._actor_id(kind, origin, host), "degree": degree})
        if pretext == "red notice":
            out.append({"actor": self._actor_id("international_body", origin, host), "degree": _F})
        if host_involved:
            out.append(
                {
                    "actor": self._actor_id("host_authority", origin, host),
                    "degree": "co_opted_host_authority",
                }
            )
        return out

    def _host_role(self, tactic: str) -> str:
        u = self.rand()
        if tactic in CO_OPTED_HOST_TACTICS:
            return "co_opted" if u < 0.8 else "complicit"
        if tactic == "abduction_rendition":
            return "complicit" if u < 0.3 else "none" if u < 0.75 else "unknown"
        if tactic in PHYSICAL_TACTICS:
            return "none" if u < 0.7 else "unknown"
        return "none" if u < 0.8 else "unknown"

    def _end_date(self, tactic: str, outcome: str, start: dt.date) -> dt.date | None:
        rand = self.rand
        days: int | None = None
        if tactic == "detention_on_request":
            if outcome in ("released", "extradited", "deported", "extradition_refused"):
                days = 2 + int(rand() * 240)
        elif tactic == "unlawful_deportation":
            if rand() < 0.5:
                days = int(rand() * 30)
        elif tactic == "legal_process_abuse":
            if outcome in ("released", "extradition_refused"):
                days = 30 + int(rand() * 370)
        elif tactic == "abduction_rendition":
            if rand() < 0.4:
                days = int(rand() * 10)
        elif tactic in _LONG_RUNNING and rand() < 0.3:
            days = 7 + int(rand() * 175)
        return None if days is None else start + dt.timedelta(days=days)

    def _pick_host_and_target(self, origin: str) -> tuple[str, dict[str, Any] | None]:
        rand = self.rand
        pool = self.pools.get(origin)
        if pool and rand() < self.p_repeat:
            pid = pool[int(rand() * len(pool))]
            return self.live_host[pid], self.live[pid]
        universe = self.cal.host_universe
        if rand() < self.cal.host_spill:
            while True:
                host = universe[int(rand() * len(universe))]
                if host != origin:
                    return host, None
        return self.draw_host[origin](), None

    def _remember(self, person: dict[str, Any], origin: str, host: str) -> None:
        """Put an exile into its origin's pool of possible repeat targets (evicting the
        oldest, who is then never referenced again, also not by the organisations)."""
        pool = self.pools.get(origin)
        if pool is None:
            pool = self.pools[origin] = deque(maxlen=self.POOL_SIZE)
        if len(pool) == self.POOL_SIZE:
            old = pool[0]
            del self.live[old], self.live_host[old]
            for org in self.orgs:
                org.persons.pop(old, None)
        pool.append(person["id"])
        self.live[person["id"]] = person
        self.live_host[person["id"]] = host

    def truth_incident(self, index: int) -> tuple[Record, _Hidden]:
        """Draw true incident number ``index`` (1-based)."""
        rand, cal = self.rand, self.cal
        self.new_actors = []
        tid = f"T-{index:0{self.width}d}"
        year = self.draw_year()
        start = dt.date(year, 1, 1) + dt.timedelta(
            days=int(rand() * (366 if calendar.isleap(year) else 365))
        )
        u = rand()
        precision = "day" if u < 0.85 else "month" if u < 0.96 else "year"
        if precision == "month":
            start = start.replace(day=1)
        elif precision == "year":
            start = start.replace(month=1, day=1)
        origin = self.draw_origin()
        tactic = self.draw_tactic()
        mass = rand() < self.p_mass
        host, repeat = (
            (self.draw_host[origin](), None) if mass else self._pick_host_and_target(origin)
        )

        new_persons: list[dict[str, Any]] = []
        # Targets: (person, is a relative back home in the origin state).
        targets: list[tuple[dict[str, Any], bool]] = []
        in_origin = False
        if mass:
            n = 3
            while n < 15 and rand() < 0.6:
                n += 1
            shared = None  # a group shares its profile (e.g. members of one minority)
            for _ in range(n):
                person = self._new_person(origin, host, categories=shared)
                shared = shared or person["categories"]
                new_persons.append(person)
                targets.append((person, False))
        else:
            if repeat is not None:
                exile = repeat
            else:
                exile = self._new_person(origin, host)
                new_persons.append(exile)
            if tactic == "coercion_by_proxy":
                # Pressure on the exile only (40%), on a relative back home only (35%), or both.
                v = rand()
                if v < 0.40:
                    targets.append((exile, False))
                else:
                    relative = self._new_person(
                        origin, host, relative_of=exile["id"], in_origin=True
                    )
                    new_persons.append(relative)
                    if v < 0.75:
                        in_origin = True
                    else:
                        in_origin = rand() < 0.5
                        targets.append((exile, False))
                    targets.append((relative, True))
            else:
                targets.append((exile, False))
                if rand() < self.p_second_target:  # a family member targeted alongside
                    relative = self._new_person(origin, host, relative_of=exile["id"])
                    new_persons.append(relative)
                    targets.append((relative, False))
            if repeat is None:
                self._remember(exile, origin, host)
        persons = {p["id"]: p for p, _ in targets}
        if not mass:
            persons.setdefault(exile["id"], exile)  # referenced by a relative's relation

        role = "none" if in_origin else self._host_role(tactic)
        host_involved = role in ("co_opted", "complicit")
        pretext = self.draw_pretext[tactic]()
        draw_outcome = self.draw_outcome[tactic]
        companions = self.companions[tactic]
        acts = []
        for k, (person, is_relative) in enumerate(targets, start=1):
            outcome = self.draw_relative_outcome() if is_relative else draw_outcome()
            acts.append(
                {
                    "id": f"{tid}-A{k}",
                    "target": person["id"],
                    "primary_tactic": tactic,
                    "secondary_tactics": [c for c, pc in companions if rand() < pc],
                    "pretext": pretext,
                    "outcome": outcome,
                    "involvements": self._involvements(
                        tactic,
                        origin,
                        host,
                        pretext,
                        host_involved and not is_relative,
                        not is_relative,
                    ),
                }
            )
        first_outcome = acts[0]["outcome"]

        if tactic in DIGITAL_TACTICS:
            country, city, location_type = host, "", "online"
        else:
            country = origin if in_origin else host
            cities = cal.cities[country]
            city = cities[int(rand() * len(cities))]
            if in_origin:
                location_type = self.draw_relative_location()
            else:
                location_type = "unknown" if rand() < 0.03 else self.draw_location[tactic]()
            if rand() < 0.05:
                city = ""

        end = self._end_date(tactic, first_outcome, start) if precision == "day" else None
        sensitive = (
            tactic in ("killing", "abduction_rendition")
            or any(p["age_group"] == "under_18" for p, _ in targets)
            or any(a["outcome"] in ("disappeared", "detained", "abducted") for a in acts)
        )
        relative_only = targets[0][1]
        incident = {
            "id": tid,
            "title": _title(int(rand() * 2), tactic, country, origin, len(acts), cal),
            "summary": _summary(
                tactic,
                first_outcome,
                origin,
                country,
                len(acts),
                targets[0][0]["categories"][0],
                relative_only,
                pretext,
                role,
                cal,
            ),
            "start_date": start.isoformat(),
            "end_date": end.isoformat() if end else None,
            "date_precision": precision,
            "location_country": country,
            "admin_area": "",
            "city": city,
            "location_type": location_type,
            "origin_state": origin,
            # A complicit host state is itself a perpetrator.
            "perpetrator_states": [origin, host] if role == "complicit" else [origin],
            "host_state": host,
            "host_state_role": role,
            "mass_event": len(acts) >= 3,
            "confidence": "confirmed",
            "independent_sources": 0,  # set to the number of organisations that documented it
            "sensitivity": "high"
            if sensitive
            else "medium"
            if tactic in PHYSICAL_TACTICS
            else "low",
            "sharing": "internal",
            "acts": acts,
            "sources": [],
        }
        # Shared visibility (gamma, mean 1) times how visible the tactic is.
        shape = self.config.visibility_shape
        visibility = (
            self.detect_rng.gammavariate(shape, 1.0 / shape) * cal.tactic_visibility[tactic]
        )
        hidden = _Hidden(visibility, tactic, start, end, persons)
        return Record(incident, new_persons, self.new_actors), hidden

    # -- organisation copies -----------------------------------------------------------------
    def _org_person(
        self,
        org: _OrgState,
        person_id: str,
        persons: Mapping[str, dict[str, Any]],
        new: list[dict[str, Any]],
        links: dict[str, str],
    ) -> str:
        oid = org.persons.get(person_id)
        if oid is not None:
            return oid
        rand, miss = org.rand, org.profile.missing_rate
        truth = persons[person_id]
        oid = org.persons[person_id] = org.person_ids.next()
        categories = truth["categories"]
        relations: list[dict[str, str]] = []
        record = {
            "id": oid,
            "sex": "unknown" if rand() < miss / 2 else truth["sex"],
            "age_group": "unknown" if rand() < miss else truth["age_group"],
            "nationality": list(truth["nationality"]),
            "host_status": "unknown" if rand() < miss / 2 else truth["host_status"],
            "categories": categories[:1]
            if len(categories) > 1 and rand() < 0.3
            else list(categories),
            "relations": relations,
        }
        new.append(record)
        links[oid] = person_id
        for rel in truth["relations"]:
            other = self._org_person(org, rel["person"], persons, new, links)
            relations.append({"type": rel["type"], "person": other})
        return oid

    def _org_actor(self, org: _OrgState, actor_id: str, new: list[dict[str, Any]]) -> str:
        oid = org.actors.get(actor_id)
        if oid is None:
            oid = org.actors[actor_id] = f"{org.profile.code}-X{len(org.actors) + 1:04d}"
            truth = self.actors_by_id[actor_id]
            new.append(
                {"id": oid, "type": truth["type"], "state": truth["state"], "name": truth["name"]}
            )
        return oid

    def _confused_tactics(self, org: _OrgState, act: Mapping[str, Any]) -> tuple[str, list[str]]:
        """The act's tactics as an organisation that got them wrong recorded them: another,
        confusable primary tactic with a coherent outcome, or one secondary tactic more or less."""
        tactic, secondary = act["primary_tactic"], list(act["secondary_tactics"])
        rand = org.rand
        options = [
            t for t in _CONFUSABLE.get(tactic, ()) if act["outcome"] in OUTCOMES_BY_TACTIC[t]
        ]
        if options and rand() < 0.5:
            tactic = options[int(rand() * len(options))]
            # Keep the primary the highest-precedence tactic.
            return tactic, [
                s for s in secondary if TACTIC_PRECEDENCE[s] > TACTIC_PRECEDENCE[tactic]
            ]
        if secondary:
            del secondary[int(rand() * len(secondary))]
        else:
            extra = self.companions[tactic]
            if extra:
                secondary.append(extra[int(rand() * len(extra))][0])
        return tactic, secondary

    def org_record(self, org: _OrgState, truth: dict[str, Any], hidden: _Hidden) -> Record:
        rand, prof = org.rand, org.profile
        miss = prof.missing_rate
        persons = hidden.persons
        rid = org.incident_ids.next()
        new_persons: list[dict[str, Any]] = []
        new_actors: list[dict[str, Any]] = []
        person_links: dict[str, str] = {}

        true_acts = truth["acts"]
        if len(true_acts) > 3 and rand() < 0.3:  # knows only some targets of a mass event
            keep = sorted(
                org.rng.sample(range(1, len(true_acts)), 2 + int(rand() * (len(true_acts) - 3)))
            )
            true_acts = [true_acts[0]] + [true_acts[i] for i in keep]
        elif len(true_acts) == 2 and rand() < 0.15:  # did not learn of the second target
            true_acts = true_acts[:1]

        acts = []
        for k, act in enumerate(true_acts, start=1):
            if rand() < prof.tactic_error_rate:
                tactic, secondary = self._confused_tactics(org, act)
            else:
                tactic, secondary = act["primary_tactic"], list(act["secondary_tactics"])
            involvements = []
            for inv in act["involvements"]:
                degree = inv["degree"]
                if degree == _F and rand() < 0.2:
                    continue  # a facilitator this organisation did not learn about
                if degree in (_P, _I) and rand() < miss / 4:
                    degree = "unknown"
                involvements.append(
                    {"actor": self._org_actor(org, inv["actor"], new_actors), "degree": degree}
                )
            acts.append(
                {
                    "id": f"{rid}-A{k}",
                    "target": self._org_person(
                        org, act["target"], persons, new_persons, person_links
                    ),
                    "primary_tactic": tactic,
                    "secondary_tactics": secondary,
                    "pretext": "" if act["pretext"] and rand() < miss else act["pretext"],
                    "outcome": act["outcome"],
                    "involvements": involvements,
                }
            )

        # Dates: shifted, or recorded at a coarser precision (never finer than the truth).
        start, end, precision = hidden.start, hidden.end, truth["date_precision"]
        start_text, end_text = truth["start_date"], truth["end_date"]  # reused when unchanged
        if precision == "day" and rand() < prof.date_noise_rate:
            shift = dt.timedelta(
                days=(1 + int(rand() * prof.date_noise_days)) * (1 if rand() < 0.5 else -1)
            )
            start = start + shift
            end = end + shift if end else None
            start_text, end_text = start.isoformat(), end.isoformat() if end else None
        if precision != "year" and rand() < prof.precision_loss_rate:
            if precision == "day" and rand() < 0.7:
                precision, start = "month", start.replace(day=1)
            else:
                precision, start = "year", start.replace(month=1, day=1)
            start_text = start.isoformat()

        city = truth["city"]
        if city and rand() < prof.typo_rate:
            city = _typo(rand, city)
        elif city and rand() < miss / 3:
            city = ""
        location_type = truth["location_type"]
        if location_type != "online" and rand() < miss / 3:
            location_type = "unknown"
        role = truth["host_state_role"]
        if role == "none" and rand() < miss:
            role = "unknown"

        n_sources = 1
        while n_sources < 5 and rand() < 0.4:
            n_sources += 1
        sources = []
        for k in range(1, 3 if n_sources > 1 and rand() < 0.5 else 2):
            stype = prof.source_type if k == 1 else org.source_type()
            sources.append(
                {
                    "id": f"{rid}-S{k}",
                    "type": stype,
                    "organisation": prof.code,
                    "reference": "synthetic",
                    # Reported about a month later on average (exponential delay).
                    "date": (
                        start + dt.timedelta(days=int(-30.0 * math.log(1.0 - rand())))
                    ).isoformat(),
                    "reliability": RELIABILITY_LEVELS[
                        bisect.bisect_right(_RELIABILITY_CUTS, rand())
                    ],
                    "connection": "first_hand"
                    if stype == "testimony"
                    else "unknown"
                    if rand() < 0.2
                    else "second_hand",
                }
            )
        u = rand()
        if n_sources <= 1:
            confidence = "possible" if u < 0.5 else "probable"
        elif n_sources == 2:
            confidence = "probable" if u < 0.6 else "confirmed"
        else:
            confidence = "confirmed" if u < 0.8 else "probable"

        main = acts[0]["primary_tactic"]
        for a in acts[1:]:
            if TACTIC_PRECEDENCE[a["primary_tactic"]] < TACTIC_PRECEDENCE[main]:
                main = a["primary_tactic"]
        first = acts[0]
        country, origin = truth["location_country"], truth["origin_state"]
        first_target = persons[true_acts[0]["target"]]
        incident = {
            "id": rid,
            "title": _title(int(rand() * 2), main, country, origin, len(acts), self.cal),
            "summary": _summary(
                main,
                first["outcome"],
                origin,
                country,
                len(acts),
                first_target["categories"][0],
                bool(first_target["relations"]) and main == "coercion_by_proxy",
                first["pretext"],
                role,
                self.cal,
            ),
            "start_date": start_text,
            "end_date": end_text,
            "date_precision": precision,
            "location_country": country,
            "admin_area": "",
            "city": city,
            "location_type": location_type,
            "origin_state": origin,
            "perpetrator_states": list(truth["perpetrator_states"]),
            "host_state": truth["host_state"],
            "host_state_role": role,
            "mass_event": truth["mass_event"],
            "confidence": confidence,
            "independent_sources": n_sources,
            "sensitivity": truth["sensitivity"],
            "sharing": "internal" if rand() < 0.1 else prof.sharing,
            "acts": acts,
            "sources": sources,
        }
        return Record(incident, new_persons, new_actors, person_links)

    # -- driver ------------------------------------------------------------------------------
    def run(self) -> Iterator[SimulatedIncident]:
        for index in range(1, self.config.n_incidents + 1):
            truth, hidden = self.truth_incident(index)
            origin = truth.incident["origin_state"]
            documented: dict[str, Record] = {}
            for org in self.orgs:
                p = org.tactic_weight[hidden.tactic] * hidden.visibility
                if origin in org.focus:
                    p *= org.profile.focus_boost
                if org.rand() < min(p, MAX_DETECTION):
                    documented[org.profile.code] = self.org_record(org, truth.incident, hidden)
            truth.incident["independent_sources"] = len(documented)
            # Only pool members can be targeted again: forget the others' organisation ids so
            # that streaming memory stays flat.
            for pid in hidden.persons:
                if pid not in self.live:
                    for org in self.orgs:
                        org.persons.pop(pid, None)
            yield SimulatedIncident(truth, documented)


# Texts depend only on their arguments, so they are cached: fast, and identical texts share
# one string in memory.
@functools.lru_cache(maxsize=1 << 15)
def _title(
    variant: int, tactic: str, country: str, origin: str, n_targets: int, cal: Calibration
) -> str:
    """A short de-identified title."""
    titles = _TITLES[tactic]
    title = titles[variant % len(titles)].format(
        loc=cal.country_name(country), origin=cal.country_name(origin)
    )
    title = title[0].upper() + title[1:]
    return f"{title} ({n_targets} people)" if n_targets >= 3 else title


@functools.lru_cache(maxsize=1 << 16)
def _summary(
    tactic: str,
    outcome: str,
    origin: str,
    country: str,
    n_targets: int,
    category: str,
    relative_only: bool,
    pretext: str,
    role: str,
    cal: Calibration,
) -> str:
    """A de-identified one- or two-sentence summary (categories and countries, no names)."""
    loc, origin_name = cal.country_name(country), cal.country_name(origin)
    plural = n_targets >= 3
    subject = _SUBJECTS[category][1 if plural else 0]
    if plural:
        subject = f"{n_targets} {subject}"
    be = "were" if plural else "was"
    if relative_only:
        text = f"{subject} " + _RELATIVE_VERB.format(be=be, origin=origin_name)
    else:
        text = f"{subject} from {origin_name} " + _VERBS[tactic].format(
            be=be, loc=loc, origin=origin_name
        )
    if pretext:
        text += f" (stated reason: {pretext})"
    text += ". " + _OUTCOME_SENTENCES[outcome].format(
        S="Those targeted" if plural else "The person", be=be, origin=origin_name
    )
    text += _ROLE_SENTENCES.get(role, "")
    return text[0].upper() + text[1:]


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------
def iter_incidents(config: SimulationConfig | None = None) -> Iterator[SimulatedIncident]:
    """Stream the simulation one true incident at a time (same output as ``simulate``).

    Each item holds the true incident and the records of the organisations that documented it;
    each record lists only the persons and actors it introduces, so a consumer that writes
    records in order never sees a person or an actor twice. Memory stays flat: only a bounded
    pool of earlier targets (who may be targeted again) is kept.
    """
    return _Generator(config or SimulationConfig()).run()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic data: its repeated
    scans of the growing heap otherwise cost about 40% of the run (reference counting still
    frees everything; the collector's state is restored afterwards)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def simulate(config: SimulationConfig | None = None) -> Simulation:
    """Run a whole simulation in memory. Deterministic for ``config.seed``."""
    config = config or SimulationConfig()
    truth = Dataset()
    documented = {o.code: Dataset() for o in config.organisations}
    links: dict[tuple[str, str], str] = {}
    person_links: dict[tuple[str, str], str] = {}
    n_undocumented = 0
    with _gc_paused():
        for item in iter_incidents(config):
            truth.add(item.truth)
            tid = item.truth.incident["id"]
            if not item.documented:
                n_undocumented += 1
            for code, record in item.documented.items():
                documented[code].add(record)
                links[(code, record.incident["id"])] = tid
                for oid, pid in record.person_links.items():
                    person_links[(code, oid)] = pid
    return Simulation(truth, documented, links, person_links, n_undocumented, config)
