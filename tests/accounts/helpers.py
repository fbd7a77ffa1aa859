"""Second-factor helpers for tests: a confirmed authenticator, its codes, a verified login.

Every staff page needs a session verified by a second factor (tnr.accounts.middleware), so
tests that used ``client.force_login(user)`` use ``login_verified(client, user)`` instead:

    from tests.accounts.helpers import login_verified
    login_verified(client, alice)
    client.get("/incidents/")

Browser tests sign in through the pages and type ``next_code(device)``.
"""

from __future__ import annotations

import time
from typing import Any

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tnr.accounts import secondfactor, sessions


def add_authenticator(user: Any) -> TOTPDevice:
    """A confirmed authenticator app (TOTP device) for ``user``."""
    device = secondfactor.confirmed_authenticators(user).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=secondfactor.AUTHENTICATOR_NAME, confirmed=True
        )
    return device


def totp_code(key_hex_or_device: Any, *, step_offset: int = 0, now: float | None = None) -> str:
    """The TOTP code of a device (or hex key) at the current time step plus ``step_offset``."""
    if isinstance(key_hex_or_device, TOTPDevice):
        key, step = key_hex_or_device.bin_key, key_hex_or_device.step
    else:
        key, step = bytes.fromhex(key_hex_or_device), 30
    totp = TOTP(key, step=step, drift=step_offset)
    totp.time = time.time() if now is None else now
    return f"{totp.token():06d}"


def code_from_secret(secret_base32: str, *, step_offset: int = 0) -> str:
    """The current code for a base32 secret as shown on the enrolment page."""
    import base64

    cleaned = secret_base32.replace(" ", "").upper()
    cleaned += "=" * (-len(cleaned) % 8)
    return totp_code(base64.b32decode(cleaned).hex(), step_offset=step_offset)


def next_code(device: TOTPDevice) -> str:
    """A code the device will accept now: each time step is accepted only once, so after a
    code was used this waits for the next step when the tolerance window is used up.
    """
    device.refresh_from_db()
    while True:
        totp = TOTP(device.bin_key, step=device.step, t0=device.t0, drift=device.drift)
        totp.time = time.time()
        now_t = totp.t()
        wanted = max(now_t, device.last_t + 1)
        if wanted <= now_t + device.tolerance:
            return totp_code(device, step_offset=device.drift + wanted - now_t)
        time.sleep(0.5)


def wrong_code(device: TOTPDevice) -> str:
    """Six digits the device does not accept now (none of the codes in its window)."""
    window = {totp_code(device, step_offset=device.drift + k) for k in range(-2, 3)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in window)


def login_verified(client: Client, user: Any) -> Client:
    """Sign ``client`` in as ``user`` with a verified second factor (as after both steps)."""
    device = add_authenticator(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    sessions.stamp(session, user)
    session.save()
    return client
