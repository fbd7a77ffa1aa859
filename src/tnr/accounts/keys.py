"""Organisation keys (DESIGN §5): set-up, unlocking at sign-in, grants, password change,
recovery. docs/keys.md explains the design for people; this docstring for the code.

What is stored (``tnr.accounts.models``), none of it usable without a secret the database
does not hold:

* ``OrganisationKey`` — the organisation's X25519 public key, and its private key wrapped
  under the *recovery key* (32 random bytes, printed once at set-up).
* ``UserKey`` — each person's own X25519 key pair, the private half wrapped under a key
  derived from their password with Argon2id (``settings.TNR_KDF_*``).
* ``MemberKey`` — a member's copy of the organisation private key, sealed to their
  ``UserKey`` public key. Sealing needs no secret, so an administrator whose key is unlocked
  can grant a new member access without knowing their password, and a sign-in costs one
  Argon2id derivation however many organisations the person belongs to.

While signed in, the opened organisation keys are held in the server-side session wrapped
under a fresh random 32-byte *session key*, which lives only in the browser, in the
``tnr_keys`` cookie (HttpOnly, SameSite=Strict, Secure outside development, no expiry date so
the browser forgets it when it closes). Neither the session row (in the database) nor the
cookie alone opens anything, and nothing in clear is ever written to disk on the server.
The held keys are usable only once the session has passed the second factor.

Everything that opens a key checks that the opened private key matches the stored public key,
so a damaged, truncated or swapped blob is detected and reported, never half-accepted.
Log lines and audit entries about keys name organisations and kinds of damage, never people.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from tnr.accounts import lockout, secondfactor, sessions
from tnr.accounts.models import MemberKey, Membership, Organisation, OrganisationKey, UserKey
from tnr.accounts.roles import Perm, require, roles_with
from tnr.core import audit, sealing
from tnr.core.choices import AuditAction
from tnr.core.sealing import SealError

log = logging.getLogger("tnr.accounts.keys")

COOKIE_NAME = "tnr_keys"
SESSION_KEYS = "tnr_keys"  # {organisation id: organisation private key wrapped under the cookie}
SESSION_DAMAGED = "tnr_keys_damaged"  # organisation ids whose held key failed this session
_PENDING_COOKIE = "_tnr_keys_cookie"  # request attribute: a new cookie value to send
_CACHE = "_tnr_org_keys"  # request attribute: {organisation id: (status, key)} for this request


class KeysError(Exception):
    """A refused key operation, with a message fit to show the user."""


class KeyStatus(enum.Enum):
    """Whether the signed-in user can read an organisation's sealed data right now."""

    UNLOCKED = "unlocked"
    NOT_ALLOWED = "not_allowed"
    NOT_SET_UP = "not_set_up"
    NOT_GRANTED = "not_granted"
    LOCKED = "locked"
    DAMAGED = "damaged"

    @property
    def message(self) -> str:
        return STATUS_MESSAGES[self]


STATUS_MESSAGES = {
    KeyStatus.UNLOCKED: "Unlocked for this session.",
    KeyStatus.NOT_ALLOWED: "Your role does not allow viewing identities.",
    KeyStatus.NOT_SET_UP: (
        "Sealed data are not set up for this organisation yet: an administrator has to create "
        "the organisation key first."
    ),
    KeyStatus.NOT_GRANTED: (
        "Your access to sealed data has not been granted yet. An administrator of the "
        "organisation can grant it on the Members page."
    ),
    KeyStatus.LOCKED: "Sealed — sign in again to unlock.",
    KeyStatus.DAMAGED: (
        "Your copy of the organisation key could not be opened: it is damaged or does not "
        "match. Nothing was decrypted. Sign in again; if this message comes back, ask an "
        "administrator to grant you access again."
    ),
}

WRONG_RECOVERY = (
    "The username, code or recovery key is not right. Check all three and try again."
)
NO_RECOVERY_WITHOUT_KEY = (
    "Without the recovery key, sealed data stay sealed: nobody — not your administrators, not "
    "the people who run this server — can open them for you."
)

# Audit wording for key events that have no verb of their own in tnr.core.choices (adding a
# verb needs a migration of the audit table): granting is a change of the membership, and a
# damaged key is a refused unlock.
GRANTED_SUMMARY = "Access to sealed data granted"
DAMAGED_SUMMARY = "Unlock refused: damaged or mismatched key detected; nothing decrypted"


def kdf_params() -> sealing.KdfParams:
    """The Argon2id cost for wrapping personal keys (``TNR_KDF_OPSLIMIT``/``_MEMLIMIT``)."""
    return sealing.KdfParams(int(settings.TNR_KDF_OPSLIMIT), int(settings.TNR_KDF_MEMLIMIT))


def fingerprint(public_key: bytes | memoryview) -> str:
    """A short, printable fingerprint of a public key, to compare keys by eye."""
    digest = hashlib.blake2b(bytes(public_key), digest_size=8, person=b"tnr-key-fp").hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def identity_roles() -> frozenset[str]:
    """The roles that read sealed data, and so the only ones that get a copy of the key."""
    return roles_with(Perm.VIEW_IDENTITY)


def _check_pair(public: bytes | memoryview, private: bytes) -> None:
    """Refuse a private key that is not the other half of ``public`` (damaged or swapped)."""
    if len(private) != sealing.KEY_BYTES or sealing.public_from_private(private) != bytes(public):
        raise SealError("the key does not belong with its public key")


DAMAGED_PARTS = {
    "personal": "a personal key",
    "copy": "a member's copy of the organisation key",
    "session": "the organisation key held in a session",
}


def _report_damage(user: Any, organisation_id: int | None, part: str) -> None:
    """A damaged key: a warning in the log and an audit entry, naming no person."""
    where = f" (organisation #{organisation_id})" if organisation_id else ""
    log.warning("key damage detected%s: %s could not be opened or did not match", where, DAMAGED_PARTS[part])
    audit.record(
        user, AuditAction.KEY_UNLOCKED, organisation=organisation_id,
        object_type="accounts.key", object_id=part, summary=DAMAGED_SUMMARY,
        data={"part": part, "result": "damaged"},
    )


def _notify(request: HttpRequest | None, level: int, text: str) -> None:
    if request is not None:
        messages.add_message(request, level, text, fail_silently=True)


# --- personal keys -----------------------------------------------------------------------------


def make_user_key(user: Any, password: str) -> tuple[bytes, bytes]:
    """A new personal key pair for ``user``, wrapped under ``password``: (public, private).

    Replaces any previous one, and deletes the user's copies of organisation keys, which were
    sealed to the previous key and cannot be opened any more.
    """
    public, private = sealing.new_keypair()
    now = timezone.now()
    wrapped = sealing.wrap_with_password(private, password, kdf_params()).to_bytes()
    UserKey.objects.update_or_create(
        user_id=user.pk,
        defaults={"public_key": public, "private_wrapped": wrapped, "created_at": now, "wrapped_at": now},
    )
    MemberKey.objects.filter(membership__user_id=user.pk).delete()
    return public, private


def open_user_key(user_key: UserKey, password: str) -> bytes:
    """The private half of ``user_key``; SealError if the password does not open it."""
    wrapped = sealing.PasswordWrapped.from_bytes(bytes(user_key.private_wrapped))
    private = sealing.unwrap_with_password(wrapped, password)
    _check_pair(user_key.public_key, private)
    return private


def _rewrap_user_key(user_key: UserKey, private: bytes, password: str) -> None:
    user_key.private_wrapped = sealing.wrap_with_password(private, password, kdf_params()).to_bytes()
    user_key.wrapped_at = timezone.now()
    user_key.save(update_fields=["private_wrapped", "wrapped_at"])


def _wrapped_with_current_params(user_key: UserKey) -> bool:
    wrapped = sealing.PasswordWrapped.from_bytes(bytes(user_key.private_wrapped))
    params = kdf_params()
    return (wrapped.opslimit, wrapped.memlimit) == (params.opslimit, params.memlimit)


# --- holding opened keys in the session --------------------------------------------------------


def _encode(secret: bytes) -> str:
    return base64.urlsafe_b64encode(secret).decode("ascii").rstrip("=")


def _decode(text: str | None) -> bytes | None:
    if not text or len(text) > 64:
        return None
    try:
        secret = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None
    return secret if len(secret) == sealing.KEY_BYTES else None


def _new_session_secret(request: HttpRequest) -> bytes:
    """A fresh session key, sent as the cookie with this response. Keys held under any
    earlier one cannot be opened with it, so they are dropped."""
    secret = secrets.token_bytes(sealing.KEY_BYTES)
    setattr(request, _PENDING_COOKIE, _encode(secret))
    request.session[SESSION_KEYS] = {}
    request.__dict__.pop(_CACHE, None)
    return secret


def _start_holding(request: HttpRequest) -> None:
    """At sign-in: a fresh session key, nothing held, no damage remembered."""
    _new_session_secret(request)
    request.session.pop(SESSION_DAMAGED, None)


def _session_secret(request: HttpRequest) -> bytes | None:
    """This session's key: the one about to be sent, else the one the browser sent."""
    pending = getattr(request, _PENDING_COOKIE, None)
    return _decode(pending) if pending else _decode(request.COOKIES.get(COOKIE_NAME))


def hold(request: HttpRequest, organisation_id: int, private: bytes) -> None:
    """Keep ``private`` for this session, wrapped under the session key."""
    pending = getattr(request, _PENDING_COOKIE, None)
    secret = _decode(pending) if pending else _decode(request.COOKIES.get(COOKIE_NAME))
    if secret is None or (not pending and not request.session.get(SESSION_KEYS)):
        # No session key yet, or a cookie left over with nothing held under it: start afresh.
        secret = _new_session_secret(request)
    held = dict(request.session.get(SESSION_KEYS) or {})
    held[str(organisation_id)] = base64.b64encode(sealing.wrap(secret, private)).decode("ascii")
    request.session[SESSION_KEYS] = held
    damaged = [i for i in request.session.get(SESSION_DAMAGED, []) if i != organisation_id]
    request.session[SESSION_DAMAGED] = damaged
    request.__dict__.pop(_CACHE, None)


def _drop_held(request: HttpRequest, organisation_id: int, *, damaged: bool) -> None:
    held = dict(request.session.get(SESSION_KEYS) or {})
    held.pop(str(organisation_id), None)
    request.session[SESSION_KEYS] = held
    if damaged:
        request.session[SESSION_DAMAGED] = sorted(
            {*request.session.get(SESSION_DAMAGED, []), organisation_id}
        )


def unlock_state(request: HttpRequest, organisation: Organisation | int) -> tuple[KeyStatus, bytes | None]:
    """(status, organisation private key or None) for the signed-in user, this request.

    The key is returned only to a session verified by the second factor, for a member whose
    role reads identities and whose copy of the key still exists (checked live: a role change
    or a withdrawn copy takes effect on the next request). Cached for the request.
    """
    organisation_id = organisation.pk if isinstance(organisation, Organisation) else int(organisation)
    cache: dict[int, tuple[KeyStatus, bytes | None]] = request.__dict__.setdefault(_CACHE, {})
    if organisation_id not in cache:
        cache[organisation_id] = _unlock_state(request, organisation_id)
    return cache[organisation_id]


def unlocked_org_key(request: HttpRequest, organisation: Organisation | int) -> bytes | None:
    """The organisation's private key if it is unlocked in this session, else None."""
    return unlock_state(request, organisation)[1]


def key_status(request: HttpRequest, organisation: Organisation | int) -> KeyStatus:
    return unlock_state(request, organisation)[0]


def _unlock_state(request: HttpRequest, organisation_id: int) -> tuple[KeyStatus, bytes | None]:
    user = request.user
    if not user.is_authenticated:
        return KeyStatus.LOCKED, None
    row = (
        Membership.objects.filter(user_id=user.pk, organisation_id=organisation_id)
        .values_list("role", "member_key__membership_id", "organisation__org_key__public_key")
        .first()
    )
    if row is None or row[0] not in identity_roles():
        return KeyStatus.NOT_ALLOWED, None
    _role, granted, public = row
    if public is None:
        return KeyStatus.NOT_SET_UP, None
    if granted is None:
        return KeyStatus.NOT_GRANTED, None
    if organisation_id in request.session.get(SESSION_DAMAGED, []):
        return KeyStatus.DAMAGED, None
    blob = (request.session.get(SESSION_KEYS) or {}).get(str(organisation_id))
    secret = _session_secret(request)
    # Held keys are usable only after the second factor: the password step alone opens them.
    if blob is None or secret is None or not secondfactor.is_verified(user):
        return KeyStatus.LOCKED, None
    try:
        private = sealing.unwrap(secret, base64.b64decode(blob, validate=True))
        _check_pair(public, private)
    except (SealError, ValueError, binascii.Error):
        _drop_held(request, organisation_id, damaged=True)
        _report_damage(user, organisation_id, "session")
        return KeyStatus.DAMAGED, None
    return KeyStatus.UNLOCKED, private


class KeyCookieMiddleware:
    """Sends the session key cookie when one was made, and deletes it when it is not needed
    (signed out, or nothing held): a stale key cookie should not outlive its session.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        pending = getattr(request, _PENDING_COOKIE, None)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        holding = signed_in and bool(request.session.get(SESSION_KEYS))
        if pending and holding:
            response.set_cookie(
                COOKIE_NAME, pending, max_age=None, path="/", secure=settings.SESSION_COOKIE_SECURE,
                httponly=True, samesite="Strict",
            )
        elif COOKIE_NAME in request.COOKIES and not holding:
            response.delete_cookie(COOKIE_NAME, path="/", samesite="Strict")
        return response


# --- the hooks: sign-in, password change, removal, role change ---------------------------------


@transaction.atomic
def unlock_on_sign_in(request: HttpRequest, user: Any, password: str) -> None:
    """After the password step: open the user's copies of organisation keys and hold them.

    A user without a personal key gets one now (first sign-in since keys were introduced). A
    personal key the correct password does not open was damaged, or wrapped under a password
    set outside this application (Django admin, ``changepassword``): reported, and replaced
    by a new one, so that an administrator can grant access again.
    """
    _start_holding(request)
    user_key = UserKey.objects.select_for_update().filter(user_id=user.pk).first()
    if user_key is None:
        make_user_key(user, password)
        return
    try:
        user_private = open_user_key(user_key, password)
    except SealError:
        _report_damage(user, None, "personal")
        make_user_key(user, password)
        _notify(
            request, messages.WARNING,
            "Your personal key could not be opened with your password (it was damaged, or "
            "your password was reset outside TNR Observatory). Nothing was decrypted. You have "
            "a new personal key now: ask an administrator to grant you access to sealed data "
            "again, or use your organisation's recovery key.",
        )
        return
    if not _wrapped_with_current_params(user_key):
        _rewrap_user_key(user_key, user_private, password)  # the KDF cost was changed
    grants = (
        MemberKey.objects.filter(membership__user_id=user.pk, membership__role__in=identity_roles())
        .select_related("membership__organisation")
        .order_by("membership__organisation__name")
    )
    publics = dict(
        OrganisationKey.objects.filter(
            organisation__memberships__user_id=user.pk
        ).values_list("organisation_id", "public_key")
    )
    for grant in grants:
        organisation = grant.membership.organisation
        try:
            public = publics.get(organisation.pk)
            if public is None:
                raise SealError("the organisation has no key")
            private = sealing.open_sealed(user_private, bytes(grant.sealed_key))
            _check_pair(public, private)
        except SealError:
            _report_damage(user, organisation.pk, "copy")
            request.session[SESSION_DAMAGED] = sorted(
                {*request.session.get(SESSION_DAMAGED, []), organisation.pk}
            )
            _notify(
                request, messages.WARNING,
                f"Your copy of the key of {organisation} could not be opened: it is damaged or "
                "does not match. Nothing was decrypted. Ask an administrator there to grant you "
                "access again.",
            )
            continue
        hold(request, organisation.pk, private)
        audit.record(user, AuditAction.KEY_UNLOCKED, organisation=organisation, object_type="accounts.key")


@transaction.atomic
def rewrap_on_password_change(
    request: HttpRequest | None, user: Any, old_password: str, new_password: str
) -> None:
    """Re-wrap the personal key under the new password (inside the change's transaction).

    The organisation keys themselves do not change, so what this session holds stays valid.
    """
    user_key = UserKey.objects.select_for_update().filter(user_id=user.pk).first()
    if user_key is None:
        make_user_key(user, new_password)
        return
    try:
        private = open_user_key(user_key, old_password)
    except SealError:
        _report_damage(user, None, "personal")
        make_user_key(user, new_password)
        _notify(
            request, messages.WARNING,
            "Your personal key could not be opened (it was damaged), so a new one was made. "
            "Ask an administrator to grant you access to sealed data again.",
        )
        return
    _rewrap_user_key(user_key, private, new_password)


def drop_member_key(membership: Membership) -> None:
    """The member's copy of the organisation key goes (removal, or a role that reads no
    identities). Their sessions may still hold it: removal ends those; see docs/keys.md for
    what a removed member who copied their key could still do, and for rotation.
    """
    MemberKey.objects.filter(membership_id=membership.pk).delete()


def on_role_changed(membership: Membership) -> None:
    if membership.role not in identity_roles():
        drop_member_key(membership)


# --- setting up, granting, recovery keys -------------------------------------------------------


def _lock_organisation(organisation: Organisation) -> None:
    Organisation.objects.select_for_update().filter(pk=organisation.pk).exists()


@transaction.atomic
def create_organisation_keys(
    organisation: Organisation,
    admin: Any,
    *,
    password: str | None = None,
    request: HttpRequest | None = None,
) -> str:
    """Create ``organisation``'s key pair; return the printable recovery key (shown once).

    ``admin`` (an administrator of the organisation) gets the first copy. They need a personal
    key: they have one once they have signed in; otherwise ``password`` makes it (command line,
    ``tnr demo``). With ``request``, the new key is also unlocked in that session.
    """
    _lock_organisation(organisation)
    if OrganisationKey.objects.filter(organisation=organisation).exists():
        raise KeysError(f"{organisation} already has a key. Use its recovery key, or rotate it.")
    require(admin, organisation, Perm.MANAGE_MEMBERS)
    membership = Membership.objects.get(user_id=admin.pk, organisation=organisation)
    user_key = UserKey.objects.filter(user_id=admin.pk).first()
    if user_key is not None:
        admin_public = bytes(user_key.public_key)
    elif password is not None:
        admin_public, _ = make_user_key(admin, password)
    else:
        raise KeysError("You have no personal key yet: sign out and in again, then retry.")
    public, private = sealing.new_keypair()
    raw, text = sealing.new_recovery_key()
    OrganisationKey.objects.create(
        organisation=organisation, public_key=public, recovery_wrapped=sealing.wrap(raw, private),
        created_by=admin if admin.is_authenticated else None,
    )
    MemberKey.objects.create(membership=membership, sealed_key=sealing.seal(admin_public, private), granted_by=admin)
    audit.record(admin, AuditAction.KEY_CREATED, organisation, object_type="accounts.key")
    if request is not None:
        hold(request, organisation.pk, private)
    return text


def private_from_recovery_key(organisation: Organisation, recovery_key_text: str) -> bytes:
    """The organisation's private key, opened with its recovery key.

    KeysError for a mistyped key (caught by its check characters), a key of another
    organisation, or a damaged stored copy (the two cannot be told apart, by design).
    """
    try:
        raw = sealing.parse_recovery_key(recovery_key_text)
    except SealError as error:
        raise KeysError(f"That is not a valid recovery key: {error}.") from None
    org_key = OrganisationKey.objects.filter(organisation=organisation).first()
    if org_key is None:
        raise KeysError(f"{organisation} has no organisation key, so there is nothing to recover.")
    try:
        private = sealing.unwrap(raw, bytes(org_key.recovery_wrapped))
        _check_pair(org_key.public_key, private)
    except SealError:
        raise KeysError(
            f"This recovery key does not open the key of {organisation} (it belongs elsewhere, "
            "or the stored copy is damaged)."
        ) from None
    return private


def seal_copy_for(membership: Membership, organisation_private: bytes, granted_by: Any) -> MemberKey:
    """Give ``membership`` a copy of the organisation key, sealed to their personal key."""
    if membership.role not in identity_roles():
        raise KeysError(
            f"{membership.get_role_display()}s do not read identities, so they get no key."
        )
    user_key = UserKey.objects.filter(user_id=membership.user_id).first()
    if user_key is None:
        raise KeysError(
            f"{membership.user.get_username()} has no personal key yet: they get one when they "
            "next sign in. Grant access after that."
        )
    member_key, _ = MemberKey.objects.update_or_create(
        membership=membership,
        defaults={
            "sealed_key": sealing.seal(bytes(user_key.public_key), organisation_private),
            "granted_by": granted_by if granted_by is not None and granted_by.is_authenticated else None,
            "granted_at": timezone.now(),
        },
    )
    return member_key


@transaction.atomic
def grant_access(request: HttpRequest, membership: Membership) -> None:
    """An administrator whose key is unlocked gives a member access to sealed data."""
    actor = request.user
    require(actor, membership.organisation_id, Perm.MANAGE_MEMBERS)
    status, private = unlock_state(request, membership.organisation_id)
    if private is None:
        raise KeysError(f"You cannot grant access: the organisation key is not unlocked for you. {status.message}")
    seal_copy_for(membership, private, actor)
    audit.record(actor, AuditAction.CHANGE, membership, summary=GRANTED_SUMMARY, data={"fields": ["member_key"]})


@transaction.atomic
def renew_recovery_key(request: HttpRequest, organisation: Organisation) -> str:
    """A new recovery key (the old one stops working); the key itself does not change."""
    require(request.user, organisation, Perm.MANAGE_MEMBERS)
    status, private = unlock_state(request, organisation)
    if private is None:
        raise KeysError(f"The organisation key is not unlocked for you. {status.message}")
    raw, text = sealing.new_recovery_key()
    now = timezone.now()
    OrganisationKey.objects.filter(organisation=organisation).update(
        recovery_wrapped=sealing.wrap(raw, private), recovery_key_made_at=now
    )
    audit.record(
        request.user, AuditAction.KEY_CREATED, organisation, object_type="accounts.key",
        summary="New recovery key made; the previous one no longer works",
    )
    return text


# --- recovery of a lost password ----------------------------------------------------------------


@transaction.atomic
def recover_with_recovery_key(
    organisation: Organisation, user: Any, recovery_key_text: str, new_password: str
) -> None:
    """Set a new password for a member who lost theirs, with the organisation's recovery key.

    The user gets a new personal key under the new password and a new copy of the
    organisation key (if their role reads identities). Copies of *other* organisations' keys,
    sealed to their old personal key, are gone: administrators there grant them again. Every
    session of the user ends. The caller has checked the second factor (or is the operator).
    """
    if not Membership.objects.filter(user_id=user.pk, organisation=organisation).exists():
        raise KeysError(WRONG_RECOVERY)
    private = private_from_recovery_key(organisation, recovery_key_text)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    make_user_key(user, new_password)
    membership = Membership.objects.select_related("user").get(user_id=user.pk, organisation=organisation)
    if membership.role in identity_roles():
        seal_copy_for(membership, private, user)
    sessions.end_all_sessions(user)
    audit.record(user, AuditAction.KEY_RECOVERED, organisation, object_type="accounts.key")
    audit.record(user, AuditAction.PASSWORD_CHANGED, organisation=organisation, object_type="accounts.user",
                 object_id=user.pk, summary="New password set with the recovery key")


class RecoveryOutcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True)
class RecoveryResult:
    outcome: RecoveryOutcome
    organisation: Organisation | None = None
    lock: lockout.Lock | None = None
    message: str = ""


def recover_account(
    username: str, recovery_key_text: str, code: str, new_password: str
) -> RecoveryResult:
    """The "lost password" page: username, recovery key, second-factor code, new password.

    Obeys the sign-in lockout: a wrong username, code or recovery key counts as a failed
    sign-in, and all three get one message (nothing tells whether an account exists). Only a
    mistyped recovery key is named as such: its check characters are verified without looking
    at any account. Which organisation's key it is, is found by trying it.
    """
    lock = lockout.current_lock(username)
    if lock is not None:
        return RecoveryResult(RecoveryOutcome.LOCKED, lock=lock)
    try:
        raw = sealing.parse_recovery_key(recovery_key_text)
    except SealError as error:
        return RecoveryResult(RecoveryOutcome.WRONG, message=f"That is not a valid recovery key: {error}.")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    organisation = None
    if user is not None and secondfactor.verify_code(user, code) is not None:
        organisation = _organisation_opened_by(user, raw)
    if organisation is None:
        lock = lockout.record_failure(username)
        outcome = RecoveryOutcome.LOCKED if lock else RecoveryOutcome.WRONG
        return RecoveryResult(outcome, lock=lock, message=WRONG_RECOVERY)
    assert user is not None
    recover_with_recovery_key(organisation, user, recovery_key_text, new_password)
    lockout.clear_failures(username)
    return RecoveryResult(RecoveryOutcome.OK, organisation=organisation)


def _organisation_opened_by(user: Any, raw: bytes) -> Organisation | None:
    rows = OrganisationKey.objects.filter(organisation__memberships__user_id=user.pk).select_related("organisation")
    for org_key in rows:
        try:
            _check_pair(org_key.public_key, sealing.unwrap(raw, bytes(org_key.recovery_wrapped)))
        except SealError:
            continue
        return org_key.organisation
    return None


# --- for pages and commands ----------------------------------------------------------------------


@dataclass(frozen=True)
class MemberKeyState:
    """What the Members page shows about one member's access to sealed data."""

    state: str  # "granted", "not_granted", "no_personal_key", "not_needed"
    granted_at: Any = None


def member_key_states(memberships: Iterable[Membership]) -> dict[int, MemberKeyState]:
    memberships = list(memberships)
    granted = dict(
        MemberKey.objects.filter(membership__in=[m.pk for m in memberships]).values_list("membership_id", "granted_at")
    )
    with_key = set(UserKey.objects.filter(user_id__in=[m.user_id for m in memberships]).values_list("user_id", flat=True))
    states = {}
    for m in memberships:
        if m.pk in granted:
            states[m.pk] = MemberKeyState("granted", granted[m.pk])
        elif m.role not in identity_roles():
            states[m.pk] = MemberKeyState("not_needed")
        elif m.user_id not in with_key:
            states[m.pk] = MemberKeyState("no_personal_key")
        else:
            states[m.pk] = MemberKeyState("not_granted")
    return states
