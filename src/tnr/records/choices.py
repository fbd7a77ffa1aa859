"""Fixed choice sets of the common data model (DESIGN §4), in one place.

The open-ended vocabularies (tactics, target categories, actor types, outcomes, location and
source types) are versioned data files in ``tnr/taxonomy/data``; what is here is structural:
the sets the data model itself is built around, which change only with a schema version.
"""

from django.db import models


class DatePrecision(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class HostStateRole(models.TextChoices):
    NONE = "none", "None (host state not involved)"
    CO_OPTED = "co_opted", "Co-opted (acted at the origin state's request)"
    COMPLICIT = "complicit", "Complicit (knowingly allowed or assisted)"
    UNKNOWN = "unknown", "Unknown"


class Confidence(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    PROBABLE = "probable", "Probable"
    POSSIBLE = "possible", "Possible"


class Sensitivity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High (could endanger a person if disclosed)"


class Sharing(models.TextChoices):
    INTERNAL = "internal", "Internal to the organisation"
    PARTNERS = "partners", "Partner organisations (de-identified)"
    AGGREGATE = "aggregate", "Aggregate statistics only"
    PUBLIC = "public", "Public"


class InvolvementDegree(models.TextChoices):
    PERPETRATOR = "perpetrator", "Perpetrator"
    INSTIGATOR = "instigator", "Instigator"
    FACILITATOR = "facilitator", "Facilitator"
    CO_OPTED_HOST_AUTHORITY = "co_opted_host_authority", "Co-opted host authority"
    UNKNOWN = "unknown", "Unknown"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class AgeGroup(models.TextChoices):
    UNDER_18 = "under_18", "Under 18"
    AGE_18_29 = "18_29", "18–29"
    AGE_30_44 = "30_44", "30–44"
    AGE_45_64 = "45_64", "45–64"
    AGE_65_PLUS = "65_plus", "65 and over"
    UNKNOWN = "unknown", "Unknown"


class HostStatus(models.TextChoices):
    CITIZEN = "citizen", "Citizen"
    RESIDENT = "resident", "Resident"
    REFUGEE = "refugee", "Refugee"
    ASYLUM_SEEKER = "asylum_seeker", "Asylum seeker"
    STUDENT = "student", "Student"
    WORKER = "worker", "Worker or work visa"
    UNDOCUMENTED = "undocumented", "Undocumented"
    STATELESS = "stateless", "Stateless"
    UNKNOWN = "unknown", "Unknown"


class RelationType(models.TextChoices):
    RELATIVE_OF = "relative_of", "Relative of"
    SPOUSE_OF = "spouse_of", "Spouse or partner of"
    COLLEAGUE_OF = "colleague_of", "Colleague of"


class Reliability(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    UNKNOWN = "unknown", "Unknown"


class Connection(models.TextChoices):
    FIRST_HAND = "first_hand", "First hand"
    SECOND_HAND = "second_hand", "Second hand"
    UNKNOWN = "unknown", "Unknown"


class ConsentScope(models.TextChoices):
    DOCUMENTATION = "documentation", "Documentation of the incident"
    REFERRAL = "referral", "Referral to protection mechanisms"
    STATISTICS = "statistics", "Counting in de-identified statistics"
    PUBLICATION = "publication", "Publication or advocacy"
