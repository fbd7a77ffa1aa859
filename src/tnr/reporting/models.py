"""Reports from the reporter zone, sealed (DESIGN §5; tnr.reporting.receipts explains the keys).

What is stored in clear is only what triage needs and cannot identify anyone: the receiving
organisation, status, caseworkers' tags, consent flags, and *days* (not times) of receipt,
closing and messages. Days, not times: exact times can be matched against traffic an observer
recorded. Every word the reporter wrote, who they are, how to reach them, their files and the
caseworkers' replies are sealed to the report's own key. No address, browser detail or timing
of any request is stored anywhere.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

from tnr.accounts.models import Organisation
from tnr.reporting.choices import Author, ReportStatus, SharingConsent


def _uid() -> str:
    return secrets.token_urlsafe(12)


class Intake(models.Model):
    """An organisation's settings as a recipient of reports."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="intake")
    accepting = models.BooleanField(default=True, help_text="Shown to reporters as a recipient.")
    description = models.TextField(blank=True, help_text="Shown to reporters choosing where to send a report.")
    retention_days = models.PositiveIntegerField(
        default=90, help_text="Reports and their files are deleted this many days after closing."
    )

    def __str__(self) -> str:
        return f"intake of {self.organisation}"


class Report(models.Model):
    """One report: keys, sealed answers, and the little triage needs in clear."""

    uid = models.CharField(max_length=20, unique=True, default=_uid, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="reports")
    # Receipt: lookup value from the single Argon2id derivation, and its cost parameters.
    lookup = models.CharField(max_length=64, unique=True, editable=False)
    kdf_opslimit = models.PositiveIntegerField(editable=False)
    kdf_memlimit = models.PositiveBigIntegerField(editable=False)
    public_key = models.BinaryField(max_length=32, editable=False)
    sealed_key = models.BinaryField(editable=False, help_text="Report private key sealed to the organisation.")
    receipt_wrapped_key = models.BinaryField(editable=False, help_text="Report private key under the receipt key.")
    sealed_answers = models.BinaryField(editable=False)
    language = models.CharField(max_length=10)
    received_on = models.DateField()
    status = models.CharField(max_length=12, choices=ReportStatus.choices, default=ReportStatus.NEW)
    status_changed_on = models.DateField()
    closed_on = models.DateField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    consent_sharing = models.CharField(max_length=12, choices=SharingConsent.choices)
    consent_referral = models.BooleanField()
    consent_statistics = models.BooleanField()
    consent_withdrawn_on = models.DateField(null=True, blank=True)
    deletion_requested_on = models.DateField(null=True, blank=True)
    unread_by_staff = models.PositiveIntegerField(default=1)
    unread_by_reporter = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organisation", "status"])]

    def __str__(self) -> str:
        return f"report {self.uid}"


class ReportMessage(models.Model):
    """A message in a report's thread, sealed to the report key."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="messages")
    author = models.CharField(max_length=8, choices=Author.choices)
    # Which caseworker wrote it; the reporter is never a user.
    staff_author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sealed_body = models.BinaryField(editable=False)
    sent_on = models.DateField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"message {self.pk} of report {self.report_id}"


class ReportFile(models.Model):
    """A file the reporter sent: original and metadata-stripped copy, both sealed.

    Stored in the database, not the media folder, so that a submission is one transaction:
    a killed server leaves the whole sealed report or nothing.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="files")
    message = models.ForeignKey(ReportMessage, on_delete=models.CASCADE, null=True, blank=True, related_name="files")
    sealed_meta = models.BinaryField(editable=False, help_text="Name, type, sizes, SHA-256s, what was stripped.")
    sealed_original = models.BinaryField(editable=False)
    sealed_working = models.BinaryField(editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"file {self.pk} of report {self.report_id}"


class DerivedIncident(models.Model):
    """A de-identified incident a caseworker derived from a report.

    The report side is a plain foreign key (so deleting a report deletes its links); *which*
    incident is sealed to the organisation, so a stolen database does not tie any incident in
    the analysable data back to a report.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="derived")
    sealed_incident = models.BinaryField(editable=False)

    def __str__(self) -> str:
        return f"incident derived from report {self.report_id}"


class ReceiptFailures(models.Model):
    """Wrong receipts per hour, installation-wide (no addresses): the guessing limit."""

    hour = models.DateTimeField(primary_key=True)
    failures = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.failures} wrong receipts in the hour from {self.hour:%Y-%m-%d %H}:00"
