"""Filtering and full-text search of incident lists.

The form validates the query string once, at the edge; ``filter_incidents`` then applies
clean values to an (already permission-restricted) queryset. Filters that reach through a
multi-valued relation (acts, their tactics and targets, sources) are written as ``pk__in``
subqueries instead of joins: a join would repeat an incident once per matching act and force a
``.distinct()`` over the whole (wide) incident row, for the count and for every page. With
subqueries every filter returns each incident at most once, so no ``.distinct()`` is needed.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db import connection
from django.db.models import Q, QuerySet

from tnr.records import choices as c
from tnr.records.models import Act, Incident, Source
from tnr.taxonomy.models import Country, Tactic, TargetCategory

MIN_YEAR = 1900
MAX_YEAR = 2100
MAX_SEARCH_WORDS = 12
_WORD = re.compile(r"\w+")


def tactic_group_choices() -> list[tuple[str, str]]:
    """(group code, group label) of the tactic vocabulary, in precedence order."""
    groups: dict[str, str] = {}
    for group, label in Tactic.objects.order_by("precedence", "code").values_list(
        "group", "group_label"
    ):
        if group and group not in groups:
            groups[group] = label or group
    return list(groups.items())


class CountryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.code})"


class IncidentFilterForm(forms.Form):
    """The filters of the incident list; every field is optional (GET form, no JavaScript)."""

    q = forms.CharField(
        label="Search", required=False, max_length=200, strip=True,
        help_text="Words in the title, summary, city, pretext or source reference.",
    )
    year_from = forms.IntegerField(
        label="Year from", required=False, min_value=MIN_YEAR, max_value=MAX_YEAR
    )
    year_to = forms.IntegerField(
        label="Year to", required=False, min_value=MIN_YEAR, max_value=MAX_YEAR
    )
    origin = CountryChoiceField(
        label="Origin state", required=False, queryset=Country.objects.none(),
        empty_label="Any origin", to_field_name="code",
    )
    host = CountryChoiceField(
        label="Host state", required=False, queryset=Country.objects.none(),
        empty_label="Any host", to_field_name="code",
    )
    tactic_group = forms.ChoiceField(label="Tactic group", required=False)
    target_category = forms.ModelChoiceField(
        label="Target category", required=False, queryset=TargetCategory.objects.none(),
        empty_label="Any category", to_field_name="code",
    )
    confidence = forms.ChoiceField(
        label="Confidence", required=False,
        choices=[("", "Any confidence"), *c.Confidence.choices],
    )

    def __init__(self, *args: Any, incidents: QuerySet[Incident], **kwargs: Any) -> None:
        """``incidents`` is what the user may see: country menus list only countries in it."""
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["origin"].queryset = Country.objects.filter(
            code__in=incidents.values("origin_state_id")
        )
        fields["host"].queryset = Country.objects.filter(
            code__in=incidents.values("host_state_id")
        )
        fields["tactic_group"].choices = [("", "Any tactic group"), *tactic_group_choices()]
        fields["target_category"].queryset = TargetCategory.objects.all()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        year_from, year_to = data.get("year_from"), data.get("year_to")
        if year_from is not None and year_to is not None and year_from > year_to:
            raise forms.ValidationError(
                "“Year from” (%(year_from)s) is after “year to” (%(year_to)s).",
                code="year_order",
                params={"year_from": year_from, "year_to": year_to},
            )
        return data

    @property
    def is_filtered(self) -> bool:
        return self.is_bound and any(
            value not in (None, "") for value in getattr(self, "cleaned_data", {}).values()
        )


def filter_incidents(incidents: QuerySet[Incident], data: dict[str, Any]) -> QuerySet[Incident]:
    """Apply the cleaned values of an ``IncidentFilterForm`` to ``incidents``."""
    if data.get("year_from") is not None:
        incidents = incidents.filter(start_date__year__gte=data["year_from"])
    if data.get("year_to") is not None:
        incidents = incidents.filter(start_date__year__lte=data["year_to"])
    if data.get("origin"):
        incidents = incidents.filter(origin_state=data["origin"])
    if data.get("host"):
        incidents = incidents.filter(host_state=data["host"])
    if data.get("confidence"):
        incidents = incidents.filter(confidence=data["confidence"])
    if data.get("tactic_group"):
        group = data["tactic_group"]
        acts = Act.objects.filter(
            Q(primary_tactic__group=group) | Q(secondary_tactics__group=group)
        )
        incidents = incidents.filter(pk__in=acts.values("incident_id"))
    if data.get("target_category"):
        acts = Act.objects.filter(target__categories=data["target_category"])
        incidents = incidents.filter(pk__in=acts.values("incident_id"))
    if data.get("q"):
        incidents = search_incidents(incidents, data["q"])
    return incidents


def search_words(text: str) -> list[str]:
    """The words of a search: whitespace-separated, lower-cased, without duplicates.

    Tokens without any letter or digit (a lone "-" or quote) are dropped; at most
    MAX_SEARCH_WORDS are kept, which bounds the size of the query.
    """
    words = [w.lower() for w in text.split() if _WORD.search(w)]
    return list(dict.fromkeys(words))[:MAX_SEARCH_WORDS]


def _tsquery_term(word: str) -> str:
    """``word`` as a quoted, prefix-matching tsquery operand: 'o''brien':*

    Inside quotes only the quote and the backslash are special, so escaping those two makes
    any input a well-formed operand; PostgreSQL then splits it with the same parser as the
    documents ("2021/445" stays one token, "o'brien" becomes a phrase).
    """
    escaped = word.replace("\\", "\\\\").replace("'", "''")
    return f"'{escaped}':*"


def search_incidents(incidents: QuerySet[Incident], text: str) -> QuerySet[Incident]:
    """Incidents matching every word of ``text`` in any searchable field.

    Searchable: title, summary, city, the pretexts of the incident's acts and the references
    of its sources. A word matches as a prefix on PostgreSQL ("terror" finds "terrorism") and
    as a substring elsewhere. An incident matches when each word is found somewhere in it,
    not necessarily all in the same field.
    """
    words = search_words(text)
    if not words:
        return incidents
    if connection.vendor == "postgresql":
        return _search_postgresql(incidents, words)
    return _search_portable(incidents, words)


def _search_portable(incidents: QuerySet[Incident], words: list[str]) -> QuerySet[Incident]:
    for word in words:
        incidents = incidents.filter(
            Q(title__icontains=word)
            | Q(summary__icontains=word)
            | Q(city__icontains=word)
            | Q(pk__in=Act.objects.filter(pretext__icontains=word).values("incident_id"))
            | Q(pk__in=Source.objects.filter(reference__icontains=word).values("incident_id"))
        )
    return incidents


def _search_postgresql(incidents: QuerySet[Incident], words: list[str]) -> QuerySet[Incident]:
    # Imported here: django.contrib.postgres needs psycopg, and is not in INSTALLED_APPS
    # (the project also runs on SQLite). SearchVector/SearchQuery work without the app.
    from django.contrib.postgres.aggregates import StringAgg
    from django.contrib.postgres.search import SearchQuery, SearchVector
    from django.db.models import OuterRef, Subquery, TextField, Value
    from django.db.models.functions import Coalesce

    def joined(model: type[Act] | type[Source], field: str) -> Coalesce:
        texts = (
            model.objects.filter(incident=OuterRef("pk"))
            .order_by()
            .values("incident")
            .annotate(text=StringAgg(field, delimiter=" "))
            .values("text")
        )
        return Coalesce(Subquery(texts), Value(""), output_field=TextField())

    # The "simple" configuration: records are written in many languages, so no stemming
    # or stop words of one language. Every word must match, as a prefix.
    document = SearchVector(
        "title", "summary", "city", joined(Act, "pretext"), joined(Source, "reference"),
        config="simple",
    )
    query = SearchQuery(
        " & ".join(_tsquery_term(w) for w in words), config="simple", search_type="raw"
    )
    return incidents.alias(document=document).filter(document=query)
