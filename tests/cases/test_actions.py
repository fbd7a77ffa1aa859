"""The directory's rules, enforced by the actions (and by the database where it can)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.cases.helpers import make_mechanism
from tnr.cases import actions
from tnr.cases.models import ProtectionMechanism, verification_status
from tnr.cases.rules import MechanismData, check_website

pytestmark = pytest.mark.django_db


def errors_of(exc: pytest.ExceptionInfo) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_create_normalises_codes_and_stores_relations():
    entry = make_mechanism(
        "  Legal   Aid  Desk ", countries=["de", "FR", "de"], profiles=["Journalist"],
        languages=["EN", "ar", "en"], needs=["advocacy", "legal"], website="HTTPS://example.org/x",
    )
    entry.refresh_from_db()
    assert entry.name == "Legal Aid Desk"
    assert sorted(c.pk for c in entry.countries.all()) == ["DE", "FR"]
    assert [p.pk for p in entry.profiles.all()] == ["journalist"]
    assert entry.languages == ["en", "ar"]
    assert entry.needs == ["legal", "advocacy"]  # vocabulary order
    assert entry.website == "https://example.org/x"


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"worldwide": True, "countries": ("DE",)}, "countries", "not both"),
        ({"worldwide": False, "countries": ()}, "countries", "or worldwide"),
        ({"countries": ("XX",)}, "countries", "unknown country code 'XX'"),
        ({"any_profile": True, "profiles": ("journalist",)}, "profiles", "not both"),
        ({"any_profile": False, "profiles": ()}, "profiles", "or any"),
        ({"profiles": ("astronaut",)}, "profiles", "unknown profile 'astronaut'"),
        ({"languages": ("en", "xx")}, "languages", "unknown language code 'xx'"),
        ({"needs": ()}, "needs", "at least one need"),
        ({"needs": ("money",)}, "needs", "unknown need 'money'"),
        ({"kind": "charity"}, "kind", "unknown kind 'charity'"),
        ({"website": "http://example.org/"}, "website", "plain http://"),
        ({"website": "ftp://example.org/"}, "website", "https://"),
        ({"website": "https://"}, "website", "not a valid"),
        ({"source": "  "}, "source", "where the facts"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_rules_broken_are_reported_by_field_and_nothing_is_written(fields, field, fragment):
    base = {"name": "Desk", "kind": "legal_aid", "needs": ("legal",), "countries": ("DE",),
            "profiles": ("journalist",), "source": "Their website"}
    with pytest.raises(ValidationError) as exc:
        actions.create_mechanism(MechanismData(**{**base, **fields}))
    assert any(fragment in message for message in errors_of(exc)[field]), errors_of(exc)
    assert not ProtectionMechanism.objects.exists()


def test_last_verified_cannot_be_in_the_future():
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as exc:
        make_mechanism(last_verified=tomorrow)
    assert "in the future" in errors_of(exc)["last_verified"][0]
    make_mechanism(last_verified=timezone.localdate())


def test_names_are_unique_ignoring_case():
    make_mechanism("Shelter Programme")
    with pytest.raises(ValidationError) as exc:
        make_mechanism("shelter programme")
    assert "already called" in errors_of(exc)["name"][0]


def test_update_keeps_own_name_and_replaces_values(alice):
    entry = make_mechanism("Desk", countries=["DE"])
    data = MechanismData.from_mechanism(entry)
    changed = MechanismData(**{**data.__dict__, "worldwide": True, "countries": (), "notes": "Now global"})
    actions.update_mechanism(entry, changed, by=alice)
    entry.refresh_from_db()
    assert entry.worldwide
    assert not entry.countries.exists()
    assert entry.notes == "Now global"
    assert entry.updated_by == alice


def test_deactivate_and_reactivate(alice):
    entry = make_mechanism("Desk")
    actions.set_mechanism_active(entry, False, by=alice)
    entry.refresh_from_db()
    assert not entry.active
    assert entry.updated_by == alice
    actions.set_mechanism_active(entry, True)
    entry.refresh_from_db()
    assert entry.active


def test_database_refuses_http_website_unknown_kind_and_duplicate_names():
    entry = make_mechanism("Desk")
    for change in ({"website": "http://example.org/"}, {"kind": "charity"}, {"source": ""}):
        with pytest.raises(IntegrityError), transaction.atomic():
            ProtectionMechanism.objects.filter(pk=entry.pk).update(**change)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProtectionMechanism.objects.create(name="DESK", kind="legal_aid", source="x")


def test_verification_status():
    today = datetime.date(2026, 6, 15)
    assert verification_status(None, today) == "unverified"
    assert verification_status(datetime.date(2025, 6, 15), today) == "current"
    assert verification_status(datetime.date(2025, 6, 14), today) == "stale"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://www.example.org/help/", True),
        ("", True),
        ("http://www.example.org/", False),
        ("www.example.org", False),
        ("https://exa mple.org", False),
        ("javascript:alert(1)", False),
    ],
)
def test_check_website(url, ok):
    assert (check_website(url) is None) is ok
