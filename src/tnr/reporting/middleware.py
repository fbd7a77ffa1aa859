"""Headers and request hygiene for the reporter zone (its own process: TNR_ZONE=reporter).

* Content-Security-Policy without 'unsafe-inline' and with no script source at all: the zone
  needs no JavaScript, so none may run, inline or not.
* No referrer, no caching (a shared computer's disk cache must not keep a report's pages),
  HSTS on HTTPS, no framing, no browser features.
* Cross-site form posts are refused by their Sec-Fetch-Site header. The zone has no CSRF
  cookie: before sign-in there is nothing to forge, and the only cookie (the follow-up
  session) is SameSite=Strict. Browsers that send no Sec-Fetch-Site are let through.
* Uploads are kept in memory, never spooled to disk in clear (tnr.reporting.uploads).
* Nothing here, or anywhere in the zone, logs an address, a user agent or a time.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from tnr.reporting.uploads import InMemoryOnlyUploadHandler

REPORTER_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class ReporterZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.headers.get("Sec-Fetch-Site") == "cross-site":
            response: HttpResponse = HttpResponseForbidden(
                b"This form can only be sent from this site.", content_type="text/plain; charset=utf-8"
            )
        else:
            # Before anything reads the body: uploads stay in memory (tnr.reporting.uploads).
            request.upload_handlers = [InMemoryOnlyUploadHandler(request)]
            response = self.get_response(request)
        headers = response.headers
        headers["Content-Security-Policy"] = REPORTER_CSP
        headers["Referrer-Policy"] = "no-referrer"
        headers.setdefault("Cache-Control", "no-store")  # the stylesheet alone may be cached
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), interest-cohort=()"
        if request.is_secure():
            headers["Strict-Transport-Security"] = f"max-age={int(getattr(settings, 'SECURE_HSTS_SECONDS', 0) or 31536000)}"
        # Vary on the language prefix only; never on cookies or agents in any shared cache.
        return response
