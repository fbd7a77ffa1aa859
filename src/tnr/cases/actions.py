"""Verbs of the protection mechanisms directory: every change goes through these.

Views, commands and tests call the same functions; none writes an entry with a bare
``.save()``. Each verb checks its input with ``tnr.cases.rules.check_mechanism`` first and
raises ``ValidationError`` (keyed by field) without writing anything when a rule is broken.
Permission checks happen at the edge (``tnr.cases.queries``): the command line is run by the
server's operator, who needs none.

CSV imports are all or nothing, like ``tnr.exchange.importer``: every row is checked before the
first one is written, every problem names the row, the column and the reason, and the file's
problems are reported together.

Every change and every export is recorded in the installation's audit chain (the directory
belongs to no organisation), inside the transaction that makes the change. Entries carry ids,
field names and counts only, never the text typed into an entry.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any, Protocol, cast

import yaml
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import DatabaseError, transaction
from django.db.models import QuerySet

from tnr.cases.csvformat import COLUMNS, column_of, format_row, parse_record
from tnr.cases.models import ProtectionMechanism
from tnr.cases.rules import CheckContext, MechanismData, check_mechanism, problems_as_error
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.exchange.importer import ImportFailed, ImportReport
from tnr.exchange.readers import FileProblem, check_size, read_csv
from tnr.exchange.spec import restore_formula

SEED_FILE = Path(__file__).resolve().parent / "data" / "mechanisms.yaml"
OBJECT_TYPE = ProtectionMechanism._meta.label_lower

By = AbstractBaseUser | AnonymousUser | None


class Writable(Protocol):
    """Anything CSV can be written to: an open text file, standard output, an HttpResponse."""

    def write(self, text: str, /) -> Any: ...


def _user(by: By) -> Any:
    return by if by is not None and by.is_authenticated else None


def _changed_fields(mechanism: ProtectionMechanism, data: MechanismData) -> list[str]:
    """Names of the fields of an existing ``mechanism`` whose values ``data`` changes."""
    if mechanism.pk is None:
        return []
    before = MechanismData.from_mechanism(mechanism)
    unordered = {"countries", "profiles"}  # sets: listing them in another order changes nothing
    changed = []
    for f in dataclasses.fields(before):
        old, new = getattr(before, f.name), getattr(data, f.name)
        if f.name in unordered:
            old, new = sorted(old), sorted(new)
        if old != new:
            changed.append(f.name)
    return changed


def _write(mechanism: ProtectionMechanism, data: MechanismData, by: By, *, via: str) -> None:
    """Save ``data`` into ``mechanism`` and record it in the audit log (inside the caller's
    transaction: a change that is rolled back leaves no audit entry)."""
    created = mechanism.pk is None
    changed = _changed_fields(mechanism, data)
    mechanism.name = data.name
    mechanism.kind = data.kind
    mechanism.needs = list(data.needs)
    mechanism.worldwide = data.worldwide
    mechanism.any_profile = data.any_profile
    mechanism.languages = list(data.languages)
    mechanism.website = data.website
    mechanism.safe_contact = data.safe_contact
    mechanism.notes = data.notes
    mechanism.last_verified = data.last_verified
    mechanism.verification_note = data.verification_note
    mechanism.source = data.source
    mechanism.active = data.active
    mechanism.updated_by = _user(by)
    mechanism.save()
    # Country and target-category primary keys are their codes.
    mechanism.countries.set(cast(list[Any], list(data.countries)))
    mechanism.profiles.set(cast(list[Any], list(data.profiles)))
    if created:
        audit.record(by, AuditAction.CREATE, mechanism, summary="Protection directory entry added",
                     data={"via": via})
    else:
        audit.record(by, AuditAction.CHANGE, mechanism, summary="Protection directory entry changed",
                     data={"via": via, "fields": changed})


@transaction.atomic(durable=True)
def create_mechanism(data: MechanismData, *, by: By = None, via: str = "code") -> ProtectionMechanism:
    """Add an entry to the directory."""
    data = data.normalised()
    problems = check_mechanism(data)
    if problems:
        raise problems_as_error(problems)
    mechanism = ProtectionMechanism()
    _write(mechanism, data, by, via=via)
    return mechanism


@transaction.atomic(durable=True)
def update_mechanism(
    mechanism: ProtectionMechanism, data: MechanismData, *, by: By = None, via: str = "code"
) -> ProtectionMechanism:
    """Replace every value of ``mechanism`` with ``data``."""
    data = data.normalised()
    problems = check_mechanism(data, instance=mechanism)
    if problems:
        raise problems_as_error(problems)
    _write(mechanism, data, by, via=via)
    return mechanism


@transaction.atomic(durable=True)
def set_mechanism_active(
    mechanism: ProtectionMechanism, active: bool, *, by: By = None
) -> ProtectionMechanism:
    """Deactivate (hide from searches, keep for the record) or reactivate an entry.

    Entries are never deleted from the web pages: a caseworker may need to know, later, that a
    mechanism they referred someone to was listed and then withdrawn.
    """
    mechanism.active = active
    mechanism.updated_by = _user(by)
    mechanism.save(update_fields=["active", "updated_by", "updated_at"])
    audit.record(
        by, AuditAction.CHANGE, mechanism,
        summary="Protection directory entry " + ("reactivated" if active else "deactivated"),
        data={"fields": ["active"], "active": active},
    )
    return mechanism


# --- CSV -------------------------------------------------------------------------------------


def export_mechanisms(
    out: Writable,
    mechanisms: QuerySet[ProtectionMechanism] | None = None,
    *,
    by: By = None,
    via: str = "code",
) -> int:
    """Write ``mechanisms`` (default: every entry, active or not) as CSV; return the row count.

    The export is recorded in the audit log once written (a failed export raised before).
    """
    if mechanisms is None:
        mechanisms = ProtectionMechanism.objects.all()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    n = 0
    for mechanism in mechanisms.order_by("name", "pk").prefetch_related("countries", "profiles"):
        writer.writerow(format_row(mechanism))
        n += 1
    audit.record(by, AuditAction.EXPORT, object_type=OBJECT_TYPE,
                 summary="Protection directory exported as CSV", data={"rows": n, "via": via})
    return n


def _check_header(report: ImportReport, header: list[str]) -> bool:
    ok = True
    for column in header:
        if column not in COLUMNS:
            report.add(1, column or "(empty)", f"unknown column; the columns are: {', '.join(COLUMNS)}")
            ok = False
    for column in COLUMNS:
        if column not in header:
            report.add(1, column, "required column is missing")
            ok = False
    for column in sorted({c for c in header if header.count(c) > 1}):
        report.add(1, column, "column appears more than once")
        ok = False
    return ok


def import_mechanisms(
    path: Path, *, by: By = None, display_name: str | None = None, via: str = "csv_import"
) -> ImportReport:
    """Import a directory CSV file, all or nothing; raise ``ImportFailed`` with every problem.

    A row whose name matches an existing entry (ignoring case) replaces that entry's values; any
    other row adds an entry. Entries missing from the file are left as they are.
    """
    report = ImportReport(file=display_name or path.name)
    try:
        check_size(path)
        header, rows = read_csv(path, problem=report.add)
        if _check_header(report, header):
            planned = _check_rows(report, rows)
        else:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # the reader's generator closes the file
            planned = []
    except FileProblem as exc:
        report.add(exc.line, exc.column, exc.message)
        raise ImportFailed(report) from None
    if report.ok and report.rows == 0:
        report.add(None, None, "the file has a header row but no entries")
    if not report.ok:
        raise ImportFailed(report)
    created = updated = 0
    try:
        with transaction.atomic(durable=True):
            for data, instance in planned:
                _write(instance or ProtectionMechanism(), data, by, via=via)
                if instance is None:
                    created += 1
                else:
                    updated += 1
    except DatabaseError as exc:  # a rule the checks above missed; nothing was kept
        report.add(None, None, f"the database refused the import ({exc}); nothing imported")
        raise ImportFailed(report) from None
    report.written = True
    report.counts = {"created": created, "updated": updated}
    return report


def _check_rows(
    report: ImportReport, rows: Any
) -> list[tuple[MechanismData, ProtectionMechanism | None]]:
    context = CheckContext.load()
    existing = {
        m.name.casefold(): m
        for m in ProtectionMechanism.objects.prefetch_related("countries", "profiles")
    }
    first_row_of: dict[str, int] = {}
    planned: list[tuple[MechanismData, ProtectionMechanism | None]] = []
    for line, row in rows:
        report.rows += 1
        data, problems = parse_record({c: restore_formula(row[c]) for c in COLUMNS})
        key = data.name.casefold()
        instance = existing.get(key)
        problems += check_mechanism(data, instance=instance, context=context)
        if key and key in first_row_of:
            problems.append(("name", f"duplicate name {data.name!r}: already used on row {first_row_of[key]}"))
        elif key:
            first_row_of[key] = line
        for field, message in problems:
            report.add(line, column_of(field), message)
        if not problems:
            planned.append((data, instance))
    return planned


# --- seed ------------------------------------------------------------------------------------


def load_seed_entries(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        document = yaml.safe_load(f)
    entries = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise FileProblem("the seed file has no list of entries")
    return entries


@transaction.atomic
def seed_mechanisms(path: Path = SEED_FILE) -> ImportReport:
    """Add the seed entries that are not in the directory yet (matched by name).

    Entries already present are left alone: an administrator may have verified or corrected
    them since. All or nothing: a seed entry breaking a rule stops the whole seed.
    """
    report = ImportReport(file=path.name)
    context = CheckContext.load()
    existing = {name.casefold() for name in ProtectionMechanism.objects.values_list("name", flat=True)}
    to_create: list[MechanismData] = []
    kept = 0
    for number, entry in enumerate(load_seed_entries(path), start=1):
        report.rows += 1
        if not isinstance(entry, dict):
            report.add(number, None, "an entry must be a mapping of column names to values")
            continue
        unknown = sorted(set(entry) - set(COLUMNS))
        for key in unknown:
            report.add(number, str(key), "unknown key")
        data, problems = parse_record(entry)
        if data.name.casefold() in existing:
            kept += 1
            continue
        problems += check_mechanism(data, context=context)
        for field, message in problems:
            report.add(number, column_of(field), message)
        if not problems and not unknown:
            to_create.append(data)
            existing.add(data.name.casefold())
    if not report.ok:
        raise ImportFailed(report)
    for data in to_create:
        _write(ProtectionMechanism(), data, None, via="seed")
    report.written = True
    report.counts = {"created": len(to_create), "already present": kept}
    return report
