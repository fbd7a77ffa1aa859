"""Organisations, their members, invitations, and the state behind sign-in security.

Every record belongs to one organisation. A user acts in an organisation through a
``Membership`` whose role (``Role``) has a written meaning in ``tnr.accounts.roles``.

Nothing here may help an adversary who copies the database: invitation tokens are stored
only as SHA-256 hashes, the lockout counters are keyed by an HMAC of the lower-cased username
(no attempted usernames, no IP addresses, no user agents), and recovery codes live in
django-otp's ``StaticToken`` as keyed hashes (see ``tnr.accounts.secondfactor``).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class OrganisationKind(models.TextChoices):
    NGO = "ngo", "Non-governmental organisation"
    NHRI = "nhri", "National human rights institution"
    STATE_FOCAL_POINT = "state_focal_point", "Police or state TNR focal point"
    UN = "un", "UN office"
    RESEARCH = "research", "Research institution"
    OTHER = "other", "Other"


class Role(models.TextChoices):
    """A member's role in one organisation. What each may do: ``tnr.accounts.roles``."""

    ADMINISTRATOR = "administrator", "Administrator"
    CASEWORKER = "caseworker", "Caseworker"
    ANALYST = "analyst", "Analyst"
    PARTNER = "partner", "Partner (read-only, de-identified)"


class Organisation(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=30, choices=OrganisationKind.choices, default=OrganisationKind.NGO)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=OrganisationKind.values), name="organisation_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role in an organisation.

    Created, changed and deleted only through ``tnr.accounts.actions`` (the admin shows them
    read-only): removal must also end the member's sessions, and an organisation must always
    keep at least one administrator.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self, now: datetime.datetime | None = None) -> InvitationQuerySet:
        """Invitations that can still be accepted."""
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now or timezone.now()
        )


class Invitation(models.Model):
    """An invitation to join an organisation with a role, as a single-use link.

    There is no e-mail server: the administrator is shown the link once and passes it on
    through a channel they trust. Only the SHA-256 hash of the link's token is stored, so a
    copy of the database cannot be used to join.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="invitation_role_valid"),
        ]

    def __str__(self) -> str:
        return f"Invitation to {self.organisation} as {self.role}"

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class LoginThrottle(models.Model):
    """Failed sign-in attempts (password or code) against one account name.

    ``key`` is an HMAC of the lower-cased username, so a name that does not exist is counted
    and locked exactly like one that does (no account enumeration) and the table reveals
    neither real nor mistyped usernames. No IP address is kept: see ``tnr.accounts.lockout``.
    """

    key = models.CharField(max_length=64, primary_key=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failures since the last lock.")
    lockouts = models.PositiveIntegerField(default=0, help_text="Locks in a row; each doubles the next.")
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "sign-in lockout"

    def __str__(self) -> str:
        return f"{self.key[:12]}… ({self.failures} failures)"


class AccountState(models.Model):
    """Per-user security state that does not belong on Django's user model.

    ``session_generation`` is stamped into every session at sign-in and compared on every
    request (``tnr.accounts.middleware``); increasing it ends all of the user's sessions at
    once, whichever session backend is used. A missing row means generation 0.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="account_state"
    )
    session_generation = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user} (generation {self.session_generation})"


# --- organisation keys (DESIGN §5; tnr.accounts.keys does everything with them) ----------------
#
# Two levels, so that a sign-in costs one slow key derivation however many organisations a
# person belongs to, and so that an administrator can give a new member access without
# knowing their password:
#
#   password --Argon2id--> wraps UserKey.private (the member's own X25519 key)
#   UserKey.public    <--sealed to-- MemberKey.sealed_key = the organisation's private key
#   recovery key      --wraps-->     OrganisationKey.recovery_wrapped = the same private key
#
# None of these columns holds a usable secret: a copy of the database needs a member's
# password (slow to guess, by design) or the printed recovery key to open anything.


class OrganisationKey(models.Model):
    """An organisation's X25519 key pair: the public half in clear (anyone in the organisation
    can seal to it), the private half only wrapped under the recovery key shown once at set-up.
    Members' copies of the private half are ``MemberKey`` rows.
    """

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, primary_key=True, related_name="org_key"
    )
    public_key = models.BinaryField(max_length=32, editable=False)
    recovery_wrapped = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recovery_key_made_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "organisation key"

    def __str__(self) -> str:
        return f"Key of {self.organisation}"


class UserKey(models.Model):
    """A person's own X25519 key pair; the private half only wrapped under their password
    (``tnr.core.sealing.PasswordWrapped``: salt, Argon2id parameters, secret box).

    Made when they first set a password (accepting an invitation) or first sign in after keys
    were introduced; re-wrapped when the password changes.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="user_key"
    )
    public_key = models.BinaryField(max_length=32, editable=False)
    private_wrapped = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    wrapped_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "personal key"

    def __str__(self) -> str:
        return f"Personal key of {self.user}"


class MemberKey(models.Model):
    """A member's copy of their organisation's private key, sealed to their ``UserKey``.

    Exists only for roles that may read identities (``Perm.VIEW_IDENTITY``). Deleted when the
    member is removed or moves to a role without that permission; deleted with the membership
    in any case.
    """

    membership = models.OneToOneField(
        Membership, on_delete=models.CASCADE, primary_key=True, related_name="member_key"
    )
    sealed_key = models.BinaryField(editable=False)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "member's copy of the organisation key"
        verbose_name_plural = "members' copies of organisation keys"

    def __str__(self) -> str:
        return f"Key copy of {self.membership}"
