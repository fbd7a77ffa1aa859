"""Staff session lifetime: idle timeout, absolute lifetime, and ending every session at once.

Each signed-in session carries three stamps, written at sign-in by ``stamp``:

* ``tnr_auth_at`` — when the password was checked; the session ends ``TNR_SESSION_SECONDS``
  later whatever the activity (absolute lifetime, ``settings.SESSION_COOKIE_AGE``).
* ``tnr_seen`` — the last request; the session ends after ``TNR_SESSION_IDLE_SECONDS``
  without one. Refreshed at most once a minute so that ordinary page views do not each
  write the session row.
* ``tnr_gen`` — the user's ``AccountState.session_generation``. Raising the generation
  (``end_all_sessions``) ends every session of that user on its next request, whichever
  session backend stores them: this is how a removed member loses access at once.

A session without the stamps (e.g. made by a bare ``django.contrib.auth.login``) is not
accepted: the middleware ends it.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import F

from tnr.accounts.models import AccountState

AUTH_AT = "tnr_auth_at"
SEEN = "tnr_seen"
GENERATION = "tnr_gen"
SEEN_REFRESH_SECONDS = 60


def idle_seconds() -> int:
    return int(settings.TNR_SESSION_IDLE_SECONDS)


def absolute_seconds() -> int:
    return int(settings.SESSION_COOKIE_AGE)


def generation_of(user: Any) -> int:
    value = (
        AccountState.objects.filter(user_id=user.pk)
        .values_list("session_generation", flat=True)
        .first()
    )
    return int(value or 0)


def stamp(session: SessionBase, user: Any, *, now: float | None = None) -> None:
    """Mark ``session`` as a staff session of ``user`` that starts now."""
    now = time.time() if now is None else now
    session[AUTH_AT] = int(now)
    session[SEEN] = int(now)
    session[GENERATION] = generation_of(user)
    session.set_expiry(idle_seconds())


def ended_reason(session: SessionBase, user: Any, *, now: float | None = None) -> str | None:
    """Why the signed-in ``session`` of ``user`` must end now, or None if it may go on."""
    now = time.time() if now is None else now
    auth_at, seen, generation = session.get(AUTH_AT), session.get(SEEN), session.get(GENERATION)
    if not isinstance(auth_at, int) or not isinstance(seen, int) or not isinstance(generation, int):
        return "unstamped"
    if now - auth_at > absolute_seconds():
        return "expired"
    if now - seen > idle_seconds():
        return "idle"
    if generation != generation_of(user):
        return "revoked"
    return None


def touch(session: SessionBase, *, now: float | None = None) -> None:
    """Record activity; writes the session only when the last record is over a minute old."""
    now = time.time() if now is None else now
    if now - session.get(SEEN, 0) >= SEEN_REFRESH_SECONDS:
        session[SEEN] = int(now)
        session.set_expiry(idle_seconds())


def end_all_sessions(user: Any) -> None:
    """End every session of ``user`` (each fails its next request's generation check)."""
    AccountState.objects.get_or_create(user_id=user.pk)
    AccountState.objects.filter(user_id=user.pk).update(
        session_generation=F("session_generation") + 1
    )
