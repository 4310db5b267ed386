"""Drift detection's state: per-flow sample settings, passes, findings and daily counts."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from syncapp.models import Flow

DEFAULT_SAMPLE_PERCENT = 1.0
DEFAULT_MINIMUM_PER_DAY = 50


class DriftPolicy(models.Model):
    """How much of one flow's records the daily sample reads back. A flow without a row
    uses the defaults (1% of its records a day, at least 50)."""

    flow = models.OneToOneField(Flow, on_delete=models.CASCADE, related_name="drift_policy")
    enabled = models.BooleanField(default=True, help_text="Read a sample of this flow back every day.")
    sample_percent = models.FloatField(
        default=DEFAULT_SAMPLE_PERCENT, help_text="Share of the flow's sent records checked each day, in percent.")
    minimum_per_day = models.PositiveIntegerField(
        default=DEFAULT_MINIMUM_PER_DAY, help_text="Check at least this many records a day (all, if fewer).")

    class Meta:
        verbose_name = "drift sample setting"

    def __str__(self) -> str:
        return f"{self.flow}: {self.sample_percent:g}% a day, at least {self.minimum_per_day}"


class DriftPass(models.Model):
    """One read-back over a flow: an hour's share of the daily sample, or a full pass an
    admin asked for. It walks the flow's accepted outbox rows in id order; `after_id` is
    where it stands, so a pass paused for pushes (or cut by its time budget) goes on
    from there, and the next sample starts where the last one stopped."""

    class Kind(models.TextChoices):
        SAMPLE = "sample", "Daily sample"
        FULL = "full", "Full pass"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused: pushes go first"
        DONE = "done", "Done"
        UNSUPPORTED = "unsupported", "The destination cannot be read back"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.PAUSED)

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="drift_passes")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    target = models.PositiveIntegerField(default=0, help_text="Records to check; 0: every sent record.")
    after_id = models.BigIntegerField(default=0, help_text="The last outbox row checked.")
    wrapped = models.BooleanField(default=False, help_text="A sample that reached the end and began again.")
    checked = models.PositiveIntegerField(default=0)
    drifted = models.PositiveIntegerField(default=0)
    requeued = models.PositiveIntegerField(default=0)
    raised = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "drift pass"
        verbose_name_plural = "drift passes"
        constraints = [
            models.UniqueConstraint(fields=["flow"], condition=Q(kind="full", status__in=["queued", "running",
                                                                                          "paused"]),
                                    name="drift_one_active_full_pass"),
        ]
        indexes = [models.Index(fields=["flow", "kind", "-created_at"], name="drift_pass_recent_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.flow} ({self.get_status_display()})"


class DriftFinding(models.Model):
    """A record whose destination copy differs from what the hub last sent, and what
    was done: re-sent (only fields the ERP owns differ, or the record is missing) or
    raised as an exception (a field the destination owns differs). `fields` lists each
    differing field: {field, sent, found, owner}."""

    class Action(models.TextChoices):
        REQUEUED = "requeued", "Sent again"
        RAISED = "raised", "Raised for marketing"

    drift_pass = models.ForeignKey(DriftPass, on_delete=models.CASCADE, related_name="findings")
    record_key = models.CharField(max_length=100)
    missing = models.BooleanField(default=False, help_text="The destination no longer holds the record.")
    fields = models.JSONField(default=list)
    action = models.CharField(max_length=10, choices=Action.choices)
    found_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.record_key}: {self.get_action_display()}"


class DriftDay(models.Model):
    """What the read-backs of one flow found on one day (the health page's counts)."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    checked = models.PositiveIntegerField(default=0)
    drifted = models.PositiveIntegerField(default=0)
    requeued = models.PositiveIntegerField(default=0)
    raised = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "day"], name="drift_day_unique")]
