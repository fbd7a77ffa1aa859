"""The reporter's follow-up session: one encrypted cookie, nothing on the server.

After a correct receipt, the lookup value and the receipt-derived wrapping key are put in a
cookie encrypted and authenticated under a key derived from SECRET_KEY, with the time it was
issued. The server keeps no session row, so there is nothing to steal from the database, and
the costly receipt derivation is not repeated on every page. The cookie is HttpOnly,
SameSite=Strict (the zone's defence against cross-site requests, with the Sec-Fetch-Site check
in the middleware), Secure outside development, has no expiry date (the browser drops it when
closed) and is refused after ``TNR_REPORTER_IDLE_SECONDS`` without a request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import nacl.exceptions
import nacl.secret
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from tnr.reporting.actions import ReporterAccess

COOKIE = "tnr_r"


def _box() -> nacl.secret.SecretBox:
    key = hashlib.blake2b(settings.SECRET_KEY.encode("utf-8"), digest_size=32, person=b"tnr-reporter-ck").digest()
    return nacl.secret.SecretBox(key)


def _path() -> str:
    return "/"


def remember(response: HttpResponse, access: ReporterAccess) -> None:
    """Set (or refresh) the cookie for a signed-in reporter."""
    payload = json.dumps(
        {"l": access.lookup, "k": base64.b64encode(access.wrapping_key).decode("ascii"), "t": int(time.time())}
    ).encode("ascii")
    value = base64.urlsafe_b64encode(bytes(_box().encrypt(payload))).decode("ascii")
    response.set_cookie(
        COOKIE, value, httponly=True, samesite="Strict", secure=not settings.DEBUG, path=_path()
    )


def forget(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE, path=_path(), samesite="Strict")


def current(request: HttpRequest) -> ReporterAccess | None:
    """The signed-in reporter's access, or None (no cookie, tampered, or idle too long)."""
    raw = request.COOKIES.get(COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(_box().decrypt(base64.urlsafe_b64decode(raw.encode("ascii"))))
        issued = int(data["t"])
        access = ReporterAccess(lookup=str(data["l"]), wrapping_key=base64.b64decode(data["k"]))
    except (nacl.exceptions.CryptoError, ValueError, KeyError, TypeError, UnicodeError):
        return None
    if time.time() - issued > int(settings.TNR_REPORTER_IDLE_SECONDS) or len(access.wrapping_key) != 32:
        return None
    return access
