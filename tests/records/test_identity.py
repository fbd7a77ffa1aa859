"""Sealed identities of persons: sealing, who can read them and when, the identity page,
damage detection, rotation, and that exports never carry them.

Personas: ada administers Alpha Watch; alice (caseworker) has a copy of its key; bob is an
analyst there; carol a caseworker without a copy yet; charlie a caseworker in Beta Monitor.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.accounts.helpers import login_verified
from tests.accounts.keyhelpers import give_copy, request_for, set_up_keys, sign_in
from tests.factories import make_incident, make_org, make_person, make_user
from tnr.accounts import keys
from tnr.accounts.models import OrganisationKey, Role
from tnr.core import sealing
from tnr.core.models import AuditEntry
from tnr.records import identity as sealed
from tnr.records.models import Person

pytestmark = pytest.mark.django_db

NAME = "Nasrin Ahmadi-Canary"
IDENTITY = {"name": NAME, "aliases": ["نسرین احمدی", "N. A."], "contact": "Signal +31 6 0000 0000"}


@pytest.fixture
def alpha():
    return make_org("Alpha Watch")


@pytest.fixture
def beta():
    return make_org("Beta Monitor")


@pytest.fixture
def ada(alpha):
    return make_user("ada", alpha, Role.ADMINISTRATOR)


@pytest.fixture
def recovery_key(alpha, ada):
    return set_up_keys(alpha, ada)


@pytest.fixture
def alice(alpha, recovery_key):
    user = make_user("alice", alpha, Role.CASEWORKER)
    give_copy(user, alpha, recovery_key)
    return user


@pytest.fixture
def bob(alpha):
    return make_user("bob", alpha, Role.ANALYST)


@pytest.fixture
def carol(alpha):
    return make_user("carol", alpha, Role.CASEWORKER)


@pytest.fixture
def charlie(beta):
    return make_user("charlie", beta, Role.CASEWORKER)


@pytest.fixture
def incident(alpha, alice):
    incident = make_incident(alpha, title="Threats by phone")
    sealed.set_identity(alice, incident.acts.get().target, IDENTITY)
    return incident


def target(incident) -> Person:
    return Person.objects.get(pk=incident.acts.get().target_id)


def detail(client, incident) -> str:
    response = client.get(reverse("records:incident-detail", args=[incident.uid]))
    assert response.status_code == 200
    return response.content.decode()


# --- sealing ----------------------------------------------------------------------------------


def test_identity_is_sealed_padded_and_bound_to_its_person(alpha, recovery_key, incident):
    person = target(incident)
    blob = bytes(person.identity_sealed)
    for part in (NAME, "Signal", "نسرین"):
        assert part.encode() not in blob
    assert (len(blob) - 1 - 48) % sealed.PAD_TO == 0  # version byte + sealed-box overhead
    private = keys.private_from_recovery_key(alpha, recovery_key)
    assert sealed.open_identity(person, private).as_dict() == {**IDENTITY, "aliases": list(IDENTITY["aliases"])}
    # the same blob on another person's row is refused, not shown as theirs
    other = make_person(alpha)
    other.identity_sealed = person.identity_sealed
    with pytest.raises(sealing.SealError, match="another record"):
        sealed.open_identity(other, private)


def test_writing_needs_no_unlocked_key_but_the_right_role(alpha, alice, bob, incident):
    person = make_person(alpha)
    sealed.set_identity(alice, person, {"name": "Someone"})  # no session at all
    assert person.identity_sealed
    with pytest.raises(Exception, match="does not allow"):
        sealed.set_identity(bob, person, {"name": "Other"})
    entry = AuditEntry.objects.filter(action="change", object_type="records.person", object_id=str(person.pk)).get()
    assert "Someone" not in json.dumps(entry.data) + entry.summary


def test_an_empty_identity_removes_it(alpha, alice, incident):
    person = target(incident)
    sealed.set_identity(alice, person, {"name": "", "aliases": [], "contact": ""})
    person.refresh_from_db()
    assert person.identity_sealed is None


@pytest.mark.parametrize(
    "data",
    [{"name": "x" * 301}, {"aliases": [f"a{i}" for i in range(21)]}, {"contact": "c" * 2001}, {"name": "ok", "email": "x"}],
)
def test_bad_identities_are_refused(alpha, alice, data):
    with pytest.raises(sealed.IdentityError):
        sealed.set_identity(alice, make_person(alpha), data)


def test_no_identity_before_the_organisation_key_exists(beta, charlie):
    with pytest.raises(sealed.IdentityError, match="not set up"):
        sealed.set_identity(charlie, make_person(beta), {"name": "Someone"})


# --- reading ----------------------------------------------------------------------------------


def test_a_signed_in_caseworker_with_the_key_reads_it_and_it_is_audited(client, alice, incident):
    sign_in(client, alice)
    page = detail(client, incident)
    assert NAME in page
    assert "N. A." in page
    assert "Signal +31" in page
    assert "Unlocked for this session" in page
    person = target(incident)
    assert AuditEntry.objects.filter(action="view", object_type="records.person", object_id=str(person.pk), actor_id=alice.pk).exists()
    assert sealed.read_identity(request_for(client), person)["name"] == NAME


def test_the_administrator_who_set_it_up_reads_it(client, ada, incident):
    sign_in(client, ada)
    assert NAME in detail(client, incident)


def test_an_analyst_cannot_read_identities(client, bob, incident):
    sign_in(client, bob)
    page = detail(client, incident)
    assert NAME not in page
    assert "Your role does not allow viewing identities" in page
    assert sealed.read_identity(request_for(client), target(incident)) is None
    assert "Record or correct the identity" not in page


def test_without_a_copy_the_page_says_access_is_not_granted(client, carol, incident):
    sign_in(client, carol)
    page = detail(client, incident)
    assert NAME not in page
    assert "has not been granted yet" in page


def test_a_session_without_the_unlocked_key_shows_it_sealed(client, alice, incident):
    login_verified(client, alice)  # signed in without the password step: nothing unlocked
    page = detail(client, incident)
    assert NAME not in page
    assert "Sealed — sign in again to unlock" in page


def test_a_damaged_identity_is_reported_not_shown(client, alpha, alice, incident, caplog):
    person = target(incident)
    other = make_person(alpha)
    sealed.set_identity(alice, other, {"name": "Other Person"})
    # a forged row: another person's sealed identity copied onto this one
    Person.objects.filter(pk=person.pk).update(identity_sealed=Person.objects.get(pk=other.pk).identity_sealed)
    sign_in(client, alice)
    page = detail(client, incident)
    assert "Other Person" not in page
    assert "damaged and cannot be opened" in page
    assert f"person #{person.pk}" in caplog.text
    assert "Other Person" not in caplog.text
    assert AuditEntry.objects.filter(action="view", object_id=str(person.pk), summary__contains="damaged").exists()


# --- the identity page -----------------------------------------------------------------------


def identity_url(person) -> str:
    return reverse("records:person-identity", args=[person.pk])


def test_a_caseworker_records_an_identity_through_the_page(client, alpha, alice):
    incident = make_incident(alpha)
    person = target(incident)
    sign_in(client, alice)
    page = detail(client, incident)
    assert "No identity recorded" in page
    form = client.get(identity_url(person))
    assert "No identity is recorded" in form.content.decode()
    back = reverse("records:incident-detail", args=[incident.uid])
    response = client.post(
        identity_url(person),
        {"name": "Layla Canary", "aliases": "L. C.\n\nLayla K.", "contact": "via her lawyer", "next": back},
    )
    assert response.status_code == 302
    assert response.url == back
    page = detail(client, incident)
    assert "Layla Canary" in page
    assert "L. C.; Layla K." in page
    assert f"Identity of {person.external_id} saved" in page  # the message names the pseudonym only
    # the form shows the current identity for correction
    assert "Layla Canary" in client.get(identity_url(person)).content.decode()


def test_a_sealed_identity_cannot_be_overwritten_blindly(client, alpha, alice, incident, recovery_key):
    login_verified(client, alice)  # not unlocked
    person = target(incident)
    page = client.get(identity_url(person)).content.decode()
    assert "sealed for you" in page
    assert "Seal and save" not in page
    response = client.post(identity_url(person), {"name": "Overwritten"})
    assert response.status_code == 400
    stored = sealed.open_identity(Person.objects.get(pk=person.pk), keys.private_from_recovery_key(alpha, recovery_key))
    assert stored.name == NAME


@pytest.mark.parametrize(("who", "status"), [("bob", 403), ("charlie", 404)])
def test_the_identity_page_is_for_caseworkers_of_the_organisation(client, request, incident, who, status):
    user = request.getfixturevalue(who)
    sign_in(client, user)
    person = target(incident)
    assert client.get(identity_url(person)).status_code == status
    assert client.post(identity_url(person), {"name": "x"}).status_code == status
    assert client.get(reverse("records:person-identity", args=[999999])).status_code == 404


def test_the_identity_page_refuses_outside_redirects(client, alpha, alice):
    person = make_person(alpha)
    sign_in(client, alice)
    response = client.post(identity_url(person), {"name": "Someone", "next": "https://evil.example/"})
    assert response.url == identity_url(person)


def test_an_organisation_without_key_says_so(client, beta, charlie):
    incident = make_incident(beta)
    Person.objects.filter(pk=target(incident).pk).update(identity_sealed=b"\x01junk")
    sign_in(client, charlie)
    page = detail(client, incident)
    assert "not set up for this organisation yet" in page
    response = client.post(identity_url(target(incident)), {"name": "x"})
    assert response.status_code == 400


# --- rotation and exports --------------------------------------------------------------------


def test_rotation_reseals_everything_to_a_new_key(client, alpha, alice, incident, recovery_key, monkeypatch):
    old_private = keys.private_from_recovery_key(alpha, recovery_key)
    old_public = bytes(OrganisationKey.objects.get(organisation=alpha).public_key)
    answers = iter([recovery_key])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    out = StringIO()
    call_command("keys", "rotate", "--organisation", alpha.slug, stdout=out)
    new_key = out.getvalue().split("\n    ", 1)[1].split("\n", 1)[0]
    assert bytes(OrganisationKey.objects.get(organisation=alpha).public_key) != old_public
    person = target(incident)
    with pytest.raises(sealing.SealError):
        sealed.open_identity(person, old_private)  # a removed member's old copy opens nothing now
    assert sealed.open_identity(person, keys.private_from_recovery_key(alpha, new_key)).name == NAME
    with pytest.raises(keys.KeysError):
        keys.private_from_recovery_key(alpha, recovery_key)
    sign_in(client, alice)  # members keep access without a new grant
    assert NAME in detail(client, incident)


def test_rotation_with_a_damaged_identity_changes_nothing(alpha, alice, incident, recovery_key):
    person = make_person(alpha)
    Person.objects.filter(pk=person.pk).update(identity_sealed=b"\x01" + bytes(80))
    public = bytes(OrganisationKey.objects.get(organisation=alpha).public_key)
    with pytest.raises(keys.KeysError, match="damaged"):
        sealed.rotate_organisation_key(alpha, recovery_key)
    assert bytes(OrganisationKey.objects.get(organisation=alpha).public_key) == public


@pytest.mark.parametrize("fmt", ["json", "csv", "datapackage"])
def test_exports_never_include_identities(alpha, incident, tmp_path, fmt):
    output = tmp_path / "out"
    call_command("export", "-o", alpha.slug, "--format", fmt, "--output", str(output), stdout=StringIO(), stderr=StringIO())
    files = [output] if output.is_file() else [p for p in Path(output.parent).rglob("*") if p.is_file()]
    assert files
    blob = b"".join(p.read_bytes() for p in files)
    assert NAME.encode() not in blob
    assert b"identity" not in blob.lower()
    assert b"Signal +31" not in blob
