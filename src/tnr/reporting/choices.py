"""Fixed choice sets of the reporting app, in one place.

Codes are stored; add codes freely, never rename or reuse one.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ReportStatus(models.TextChoices):
    """Where a report stands in the organisation's triage. Shown to the reporter too."""

    NEW = "new", _("New")
    IN_TRIAGE = "in_triage", _("Being looked at")
    ACCEPTED = "accepted", _("Accepted as a case")
    REFERRED = "referred", _("Referred to another organisation")
    NOT_TNR = "not_tnr", _("Not transnational repression")
    CLOSED = "closed", _("Closed")


CLOSING_STATUSES = frozenset({ReportStatus.REFERRED, ReportStatus.NOT_TNR, ReportStatus.CLOSED})


class Author(models.TextChoices):
    REPORTER = "reporter", _("You")
    STAFF = "staff", _("Caseworker")


class SharingConsent(models.TextChoices):
    """Who may see the report itself (not the de-identified statistics)."""

    ORGANISATION = "organisation", _("Only the caseworkers of this organisation")
    PARTNERS = "partners", _("This organisation and partner organisations it trusts")


class Danger(models.TextChoices):
    YES = "yes", _("Yes, I am in danger now")
    NOT_SURE = "not_sure", _("I am not sure")
    NO = "no", _("No, not right now")


class Whom(models.TextChoices):
    """Who the acts were aimed at, in the reporter's words."""

    ME = "me", _("Me")
    RELATIVE_HOME = "relative_home", _("A relative in my country of origin")
    RELATIVE_ABROAD = "relative_abroad", _("A relative outside my country of origin")
    COLLEAGUE = "colleague", _("A colleague, friend or someone in my community")
    GROUP = "group", _("A group of people (three or more)")


class Evidence(models.TextChoices):
    MESSAGES = "messages", _("Messages, emails or call logs")
    PHOTOS = "photos", _("Photos, videos or recordings")
    DOCUMENTS = "documents", _("Official documents (letters, court papers, notices)")
    WITNESSES = "witnesses", _("People who saw it happen")
    MEDICAL = "medical", _("Medical records")
    DEVICE = "device", _("A phone or computer that may be infected")
    NONE = "none", _("Nothing yet")


class ContactMethod(models.TextChoices):
    NONE = "none", _("Do not contact me: I will come back with my receipt")
    SIGNAL = "signal", _("Signal")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    OTHER = "other", _("Other")


class Precision(models.TextChoices):
    DAY = "day", _("I know the day")
    MONTH = "month", _("I know the month")
    YEAR = "year", _("I know only the year")
