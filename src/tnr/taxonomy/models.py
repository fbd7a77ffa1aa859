"""Vocabulary tables, filled from the versioned data files in ``taxonomy/data``.

The data files are the source of truth; these tables exist so that records can point at codes
with real foreign keys (the database itself refuses an unknown tactic or country) and so that
administrators can read definitions and crosswalks in the Django admin. Codes are primary keys,
so a record's column holds the plain code ("killing", "TR") and exports need no join.
"""

from __future__ import annotations

from django.db import models


class VocabularyVersion(models.Model):
    """Which version of each vocabulary file is loaded into the database."""

    name = models.CharField(max_length=40, primary_key=True)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    loaded_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class Term(models.Model):
    code = models.CharField(max_length=40, primary_key=True)
    label = models.CharField(max_length=200)
    definition = models.TextField()
    examples = models.JSONField(default=list, blank=True)
    crosswalks = models.JSONField(default=dict, blank=True)
    order = models.PositiveIntegerField(default=0)
    retired = models.BooleanField(
        default=False, help_text="Dropped from the current vocabulary file; kept for old records."
    )

    class Meta:
        abstract = True
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.label


class Tactic(Term):
    group = models.CharField(max_length=40)
    group_label = models.CharField(max_length=200)
    precedence = models.PositiveIntegerField(unique=True, null=True)
    physical = models.BooleanField(default=False)

    class Meta(Term.Meta):
        ordering = ["precedence", "code"]


class TargetCategory(Term):
    class Meta(Term.Meta):
        verbose_name_plural = "target categories"


class ActorType(Term):
    group = models.CharField(max_length=40)
    group_label = models.CharField(max_length=200)


class Outcome(Term):
    pass


class LocationType(Term):
    pass


class SourceType(Term):
    pass


class Country(models.Model):
    """ISO 3166-1 countries, loaded from the maintained ``pycountry`` package."""

    code = models.CharField(max_length=2, primary_key=True, help_text="ISO 3166-1 alpha-2")
    alpha3 = models.CharField(max_length=3, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "countries"

    def __str__(self) -> str:
        return self.name


VOCABULARY_MODELS: dict[str, type[Term]] = {
    "tactic": Tactic,
    "target_category": TargetCategory,
    "actor_type": ActorType,
    "outcome": Outcome,
    "location_type": LocationType,
    "source_type": SourceType,
}
