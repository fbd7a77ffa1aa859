"""Personas for the directory tests (healthchecks style).

alice administers Alpha; bob is a caseworker in Alpha; carol an analyst in Beta; dave has an
account but no membership anywhere; root is a superuser without membership.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.cases.helpers import sign_in
from tests.factories import make_user
from tnr.accounts.models import Role


@pytest.fixture
def alice(alpha):
    return make_user("alice", alpha, Role.ADMINISTRATOR)


@pytest.fixture
def bob(alpha):
    return make_user("bob", alpha, Role.CASEWORKER)


@pytest.fixture
def carol(beta):
    return make_user("carol", beta, Role.ANALYST)


@pytest.fixture
def dave():
    return make_user("dave")


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", password="lantern-orbit-quarry-57")


@pytest.fixture
def alice_client(client, alice):
    return sign_in(client, alice)


@pytest.fixture
def bob_client(client, bob):
    return sign_in(client, bob)
