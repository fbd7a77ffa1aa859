"""Analytics models: record-linkage runs and the caseworkers' decisions on uncertain pairs.

A ``LinkageRun`` is one run of ``tnr.methods.linkage`` over an organisation's incidents: the
settings and trained model it used, its counts, the pairs it scored at or above the review
threshold (``LinkagePair``) and the cluster of every incident (``ClusterMember``). Runs are
kept as they were: a later run never rewrites an earlier one.

A ``PairDecision`` says that two incidents are, or are not, the same incident. It belongs to
the organisation, not to a run, so it outlives the run it was made in and overrides the model
in every later run (``tnr.analytics.actions``).

Nothing here holds a name or free text: ids, probabilities, counts and the settings.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from tnr.accounts.models import Organisation
from tnr.records.models import Incident


class RunStatus(models.TextChoices):
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class LinkageRun(models.Model):
    """One linkage run over an organisation's incidents."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="linkage_runs", db_index=False)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=6, choices=RunStatus.choices)
    error = models.CharField(max_length=500, blank=True, help_text="Why the run failed (no record content).")
    backend = models.CharField(max_length=10, default="duckdb")
    settings = models.JSONField(default=dict, help_text="The linkage settings as used (tnr.methods.linkage_settings).")
    model = models.JSONField(default=dict, help_text="Trained parameters: prior, and m and u of every level.")
    match_threshold = models.FloatField()
    review_threshold = models.FloatField()
    n_records = models.PositiveIntegerField(default=0)
    n_pairs = models.PositiveIntegerField(default=0, help_text="Pairs kept: at or above the review threshold.")
    n_uncertain = models.PositiveIntegerField(default=0, help_text="Undecided pairs between the two thresholds.")
    n_clusters = models.PositiveIntegerField(default=0)
    n_decisions = models.PositiveIntegerField(default=0, help_text="Decisions the run applied.")
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="linkagerun_status_valid"),
            models.CheckConstraint(
                condition=Q(review_threshold__gt=0) & Q(review_threshold__lte=F("match_threshold")) & Q(match_threshold__lt=1),
                name="linkagerun_thresholds_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Linkage run {self.uid} ({self.organisation_id}, {self.status})"


class LinkagePair(models.Model):
    """Two incidents a run scored at or above its review threshold (or that a decision covers)."""

    run = models.ForeignKey(LinkageRun, on_delete=models.CASCADE, related_name="pairs", db_index=False)
    left = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")  # for deletes of incidents
    right = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    probability = models.FloatField(null=True, help_text="Match probability; empty when only a decision links the pair.")
    match_weight = models.FloatField(null=True)
    levels = models.JSONField(default=dict, help_text="Comparison name → level reached (gamma; -1 missing).")

    class Meta:
        ordering = ["run", "-probability", "id"]
        indexes = [models.Index(fields=["run", "probability"])]
        constraints = [
            models.UniqueConstraint(fields=["run", "left", "right"], name="linkagepair_unique"),
            models.CheckConstraint(condition=Q(left__lt=F("right")), name="linkagepair_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.left_id}–{self.right_id}: {self.probability}"


class ClusterMember(models.Model):
    """The cluster of one incident in one run (singletons included: a cluster is an incident
    as the run counts it)."""

    run = models.ForeignKey(LinkageRun, on_delete=models.CASCADE, related_name="members", db_index=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    cluster = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["run", "cluster"])]
        constraints = [models.UniqueConstraint(fields=["run", "incident"], name="clustermember_unique")]

    def __str__(self) -> str:
        return f"{self.incident_id} in cluster {self.cluster}"


class PairDecision(models.Model):
    """A caseworker's decision that two incidents are the same incident (``same``) or not."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    # The unique constraint below, which starts with ``left``, serves lookups by ``left``.
    left = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+", db_index=False)
    right = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="+")
    same = models.BooleanField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(auto_now=True)
    run = models.ForeignKey(LinkageRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                            help_text="The run whose review page the decision was made on.")  # fmt: skip

    class Meta:
        ordering = ["-decided_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["left", "right"], name="pairdecision_unique"),
            models.CheckConstraint(condition=Q(left__lt=F("right")), name="pairdecision_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.left_id}–{self.right_id}: {'same' if self.same else 'different'}"
