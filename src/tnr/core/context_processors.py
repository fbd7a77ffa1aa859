from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {"TNR_DEMO": settings.TNR_DEMO, "TNR_ENV": settings.TNR_ENV, "nav_audit": _lazy_audit(request)}


class _lazy_audit:
    """True when the user administers an organisation; asked only if a template renders it."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def __bool__(self) -> bool:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        from tnr.accounts.roles import Perm, organisation_ids_with

        return organisation_ids_with(user, Perm.VIEW_AUDIT).exists()
