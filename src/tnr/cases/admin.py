"""The directory in the Django admin: read-only.

Entries change only through the staff pages, the CSV importer and the seed (all of which go
through ``tnr.cases.actions`` and its checks); the admin's own forms would bypass the rules
the database cannot enforce, such as "worldwide or at least one country".
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tnr.cases.models import ProtectionMechanism


@admin.register(ProtectionMechanism)
class ProtectionMechanismAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "worldwide", "active", "last_verified", "updated_at")
    list_filter = ("kind", "active", "worldwide")
    search_fields = ("name", "notes", "source")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
