"""Fixed choice sets of the core app, in one place (NetBox ``choices.py`` style)."""

from django.db import models


class AuditAction(models.TextChoices):
    """What an audit entry records. New verbs may be added; existing values never change,
    because they are part of every stored entry's hash."""

    CREATE = "create", "Created"
    CHANGE = "change", "Changed"
    VIEW = "view", "Viewed (sensitive record)"
    EXPORT = "export", "Exported"
    DELETE = "delete", "Deleted"
    LOGIN = "login", "Signed in"
    LOGOUT = "logout", "Signed out"
    LOGIN_FAILED = "login_failed", "Sign-in failed"
    LOCKED_OUT = "locked_out", "Locked out"
    OTP_ENROLLED = "otp_enrolled", "Second factor enrolled"
    OTP_RESET = "otp_reset", "Second factor reset"
    RECOVERY_CODE_USED = "recovery_code_used", "Recovery code used"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    MEMBER_INVITED = "member_invited", "Member invited"
    MEMBER_JOINED = "member_joined", "Member joined"
    MEMBER_REMOVED = "member_removed", "Member removed"
    ROLE_CHANGED = "role_changed", "Role changed"
    KEY_CREATED = "key_created", "Organisation key created"
    KEY_UNLOCKED = "key_unlocked", "Organisation key unlocked"
    KEY_RECOVERED = "key_recovered", "Organisation key recovered"
