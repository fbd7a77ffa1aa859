"""Admin pages for organisations, their members, invitations and sign-in locks.

Memberships and invitations are read-only here: they change only through the Members page
(``tnr.accounts.actions``), so that a removal always ends the member's sessions and an
organisation always keeps an administrator. A superuser creates organisations here and
invites the first administrator with ``tnr invite``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tnr.accounts.models import Invitation, LoginThrottle, Membership, Organisation


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(ReadOnlyMixin, admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = fields


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("user", "organisation", "role", "created_at")
    list_filter = ("role", "organisation")
    search_fields = ("user__username", "organisation__name")
    list_select_related = ("user", "organisation")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("organisation", "role", "created_by", "created_at", "expires_at", "status")
    list_filter = ("role", "organisation")
    list_select_related = ("organisation", "created_by")
    exclude = ("token_hash",)


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Deleting a row lifts that lock (rows are keyed by a hash; no usernames are shown)."""

    list_display = ("key", "failures", "lockouts", "locked_until", "last_failure_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)
