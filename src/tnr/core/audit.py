"""The audit log: record an event, verify the chains, export them, read them with permission.

Record inside the transaction that makes the change, so that a rolled-back change leaves no
entry and a committed change always has one::

    with transaction.atomic():
        incident.save()
        audit.record(request.user, AuditAction.CHANGE, incident, data={"fields": ["title"]})

What goes into an entry is visible to every administrator of the organisation and leaves the
installation in exports, so it holds **no personal data**: never a name, contact, narrative,
free text typed by a user, or the username typed into a failed sign-in (people type their
password there). Ids, types, field *names* and counts only.

Each organisation has its own chain (and the installation one for events that belong to no
organisation), for three reasons: an organisation can export and verify its whole chain
without seeing anyone else's entries; appends in different organisations never wait for each
other; and a chain that belongs to one organisation can be anchored by that organisation.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from tnr.accounts.models import Organisation
from tnr.accounts.roles import Perm, organisation_ids_with
from tnr.core import audithash
from tnr.core.audithash import Anchor, ChainReport, ChainVerifier
from tnr.core.choices import AuditAction
from tnr.core.models import INSTALLATION_CHAIN, AuditChain, AuditEntry, chain_key

SUMMARY_MAX = 200
VERIFY_BATCH = 20_000

__all__ = [
    "Anchor",
    "AuditAction",
    "ChainReport",
    "VerifyReport",
    "administered_organisations",
    "chain_for",
    "entries_for",
    "export_chain",
    "read_export",
    "record",
    "verify",
    "verify_chain",
    "verify_export",
]


# --- recording -------------------------------------------------------------------------------


def _lock_chain(organisation_id: int | None) -> AuditChain:
    """The chain head row for ``organisation_id``, created if needed and locked.

    On PostgreSQL ``SELECT … FOR UPDATE`` makes concurrent appends to one chain wait for each
    other until the caller's transaction ends; on SQLite every write transaction is already
    exclusive (``transaction_mode = IMMEDIATE`` in settings), and ``select_for_update`` is a
    no-op there.
    """
    key = chain_key(organisation_id)
    locked = AuditChain.objects.select_for_update()
    try:
        return locked.get(key=key)
    except AuditChain.DoesNotExist:
        pass
    # First entry of this chain. ON CONFLICT DO NOTHING: when a concurrent first append
    # creates the row meanwhile, this waits for it instead of failing.
    AuditChain.objects.bulk_create([AuditChain(key=key, organisation_id=organisation_id)], ignore_conflicts=True)
    return locked.get(key=key)


def _organisation_id(obj: Model | None, organisation: Organisation | int | None) -> int | None:
    if isinstance(organisation, Organisation):
        return organisation.pk
    if organisation is not None:
        return int(organisation)
    if isinstance(obj, Organisation):
        return obj.pk
    return getattr(obj, "organisation_id", None)


def record(
    actor: AbstractBaseUser | AnonymousUser | None,
    action: AuditAction | str,
    obj: Model | None = None,
    *,
    organisation: Organisation | int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    summary: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry to the audit chain of ``organisation`` and return it.

    ``actor`` is the user who acted (None or anonymous: the system, or an operator at the
    command line). ``obj`` fills ``object_type`` (``app_label.model``), ``object_id`` (its
    ``uid`` if it has one, else its primary key) and ``organisation`` (its own
    ``organisation``), each unless given. ``data`` holds details as a JSON-serialisable dict:
    ids, changed field names, counts — never personal data (see the module docstring).

    Joins the caller's transaction. The chain head stays locked until that transaction ends,
    so record late in long transactions.
    """
    action = AuditAction(action)  # ValueError for an unknown action
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        if object_id is None:
            object_id = getattr(obj, "uid", None) or obj.pk
    summary = summary.strip()
    object_id = "" if object_id is None else str(object_id)
    for name, value, limit in (("summary", summary, SUMMARY_MAX), ("object_type", object_type or "", 100),
                               ("object_id", object_id, 100)):  # fmt: skip
        if len(value) > limit:
            raise ValueError(f"audit {name} longer than {limit} characters")
    organisation_id = _organisation_id(obj, organisation)
    user = actor if actor is not None and actor.is_authenticated else None
    fields = {
        "organisation_id": organisation_id,
        "actor_id": user.pk if user is not None else None,
        "actor_username": user.get_username() if user is not None else "",
        "action": action.value,
        "object_type": object_type or "",
        "object_id": object_id,
        "summary": summary,
        "data": audithash.canonical_data(data),
    }
    # No savepoint inside a caller's transaction: if the append fails, the caller's change
    # must fail with it. Two statements per append: the head is moved by a database trigger.
    with transaction.atomic(savepoint=False):
        chain = _lock_chain(organisation_id)
        entry = AuditEntry(
            seq=chain.length + 1, created_at=timezone.now(), prev_hash=chain.head_hash, **fields
        )
        entry.hash = entry.compute_hash()
        entry.save(force_insert=True)
    return entry


# --- verification ----------------------------------------------------------------------------


def _timestamp_sql(column: str) -> str:
    """SQL giving ``column`` in the canonical form ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    Formatting in the database spares verification a datetime object per entry and its
    formatting in Python (several microseconds per entry). On SQLite, Django stores UTC as ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (no fraction
    when it is zero); both databases are exercised by the tests.
    """
    if connection.vendor == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    if connection.vendor == "sqlite":
        return (
            f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || '.' "
            f"|| substr({column} || '.000000', 21, 6) || 'Z'"
        )
    raise NotImplementedError(f"audit verification does not support {connection.vendor}")


# Keyset bounds: below and above any real seq. The upper bound also keeps out rows whose seq
# is not a number at all (SQLite sorts text after every number); ``_forged_seqs`` counts them.
_BEFORE_ALL = -(2**62)
_AFTER_ALL = 2**63 - 1


def _chain_where(organisation_id: int | None) -> str:
    return "organisation_id IS NULL" if organisation_id is None else "organisation_id = %s"


def _select_sql(organisation_id: int | None) -> str:
    qn = connection.ops.quote_name
    columns = ", ".join(
        _timestamp_sql(qn("created_at")) if name == "created_at" else qn(name)
        for name in audithash.FIELDS
    )
    # Only names from the model and fixed SQL are interpolated; values are parameters.
    return (
        f"SELECT {columns} FROM {qn(AuditEntry._meta.db_table)} "  # noqa: S608
        f"WHERE {_chain_where(organisation_id)} AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
    )


def _rows(organisation_id: int | None, after: int, batch: int, upto: int = _AFTER_ALL) -> list[tuple[Any, ...]]:
    params: list[Any] = [] if organisation_id is None else [organisation_id]
    with connection.cursor() as cursor:
        cursor.execute(_select_sql(organisation_id), [*params, after, upto, batch])
        return cursor.fetchall()


def _feed(verifier: ChainVerifier, organisation_id: int | None, after: int, batch: int, upto: int = _AFTER_ALL) -> int:
    """Feed ``verifier`` the chain's entries with ``after < seq <= upto``; return the last seq read."""
    while rows := _rows(organisation_id, after, batch, upto):
        verifier.feed(rows)
        last = rows[-1][0]
        if not last > after:
            break  # cannot happen with numbers; never loop forever on forged values
        after = last
    return after


def _forged_seqs(organisation_id: int | None) -> int:
    """Entries whose seq is not a number (only possible on SQLite, by hand): never in the chain."""
    if connection.vendor != "sqlite":
        return 0
    params: list[Any] = [] if organisation_id is None else [organisation_id]
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table} WHERE {_chain_where(organisation_id)} AND seq > %s",  # noqa: S608
            [*params, _AFTER_ALL],
        )
        return int(cursor.fetchone()[0])


def _chain_label(organisation_id: int | None) -> str:
    if organisation_id is None:
        return "installation"
    slug = Organisation.objects.filter(pk=organisation_id).values_list("slug", flat=True).first()
    return f"organisation {slug}" if slug else f"organisation #{organisation_id} (deleted)"


def _verify_slice(args: tuple[int | None, int, int, list[Anchor], int]) -> ChainVerifier:
    """Run in a worker process: verify entries ``lo <= seq <= hi`` of one chain."""
    organisation_id, lo, hi, anchors, batch = args
    verifier = ChainVerifier("slice", anchors, partial=True)
    _feed(verifier, organisation_id, lo - 1 if lo > 1 else _BEFORE_ALL, batch, hi)
    connection.close()
    return verifier


# Below this many entries a chain is verified in-process: starting workers costs more.
PARALLEL_MIN_ENTRIES = 100_000


def _parallel_ok(jobs: int, length: int) -> bool:
    """Whether verification may fork worker processes here.

    Workers need their own database connections: the parent's is closed before forking, which
    is only harmless outside a transaction, and an in-memory SQLite database (the tests') is
    not shared between processes.
    """
    if jobs <= 1 or length < PARALLEL_MIN_ENTRIES or connection.in_atomic_block:
        return False
    if connection.vendor == "sqlite" and getattr(connection, "is_in_memory_db", lambda: True)():
        return False
    return "fork" in multiprocessing.get_all_start_methods()


def verify_chain(
    organisation: Organisation | int | None,
    *,
    anchors: Iterable[Anchor] = (),
    batch: int = VERIFY_BATCH,
    jobs: int = 1,
) -> ChainReport:
    """Verify one chain (``organisation`` None: the installation's), streaming in seq order.

    Reads ``batch`` entries at a time by seq range (an index scan; nothing is held open
    between batches), recomputing each hash from the raw column values. With ``jobs`` > 1, a
    long chain is cut into that many seq ranges verified by forked worker processes, and the
    seams between them are checked here (only from a single-threaded program such as the
    ``tnr audit`` command: forking a threaded web server is unsafe).
    """
    organisation_id = organisation.pk if isinstance(organisation, Organisation) else organisation
    anchors = list(anchors)
    key = chain_key(organisation_id)
    verifier = ChainVerifier(_chain_label(organisation_id), anchors)
    after = _BEFORE_ALL
    length = AuditChain.objects.filter(key=key).values_list("length", flat=True).first() or 0
    if _parallel_ok(jobs, length):
        step = -(-length // jobs)
        slices = [(organisation_id, lo, min(lo + step - 1, length), anchors, batch) for lo in range(1, length + 1, step)]
        connection.close()
        with ProcessPoolExecutor(len(slices), mp_context=multiprocessing.get_context("fork")) as pool:
            for part in pool.map(_verify_slice, slices):
                verifier.join(part)
        after = length
    after = _feed(verifier, organisation_id, after, batch)
    # The head is read after the entries: a concurrent append commits its entry and the head
    # together, so anything the head counts is visible to the catch-up read below.
    head = AuditChain.objects.filter(key=key).values_list("length", "head_hash").first()
    _feed(verifier, organisation_id, after, batch)
    report = verifier.finish(head)
    if head is None and report.entries:
        report.add(None, audithash.HEAD_MISMATCH, "the chain head is missing (deleted from the database)")
    if forged := _forged_seqs(organisation_id):
        report.add(None, audithash.EDITED, f"{forged} entr{'y has' if forged == 1 else 'ies have'} a seq that is not a number")
    return report


@dataclass
class VerifyReport:
    """The outcome of verifying one or more chains."""

    chains: list[ChainReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(chain.ok for chain in self.chains)

    @property
    def entries(self) -> int:
        return sum(chain.entries for chain in self.chains)

    @property
    def first_problem(self) -> audithash.Problem | None:
        return next((c.first_problem for c in self.chains if not c.ok), None)

    def summary(self) -> str:
        if not self.chains:
            return "no audit entries yet"
        return "\n".join(chain.summary() for chain in self.chains)


def verify(
    organisation: Organisation | int | str | None = "all",
    *,
    anchors: Iterable[Anchor] = (),
    batch: int = VERIFY_BATCH,
    jobs: int = 1,
) -> VerifyReport:
    """Verify every chain (the default), or one: an organisation, or None for the installation's.

    Anchors name a position in one chain, so they need one chain to be named.
    """
    anchors = list(anchors)
    if organisation != "all":
        return VerifyReport([verify_chain(organisation, anchors=anchors, batch=batch, jobs=jobs)])  # type: ignore[arg-type]
    if anchors:
        raise ValueError("anchors belong to one chain: name the organisation (or the installation)")
    known = list(AuditChain.objects.order_by("key").values_list("organisation_id", flat=True))
    # Entries whose chain head is gone: verify them too, so their chain is reported, not skipped.
    orphans = set(AuditEntry.objects.order_by().values_list("organisation_id", flat=True).distinct()) - set(known)
    ids: list[int | None] = [*known, *sorted(orphans, key=lambda i: (i is not None, i or 0))]
    return VerifyReport([verify_chain(org_id, batch=batch, jobs=jobs) for org_id in ids])


def chain_heads() -> list[tuple[str, AuditChain]]:
    """(label, head) of every chain, for ``tnr audit anchor``."""
    slugs = dict(Organisation.objects.values_list("pk", "slug"))
    heads = []
    for chain in AuditChain.objects.order_by("key"):
        if chain.organisation_id is None:
            label = INSTALLATION_CHAIN
        else:
            label = slugs.get(chain.organisation_id, f"#{chain.organisation_id}")
        heads.append((label, chain))
    return heads


def chain_for(organisation: Organisation | None) -> AuditChain | None:
    return AuditChain.objects.filter(key=chain_key(organisation.pk if organisation else None)).first()


# --- export ----------------------------------------------------------------------------------

EXPORT_FIELDS = (*audithash.FIELDS, "organisation")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula, reversibly.

    A text starting with = + - @ tab, CR or ' gets one leading ' (OWASP's advice); readers of
    the export strip exactly one leading ' from such cells, so hashes still verify.
    """
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _uncsv_cell(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def export_rows(entries: QuerySet[AuditEntry]) -> Iterator[dict[str, Any]]:
    """Entries as export records (canonical timestamps, ``data`` as its hashed text)."""
    slugs = dict(Organisation.objects.values_list("pk", "slug"))
    columns = list(audithash.FIELDS)
    for values in entries.values_list(*columns).iterator(chunk_size=5000):
        row = dict(zip(columns, values, strict=True))
        row["created_at"] = audithash.canonical_time(row["created_at"])
        row["organisation"] = slugs.get(row["organisation_id"], "") if row["organisation_id"] else ""
        yield row


def chain_entries(organisation: Organisation | None) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.order_by("seq")
    if organisation is None:
        return entries.filter(organisation__isnull=True)
    return entries.filter(organisation=organisation)


def write_csv(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_FIELDS)
    n = 0
    for row in rows:
        writer.writerow([_csv_cell(row[name]) for name in EXPORT_FIELDS])
        n += 1
    return n


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps({name: row[name] for name in EXPORT_FIELDS}, ensure_ascii=False) + "\n")
        n += 1
    return n


def export_chain(organisation: Organisation | None, out: IO[str], fmt: str) -> int:
    """Write a whole chain, in seq order, as ``csv`` or ``jsonl``; return the entry count."""
    rows = export_rows(chain_entries(organisation))
    if fmt == "csv":
        return write_csv(rows, out)
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    raise ValueError(f"unknown export format {fmt!r} (csv or jsonl)")


class ExportFormatError(ValueError):
    """An exported audit file that cannot be read back."""


def _int_or_none(value: Any, name: str, line: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ExportFormatError(f"line {line}: {name} {value!r} is not a number") from None


def read_export(stream: IO[str], fmt: str) -> Iterator[tuple[Any, ...]]:
    """Rows of an exported file as tuples in ``audithash.FIELDS`` order."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        missing = set(audithash.FIELDS) - set(reader.fieldnames or ())
        if missing:
            raise ExportFormatError(f"not an audit export: columns missing: {', '.join(sorted(missing))}")
        records: Iterable[tuple[int, dict[str, Any]]] = (
            (i, {k: _uncsv_cell(v or "") for k, v in row.items()}) for i, row in enumerate(reader, 2)
        )
    elif fmt == "jsonl":
        def parse() -> Iterator[tuple[int, dict[str, Any]]]:
            for i, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as exc:
                    raise ExportFormatError(f"line {i}: not JSON: {exc}") from None
                if not isinstance(value, dict):
                    raise ExportFormatError(f"line {i}: expected an object")
                yield i, value
        records = parse()
    else:
        raise ExportFormatError(f"unknown export format {fmt!r} (csv or jsonl)")
    for line, rec in records:
        values = []
        for name in audithash.FIELDS:
            value = rec.get(name)
            if name in ("seq", "organisation_id", "actor_id"):
                value = _int_or_none(value, name, line)
            elif value is None:
                value = ""
            values.append(value)
        yield tuple(values)


def verify_export(stream: IO[str], fmt: str, *, anchors: Sequence[Anchor] = ()) -> VerifyReport:
    """Verify an exported file, chain by chain (a file may hold several organisations)."""
    verifiers: dict[int | None, ChainVerifier] = {}
    batch: list[tuple[Any, ...]] = []
    current: ChainVerifier | None = None
    for row in read_export(stream, fmt):
        org_id = row[2]
        if org_id not in verifiers:
            label = "installation" if org_id is None else f"organisation #{org_id}"
            if anchors and verifiers:
                raise ExportFormatError("anchors belong to one chain, but the file holds several")
            verifiers[org_id] = ChainVerifier(label, anchors)
        if verifiers[org_id] is not current or len(batch) >= VERIFY_BATCH:
            if current is not None:
                current.feed(batch)
            current, batch = verifiers[org_id], []
        batch.append(row)
    if current is not None:
        current.feed(batch)
    if not verifiers and anchors:
        verifiers[None] = ChainVerifier("file", anchors)
    return VerifyReport([v.finish() for v in verifiers.values()])


# --- reading, with permission ----------------------------------------------------------------


def administered_organisations(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organisation]:
    """Organisations whose audit log ``user`` may read (``Perm.VIEW_AUDIT``: administrators).

    Need-to-know, as for records: being a Django superuser does not widen this on the staff
    pages (superusers read every chain through the Django admin and the command line).
    """
    if not user.is_authenticated or not user.is_active:
        return Organisation.objects.none()
    return Organisation.objects.filter(pk__in=organisation_ids_with(user, Perm.VIEW_AUDIT))


def entries_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AuditEntry]:
    """The audit entries ``user`` may read, as a queryset to refine further."""
    if not user.is_authenticated or not user.is_active:
        return AuditEntry.objects.none()
    return AuditEntry.objects.filter(organisation_id__in=administered_organisations(user).values("pk"))
