from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {"TNR_DEMO": settings.TNR_DEMO, "TNR_ENV": settings.TNR_ENV}
