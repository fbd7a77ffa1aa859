"""The starter list: real organisations, honest about what was (not) verified."""

from __future__ import annotations

import re

import pytest

from tnr.cases import actions
from tnr.cases.csvformat import COLUMNS
from tnr.cases.directory import find_mechanisms
from tnr.cases.models import ProtectionMechanism
from tnr.cases.rules import check_website

pytestmark = pytest.mark.django_db

# A run of 7+ digits (optionally spaced or dashed) looks like a phone number: seeds carry none.
PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")


def test_seed_file_entries_are_well_formed():
    entries = actions.load_seed_entries()
    assert 5 <= len(entries) <= 12
    for entry in entries:
        assert set(entry) == set(COLUMNS), entry["name"]


def test_seed_loads_once_and_is_idempotent():
    report = actions.seed_mechanisms()
    n = len(actions.load_seed_entries())
    assert report.counts == {"created": n, "already present": 0}
    assert ProtectionMechanism.objects.count() == n
    again = actions.seed_mechanisms()
    assert again.counts == {"created": 0, "already present": n}
    assert ProtectionMechanism.objects.count() == n


def test_seed_does_not_overwrite_an_administrators_changes():
    actions.seed_mechanisms()
    entry = ProtectionMechanism.objects.get(name="Front Line Defenders")
    entry.notes = "Verified by our team"
    entry.save()
    actions.seed_mechanisms()
    entry.refresh_from_db()
    assert entry.notes == "Verified by our team"


def test_every_seed_has_an_https_website_a_source_and_is_marked_unverified():
    actions.seed_mechanisms()
    for entry in ProtectionMechanism.objects.all():
        assert entry.website.startswith("https://"), entry.name
        assert check_website(entry.website) is None, entry.name
        assert entry.source.strip(), entry.name
        assert "verify before use" in entry.source, entry.name
        assert entry.last_verified is None, entry.name
        assert entry.verification == "unverified"
        assert "needs verification" in entry.verification_note, entry.name
        assert entry.active


def test_seeds_carry_no_phone_numbers_or_email_addresses():
    actions.seed_mechanisms()
    for entry in ProtectionMechanism.objects.all():
        for text in (entry.safe_contact, entry.notes, entry.name):
            assert not PHONE.search(text), (entry.name, text)
            assert "@" not in text, (entry.name, text)


def test_seeds_are_found_by_searches():
    actions.seed_mechanisms()
    journalists = [m.mechanism.name for m in find_mechanisms(
        country="DE", needs=["emergency_funds"], profile=["journalist"], language=None
    )]
    assert "Committee to Protect Journalists (CPJ)" in journalists
    assert "Reporters Without Borders (RSF)" in journalists
    digital = [m.mechanism.name for m in find_mechanisms(
        country=None, needs=["digital_security"], profile=["human_rights_defender"], language=None
    )]
    assert "Access Now Digital Security Helpline" in digital
