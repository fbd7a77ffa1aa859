"""Sealed identities of persons: name, aliases and contact (DESIGN §4, §5).

A person's identity is sealed to their organisation's public key (a libsodium sealed box) and
stored in ``Person.identity_sealed``; the database, its backups and its logs never see it in
clear. Anyone who may change records can *write* an identity: sealing needs only the public
key. *Reading* needs the organisation's private key unlocked in the reader's session
(``tnr.accounts.keys``) and a role that may view identities; every read is audited.

The sealed plaintext is JSON naming the person and organisation it belongs to, padded to a
multiple of 256 bytes: a blob copied onto another person's row is refused rather than shown
as theirs, and the blob's length does not give away the length of a name.

Identities never leave through exports: the exchange format has no field for them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from tnr.accounts import keys
from tnr.accounts.keys import KeyStatus
from tnr.accounts.models import MemberKey, OrganisationKey
from tnr.accounts.roles import Perm, permissions_of, require, role_in
from tnr.core import audit, sealing
from tnr.core.choices import AuditAction
from tnr.core.sealing import SealError
from tnr.records.models import Person

log = logging.getLogger("tnr.records.identity")

FORMAT = 1
PAD_TO = 256
MAX_NAME = 300
MAX_ALIASES = 20
MAX_CONTACT = 2000


class IdentityError(Exception):
    """A refused identity change, with a message fit to show the user."""


@dataclass(frozen=True)
class Identity:
    """What is sealed: the person's name, other names they are known by, how to reach them."""

    name: str = ""
    aliases: tuple[str, ...] = ()
    contact: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "aliases": list(self.aliases), "contact": self.contact}

    @property
    def empty(self) -> bool:
        return not (self.name or self.aliases or self.contact)


def clean_identity(data: Mapping[str, Any] | Identity) -> Identity:
    """An ``Identity`` from a mapping with ``name``, ``aliases`` (list) and ``contact``."""
    if isinstance(data, Identity):
        data = data.as_dict()
    unknown = set(data) - {"name", "aliases", "contact"}
    if unknown:
        raise IdentityError(f"Unknown identity fields: {', '.join(sorted(unknown))}.")
    name = str(data.get("name") or "").strip()
    contact = str(data.get("contact") or "").strip()
    raw_aliases = data.get("aliases") or []
    if isinstance(raw_aliases, str):
        raw_aliases = raw_aliases.splitlines()
    aliases = tuple(dict.fromkeys(a for a in (str(x).strip() for x in raw_aliases) if a))
    if len(name) > MAX_NAME:
        raise IdentityError(f"The name is longer than {MAX_NAME} characters.")
    if len(aliases) > MAX_ALIASES or any(len(a) > MAX_NAME for a in aliases):
        raise IdentityError(f"Give at most {MAX_ALIASES} other names, each up to {MAX_NAME} characters.")
    if len(contact) > MAX_CONTACT:
        raise IdentityError(f"The contact details are longer than {MAX_CONTACT} characters.")
    return Identity(name=name, aliases=aliases, contact=contact)


def _plaintext(person: Person, identity: Identity) -> bytes:
    body = {"v": FORMAT, "person": person.pk, "organisation": person.organisation_id, **identity.as_dict()}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return text + b" " * (-len(text) % PAD_TO)  # JSON allows trailing white space


def _parse(person: Person, plaintext: bytes) -> Identity:
    try:
        body = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SealError("sealed identity is not readable") from None
    if (
        not isinstance(body, dict)
        or body.get("v") != FORMAT
        or body.get("person") != person.pk
        or body.get("organisation") != person.organisation_id
    ):
        raise SealError("sealed identity belongs to another record")
    try:
        return clean_identity({k: body.get(k) for k in ("name", "aliases", "contact")})
    except IdentityError:
        raise SealError("sealed identity is malformed") from None


def seal_identity(person: Person, identity: Identity, public_key: bytes | memoryview) -> bytes:
    return sealing.seal(bytes(public_key), _plaintext(person, identity))


def open_identity(person: Person, private_key: bytes) -> Identity:
    """The identity sealed in ``person``; SealError if it is damaged or not this person's."""
    return _parse(person, sealing.open_sealed(private_key, bytes(person.identity_sealed or b"")))


@transaction.atomic
def set_identity(actor: Any, person: Person, data: Mapping[str, Any] | Identity) -> None:
    """Seal ``data`` as ``person``'s identity (an empty identity removes it).

    ``actor`` must be allowed to change records and view identities in the person's
    organisation; None is the installation's operator (``tnr demo``). Needs no unlocked key.
    """
    if actor is not None:
        require(actor, person.organisation_id, Perm.CHANGE_RECORDS)
        require(actor, person.organisation_id, Perm.VIEW_IDENTITY)
    identity = clean_identity(data)
    public = (
        OrganisationKey.objects.filter(organisation_id=person.organisation_id)
        .values_list("public_key", flat=True)
        .first()
    )
    if public is None:
        raise IdentityError(KeyStatus.NOT_SET_UP.message)
    sealed = None if identity.empty else seal_identity(person, identity, public)
    Person.objects.filter(pk=person.pk).update(identity_sealed=sealed)
    person.identity_sealed = sealed
    audit.record(actor, AuditAction.CHANGE, person, data={"fields": ["identity"]})


@dataclass(frozen=True)
class IdentityView:
    """What a page may show of a person's identity: a status, and the identity if unlocked."""

    status: str  # a KeyStatus value, or "empty" (no identity recorded)
    identity: Identity | None = None
    message: str = field(default="")

    @property
    def unlocked(self) -> bool:
        return self.identity is not None


EMPTY = "empty"


def reveal_identity(request: HttpRequest, person: Person) -> IdentityView:
    """``person``'s identity for the signed-in user if their role and session allow it.

    Each identity shown is recorded in the audit log first: if the entry cannot be written,
    nothing is shown. A blob that does not open, or belongs to another record, is reported
    (log warning without personal data, audit entry) and never shown.
    """
    status, private = keys.unlock_state(request, person.organisation_id)
    if status is KeyStatus.NOT_ALLOWED:
        return IdentityView(status.value, message=status.message)
    if not person.identity_sealed:
        return IdentityView(EMPTY, message="No identity recorded.")
    if private is None:
        return IdentityView(status.value, message=status.message)
    try:
        identity = open_identity(person, private)
    except SealError:
        log.warning("sealed identity of person #%s (organisation #%s) is damaged", person.pk, person.organisation_id)
        audit.record(
            request.user, AuditAction.VIEW, person, summary="Sealed identity could not be opened (damaged)",
            data={"fields": ["identity"], "result": "damaged"},
        )
        return IdentityView(
            KeyStatus.DAMAGED.value,
            message="This sealed identity is damaged and cannot be opened. Nothing was decrypted.",
        )
    audit.record(request.user, AuditAction.VIEW, person, data={"fields": ["identity"]})
    return IdentityView(KeyStatus.UNLOCKED.value, identity=identity, message=KeyStatus.UNLOCKED.message)


def read_identity(request: HttpRequest, person: Person) -> dict[str, Any] | None:
    """``person``'s identity as a dict, or None when it cannot be shown to this user now."""
    view = reveal_identity(request, person)
    return view.identity.as_dict() if view.identity is not None else None


def can_edit_identity(user: Any, organisation_id: int) -> bool:
    """Whether ``user`` may record identities in the organisation (one membership query)."""
    perms = permissions_of(role_in(user, organisation_id) or "")
    return Perm.CHANGE_RECORDS in perms and Perm.VIEW_IDENTITY in perms


# --- rotation -----------------------------------------------------------------------------------


@transaction.atomic
def rotate_organisation_key(organisation: Any, recovery_key_text: str, actor: Any = None) -> tuple[str, int]:
    """Replace an organisation's key pair: every sealed identity is re-sealed to the new key,
    every member's copy re-sealed to their personal key, a new recovery key made. Returns
    (new recovery key, identities re-sealed).

    For after a member with access leaves on bad terms: their old copy opens nothing written
    from now on, nor the database as it is now (old backups stay readable to it: docs/keys.md).
    All or nothing: a damaged identity stops the rotation and changes nothing.
    """
    from tnr.accounts import sessions
    from tnr.accounts.models import Organisation

    Organisation.objects.select_for_update().filter(pk=organisation.pk).exists()
    old_private = keys.private_from_recovery_key(organisation, recovery_key_text)
    new_public, new_private = sealing.new_keypair()
    raw, text = sealing.new_recovery_key()
    persons = list(Person.objects.filter(organisation=organisation, identity_sealed__isnull=False).order_by("pk"))
    damaged = []
    for person in persons:
        try:
            identity = open_identity(person, old_private)
        except SealError:
            damaged.append(person.pk)
            continue
        person.identity_sealed = seal_identity(person, identity, new_public)
    if damaged:
        shown = ", ".join(f"#{pk}" for pk in damaged[:20])
        raise keys.KeysError(
            f"{len(damaged)} sealed identit{'y is' if len(damaged) == 1 else 'ies are'} damaged "
            f"(persons {shown}); nothing was changed."
        )
    Person.objects.bulk_update(persons, ["identity_sealed"], batch_size=500)
    OrganisationKey.objects.filter(organisation=organisation).update(
        public_key=new_public, recovery_wrapped=sealing.wrap(raw, new_private),
        recovery_key_made_at=timezone.now(),
    )
    copies = list(MemberKey.objects.filter(membership__organisation=organisation).select_related("membership__user"))
    for copy in copies:
        membership = copy.membership
        try:
            keys.seal_copy_for(membership, new_private, copy.granted_by)
        except keys.KeysError:
            copy.delete()
        # Sessions hold the old key, which no longer matches: they end, and sign-in unlocks anew.
        sessions.end_all_sessions(membership.user)
    audit.record(
        actor, AuditAction.KEY_CREATED, organisation, object_type="accounts.key",
        summary="Organisation key replaced (rotation); identities re-sealed and copies re-granted",
        data={"identities": len(persons), "copies": len(copies)},
    )
    return text, len(persons)
