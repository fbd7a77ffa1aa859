"""Every staff page needs a signed-in session verified by a second factor.

Enforced here, once, rather than by a decorator on each view, so that no view — ours, the
Django admin's, or one added later — can forget it. A view opts *out* explicitly:

* ``@public`` — reachable by anyone (sign-in page, accepting an invitation, logout; later the
  reporter zone's and token-authenticated API views);
* ``@allow_unverified`` — reachable after the password step but before the code (the code
  step and enrolment of the second factor).

Everything else:

* anonymous visitor → the sign-in page (with ``next``);
* password given but no code yet → the code step, or enrolment when the user has no
  second factor yet; nothing else is reachable;
* a session that is idle too long, older than its absolute lifetime, or whose user's
  sessions were ended (member removed) is signed out first (``tnr.accounts.sessions``).

The Django admin's own login form is never used: it would bypass the lockout and the second
factor. It redirects to the sign-in page.

Responses to signed-in users are marked ``Cache-Control: no-store`` so that no page of
records stays in a browser or proxy cache after sign-out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers

from tnr.accounts import secondfactor, sessions

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC_ATTR = "tnr_public"
UNVERIFIED_ATTR = "tnr_allow_unverified"

SESSION_ENDED = {
    "idle": "You were signed out after a period without activity. Please sign in again.",
    "expired": "Your session reached its maximum length. Please sign in again.",
    "revoked": "Your session has ended. Please sign in again.",
    "unstamped": "Your session has ended. Please sign in again.",
}


def public(view: F) -> F:
    """Mark ``view`` as reachable without signing in."""
    setattr(view, PUBLIC_ATTR, True)
    return view


def allow_unverified(view: F) -> F:
    """Mark ``view`` as reachable after the password step, before the second factor."""
    setattr(view, UNVERIFIED_ATTR, True)
    return view


class StaffAccessMiddleware:
    """Session lifetime checks and the second-factor gate (install after OTPMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            reason = sessions.ended_reason(request.session, user)
            if reason is not None:
                logout(request)
                messages.info(request, SESSION_ENDED[reason])
            else:
                sessions.touch(request.session)
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        user = request.user
        if match is not None and match.view_name == "admin:login":
            if secondfactor.is_verified(user):
                raise PermissionDenied("Your account has no access to the admin")
            return redirect_to_login(request.get_full_path(), resolve_url("accounts:login"))
        if getattr(view_func, PUBLIC_ATTR, False):
            return None
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), resolve_url("accounts:login"))
        if secondfactor.is_verified(user) or getattr(view_func, UNVERIFIED_ATTR, False):
            return None
        step = "accounts:verify" if secondfactor.has_any_device(user) else "accounts:enrol"
        return redirect_to_login(request.get_full_path(), resolve_url(step))
