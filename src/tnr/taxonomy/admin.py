"""Admin pages for the vocabularies: read-only.

The versioned data files in ``tnr/taxonomy/data`` (and the ``pycountry`` package, for
countries) are the source of truth; the tables are a loaded copy, refreshed by
``sync_vocabularies()`` after every migrate. An edit made here would silently diverge from
the files other organisations align with, and would be overwritten at the next sync. So the
admin lets administrators read codes, definitions and crosswalks, but not add, change or
delete them: change the data file, bump its version and run the sync instead.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from tnr.taxonomy.models import (
    ActorType,
    Country,
    LocationType,
    Outcome,
    SourceType,
    Tactic,
    TargetCategory,
    VocabularyVersion,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: the data files, not the admin, change vocabularies (see module docstring)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TermAdmin(ReadOnlyAdmin):
    """A vocabulary term; subclasses add the columns of their own vocabulary."""

    search_fields = ("code", "label", "definition")
    readonly_fields = ("pretty_examples", "pretty_crosswalks")
    exclude = ("examples", "crosswalks")

    @admin.display(description="Examples")
    def pretty_examples(self, obj: Any) -> str:
        return format_html("<pre>{}</pre>", "\n".join(f"• {e}" for e in obj.examples or []))

    @admin.display(description="Crosswalks")
    def pretty_crosswalks(self, obj: Any) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.crosswalks or {}, indent=2, ensure_ascii=False)
        )


@admin.register(Tactic)
class TacticAdmin(TermAdmin):
    list_display = ("code", "label", "group_label", "precedence", "physical", "retired")
    list_filter = ("group_label", "physical", "retired")
    ordering = ("precedence", "code")


@admin.register(ActorType)
class ActorTypeAdmin(TermAdmin):
    list_display = ("code", "label", "group_label", "order", "retired")
    list_filter = ("group_label", "retired")
    ordering = ("order", "code")


@admin.register(TargetCategory, Outcome, LocationType, SourceType)
class PlainTermAdmin(TermAdmin):
    list_display = ("code", "label", "order", "retired")
    list_filter = ("retired",)
    ordering = ("order", "code")


@admin.register(Country)
class CountryAdmin(ReadOnlyAdmin):
    list_display = ("code", "alpha3", "name")
    search_fields = ("code", "alpha3", "name")


@admin.register(VocabularyVersion)
class VocabularyVersionAdmin(ReadOnlyAdmin):
    list_display = ("name", "version", "title", "loaded_at")
    search_fields = ("name", "title")
