"""Search the protection mechanisms directory: who could help this person?

``find_mechanisms`` is a plain function with no user, request or session: the staff search page
calls it, and so does the anonymous self-assessment in the reporter zone. It reads only
public directory entries and writes nothing.

Which entries match
    only active entries; with a country, those serving that country or worldwide; with needs,
    those serving at least one of them; with profiles, those open to any profile or to at least
    one of them; with a language, those listing it or listing no language at all (an entry
    whose languages were never recorded may well work in it: hiding it would hide help).

How they are ranked
    1. serving the country specifically before serving it as part of "worldwide";
    2. more of the needs matched before fewer;
    3. listing the language before not having languages recorded;
    4. listing one of the profiles before being open to any profile;
    5. by name.

The directory is small (tens to a few thousand entries): country and profile narrow the query in
the database, the rest is decided in Python over the remaining rows, which keeps the ranking
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

from tnr.cases.choices import Need
from tnr.cases.languages import language_names
from tnr.cases.models import ProtectionMechanism
from tnr.taxonomy.models import Country, TargetCategory


@dataclass(frozen=True)
class Match:
    """One mechanism found for a search, with why it matched (for display and ranking)."""

    mechanism: ProtectionMechanism
    country_specific: bool
    needs_matched: tuple[str, ...]
    language_listed: bool
    profile_specific: bool

    @property
    def needs_matched_labels(self) -> list[str]:
        return [Need(code).label for code in self.needs_matched]

    def sort_key(self) -> tuple[int, int, int, int, str, int]:
        return (
            0 if self.country_specific else 1,
            -len(self.needs_matched),
            0 if self.language_listed else 1,
            0 if self.profile_specific else 1,
            self.mechanism.name.casefold(),
            self.mechanism.pk,
        )


class UnknownCode(ValueError):
    """A search named a country, need, profile or language code that does not exist."""


def _check_codes(
    country: str | None, needs: Sequence[str], profile: Sequence[str], language: str | None
) -> None:
    if country is not None and not Country.objects.filter(pk=country).exists():
        raise UnknownCode(f"unknown country code {country!r}")
    unknown = [n for n in needs if n not in Need.values]
    if unknown:
        raise UnknownCode(f"unknown need {', '.join(unknown)}")
    if profile:
        known = set(TargetCategory.objects.filter(pk__in=profile).values_list("pk", flat=True))
        missing = [p for p in profile if p not in known]
        if missing:
            raise UnknownCode(f"unknown profile {', '.join(missing)}")
    if language is not None and language not in language_names():
        raise UnknownCode(f"unknown language code {language!r}")


def _clean(codes: Iterable[str] | None, *, upper: bool = False) -> list[str]:
    out = []
    for code in codes or ():
        code = code.strip()
        code = code.upper() if upper else code.lower()
        if code and code not in out:
            out.append(code)
    return out


def find_mechanisms(
    *,
    country: str | None = None,
    needs: Sequence[str] = (),
    profile: Sequence[str] = (),
    language: str | None = None,
) -> list[Match]:
    """Active mechanisms fitting a person's country, needs, profiles and language, best first.

    ``country`` is an ISO 3166-1 alpha-2 code (where the person is now), ``needs`` codes of
    ``tnr.cases.choices.Need``, ``profile`` target category codes ("journalist"...),
    ``language`` an ISO 639-1 code. Empty or None means "no condition". Raises ``UnknownCode``
    (a ValueError) for a code that does not exist, rather than quietly finding nothing.
    """
    country = (country or "").strip().upper() or None
    language = (language or "").strip().lower() or None
    wanted_needs = _clean(needs)
    profiles = _clean(profile)
    _check_codes(country, wanted_needs, profiles, language)

    queryset: QuerySet[ProtectionMechanism] = ProtectionMechanism.objects.filter(active=True)
    through_countries = ProtectionMechanism.countries.through.objects
    through_profiles = ProtectionMechanism.profiles.through.objects
    country_specific_ids: set[int] = set()
    if country:
        serving = through_countries.filter(country_id=country).values_list(
            "protectionmechanism_id", flat=True
        )
        country_specific_ids = set(serving)
        queryset = queryset.filter(Q(worldwide=True) | Q(pk__in=country_specific_ids))
    profile_specific_ids: set[int] = set()
    if profiles:
        open_to = through_profiles.filter(targetcategory_id__in=profiles).values_list(
            "protectionmechanism_id", flat=True
        )
        profile_specific_ids = set(open_to)
        queryset = queryset.filter(Q(any_profile=True) | Q(pk__in=profile_specific_ids))
    queryset = queryset.prefetch_related(
        Prefetch("countries", queryset=Country.objects.order_by("name")),
        Prefetch("profiles", queryset=TargetCategory.objects.order_by("order", "code")),
    )

    matches = []
    for mechanism in queryset:
        matched = tuple(n for n in mechanism.needs if n in wanted_needs)
        if wanted_needs and not matched:
            continue
        listed = bool(language) and language in mechanism.languages
        if language and mechanism.languages and not listed:
            continue
        matches.append(
            Match(
                mechanism=mechanism,
                country_specific=mechanism.pk in country_specific_ids,
                needs_matched=matched,
                language_listed=listed,
                profile_specific=mechanism.pk in profile_specific_ids,
            )
        )
    matches.sort(key=Match.sort_key)
    return matches
