"""Helpers for the directory tests: entries with sensible defaults, and signing staff in."""

from __future__ import annotations

import itertools
from typing import Any

from django.test import Client

from tests.accounts.helpers import login_verified
from tnr.cases import actions
from tnr.cases.models import ProtectionMechanism
from tnr.cases.rules import MechanismData

_serial = itertools.count(1)


def make_mechanism(name: str | None = None, **fields: Any) -> ProtectionMechanism:
    """A directory entry created through the action, worldwide and open to any profile
    unless ``countries``/``profiles`` are given."""
    fields.setdefault("kind", "legal_aid")
    fields.setdefault("needs", ("legal",))
    if "countries" in fields:
        fields["countries"] = tuple(fields["countries"])
    else:
        fields.setdefault("worldwide", True)
    if "profiles" in fields:
        fields["profiles"] = tuple(fields["profiles"])
    else:
        fields.setdefault("any_profile", True)
    for key in ("needs", "languages"):
        if key in fields:
            fields[key] = tuple(fields[key])
    fields.setdefault("website", "https://example.org/")
    fields.setdefault("source", "Test fixture")
    data = MechanismData(name=name or f"Mechanism {next(_serial)}", **fields)
    return actions.create_mechanism(data)


def sign_in(client: Client, user: Any) -> Client:
    """Sign ``user`` in on ``client`` with a verified second factor, as staff must be."""
    return login_verified(client, user)


