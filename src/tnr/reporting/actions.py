"""What can be done with reports: the verbs called by the reporter zone, the triage inbox,
commands and tests alike.

Reporter-side verbs take the receipt (or the keys it yields) and never touch the audit log:
the audit log has exact times, and an anonymous submission's time is a detail an observer of
network traffic could match. Staff-side verbs take the organisation's opened private key and
record every opening and change in the organisation's audit chain.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from tnr.accounts.models import Organisation, OrganisationKey
from tnr.core import audit, sealing
from tnr.core.choices import AuditAction
from tnr.core.sealing import KdfParams, SealError
from tnr.reporting import receipts
from tnr.reporting.choices import CLOSING_STATUSES, Author, ReportStatus, SharingConsent
from tnr.reporting.files import CheckedFile
from tnr.reporting.models import (
    DerivedIncident,
    Intake,
    ReceiptFailures,
    Report,
    ReportFile,
    ReportMessage,
)

log = logging.getLogger("tnr.reporting")

ANSWERS_VERSION = 1


class ReportingError(Exception):
    """A refused reporting operation, with a message fit to show the person.

    Messages the reporter can see are marked with ``gettext_noop``: extracted into the
    catalogues, kept in English here, and translated by the view that shows them."""


class ReceiptRefused(ReportingError):
    """Wrong receipt, or sign-in paused: one message and one cost for every such case."""


def receipt_params() -> KdfParams:
    return KdfParams(int(settings.TNR_RECEIPT_KDF_OPSLIMIT), int(settings.TNR_RECEIPT_KDF_MEMLIMIT))


def _pepper() -> bytes:
    return str(settings.TNR_RECEIPT_PEPPER).encode("utf-8")


def _today() -> dt.date:
    return timezone.now().date()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def recipients() -> list[Organisation]:
    """Organisations a reporter may send a report to: accepting, and with keys set up."""
    return list(
        Organisation.objects.filter(intake__accepting=True, org_key__isnull=False)
        .select_related("intake")
        .order_by("name")
    )


# --- submission ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    report: Report
    receipt: str


def submit_report(
    organisation: Organisation,
    answers: dict[str, Any],
    *,
    language: str,
    consent_sharing: str,
    consent_referral: bool,
    consent_statistics: bool,
    files: Sequence[CheckedFile] = (),
) -> Submitted:
    """Seal a new report to a new report key and store it in one transaction.

    ``answers`` is everything the person typed (the questionnaire's cleaned data), sealed as
    JSON. ``files`` have passed ``tnr.reporting.files.check_upload``. Either the whole sealed
    report is stored or nothing is: the only write is one transaction at the end, after every
    byte has been sealed in memory.
    """
    if consent_sharing not in SharingConsent.values:
        raise ReportingError(gettext_noop("Unknown sharing choice."))
    try:
        org_public = bytes(OrganisationKey.objects.get(organisation=organisation).public_key)
    except OrganisationKey.DoesNotExist:
        raise ReportingError(gettext_noop("This organisation cannot receive reports yet.")) from None
    if not Intake.objects.filter(organisation=organisation, accepting=True).exists():
        raise ReportingError(gettext_noop("This organisation does not accept reports at the moment."))

    params = receipt_params()
    for _attempt in range(3):
        # A receipt already in use (1 in 10^16 per pair of reports) is drawn again, never reused.
        receipt = receipts.new_receipt()
        derived = receipts.derive(receipt, _pepper(), params)
        if not Report.objects.filter(lookup=derived.lookup).exists():
            break
    else:  # pragma: no cover - three collisions in a row means a broken random source
        raise ReportingError("Could not draw a new receipt; please try again.")
    keys = receipts.new_report_keys(org_public, derived.wrapping_key)
    now = timezone.now()
    payload = {
        "version": ANSWERS_VERSION,
        "submitted_at": now.isoformat(timespec="seconds"),
        "language": language,
        "answers": answers,
    }
    sealed_answers = sealing.seal(keys.public_key, _json(payload))
    sealed_files = [_seal_file(keys.public_key, checked) for checked in files]
    today = now.date()
    with transaction.atomic():
        report = Report.objects.create(
            organisation=organisation,
            lookup=derived.lookup,
            kdf_opslimit=params.opslimit,
            kdf_memlimit=params.memlimit,
            public_key=keys.public_key,
            sealed_key=keys.sealed_to_organisation,
            receipt_wrapped_key=keys.wrapped_for_reporter,
            sealed_answers=sealed_answers,
            language=language,
            received_on=today,
            status_changed_on=today,
            consent_sharing=consent_sharing,
            consent_referral=consent_referral,
            consent_statistics=consent_statistics,
        )
        ReportFile.objects.bulk_create(ReportFile(report=report, **fields) for fields in sealed_files)
    return Submitted(report=report, receipt=receipt)


def _seal_file(public_key: bytes, checked: CheckedFile, *, sent_at: str = "") -> dict[str, bytes]:
    meta = {
        "name": checked.name,
        "media_type": checked.media_type,
        "size": checked.size,
        "sha256": checked.sha256,
        "working_size": len(checked.working),
        "working_sha256": checked.working_sha256,
        "stripped": list(checked.stripped),
        "sent_at": sent_at or timezone.now().isoformat(timespec="seconds"),
    }
    return {
        "sealed_meta": sealing.seal(public_key, _json(meta)),
        "sealed_original": sealing.seal(public_key, checked.original),
        "sealed_working": sealing.seal(public_key, checked.working),
    }


# --- receipt sign-in ----------------------------------------------------------------------------


def _hour() -> dt.datetime:
    return timezone.now().replace(minute=0, second=0, microsecond=0)


def _guessing_paused() -> bool:
    limit = int(settings.TNR_RECEIPT_FAILURES_PER_HOUR)
    row = ReceiptFailures.objects.filter(hour=_hour()).values_list("failures", flat=True).first()
    return row is not None and row >= limit


def _count_failure() -> None:
    hour = _hour()
    with transaction.atomic():
        updated = ReceiptFailures.objects.filter(hour=hour).update(failures=F("failures") + 1)
        if not updated:
            ReceiptFailures.objects.get_or_create(hour=hour, defaults={"failures": 1})
        ReceiptFailures.objects.filter(hour__lt=hour - dt.timedelta(days=1)).delete()
    if _guessing_paused():
        # No address to log, only that the installation-wide limit was reached.
        log.warning("receipt sign-in paused for this hour: too many wrong receipts")


@dataclass(frozen=True)
class ReporterAccess:
    """What a correct receipt yields: which report, and the key that opens its private key.
    Kept, encrypted, in the reporter's browser cookie between pages (tnr.reporting.access)."""

    lookup: str
    wrapping_key: bytes


WRONG_RECEIPT = gettext_noop("This receipt does not open a report. Check the 16 digits and try again.")


def sign_in(receipt_text: str) -> ReporterAccess:
    """Check a receipt; ReceiptRefused with one message for every way it can be wrong.

    Every attempt costs the same: one derivation per KDF parameter set in use (normally one),
    whether or not the receipt is right, and whether or not sign-in is paused, so neither the
    message nor the time tells a guesser anything.
    """
    try:
        digits = receipts.normalise(receipt_text)
    except receipts.ReceiptError:
        digits = "0" * receipts.RECEIPT_DIGITS  # still pay for a derivation: same time
        well_formed = False
    else:
        well_formed = True
    param_sets = {receipt_params()}
    param_sets.update(
        KdfParams(ops, mem)
        for ops, mem in Report.objects.values_list("kdf_opslimit", "kdf_memlimit").distinct()
    )
    found: ReporterAccess | None = None
    for params in sorted(param_sets, key=lambda p: (p.opslimit, p.memlimit)):
        derived = receipts.derive(digits, _pepper(), params)
        matches = Report.objects.filter(
            lookup=derived.lookup, kdf_opslimit=params.opslimit, kdf_memlimit=params.memlimit
        ).exists()
        if matches and well_formed and found is None:
            found = ReporterAccess(derived.lookup, derived.wrapping_key)
    if _guessing_paused():
        raise ReceiptRefused(gettext_noop(
            "Receipt sign-in is paused for a while because of many wrong attempts. "
            "Your report is safe. Please try again in an hour."
        ))
    if found is None:
        _count_failure()
        raise ReceiptRefused(WRONG_RECEIPT)
    return found


@dataclass
class Thread:
    """A report opened for reading, by the reporter or a caseworker."""

    report: Report
    answers: dict[str, Any]
    submitted_at: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)


def reporter_report(access: ReporterAccess) -> tuple[Report, bytes]:
    """The report and its private key for a signed-in reporter; ReceiptRefused if gone."""
    report = Report.objects.filter(lookup=access.lookup).first()
    if report is None:
        raise ReceiptRefused(WRONG_RECEIPT)
    try:
        private = receipts.open_with_receipt_key(
            bytes(report.public_key), bytes(report.receipt_wrapped_key), access.wrapping_key
        )
    except SealError:
        raise ReceiptRefused(WRONG_RECEIPT) from None
    return report, private


def open_thread(report: Report, private: bytes) -> Thread:
    """Decrypt a report's answers, messages and file descriptions (not file contents)."""
    payload = json.loads(sealing.open_sealed(private, bytes(report.sealed_answers)))
    thread = Thread(report=report, answers=payload["answers"], submitted_at=payload["submitted_at"])
    for message in report.messages.all():
        body = json.loads(sealing.open_sealed(private, bytes(message.sealed_body)))
        thread.messages.append({"id": message.pk, "author": message.author, "sent_on": message.sent_on, **body})
    for stored in report.files.all():
        meta = json.loads(sealing.open_sealed(private, bytes(stored.sealed_meta)))
        thread.files.append({"id": stored.pk, "message_id": stored.message_id, **meta})
    return thread


def open_as_reporter(access: ReporterAccess) -> Thread:
    report, private = reporter_report(access)
    thread = open_thread(report, private)
    if report.unread_by_reporter:
        Report.objects.filter(pk=report.pk).update(unread_by_reporter=0)
    return thread


def add_reporter_message(access: ReporterAccess, text: str, files: Sequence[CheckedFile] = ()) -> ReportMessage:
    """The reporter answers or adds information (and files). Sealed to the report key."""
    report, _private = reporter_report(access)
    if report.deletion_requested_on is not None:
        raise ReportingError(gettext_noop("You asked for this report to be deleted; it cannot take new messages."))
    if not text.strip() and not files:
        raise ReportingError(gettext_noop("Write a message or add a file."))
    return _add_message(report, Author.REPORTER, text, files, staff_user=None)


def _add_message(
    report: Report, author: str, text: str, files: Sequence[CheckedFile], *, staff_user: Any
) -> ReportMessage:
    public = bytes(report.public_key)
    now = timezone.now()
    body = {"text": text, "sent_at": now.isoformat(timespec="seconds")}
    if staff_user is not None:
        body["by"] = staff_user.get_username()
    sealed_body = sealing.seal(public, _json(body))
    sealed_files = [_seal_file(public, checked) for checked in files]
    with transaction.atomic():
        message = ReportMessage.objects.create(
            report=report, author=author, staff_author=staff_user, sealed_body=sealed_body, sent_on=now.date()
        )
        ReportFile.objects.bulk_create(
            ReportFile(report=report, message=message, **fields) for fields in sealed_files
        )
        counter = "unread_by_staff" if author == Author.REPORTER else "unread_by_reporter"
        Report.objects.filter(pk=report.pk).update(**{counter: F(counter) + 1})
    return message


def withdraw_consent(access: ReporterAccess) -> Report:
    """The reporter withdraws consent to referral and statistics; the report stays readable
    to the organisation's caseworkers only."""
    report, _ = reporter_report(access)
    report.consent_referral = False
    report.consent_statistics = False
    report.consent_sharing = SharingConsent.ORGANISATION
    report.consent_withdrawn_on = _today()
    report.save(update_fields=["consent_referral", "consent_statistics", "consent_sharing", "consent_withdrawn_on"])
    return report


def request_deletion(access: ReporterAccess) -> Report:
    """The reporter asks for deletion: the report is closed and deleted at the next purge
    (``tnr reports purge``, run daily), whatever the organisation's retention period."""
    report, _ = reporter_report(access)
    today = _today()
    report.deletion_requested_on = today
    if report.status not in CLOSING_STATUSES:
        report.status = ReportStatus.CLOSED
        report.status_changed_on = today
    report.closed_on = report.closed_on or today
    report.save(update_fields=["deletion_requested_on", "status", "status_changed_on", "closed_on"])
    return report


def reporter_file(access: ReporterAccess, file_id: int) -> tuple[dict[str, Any], bytes]:
    """The reporter downloads the working copy of one of their own files."""
    report, private = reporter_report(access)
    stored = ReportFile.objects.filter(report=report, pk=file_id).first()
    if stored is None:
        raise ReportingError(gettext_noop("No such file in your report."))
    meta = json.loads(sealing.open_sealed(private, bytes(stored.sealed_meta)))
    return meta, sealing.open_sealed(private, bytes(stored.sealed_working))


# --- staff side ---------------------------------------------------------------------------------


def report_private_key(report: Report, organisation_private: bytes) -> bytes:
    return receipts.open_with_organisation_key(
        bytes(report.public_key), bytes(report.sealed_key), organisation_private
    )


def open_as_staff(user: Any, report: Report, organisation_private: bytes) -> Thread:
    """A caseworker opens a report: decrypted in memory, and the opening audited."""
    thread = open_thread(report, report_private_key(report, organisation_private))
    with transaction.atomic():
        audit.record(user, AuditAction.VIEW, report, summary="opened report")
        if report.unread_by_staff:
            Report.objects.filter(pk=report.pk).update(unread_by_staff=0)
    return thread


def staff_file(user: Any, report: Report, file_id: int, which: str, organisation_private: bytes) -> tuple[dict[str, Any], bytes]:
    """One file of a report, ``which`` = "working" or "original"; audited."""
    if which not in {"working", "original"}:
        raise ValueError(which)
    stored = ReportFile.objects.filter(report=report, pk=file_id).first()
    if stored is None:
        raise ReportingError("No such file in this report.")
    private = report_private_key(report, organisation_private)
    meta = json.loads(sealing.open_sealed(private, bytes(stored.sealed_meta)))
    blob = stored.sealed_working if which == "working" else stored.sealed_original
    content = sealing.open_sealed(private, bytes(blob))
    audit.record(user, AuditAction.EXPORT, report, summary=f"downloaded {which} file {stored.pk}",
                 data={"file": stored.pk, "copy": which})
    return meta, content


def reply(user: Any, report: Report, text: str) -> ReportMessage:
    """A caseworker writes to the reporter (sealed to the report key: no key needed to send)."""
    if not text.strip():
        raise ReportingError("Write a message.")
    if report.deletion_requested_on is not None:
        raise ReportingError("The reporter asked for deletion; no message can be added.")
    with transaction.atomic():
        message = _add_message(report, Author.STAFF, text, (), staff_user=user)
        audit.record(user, AuditAction.CREATE, report, summary="replied to reporter", data={"message": message.pk})
    return message


def set_status(user: Any, report: Report, status: str) -> Report:
    if status not in ReportStatus.values:
        raise ReportingError(f"Unknown status {status!r}.")
    old = report.status
    if old == status:
        return report
    today = _today()
    report.status = status
    report.status_changed_on = today
    report.closed_on = today if status in CLOSING_STATUSES else None
    with transaction.atomic():
        report.save(update_fields=["status", "status_changed_on", "closed_on"])
        audit.record(user, AuditAction.CHANGE, report, summary=f"status {old} → {status}",
                     data={"status": [old, status]})
    return report


TAG_MAX = 40


def clean_tags(raw: str | Iterable[str]) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    tags = []
    for item in items:
        tag = " ".join(item.split())[:TAG_MAX]
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > 20:
        raise ReportingError("At most 20 tags.")
    return tags


def set_tags(user: Any, report: Report, tags: Iterable[str] | str) -> Report:
    cleaned = clean_tags(tags)
    with transaction.atomic():
        report.tags = cleaned
        report.save(update_fields=["tags"])
        audit.record(user, AuditAction.CHANGE, report, summary="tags changed", data={"tags": len(cleaned)})
    return report


def derive_incident(user: Any, report: Report, data: dict[str, Any]) -> Any:
    """Create a de-identified incident (and its act) on the common data model from a report.

    ``data`` is the cleaned derive form: only codes, dates and the caseworker's own
    de-identified title and summary; nothing is copied from the sealed narrative. The link
    back to the report is sealed (``link_incident``).
    """
    from tnr.records.models import Act, Incident
    from tnr.taxonomy.models import Tactic
    from tnr.taxonomy.vocab import tactic_by_precedence

    tactics = [t.code if hasattr(t, "code") else str(t) for t in data["tactics"]]
    if not tactics:
        raise ReportingError("Choose at least one tactic.")
    primary = tactic_by_precedence(tactics)
    with transaction.atomic():
        if Incident.objects.filter(organisation_id=report.organisation_id, external_id=data["external_id"]).exists():
            raise ReportingError(f"An incident with the identifier {data['external_id']!r} already exists.")
        incident = Incident.objects.create(
            organisation_id=report.organisation_id,
            external_id=data["external_id"],
            title=data["title"],
            summary=data.get("summary") or "",
            start_date=data["start_date"],
            date_precision=data["date_precision"],
            location_country=data.get("location_country"),
            city=data.get("city") or "",
            location_type=data.get("location_type"),
            origin_state=data.get("origin_state"),
            host_state=data.get("host_state"),
            confidence=data["confidence"],
            independent_sources=1,
            sharing=data["sharing"],
        )
        incident.perpetrator_states.set(data.get("perpetrator_states") or [])
        act = Act.objects.create(incident=incident, external_id=f"{incident.external_id}-A1", primary_tactic_id=primary)
        act.secondary_tactics.set(Tactic.objects.filter(code__in=[t for t in tactics if t != primary]))
        link_incident(user, report, incident)
    return incident


def link_incident(user: Any, report: Report, incident: Any) -> DerivedIncident:
    """Remember, sealed to the organisation, that ``incident`` was derived from ``report``."""
    org_public = bytes(OrganisationKey.objects.get(organisation_id=report.organisation_id).public_key)
    link = DerivedIncident.objects.create(
        report=report, sealed_incident=sealing.seal(org_public, str(incident.uid).encode("ascii"))
    )
    audit.record(user, AuditAction.CREATE, incident, summary="incident derived from a report")
    return link


def derived_incident_uids(report: Report, organisation_private: bytes) -> list[str]:
    return [
        sealing.open_sealed(organisation_private, bytes(link.sealed_incident)).decode("ascii")
        for link in report.derived.all()
    ]


def save_intake(user: Any, form: Any) -> Intake:
    """Save an organisation's intake settings (a ModelForm on Intake), audited."""
    with transaction.atomic():
        intake: Intake = form.save()
        audit.record(user, AuditAction.CHANGE, intake, organisation=intake.organisation_id,
                     summary="report intake settings changed", data={"fields": sorted(form.changed_data)})
    return intake


def delete_report(user: Any, report: Report) -> None:
    """Really delete a report, its messages, files and incident links (not the de-identified
    incidents). SQLite overwrites freed pages (``secure_delete``, tnr.reporting.apps)."""
    with transaction.atomic():
        audit.record(user, AuditAction.DELETE, report, summary="report deleted")
        report.delete()


def expired_reports(today: dt.date | None = None) -> list[Report]:
    """Reports past their organisation's retention period after closing, or whose reporter
    asked for deletion."""
    today = today or _today()
    due = []
    for report in Report.objects.filter(closed_on__isnull=False).select_related("organisation__intake"):
        intake = getattr(report.organisation, "intake", None)
        days = intake.retention_days if intake is not None else Intake._meta.get_field("retention_days").default
        closed = report.closed_on
        if report.deletion_requested_on is not None or (closed and closed + dt.timedelta(days=days) <= today):
            due.append(report)
    return due


def purge(today: dt.date | None = None) -> int:
    """Delete every expired report (retention); returns how many. Audited per organisation."""
    count = 0
    for report in expired_reports(today):
        with transaction.atomic():
            reason = "deletion requested by reporter" if report.deletion_requested_on else "retention period over"
            audit.record(None, AuditAction.DELETE, report, summary=f"report purged: {reason}")
            report.delete()
        count += 1
    return count
