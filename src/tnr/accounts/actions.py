"""Actions of the accounts app: signing in, the second factor, invitations and members.

Views, commands and tests call these verbs; none of them changes a membership, an invitation
or a device through a raw ``.save()`` of its own. Every check that decides who may do what
goes through ``tnr.accounts.roles``.

Hooks for the organisation-key work (DESIGN §5), each called at exactly one place and
handing over to ``tnr.accounts.keys``:

* ``on_password_verified(request, user, password)`` — right after the password step succeeds
  (and after a new member sets their password on accepting an invitation), once the session
  is signed in. The place to unwrap the member's copies of organisation keys.
* ``on_password_changed(request, user, old_password, new_password)`` — inside the password
  change transaction, after the new password is saved. The place to re-wrap them.
* ``on_member_removed(membership)`` — inside the removal transaction, before the membership
  row is deleted. The place to drop the member's wrapped copy.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate, get_user_model, update_session_auth_hash
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tnr.accounts import keys, lockout, secondfactor, sessions
from tnr.accounts.models import Invitation, Membership, Organisation, Role
from tnr.accounts.roles import Perm, require
from tnr.core import audit
from tnr.core.choices import AuditAction

INVITATION_DAYS = (1, 3, 7, 14)
# Session flag: this verified user is enrolling a new authenticator to replace theirs.
REPLACING_AUTHENTICATOR = "tnr_replacing_authenticator"


class AccountsError(Exception):
    """A refused action, with a message fit to show the user."""


# --- hooks for the organisation-key work ------------------------------------------------------


def on_password_verified(request: HttpRequest, user: Any, password: str) -> None:
    """Called once the password step has signed ``user`` in: unlock their organisation keys
    into the session (usable only after the second factor)."""
    keys.unlock_on_sign_in(request, user, password)


def on_password_changed(
    request: HttpRequest, user: Any, old_password: str, new_password: str
) -> None:
    """Called after ``user``'s new password is saved, in the same transaction: re-wrap their
    personal key under the new password."""
    keys.rewrap_on_password_change(request, user, old_password, new_password)


def on_member_removed(membership: Membership) -> None:
    """Called before ``membership`` is deleted, in the same transaction: their copy of the
    organisation key goes."""
    keys.drop_member_key(membership)


# --- signing in -------------------------------------------------------------------------------


class Outcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


def _audit_in_each_organisation(user: Any, action: AuditAction, summary: str) -> None:
    """Sign-in events belong to no single organisation: each of the user's organisations gets
    the entry in its own chain, where its administrators can see it. No address or user agent
    is recorded (DESIGN §3)."""
    for organisation_id in Membership.objects.filter(user_id=user.pk).values_list("organisation_id", flat=True):
        audit.record(user, action, organisation=organisation_id, object_type="auth.user",
                     object_id=user.pk, summary=summary)


@dataclass(frozen=True)
class SignInResult:
    outcome: Outcome
    user: Any = None
    lock: lockout.Lock | None = None


def sign_in_with_password(request: HttpRequest, username: str, password: str) -> SignInResult:
    """Step one: check the password; on success the session is signed in but not verified.

    A locked name is refused before the password is looked at. Wrong username and wrong
    password are the same outcome, and a name that does not exist locks like one that does.
    """
    lock = lockout.current_lock(username)
    if lock is not None:
        return SignInResult(Outcome.LOCKED, lock=lock)
    user = authenticate(request, username=username, password=password)
    if user is None:
        lock = lockout.record_failure(username)
        known = get_user_model().objects.filter(username=username).first()
        if known is not None:
            _audit_in_each_organisation(known, AuditAction.LOGIN_FAILED, "wrong password" + (" (now locked)" if lock else ""))
        return SignInResult(Outcome.LOCKED if lock else Outcome.WRONG, lock=lock)
    auth_login(request, user)  # a new session key: nothing from before sign-in carries over
    sessions.stamp(request.session, user)
    on_password_verified(request, user, password)
    return SignInResult(Outcome.OK, user=user)


def verify_second_factor(request: HttpRequest, code: str) -> SignInResult:
    """Step two: a code from the authenticator app or a recovery code.

    Failures count against the same lock as passwords; when it locks, the half-signed-in
    session ends, so the password has to be given again after the lock.
    """
    user = request.user
    username = user.get_username()
    lock = lockout.current_lock(username)
    if lock is None:
        device = secondfactor.verify_code(user, code)
        if device is not None:
            otp_login(request, device)
            request.session.cycle_key()
            lockout.clear_failures(username)
            _audit_in_each_organisation(user, AuditAction.LOGIN, "signed in with password and second factor")
            return SignInResult(Outcome.OK, user=user)
        lock = lockout.record_failure(username)
        _audit_in_each_organisation(user, AuditAction.LOGIN_FAILED, "wrong second-factor code" + (" (now locked)" if lock else ""))
        if lock is None:
            return SignInResult(Outcome.WRONG, user=user)
    auth_logout(request)
    return SignInResult(Outcome.LOCKED, lock=lock)


def check_current_code(request: HttpRequest, code: str) -> Device | None:
    """For a signed-in user confirming a sensitive change: the device that accepts ``code``.

    Failures count towards the sign-in lock; reaching it signs the user out.
    """
    user = request.user
    device = secondfactor.verify_code(user, code)
    if device is None and lockout.record_failure(user.get_username()) is not None:
        auth_logout(request)
    return device


# --- second factor ----------------------------------------------------------------------------


def begin_enrolment(user: Any) -> TOTPDevice:
    """The authenticator ``user`` is enrolling (made once, reused until confirmed)."""
    return secondfactor.pending_authenticator(user)


@transaction.atomic
def confirm_enrolment(request: HttpRequest, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the authenticator with its current code; the session becomes verified.

    Returns the new recovery codes (the only time they exist in clear), or None if the code
    was wrong. Wrong codes here do not count towards the lock: they cannot reveal anything
    the person enrolling does not already hold.
    """
    user = request.user
    if device.user_id != user.pk or not secondfactor.confirm_authenticator(device, code):
        return None
    codes = secondfactor.new_recovery_codes(user)
    otp_login(request, device)
    request.session.pop(REPLACING_AUTHENTICATOR, None)
    request.session.cycle_key()
    lockout.clear_failures(user.get_username())
    return codes


@transaction.atomic
def regenerate_recovery_codes(request: HttpRequest, code: str) -> list[str] | None:
    """New recovery codes (the old ones stop working), if ``code`` is a current code."""
    if check_current_code(request, code) is None:
        return None
    return secondfactor.new_recovery_codes(request.user)


@transaction.atomic
def replace_authenticator(request: HttpRequest, code: str) -> bool:
    """Start enrolling a new authenticator (new or lost phone), if ``code`` verifies.

    With a recovery code (the phone is lost, perhaps in someone else's hands) the old
    authenticator stops working at once. With a code from the old app it keeps working until
    the new one is confirmed, so that an interrupted switch locks nobody out. Either way the
    session stays verified, by the device that accepted ``code`` just now.
    """
    device = check_current_code(request, code)
    if device is None:
        return False
    user = request.user
    otp_login(request, device)
    if isinstance(device, StaticDevice):
        secondfactor.confirmed_authenticators(user).delete()
    secondfactor.pending_authenticator(user)
    request.session[REPLACING_AUTHENTICATOR] = True
    return True


# --- passwords --------------------------------------------------------------------------------


@transaction.atomic
def change_password(request: HttpRequest, user: Any, old_password: str, new_password: str) -> None:
    """Set a new password (already validated); other sessions of the user end."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    on_password_changed(request, user, old_password, new_password)
    # Keeps this session; Django's session hash check ends the user's other sessions.
    update_session_auth_hash(request, user)


def record_wrong_old_password(request: HttpRequest) -> bool:
    """A wrong current password on the change form counts towards the lock; True if locked."""
    if lockout.record_failure(request.user.get_username()) is not None:
        auth_logout(request)
        return True
    return False


# --- invitations ------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@transaction.atomic
def invite_member(
    actor: Any, organisation: Organisation, role: str, days: int = 3
) -> tuple[Invitation, str]:
    """An invitation to ``organisation`` as ``role``, valid ``days`` days.

    Returns the invitation and its token. The token is shown once (in the link) and only its
    hash is stored.
    """
    require(actor, organisation, Perm.MANAGE_MEMBERS)
    return _create_invitation(organisation, role, days, created_by=actor)


@transaction.atomic
def invite_from_command_line(
    organisation: Organisation, role: str, days: int = 3
) -> tuple[Invitation, str]:
    """As ``invite_member``, for the installation's operator (``tnr invite``): how the first
    administrator of a new organisation gets in.
    """
    return _create_invitation(organisation, role, days, created_by=None)


def _create_invitation(
    organisation: Organisation, role: str, days: int, *, created_by: Any
) -> tuple[Invitation, str]:
    if role not in Role.values:
        raise AccountsError("Choose one of the roles offered.")
    if days not in INVITATION_DAYS:
        raise AccountsError("Choose one of the validity periods offered.")
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organisation=organisation,
        role=role,
        token_hash=_token_hash(token),
        created_by=created_by,
        expires_at=timezone.now() + datetime.timedelta(days=days),
    )
    audit.record(created_by, AuditAction.MEMBER_INVITED, invitation, organisation=organisation,
                 summary=f"invitation as {role}, valid {days} days", data={"role": role, "days": days})
    return invitation, token


def find_invitation(token: str) -> Invitation | None:
    """The pending invitation with ``token``; None if unknown, used, revoked or expired."""
    if not token or len(token) > 100:
        return None
    return (
        Invitation.objects.pending()
        .select_related("organisation")
        .filter(token_hash=_token_hash(token))
        .first()
    )


def _claim(token: str) -> Invitation:
    """Lock and return the pending invitation, or refuse (all failures look the same)."""
    invitation = (
        Invitation.objects.pending()
        .select_for_update()
        .filter(token_hash=_token_hash(token))
        .first()
    )
    if invitation is None:
        raise AccountsError(INVALID_INVITATION)
    return invitation


INVALID_INVITATION = (
    "This invitation link cannot be used: it may have expired, been used already or been "
    "withdrawn. Ask the administrator who sent it for a new one."
)


@transaction.atomic
def accept_invitation(request: HttpRequest, token: str, username: str, password: str) -> Any:
    """Create the invitee's account (username and password already validated), make them a
    member, and sign them in for the password step; enrolment of the second factor follows.
    """
    invitation = _claim(token)
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise AccountsError("That username is taken. Choose another.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password)
    except IntegrityError:
        raise AccountsError("That username is taken. Choose another.") from None
    Membership.objects.create(user=user, organisation=invitation.organisation, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit.record(user, AuditAction.MEMBER_JOINED, invitation, organisation=invitation.organisation,
                 summary=f"new account joined as {invitation.role}", data={"role": invitation.role})
    # authenticate() sets the backend that login() records in the session.
    signed_in = authenticate(request, username=username, password=password)
    auth_login(request, signed_in)
    sessions.stamp(request.session, signed_in)
    on_password_verified(request, signed_in, password)
    return signed_in


@transaction.atomic
def join_with_invitation(user: Any, token: str) -> Membership:
    """An existing, signed-in user accepts an invitation for their own account."""
    invitation = _claim(token)
    if Membership.objects.filter(user_id=user.pk, organisation=invitation.organisation).exists():
        raise AccountsError(
            f"You are already a member of {invitation.organisation}. An administrator there "
            "can change your role."
        )
    membership = Membership.objects.create(
        user=user, organisation=invitation.organisation, role=invitation.role
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit.record(user, AuditAction.MEMBER_JOINED, invitation, organisation=invitation.organisation,
                 summary=f"existing account joined as {invitation.role}", data={"role": invitation.role})
    return membership


@transaction.atomic
def revoke_invitation(actor: Any, invitation: Invitation) -> None:
    """Withdraw a pending invitation so its link stops working."""
    require(actor, invitation.organisation_id, Perm.MANAGE_MEMBERS)
    Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# --- members ----------------------------------------------------------------------------------


LAST_ADMINISTRATOR = (
    "An organisation must keep at least one administrator. Make another member an "
    "administrator first."
)


def _lock_organisation(organisation_id: int) -> None:
    """Serialise membership changes of one organisation (the last-administrator rule)."""
    Organisation.objects.select_for_update().filter(pk=organisation_id).exists()


def _other_administrators(membership: Membership) -> bool:
    return (
        Membership.objects.filter(organisation_id=membership.organisation_id, role=Role.ADMINISTRATOR)
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def change_role(actor: Any, membership: Membership, role: str) -> Membership:
    """Give ``membership`` a new role. Takes effect on the member's next request."""
    _lock_organisation(membership.organisation_id)
    require(actor, membership.organisation_id, Perm.MANAGE_MEMBERS)
    if role not in Role.values:
        raise AccountsError("Choose one of the roles offered.")
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if (
        membership.role == Role.ADMINISTRATOR
        and role != Role.ADMINISTRATOR
        and not _other_administrators(membership)
    ):
        raise AccountsError(LAST_ADMINISTRATOR)
    if membership.role != role:
        audit.record(actor, AuditAction.ROLE_CHANGED, membership, organisation=membership.organisation_id,
                     summary=f"{membership.role} -> {role}", data={"from": membership.role, "to": role})
        membership.role = role
        membership.save(update_fields=["role"])
        keys.on_role_changed(membership)  # a role that reads no identities keeps no key copy
    return membership


@transaction.atomic
def remove_member(actor: Any, membership: Membership) -> None:
    """Remove a member. Every session of theirs ends at once, in every organisation."""
    _lock_organisation(membership.organisation_id)
    require(actor, membership.organisation_id, Perm.MANAGE_MEMBERS)
    membership = Membership.objects.select_for_update().select_related("user", "organisation").get(
        pk=membership.pk
    )
    if membership.role == Role.ADMINISTRATOR and not _other_administrators(membership):
        raise AccountsError(LAST_ADMINISTRATOR)
    audit.record(actor, AuditAction.MEMBER_REMOVED, membership, organisation=membership.organisation,
                 summary=f"member with role {membership.role} removed", data={"user": membership.user_id})
    on_member_removed(membership)
    membership.delete()
    sessions.end_all_sessions(membership.user)


@transaction.atomic
def unlock_member(actor: Any, membership: Membership) -> None:
    """Lift a sign-in lock on a member (it may be an attacker keeping them out)."""
    require(actor, membership.organisation_id, Perm.MANAGE_MEMBERS)
    lockout.clear_failures(membership.user.get_username())
