"""Admin pages of the core app: the audit log, read-only.

Nobody adds, changes or deletes audit entries or chain heads here (the model and database
triggers would refuse anyway). Superusers see every chain; other staff users only the
entries of organisations they administer, as on the staff audit page.

``AuditedModelAdmin`` is a base for other apps' admin classes: it records create, change
and delete done through the admin in the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import Model, QuerySet
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest

from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.core.models import AuditChain, AuditEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organisation_id", "seq", "actor_username", "action", "object_type", "object_id", "summary")
    list_filter = ("action", "object_type")
    search_fields = ("=object_id", "=actor_username")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    show_full_result_count = False  # COUNT(*) over millions of entries on every page
    fields = ("organisation", "seq", "created_at", "actor", "actor_username", "action", "object_type",
              "object_id", "summary", "data", "prev_hash", "hash", "intact")  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(organisation_id__in=audit.administered_organisations(request.user).values("pk"))

    @admin.display(boolean=True, description="matches its hash")
    def intact(self, entry: AuditEntry) -> bool:
        return entry.intact


@admin.register(AuditChain)
class AuditChainAdmin(ReadOnlyAdmin):
    list_display = ("key", "length", "head_hash", "created_at")
    fields = ("key", "organisation", "length", "head_hash", "created_at")
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


def _changed_fields(form: ModelForm) -> list[str]:
    return sorted(form.changed_data)


class AuditedModelAdmin(admin.ModelAdmin):
    """Records additions, changes (with the names of the fields changed) and deletions.

    The admin already wraps each add, change and delete view in a transaction; the entry is
    written inside it, so a change that fails leaves no entry. Only field *names* are
    recorded, never values: values may be personal data.
    """

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            audit.record(request.user, AuditAction.CHANGE, obj, summary="Changed in the admin",
                         data={"fields": _changed_fields(form)})  # fmt: skip
        else:
            audit.record(request.user, AuditAction.CREATE, obj, summary="Created in the admin")

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseFormSet, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        for obj in getattr(formset, "new_objects", []):
            audit.record(request.user, AuditAction.CREATE, obj, organisation=_organisation_of(form.instance),
                         summary="Created in the admin")  # fmt: skip
        for obj, fields in getattr(formset, "changed_objects", []):
            audit.record(request.user, AuditAction.CHANGE, obj, organisation=_organisation_of(form.instance),
                         summary="Changed in the admin", data={"fields": sorted(fields)})  # fmt: skip
        for obj in getattr(formset, "deleted_objects", []):
            audit.record(request.user, AuditAction.DELETE, obj, organisation=_organisation_of(form.instance),
                         summary="Deleted in the admin")  # fmt: skip

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        # Recorded first: after deletion the object no longer has a primary key.
        audit.record(request.user, AuditAction.DELETE, obj, summary="Deleted in the admin")
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The "delete selected" action is not wrapped in a transaction by the admin.
        with transaction.atomic():
            for obj in queryset:
                audit.record(request.user, AuditAction.DELETE, obj, summary="Deleted in the admin")
            super().delete_queryset(request, queryset)


def _organisation_of(obj: Model) -> int | None:
    """The organisation of an inline's parent (an act's incident, say), for inline objects
    that have none of their own."""
    return getattr(obj, "organisation_id", None)
