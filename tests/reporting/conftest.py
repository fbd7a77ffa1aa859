"""Fixtures for the reporter zone: the process's URLconf and middleware, and a recipient.

``zone`` turns the test process into what ``TNR_ZONE=reporter`` serves (tnr.settings), so
tests see exactly the reporter zone's URLs, headers and lack of sessions.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import clear_url_caches, set_urlconf

from tests.accounts.keyhelpers import set_up_keys
from tnr.reporting.models import Intake


@pytest.fixture
def zone(settings: Any) -> Any:
    settings.ROOT_URLCONF = settings.REPORTER_URLCONF
    settings.MIDDLEWARE = settings.REPORTER_MIDDLEWARE
    clear_url_caches()
    set_urlconf(None)
    yield settings
    clear_url_caches()
    set_urlconf(None)


@pytest.fixture
def recovery(alpha: Any, ada: Any) -> str:
    """Alpha Watch with keys (held by ada) and accepting reports; returns its recovery key."""
    key = set_up_keys(alpha, ada)
    Intake.objects.create(organisation=alpha, accepting=True)
    return key


@pytest.fixture
def reporter(zone: Any) -> Client:
    return Client()
