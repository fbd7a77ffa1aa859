"""Fixed choice sets of the protection mechanisms directory, in one place.

Codes are stored in the database and written to CSV files: add codes freely, never rename or
reuse one (an export made today must import next year).
"""

from django.db import models


class MechanismKind(models.TextChoices):
    """What kind of provider of protection a directory entry is."""

    EMERGENCY_GRANT = "emergency_grant", "Emergency grant"
    TEMPORARY_RELOCATION = "temporary_relocation", "Temporary relocation"
    HUMANITARIAN_VISA = "humanitarian_visa", "Humanitarian visa"
    LEGAL_AID = "legal_aid", "Legal aid"
    PSYCHOSOCIAL_SUPPORT = "psychosocial_support", "Psychosocial support"
    DIGITAL_SECURITY_HELPLINE = "digital_security_helpline", "Digital-security helpline"
    NHRI = "nhri", "National human rights institution"
    UN_SPECIAL_PROCEDURE = "un_special_procedure", "UN special procedure"
    POLICE_FOCAL_POINT = "police_focal_point", "Police TNR focal point"
    STATE_FOCAL_POINT = "state_focal_point", "State TNR focal point"
    OTHER = "other", "Other"


class Need(models.TextChoices):
    """What a person at risk may need; a mechanism serves one or more of these."""

    EMERGENCY_FUNDS = "emergency_funds", "Emergency funds"
    RELOCATION = "relocation", "Relocation"
    VISA = "visa", "Visa or residence permit"
    LEGAL = "legal", "Legal help"
    PSYCHOSOCIAL = "psychosocial", "Psychosocial support"
    DIGITAL_SECURITY = "digital_security", "Digital security"
    PHYSICAL_SAFETY = "physical_safety", "Physical safety"
    ADVOCACY = "advocacy", "Advocacy"
    DOCUMENTATION = "documentation", "Documentation of what happened"


class VerificationStatus(models.TextChoices):
    """How fresh an entry's facts are, shown beside every entry."""

    CURRENT = "current", "Verified in the last 12 months"
    STALE = "stale", "Last verified more than 12 months ago"
    UNVERIFIED = "unverified", "Never verified"


# In the CSV file (and the seed file), these words stand for the two "everyone" flags.
WORLDWIDE = "worldwide"
ANY_PROFILE = "any"
