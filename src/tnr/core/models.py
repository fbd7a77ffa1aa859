"""Core models: the tamper-evident audit log.

The audit log answers "who created, changed, viewed, exported or deleted what, when, in which
organisation". It is append-only at three levels, because each can be bypassed by someone
with more access than the one before:

1. the model refuses to change or delete an entry (``save()``, ``delete()``, queryset
   ``update()``/``delete()`` raise ``AppendOnlyError``), so no application code can do it;
2. database triggers refuse UPDATE and DELETE (``install_append_only_guards``), so neither
   can a script using the app's database account with plain SQL;
3. every entry is chained to the previous one by SHA-256 (``tnr.core.audithash``), so whoever
   gets past both (a database superuser can drop triggers) is still detected by
   ``tnr audit verify`` — and a consistent rewrite of a whole chain by an external anchor.

Entries never hold personal data: no names, contacts or narratives, only ids, types, field
names and counts (see ``tnr.core.audit.record``).
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q

from tnr.accounts.models import Organisation
from tnr.core import audithash
from tnr.core.choices import AuditAction

INSTALLATION_CHAIN = "installation"


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or delete an audit entry through the ORM."""


def chain_key(organisation_id: int | None) -> str:
    """The key of the chain holding entries of ``organisation_id`` (None: the installation)."""
    return INSTALLATION_CHAIN if organisation_id is None else f"organisation:{organisation_id}"


class AuditChain(models.Model):
    """The head of one hash chain: how long it is and its last entry's hash.

    Appends lock this row (``SELECT … FOR UPDATE`` on PostgreSQL) so that two transactions
    never give out the same seq or fork the chain. It also lets ``verify`` notice that the
    newest entries were deleted, which the chain alone cannot show; a trigger only lets the
    head move forward one entry at a time onto an entry that exists.
    """

    key = models.CharField(max_length=40, unique=True, editable=False)
    # No database constraint and no cascade: the audit trail of an organisation (or of a
    # user, below) outlives it, and a cascade would be an UPDATE or DELETE on the log.
    organisation = models.ForeignKey(
        Organisation, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
        related_name="+", editable=False,
    )
    length = models.PositiveBigIntegerField(default=0, editable=False)
    head_hash = models.CharField(max_length=64, default=audithash.GENESIS, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit entries cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries cannot be deleted")

    def _raw_delete(self, using: str | None) -> int:
        raise AppendOnlyError("audit entries cannot be deleted")


class AuditEntry(models.Model):
    """One event in an organisation's (or the installation's) audit chain.

    Created only by ``tnr.core.audit.record``; read through ``tnr.core.audit.entries_for``.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
        related_name="+",
    )
    seq = models.PositiveBigIntegerField(help_text="Position in the organisation's chain, from 1.")
    created_at = models.DateTimeField(help_text="UTC.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True,
        blank=True, related_name="+", help_text="None: the system or a command-line operator.",
    )
    actor_username = models.CharField(max_length=150, blank=True, help_text="As it was at the time.")
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    object_type = models.CharField(max_length=100, blank=True, help_text='e.g. "records.incident".')
    object_id = models.CharField(max_length=100, blank=True)
    summary = models.CharField(max_length=200, blank=True, help_text="Short; ids and field names only.")
    # Canonical JSON text, not a JSONField: the exact string that was hashed is what is
    # stored (PostgreSQL's jsonb would reorder keys), and verification needs no parsing.
    data = models.TextField(default="{}", help_text="Details as canonical JSON (ids, field names, counts).")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "created_at"], name="auditentry_org_time"),
            models.Index(fields=["organisation", "action", "created_at"], name="auditentry_org_action"),
        ]
        constraints = [
            # One chain per organisation, plus one for the installation (organisation NULL).
            models.UniqueConstraint(
                fields=["organisation", "seq"], condition=Q(organisation__isnull=False),
                name="auditentry_org_seq_unique",
            ),
            models.UniqueConstraint(
                fields=["seq"], condition=Q(organisation__isnull=True),
                name="auditentry_installation_seq_unique",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="auditentry_seq_positive"),
            models.CheckConstraint(condition=Q(action__in=AuditAction.values), name="auditentry_action_valid"),
        ]

    def __str__(self) -> str:
        return f"{chain_key(self.organisation_id)} #{self.seq} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit entries cannot be changed")
        if not self.hash or self.hash != self.compute_hash():
            raise AppendOnlyError("audit entries are created only by tnr.core.audit.record()")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries cannot be deleted")

    @property
    def details(self) -> dict[str, Any]:
        """``data`` parsed (an empty dict if it cannot be parsed)."""
        try:
            value = json.loads(self.data)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def compute_hash(self) -> str:
        return audithash.entry_hash(
            self.seq, audithash.canonical_time(self.created_at), self.organisation_id, self.actor_id,
            self.actor_username, self.action, self.object_type, self.object_id, self.summary,
            self.data, self.prev_hash,
        )

    @property
    def intact(self) -> bool:
        """Whether this entry still matches its hash (its link to the chain is not checked)."""
        try:
            return self.compute_hash() == self.hash
        except (TypeError, ValueError):
            return False


# --- database guards -------------------------------------------------------------------------
# Installed by migration 0002 and re-installed by ``tnr flush`` (which must empty the tables).
# They stop the application's own database account from rewriting history with plain SQL.
# They do not stop a database superuser, who can drop them: that is what the hash chain and
# anchors are for.

_ENTRY = AuditEntry._meta.db_table
_CHAIN = AuditChain._meta.db_table

_SQLITE_GUARDS = [
    f"""CREATE TRIGGER IF NOT EXISTS {_ENTRY}_no_update BEFORE UPDATE ON {_ENTRY}
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {_ENTRY}_no_delete BEFORE DELETE ON {_ENTRY}
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {_CHAIN}_no_delete BEFORE DELETE ON {_CHAIN}
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: chain heads cannot be deleted'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS {_CHAIN}_forward_only BEFORE UPDATE ON {_CHAIN}
    WHEN NEW.key IS NOT OLD.key OR NEW.organisation_id IS NOT OLD.organisation_id
      OR NEW.length != OLD.length + 1
      OR NEW.head_hash IS NOT (
        CASE WHEN NEW.organisation_id IS NULL
          THEN (SELECT hash FROM {_ENTRY} WHERE organisation_id IS NULL AND seq = NEW.length)
          ELSE (SELECT hash FROM {_ENTRY} WHERE organisation_id = NEW.organisation_id AND seq = NEW.length)
        END)
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: a chain head only moves forward onto the entry appended'); END""",  # noqa: S608 - table names from the models, no values
    # The database moves the head itself as each entry is inserted: one statement fewer per
    # append, and with the trigger above an entry can only be inserted as the chain's next.
    # The key is ``chain_key()`` spelled in SQL.
    f"""CREATE TRIGGER IF NOT EXISTS {_ENTRY}_advance_head AFTER INSERT ON {_ENTRY}
    BEGIN
      UPDATE {_CHAIN} SET length = NEW.seq, head_hash = NEW.hash
      WHERE key = CASE WHEN NEW.organisation_id IS NULL THEN '{INSTALLATION_CHAIN}'
                       ELSE 'organisation:' || NEW.organisation_id END;
    END""",  # noqa: S608 - table names from the models, no values
]
_SQLITE_TRIGGERS = [
    f"{_ENTRY}_no_update", f"{_ENTRY}_no_delete", f"{_CHAIN}_no_delete", f"{_CHAIN}_forward_only",
    f"{_ENTRY}_advance_head",
]

# SQLSTATE 23001 (restrict_violation) surfaces in Django as IntegrityError, as SQLite's
# RAISE(ABORT) does, so callers see the same exception on both databases.
_POSTGRES_GUARDS = [
    """CREATE OR REPLACE FUNCTION tnr_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
    END $$""",
    f"""CREATE OR REPLACE FUNCTION tnr_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      appended text;
    BEGIN
      IF NEW.organisation_id IS NULL THEN
        SELECT hash INTO appended FROM {_ENTRY} WHERE organisation_id IS NULL AND seq = NEW.length;
      ELSE
        SELECT hash INTO appended FROM {_ENTRY} WHERE organisation_id = NEW.organisation_id AND seq = NEW.length;
      END IF;
      IF NEW.key IS DISTINCT FROM OLD.key OR NEW.organisation_id IS DISTINCT FROM OLD.organisation_id
         OR NEW.length <> OLD.length + 1 OR NEW.head_hash IS DISTINCT FROM appended THEN
        RAISE EXCEPTION 'the audit log is append-only: a chain head only moves forward onto the entry appended'
          USING ERRCODE = 'restrict_violation';
      END IF;
      RETURN NEW;
    END $$""",  # noqa: S608 - table names from the models, no values
    f"""CREATE OR REPLACE FUNCTION tnr_audit_advance_head() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE {_CHAIN} SET length = NEW.seq, head_hash = NEW.hash
      WHERE key = CASE WHEN NEW.organisation_id IS NULL THEN '{INSTALLATION_CHAIN}'
                       ELSE 'organisation:' || NEW.organisation_id END;
      RETURN NULL;
    END $$""",  # noqa: S608 - table names from the models, no values
    f"DROP TRIGGER IF EXISTS {_ENTRY}_advance_head ON {_ENTRY}",
    f"""CREATE TRIGGER {_ENTRY}_advance_head AFTER INSERT ON {_ENTRY}
    FOR EACH ROW EXECUTE FUNCTION tnr_audit_advance_head()""",
    f"DROP TRIGGER IF EXISTS {_ENTRY}_append_only ON {_ENTRY}",
    f"""CREATE TRIGGER {_ENTRY}_append_only BEFORE UPDATE OR DELETE ON {_ENTRY}
    FOR EACH ROW EXECUTE FUNCTION tnr_audit_refuse()""",
    f"DROP TRIGGER IF EXISTS {_CHAIN}_no_delete ON {_CHAIN}",
    f"""CREATE TRIGGER {_CHAIN}_no_delete BEFORE DELETE ON {_CHAIN}
    FOR EACH ROW EXECUTE FUNCTION tnr_audit_refuse()""",
    f"DROP TRIGGER IF EXISTS {_CHAIN}_forward_only ON {_CHAIN}",
    f"""CREATE TRIGGER {_CHAIN}_forward_only BEFORE UPDATE ON {_CHAIN}
    FOR EACH ROW EXECUTE FUNCTION tnr_audit_head_forward()""",
]
_POSTGRES_REMOVE = [
    f"DROP TRIGGER IF EXISTS {_ENTRY}_advance_head ON {_ENTRY}",
    f"DROP TRIGGER IF EXISTS {_ENTRY}_append_only ON {_ENTRY}",
    f"DROP TRIGGER IF EXISTS {_CHAIN}_no_delete ON {_CHAIN}",
    f"DROP TRIGGER IF EXISTS {_CHAIN}_forward_only ON {_CHAIN}",
]


def install_append_only_guards(connection: BaseDatabaseWrapper) -> None:
    """Create the triggers that refuse UPDATE/DELETE on the audit log (idempotent)."""
    statements = {"sqlite": _SQLITE_GUARDS, "postgresql": _POSTGRES_GUARDS}.get(connection.vendor, [])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def remove_append_only_guards(connection: BaseDatabaseWrapper) -> None:
    """Drop the triggers: only for ``flush`` (empties every table) and for tests of detection."""
    if connection.vendor == "sqlite":
        statements = [f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS]
    elif connection.vendor == "postgresql":
        statements = _POSTGRES_REMOVE
    else:
        statements = []
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
