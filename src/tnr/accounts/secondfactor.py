"""The second factor: an authenticator app (TOTP) plus one-time recovery codes, on django-otp.

* The authenticator is a ``TOTPDevice``. Enrolment shows its secret as a QR code drawn on the
  server as inline SVG (segno): nothing is fetched from elsewhere and no JavaScript runs.
* Recovery codes are a ``StaticDevice`` whose ``StaticToken`` rows hold a keyed hash of each
  code, not the code: a copy of the database does not hand over usable codes. Each code is
  deleted when used, so it works once.

The TOTP secret itself must be stored in a form the server can use (that is how TOTP works);
it protects against a stolen password, not against someone holding both the database and
the password hash. The password is hashed with Argon2id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import quote, urlencode

import segno
from django.conf import settings
from django.db import transaction
from django.utils.safestring import SafeString, mark_safe
from django_otp import verify_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_CHARS = 10  # base32: 50 bits each, far beyond what the lockout lets anyone try

_NOT_CODE = re.compile(r"[\s\-]")


def is_verified(user: Any) -> bool:
    """Whether ``user`` (a request's user) signed in with a second factor this session."""
    check = getattr(user, "is_verified", None)
    return bool(user.is_authenticated and check is not None and check())


def confirmed_authenticators(user: Any) -> Any:
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True)


def has_authenticator(user: Any) -> bool:
    return confirmed_authenticators(user).exists()


def has_any_device(user: Any) -> bool:
    """Whether ``user`` can pass the code step at all (authenticator or recovery codes)."""
    return (
        has_authenticator(user)
        or StaticToken.objects.filter(device__user_id=user.pk, device__confirmed=True).exists()
    )


def pending_authenticator(user: Any) -> TOTPDevice:
    """The unconfirmed authenticator being enrolled (made on first call, reused afterwards)."""
    device = TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def secret_base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def secret_for_display(device: TOTPDevice) -> str:
    """The secret in groups of four, as authenticator apps accept it when typed."""
    secret = secret_base32(device)
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(device: TOTPDevice) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code.

    The issuer is ``TNR_TOTP_ISSUER``: an organisation whose staff cross borders may choose a
    neutral name, since the app shows it to whoever looks at the phone.
    """
    issuer = str(getattr(settings, "TNR_TOTP_ISSUER", "TNR Observatory")).replace(":", "")
    label = f"{issuer}:{device.user.get_username()}"
    params = {
        "secret": secret_base32(device),
        "issuer": issuer,
        "algorithm": "SHA1",
        "digits": device.digits,
        "period": device.step,
    }
    return f"otpauth://totp/{quote(label)}?{urlencode(params, quote_via=quote)}"


def qr_svg(data: str, *, title: str = "QR code") -> SafeString:
    """``data`` as a QR code in inline SVG markup (no XML declaration, no style attribute)."""
    qr = segno.make(data, error="m")
    svg = qr.svg_inline(scale=5, border=4, dark="#000", light="#fff", title=title, svgclass="qr-code")
    return mark_safe(svg)  # noqa: S308 - segno's own output; ``title`` is escaped by segno


def normalise(code: str) -> str:
    return _NOT_CODE.sub("", code).lower()


def _recovery_hash(code: str) -> str:
    """What is stored for a recovery code: 16 base32 characters of an HMAC (80 bits)."""
    secret = f"tnr.accounts.recovery:{settings.SECRET_KEY}".encode()
    digest = hmac.new(secret, normalise(code).encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:16].lower()


def _new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()[:RECOVERY_CODE_CHARS]
    half = RECOVERY_CODE_CHARS // 2
    return f"{raw[:half]}-{raw[half:]}"


@transaction.atomic
def new_recovery_codes(user: Any) -> list[str]:
    """Replace ``user``'s recovery codes with fresh ones; the codes are returned only here."""
    StaticDevice.objects.filter(user_id=user.pk).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=_recovery_hash(code)) for code in codes
    )
    return codes


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user_id=user.pk, device__confirmed=True).count()


def verify_code(user: Any, code: str) -> Device | None:
    """The device of ``user`` that accepts ``code`` (consuming it), or None.

    Six digits are tried against the authenticator (each time step is accepted once);
    anything else against the recovery codes (each code is deleted when used).
    """
    code = normalise(code)
    if not code or len(code) > 32:
        return None
    if code.isdigit():
        for device in confirmed_authenticators(user):
            verified = verify_token(user, device.persistent_id, code)
            if verified is not None:
                return verified
        return None
    hashed = _recovery_hash(code)
    for device in StaticDevice.objects.filter(user_id=user.pk, confirmed=True):
        verified = verify_token(user, device.persistent_id, hashed)
        if verified is not None:
            return verified
    return None


def confirm_authenticator(device: TOTPDevice, code: str) -> bool:
    """Confirm the pending ``device`` if ``code`` is its current code."""
    code = normalise(code)
    if device.confirmed or not code.isdigit() or not device.verify_token(code):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    # Any other authenticator (earlier attempt, or the one being replaced) goes.
    TOTPDevice.objects.filter(user_id=device.user_id).exclude(pk=device.pk).delete()
    return True
