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

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path}")
    return path
