"""Personas for the accounts tests (healthchecks style).

Alpha Watch: ada (administrator), alice (caseworker), bob (analyst), pat (partner).
Beta Monitor: charlie (caseworker), the outsider.
"""

from __future__ import annotations

import pytest

from tests.factories import make_org, make_user
from tnr.accounts.models import Role


@pytest.fixture
def alpha(db):
    return make_org("Alpha Watch")


@pytest.fixture
def beta(db):
    return make_org("Beta Monitor")


@pytest.fixture
def ada(alpha):
    return make_user("ada", alpha, Role.ADMINISTRATOR)


@pytest.fixture
def alice(alpha):
    return make_user("alice", alpha, Role.CASEWORKER)


@pytest.fixture
def bob(alpha):
    return make_user("bob", alpha, Role.ANALYST)


@pytest.fixture
def pat(alpha):
    return make_user("pat", alpha, Role.PARTNER)


@pytest.fixture
def charlie(beta):
    return make_user("charlie", beta, Role.CASEWORKER)
