"""Shared test set-up: cheap crypto, vocabularies present, the shared data folder located."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tnr.settings")
from django.conf import settings

# Password hashing is deliberately slow in production; tests need speed, not strength.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
settings.TNR_KDF_OPSLIMIT, settings.TNR_KDF_MEMLIMIT = 1, 8192  # = sealing.INSECURE_TEST_KDF
settings.TNR_RECEIPT_KDF_OPSLIMIT, settings.TNR_RECEIPT_KDF_MEMLIMIT = 1, 8192

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path}")
    return path


# --- personas (healthchecks style), shared by every test package --------------------------------
# Alpha Watch: ada (administrator), alice (caseworker), bob (analyst), pat (partner).
# Beta Monitor: charlie (caseworker) and bea (administrator), the outsiders.
# A package may override a persona with another role (tests/cases does).


@pytest.fixture
def alpha(db):
    from tests.factories import make_org

    return make_org("Alpha Watch")


@pytest.fixture
def beta(db):
    from tests.factories import make_org

    return make_org("Beta Monitor")


def _persona(username: str, organisation, role: str):
    from tests.factories import make_user

    return make_user(username, organisation, role)


@pytest.fixture
def ada(alpha):
    return _persona("ada", alpha, "administrator")


@pytest.fixture
def alice(alpha):
    return _persona("alice", alpha, "caseworker")


@pytest.fixture
def bob(alpha):
    return _persona("bob", alpha, "analyst")


@pytest.fixture
def pat(alpha):
    return _persona("pat", alpha, "partner")


@pytest.fixture
def charlie(beta):
    return _persona("charlie", beta, "caseworker")


@pytest.fixture
def bea(beta):
    return _persona("bea", beta, "administrator")

