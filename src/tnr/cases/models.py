"""The protection mechanisms directory: who can help a person at risk, and how to reach them.

An entry describes a provider of protection (a grant-maker, a relocation programme, a
helpline, an NHRI, a UN special procedure, a police or state focal point...) at the level a
caseworker or a person at risk needs to decide whether to contact it. The directory holds
public information only; it never records who was referred where.

What the database cannot check (an M2M cannot be the subject of a CHECK constraint, and JSON
lists are checked differently by every backend) is checked once in
``tnr.cases.actions.check_mechanism``, which the web forms, the CSV importer and the seed loader
all go through.
"""

from __future__ import annotations

import datetime

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from tnr.cases.choices import MechanismKind, Need, VerificationStatus
from tnr.cases.languages import language_name
from tnr.taxonomy.models import Country, TargetCategory

NAME_MAX = 200
URL_MAX = 500

# An entry whose facts were last checked longer ago than this is shown with a warning:
# organisations move, close programmes and change how they want to be contacted.
STALE_AFTER = relativedelta(months=12)


def verification_status(
    last_verified: datetime.date | None, today: datetime.date | None = None
) -> VerificationStatus:
    """Whether facts checked on ``last_verified`` are still considered current on ``today``."""
    if last_verified is None:
        return VerificationStatus.UNVERIFIED
    today = today or timezone.localdate()
    if last_verified < today - STALE_AFTER:
        return VerificationStatus.STALE
    return VerificationStatus.CURRENT


class ProtectionMechanism(models.Model):
    """One provider of protection in the directory."""

    name = models.CharField(max_length=NAME_MAX)
    kind = models.CharField(max_length=40, choices=MechanismKind.choices)
    needs = models.JSONField(
        default=list, help_text="Codes of tnr.cases.choices.Need that this mechanism serves."
    )
    worldwide = models.BooleanField(
        default=False, help_text="Serves people in every country; then no country is listed."
    )
    countries = models.ManyToManyField(Country, blank=True, related_name="+")
    any_profile = models.BooleanField(
        default=False, help_text="Open to anyone at risk; then no profile is listed."
    )
    profiles = models.ManyToManyField(TargetCategory, blank=True, related_name="+")
    languages = models.JSONField(
        default=list, blank=True,
        help_text="ISO 639-1 codes of the languages it works in; empty when not recorded.",
    )
    website = models.CharField(max_length=URL_MAX, blank=True)
    safe_contact = models.TextField(blank=True, help_text="How to reach them safely.")
    notes = models.TextField(blank=True)
    last_verified = models.DateField(
        null=True, blank=True, help_text="When these facts were last checked with the provider."
    )
    verification_note = models.TextField(
        blank=True, help_text="How the facts were (or were not) verified."
    )
    source = models.TextField(help_text="Where the facts of this entry were checked.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="mechanism_name_unique_ci"),
            models.CheckConstraint(
                condition=models.Q(kind__in=MechanismKind.values), name="mechanism_kind_valid"
            ),
            # Plain http can be read and altered on the way: a person at risk must never be
            # sent to a protection provider over it.
            models.CheckConstraint(
                condition=models.Q(website="") | models.Q(website__startswith="https://"),
                name="mechanism_website_https",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="mechanism_name_given"),
            models.CheckConstraint(condition=~models.Q(source=""), name="mechanism_source_given"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def verification(self) -> VerificationStatus:
        return verification_status(self.last_verified)

    def need_labels(self) -> list[str]:
        return [Need(code).label for code in self.needs if code in Need.values]

    def language_labels(self) -> list[str]:
        return [f"{language_name(code)} ({code})" for code in self.languages]
