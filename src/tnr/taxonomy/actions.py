"""Load the vocabulary data files and the ISO country list into the database."""

from __future__ import annotations

from typing import Any

import pycountry
from django.db import transaction

from tnr.taxonomy import vocab
from tnr.taxonomy.models import (
    VOCABULARY_MODELS,
    Country,
    Tactic,
    VocabularyVersion,
)


def country_rows() -> list[tuple[str, str, str]]:
    """(alpha-2, alpha-3, common name) for every ISO 3166-1 country in pycountry."""
    return [
        (c.alpha_2, c.alpha_3, getattr(c, "common_name", None) or c.name)
        for c in pycountry.countries
    ]


@transaction.atomic
def sync_vocabularies() -> dict[str, int]:
    """Upsert every vocabulary term and country; mark vanished codes as retired.

    Codes are never deleted: old records may still point at them.
    """
    counts: dict[str, int] = {}
    for name, vocabulary in vocab.load_all().items():
        model: Any = VOCABULARY_MODELS[name]  # a concrete subclass of the abstract Term
        groups = {g.code: g.label for g in vocabulary.groups}
        seen = []
        for order, term in enumerate(vocabulary.terms, start=1):
            values: dict[str, Any] = {
                "label": term.label,
                "definition": term.definition,
                "examples": list(term.examples),
                "crosswalks": term.crosswalks,
                "order": order,
                "retired": False,
            }
            if hasattr(model, "group"):
                values["group"] = term.group or ""
                values["group_label"] = groups.get(term.group or "", "")
            if model is Tactic:
                values["precedence"] = term.precedence
                values["physical"] = bool(term.extra.get("physical", False))
            seen.append(term.code)
            if model is Tactic:
                # precedence is unique: clear a stale holder before taking its number
                Tactic.objects.filter(precedence=term.precedence).exclude(code=term.code).update(
                    precedence=None
                )
            model.objects.update_or_create(code=term.code, defaults=values)
        model.objects.exclude(code__in=seen).update(retired=True)
        VocabularyVersion.objects.update_or_create(
            name=name, defaults={"version": vocabulary.version, "title": vocabulary.title}
        )
        counts[name] = len(seen)
    existing = set(Country.objects.values_list("code", flat=True))
    new = [Country(code=a2, alpha3=a3, name=n) for a2, a3, n in country_rows() if a2 not in existing]
    Country.objects.bulk_create(new)
    counts["country"] = Country.objects.count()
    return counts


def sync_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """post_migrate hook: a fresh database always has the current vocabularies."""
    # nothing was migrated in this run and the tables are already filled
    if kwargs.get("plan") is not None and not kwargs.get("plan") and VocabularyVersion.objects.using(using).exists():
        return
    sync_vocabularies()
