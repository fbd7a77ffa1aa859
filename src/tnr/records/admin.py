"""Admin pages for incident records.

The admin is an administrators' tool for fixing records by hand; caseworkers use the staff
pages. Staff users who are not superusers see only the records of organisations they are a
member of (the same need-to-know rule as ``tnr.records.queries``). Person identities are
sealed and never appear here: ``identity_sealed`` is not editable and not shown.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

from tnr.accounts.models import Organisation
from tnr.records.models import (
    Act,
    Actor,
    Consent,
    Incident,
    Involvement,
    Person,
    PersonRelation,
    Source,
)
from tnr.records.queries import organisations_for


class OrganisationScopedAdmin(admin.ModelAdmin):
    """Restricts a non-superuser to records of their own organisations."""

    organisation_path = "organisation"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            **{f"{self.organisation_path}__in": organisations_for(request.user, "view")}
        )

    def _may_change(self, request: HttpRequest, obj: Any) -> bool:
        """Django's model permission is not enough: the role in the record's organisation must
        allow changes too (an analyst with ``change_incident`` still changes nothing)."""
        if request.user.is_superuser:
            return True
        if obj is None:
            return organisations_for(request.user, "change").exists()
        org_id = obj
        for part in self.organisation_path.split("__"):
            org_id = getattr(org_id, part)
        return organisations_for(request.user, "change").filter(pk=getattr(org_id, "pk", org_id)).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_change(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_change(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._may_change(request, None)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.related_model is Organisation and not request.user.is_superuser:
            kwargs["queryset"] = organisations_for(request.user, "change")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ActInline(admin.TabularInline):
    model = Act
    extra = 0
    fields = ("external_id", "target", "primary_tactic", "pretext", "outcome")
    autocomplete_fields = ("target",)
    show_change_link = True  # secondary tactics and involvements are edited on the act


class SourceInline(admin.TabularInline):
    model = Source
    extra = 0
    fields = (
        "external_id", "type", "documenting_organisation", "reference", "date",
        "reliability", "connection",
    )


@admin.register(Incident)
class IncidentAdmin(OrganisationScopedAdmin):
    list_display = (
        "external_id", "title", "organisation", "start_date", "origin_state", "host_state",
        "confidence", "sharing", "synthetic",
    )
    list_filter = ("organisation", "confidence", "sharing", "sensitivity", "synthetic", "date_precision")
    search_fields = ("external_id", "title", "summary", "city")
    date_hierarchy = "start_date"
    list_select_related = ("organisation", "origin_state", "host_state")
    autocomplete_fields = ("location_country", "origin_state", "host_state", "perpetrator_states")
    readonly_fields = ("uid", "created_at", "updated_at")
    inlines = (ActInline, SourceInline)
    fieldsets = (
        (None, {"fields": ("organisation", "external_id", "uid", "title", "summary", "synthetic")}),
        ("When", {"fields": ("start_date", "end_date", "date_precision")}),
        ("Where", {"fields": ("location_country", "admin_area", "city", "location_type")}),
        ("States", {"fields": ("origin_state", "perpetrator_states", "host_state", "host_state_role")}),
        ("Assessment", {"fields": (
            "mass_event", "confidence", "independent_sources", "sensitivity", "sharing",
        )}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )


class InvolvementInline(admin.TabularInline):
    model = Involvement
    extra = 0
    autocomplete_fields = ("actor",)


@admin.register(Act)
class ActAdmin(OrganisationScopedAdmin):
    organisation_path = "incident__organisation"
    list_display = ("external_id", "incident", "primary_tactic", "target", "outcome")
    list_filter = ("primary_tactic", "outcome")
    search_fields = ("external_id", "incident__external_id", "incident__title", "pretext")
    list_select_related = ("incident", "primary_tactic", "target", "outcome")
    autocomplete_fields = ("incident", "target")
    filter_horizontal = ("secondary_tactics",)
    inlines = (InvolvementInline,)


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0


class PersonRelationInline(admin.TabularInline):
    model = PersonRelation
    fk_name = "person"
    extra = 0
    autocomplete_fields = ("related",)


@admin.register(Person)
class PersonAdmin(OrganisationScopedAdmin):
    list_display = ("external_id", "organisation", "sex", "age_group", "host_status")
    list_filter = ("organisation", "sex", "age_group", "host_status", "categories")
    search_fields = ("external_id",)
    list_select_related = ("organisation",)
    autocomplete_fields = ("nationality",)
    filter_horizontal = ("categories",)
    inlines = (ConsentInline, PersonRelationInline)


@admin.register(Actor)
class ActorAdmin(OrganisationScopedAdmin):
    list_display = ("external_id", "organisation", "type", "state", "name")
    list_filter = ("organisation", "type")
    search_fields = ("external_id", "name")
    list_select_related = ("organisation", "type", "state")
    autocomplete_fields = ("state",)


@admin.register(Source)
class SourceAdmin(OrganisationScopedAdmin):
    organisation_path = "incident__organisation"
    list_display = ("external_id", "incident", "type", "documenting_organisation", "date", "reliability")
    list_filter = ("type", "reliability", "connection")
    search_fields = ("external_id", "reference", "documenting_organisation", "incident__external_id")
    list_select_related = ("incident", "type")
    autocomplete_fields = ("incident",)
