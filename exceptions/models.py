"""Per-record sync exceptions and duplicate-email conflicts: what people see and fix."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from erp.models import ErpConnection


class Team(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    FINANCE = "finance", "Finance"
    INTEGRATION = "integration", "Integration admin"


class Stage(models.TextChoices):
    INGEST = "ingest", "Reading from the ERP"
    PLAN = "plan", "Preparing for the destination"
    PUSH = "push", "Sending to the destination"


class SyncException(models.Model):
    """One failing record, per destination (flow); ingest failures have no flow.

    It resolves itself when the record later goes through. `reason_code` is one of
    exceptions.reasons.REASONS; `message` is written for the person who owns it.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RETRYING = "retrying", "Retrying"
        RESOLVED = "resolved", "Resolved"
        IGNORED = "ignored", "Ignored"

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    flow = models.ForeignKey(
        "syncapp.Flow", null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions"
    )
    entity = models.CharField(max_length=30)
    record_key = models.CharField(max_length=100)
    stage = models.CharField(max_length=10, choices=Stage.choices)
    reason_code = models.CharField(max_length=40, db_index=True)
    destination_code = models.CharField(max_length=100, blank=True)
    message = models.TextField()
    detail = models.TextField(blank=True)
    source_payload = models.JSONField(null=True, blank=True)
    last_request = models.JSONField(null=True, blank=True)
    last_response = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    owner_team = models.CharField(max_length=12, choices=Team.choices, default=Team.MARKETING)
    attempts = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # When a person's Retry marked it retrying; a retry still not run long after is
    # returned to open by exceptions_return_orphaned. Empty for any other status change.
    retry_requested_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "entity", "record_key"],
                condition=Q(flow__isnull=False),
                name="exception_unique_per_flow_record",
            ),
            models.UniqueConstraint(
                fields=["connection", "entity", "record_key"],
                condition=Q(flow__isnull=True),
                name="exception_unique_ingest_record",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "reason_code", "-last_seen"], name="exc_dashboard_idx"),
            models.Index(fields=["-last_seen"], name="exc_recent_idx"),
            # The dashboard's per-reason counts, read from the index alone: a covering
            # index, PostgreSQL only (Django does not create it on SQLite).
            models.Index(fields=["reason_code", "entity", "record_key"],
                         include=["status", "last_seen", "first_seen", "owner_team", "flow"],
                         name="exc_groups_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.record_key}: {self.reason_code}"


class DuplicateEmailConflict(models.Model):
    """Business Partners of one connection sharing an email (trimmed, case-insensitive).

    While open, the records involved are held; resolving releases them.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Resolution(models.TextChoices):
        WINNER = "winner", "One record wins"
        MERGE = "merge", "One contact carries all CardCodes"
        REJECT = "reject", "None is sent"

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    email_normalised = models.CharField(max_length=254)
    card_codes = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, blank=True)
    winner_card_code = models.CharField(max_length=50, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "email_normalised"], name="conflict_unique_email"
            )
        ]

    def __str__(self) -> str:
        return f"{len(self.card_codes)} partners share one email"


class AlertState(models.Model):
    """One alert condition (a reason over its threshold, a flow's lag, a refused login,
    or a team's daily digest) and what was last said about it.

    A condition is active while `cleared_at` is empty. Its alert goes out at most once
    per period; a recovery message follows only an alert that was actually sent.
    """

    key = models.CharField(max_length=120, unique=True)
    team = models.CharField(max_length=12, choices=Team.choices)
    subject = models.CharField(max_length=200, blank=True)
    raised_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    @property
    def active(self) -> bool:
        return self.raised_at is not None and self.cleared_at is None

    def __str__(self) -> str:
        return f"{self.key} ({'active' if self.active else 'clear'})"
