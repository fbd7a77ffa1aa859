"""Brute-force lockout on sign-in, keyed by account name and never by network address.

Why not django-axes: it records the client IP address (and user agent) of every attempt,
and this project keeps no IP addresses anywhere — a log of who connected from where is
exactly what a state adversary would want from a seized server. So the counter here is
keyed only by the account name:

* The key is an HMAC (with SECRET_KEY) of the lower-cased username. A name that does not
  exist gets a counter and a lock exactly like one that does, and the message is the same,
  so attempts reveal nothing about which accounts exist. The table itself reveals neither
  real nor mistyped usernames (people type passwords into the username box).
* Password and code failures share the counter: after ``MAX_FAILURES`` failures the name is
  locked for ``BASE_LOCK``; each further lock in a row doubles, up to ``MAX_LOCK``. While
  locked, the password is not even checked (no timing difference, no oracle).
* Only a completed sign-in (password *and* code) clears the counter: a correct password
  alone does not, or whoever knows it could reset the counter between code guesses.
* A name with no failure for ``FORGET_AFTER`` starts again from zero.

Keying by account lets an attacker who knows a username keep that person locked out; an
organisation administrator (or the installation's superuser, by deleting the row in the
admin) can lift a lock: ``clear_failures``.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tnr.accounts.models import LoginThrottle

MAX_FAILURES = 5
BASE_LOCK = datetime.timedelta(minutes=15)
MAX_LOCK = datetime.timedelta(hours=24)
FORGET_AFTER = datetime.timedelta(hours=24)


def throttle_key(username: str) -> str:
    """The counter's key for ``username``: HMAC-SHA256 of the trimmed, lower-cased name."""
    name = username.strip().lower().encode("utf-8")
    secret = f"tnr.accounts.lockout:{settings.SECRET_KEY}".encode()
    return hmac.new(secret, name, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Lock:
    until: datetime.datetime

    def minutes_left(self, now: datetime.datetime | None = None) -> int:
        seconds = (self.until - (now or timezone.now())).total_seconds()
        return max(1, math.ceil(seconds / 60))


def _lock_length(lockouts: int) -> datetime.timedelta:
    return min(BASE_LOCK * (2 ** max(0, lockouts - 1)), MAX_LOCK)


def current_lock(username: str, now: datetime.datetime | None = None) -> Lock | None:
    """The lock on ``username`` if it is locked now, else None."""
    now = now or timezone.now()
    until = (
        LoginThrottle.objects.filter(key=throttle_key(username), locked_until__gt=now)
        .values_list("locked_until", flat=True)
        .first()
    )
    return Lock(until) if until is not None else None


@transaction.atomic
def record_failure(username: str, now: datetime.datetime | None = None) -> Lock | None:
    """Count one failed password or code for ``username``; the new lock if this locks it."""
    now = now or timezone.now()
    row = LoginThrottle.objects.select_for_update().filter(key=throttle_key(username)).first()
    if row is None:
        row = LoginThrottle(key=throttle_key(username), last_failure_at=now)
    elif row.locked_until is not None and row.locked_until > now:
        return Lock(row.locked_until)  # attempts while locked are refused, not counted
    elif now - row.last_failure_at > FORGET_AFTER:
        row.failures = row.lockouts = 0
    row.failures += 1
    row.last_failure_at = now
    lock = None
    if row.failures >= MAX_FAILURES:
        row.lockouts += 1
        row.failures = 0
        row.locked_until = now + _lock_length(row.lockouts)
        lock = Lock(row.locked_until)
    row.save()
    # Keep the table small: guessed names pile up otherwise. Cheap (indexed), and only on
    # failures.
    LoginThrottle.objects.filter(last_failure_at__lt=now - FORGET_AFTER - MAX_LOCK).delete()
    return lock


def clear_failures(username: str) -> None:
    """Forget the failures of ``username`` (after a complete sign-in, or to lift a lock)."""
    LoginThrottle.objects.filter(key=throttle_key(username)).delete()
