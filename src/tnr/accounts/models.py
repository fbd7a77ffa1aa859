"""Organisations and their members.

Every record belongs to one organisation. Roles here are the minimum the foundation needs;
the organisations-and-keys work adds invitations, second factor and key wrapping.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class OrganisationKind(models.TextChoices):
    NGO = "ngo", "Non-governmental organisation"
    NHRI = "nhri", "National human rights institution"
    STATE_FOCAL_POINT = "state_focal_point", "Police or state TNR focal point"
    UN = "un", "UN office"
    RESEARCH = "research", "Research institution"
    OTHER = "other", "Other"


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", "Administrator"
    CASEWORKER = "caseworker", "Caseworker"
    ANALYST = "analyst", "Analyst"
    PARTNER = "partner", "Partner (read-only, de-identified)"


class Organisation(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=30, choices=OrganisationKind.choices, default=OrganisationKind.NGO)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=OrganisationKind.values), name="organisation_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"
