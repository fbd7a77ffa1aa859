"""The rules every directory entry obeys, checked in one place.

Web forms, the CSV importer and the seed loader all turn their input into a ``MechanismData``
and hand it to ``check_mechanism``; only then does an action write it. Rules the database can
enforce (kind, https website, unique name) are also CHECK/UNIQUE constraints on the model;
the rest (a many-to-many relation or JSON list cannot be CHECKed portably) live only here.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone

from tnr.cases.choices import MechanismKind, Need
from tnr.cases.languages import clean_languages
from tnr.cases.models import NAME_MAX, URL_MAX, ProtectionMechanism
from tnr.taxonomy.models import Country, TargetCategory

TEXT_MAX = 10_000

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class MechanismData:
    """The values of one directory entry, as an action receives them.

    ``countries`` are ISO 3166-1 alpha-2 codes, ``profiles`` target category codes,
    ``languages`` ISO 639-1 codes and ``needs`` codes of ``Need``.
    """

    name: str
    kind: str
    needs: tuple[str, ...] = ()
    worldwide: bool = False
    countries: tuple[str, ...] = ()
    any_profile: bool = False
    profiles: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    website: str = ""
    safe_contact: str = ""
    notes: str = ""
    last_verified: datetime.date | None = None
    verification_note: str = ""
    source: str = ""
    active: bool = True

    def normalised(self) -> MechanismData:
        """Whitespace trimmed, codes in their canonical case, duplicates dropped."""
        needs = {code.strip().lower() for code in self.needs if code.strip()}
        # Known needs in vocabulary order (so exports are stable), unknown ones after, sorted.
        ordered_needs = [n for n in Need.values if n in needs] + sorted(needs - set(Need.values))
        website = self.website.strip()
        if website[:8].lower() == "https://":
            website = "https://" + website[8:]
        return dataclasses.replace(
            self,
            name=" ".join(self.name.split()),
            kind=self.kind.strip().lower(),
            needs=tuple(ordered_needs),
            countries=_unique(code.strip().upper() for code in self.countries),
            profiles=_unique(code.strip().lower() for code in self.profiles),
            languages=_unique(code.strip().lower() for code in self.languages),
            website=website,
            safe_contact=self.safe_contact.strip(),
            notes=self.notes.strip(),
            verification_note=self.verification_note.strip(),
            source=self.source.strip(),
        )

    @classmethod
    def from_mechanism(cls, mechanism: ProtectionMechanism) -> MechanismData:
        return cls(
            name=mechanism.name,
            kind=mechanism.kind,
            needs=tuple(mechanism.needs),
            worldwide=mechanism.worldwide,
            countries=tuple(sorted(c.pk for c in mechanism.countries.all())),
            any_profile=mechanism.any_profile,
            profiles=tuple(sorted(p.pk for p in mechanism.profiles.all())),
            languages=tuple(mechanism.languages),
            website=mechanism.website,
            safe_contact=mechanism.safe_contact,
            notes=mechanism.notes,
            last_verified=mechanism.last_verified,
            verification_note=mechanism.verification_note,
            source=mechanism.source,
            active=mechanism.active,
        )


def _unique(codes: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(code for code in codes if code))


@dataclass
class CheckContext:
    """Vocabulary codes looked up once for a batch (an import checks many rows)."""

    countries: set[str] = field(default_factory=set)
    profiles: set[str] = field(default_factory=set)
    retired_profiles: set[str] = field(default_factory=set)

    @classmethod
    def load(cls) -> CheckContext:
        profiles = dict(TargetCategory.objects.values_list("code", "retired"))
        return cls(
            countries=set(Country.objects.values_list("code", flat=True)),
            profiles={code for code, retired in profiles.items() if not retired},
            retired_profiles={code for code, retired in profiles.items() if retired},
        )


_HTTPS_URL = URLValidator(schemes=["https"])


def check_website(url: str) -> str | None:
    """Why ``url`` cannot be a mechanism's website, or None when it can (or is empty)."""
    if not url:
        return None
    if len(url) > URL_MAX:
        return f"is {len(url)} characters long; at most {URL_MAX}"
    if url[:7].lower() == "http://":
        return (
            f"{url!r} uses plain http://; give the https:// address (plain http can be watched "
            "or altered on the way, which can put a person at risk)"
        )
    if url[:8].lower() != "https://":
        return f"{url!r} is not a web address starting with https://"
    try:
        _HTTPS_URL(url)
    except ValidationError:
        return f"{url!r} is not a valid https:// web address"
    return None


def _codes(codes: Iterable[str]) -> str:
    return ", ".join(repr(c) for c in codes)


def check_mechanism(
    data: MechanismData,
    *,
    instance: ProtectionMechanism | None = None,
    context: CheckContext | None = None,
    today: datetime.date | None = None,
) -> Problems:
    """Every rule ``data`` breaks, as (field, message) pairs; empty when it may be saved.

    ``data`` must be ``normalised()``. ``instance`` is the entry being changed (its own name
    does not count as taken).
    """
    ctx = context or CheckContext.load()
    today = today or timezone.localdate()
    problems: Problems = []

    def add(name: str, message: str) -> None:
        problems.append((name, message))

    if not data.name:
        add("name", "required value is empty")
    elif len(data.name) > NAME_MAX:
        add("name", f"is {len(data.name)} characters long; at most {NAME_MAX}")
    else:
        taken = ProtectionMechanism.objects.filter(name__iexact=data.name)
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            add("name", f"another entry is already called {data.name!r}")

    if data.kind not in MechanismKind.values:
        add("kind", f"unknown kind {data.kind!r}; one of: {', '.join(MechanismKind.values)}")

    unknown_needs = [n for n in data.needs if n not in Need.values]
    if unknown_needs:
        add("needs", f"unknown need {_codes(unknown_needs)}; the needs are: {', '.join(Need.values)}")
    elif not data.needs:
        add("needs", f"give at least one need served: {', '.join(Need.values)}")

    if data.worldwide and data.countries:
        add("countries", "either worldwide or a list of countries, not both")
    elif not data.worldwide and not data.countries:
        add("countries", "give the countries served (ISO 3166-1 alpha-2 codes) or worldwide")
    unknown_countries = [c for c in data.countries if c not in ctx.countries]
    if unknown_countries:
        add("countries", f"unknown country code {_codes(unknown_countries)} (use ISO 3166-1 alpha-2, e.g. 'DE')")

    if data.any_profile and data.profiles:
        add("profiles", "either any profile or a list of profiles, not both")
    elif not data.any_profile and not data.profiles:
        add("profiles", "give the eligible profiles (target category codes) or any")
    retired = [p for p in data.profiles if p in ctx.retired_profiles]
    unknown_profiles = [p for p in data.profiles if p not in ctx.profiles and p not in retired]
    if unknown_profiles:
        add("profiles", f"unknown profile {_codes(unknown_profiles)}; the profiles are: {', '.join(sorted(ctx.profiles))}")
    if retired:
        add("profiles", f"profile {_codes(retired)} is retired from the vocabulary; use a current one")

    _valid, unknown_languages = clean_languages(data.languages)
    if unknown_languages:
        add("languages", f"unknown language code {_codes(unknown_languages)} (use ISO 639-1 two-letter codes, e.g. 'en', 'ar')")

    website_problem = check_website(data.website)
    if website_problem:
        add("website", website_problem)

    if data.last_verified is not None and data.last_verified > today:
        add("last_verified", f"{data.last_verified.isoformat()} is in the future")

    if not data.source:
        add("source", "required: say where the facts of this entry were checked")

    for name in ("safe_contact", "notes", "verification_note", "source"):
        value: Any = getattr(data, name)
        if len(value) > TEXT_MAX:
            add(name, f"is {len(value):,} characters long; at most {TEXT_MAX:,}")
    return problems


def problems_as_error(problems: Problems) -> ValidationError:
    """The problems as a Django ValidationError keyed by field, for forms and callers."""
    errors: dict[str, list[str]] = {}
    for name, message in problems:
        errors.setdefault(name, []).append(message)
    return ValidationError(errors)
