"""Per-record sync exceptions and duplicate-email conflicts: what people see and fix."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

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
    # Why it is in its current status, in one line: a person's reason to ignore it, or the
    # engine's reason to open it again. What people say about it is its note thread
    # (ExceptionNote); everything that happened to it is its history (ExceptionEvent).
    note = models.TextField(blank=True)
    # The person who looks after it (the team is owner_team). Indexed with status and
    # last_seen below, for "assigned to me" newest first.
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", db_index=False)

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
            models.Index(fields=["assignee", "status", "-last_seen"], name="exc_assignee_idx"),
            # The search's record_key =, IN and prefix LIKE ("123:%"): pattern_ops serves all three.
            models.Index(fields=["record_key"], opclasses=["varchar_pattern_ops"], name="exc_record_key_idx"),
            # A status tab's reason groups, from the index alone (exc_dashboard_idx still
            # serves a reason's list newest first, which this one cannot order).
            models.Index(fields=["status", "reason_code", "entity", "record_key"], include=["last_seen"],
                         name="exc_status_groups_idx"),
            # The health page's open exceptions per flow and reason.
            models.Index(fields=["status", "flow", "reason_code"], name="exc_status_flow_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.record_key}: {self.reason_code}"


class ExceptionEvent(models.Model):
    """One thing that happened to an exception, by the hub (`actor` empty) or a person.

    Written in the same transaction as the change it records; bulk changes write their
    events in one bulk insert. `text` is the sentence the history shows, written when it
    happened (a later rename of a reason does not rewrite history); error texts in it
    are the exception's own, already redacted."""

    class Kind(models.TextChoices):
        RAISED = "raised", "Raised"
        SEEN_AGAIN = "seen_again", "Failed again"
        REOPENED = "reopened", "Reopened"
        RETRIED = "retried", "Retry requested"
        REPLANNED = "replanned", "Planned again"
        RESOLVED = "resolved", "Resolved"
        IGNORED = "ignored", "Ignored"
        ASSIGNED = "assigned", "Assigned"
        NOTE_ADDED = "note_added", "Note added"

    exception = models.ForeignKey(SyncException, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    at = models.DateTimeField(default=timezone.now)
    text = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["exception", "at"], name="exc_event_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.text[:60]}"


class ExceptionNote(models.Model):
    """A note a person left on an exception: the thread people read before acting."""

    exception = models.ForeignKey(SyncException, on_delete=models.CASCADE, related_name="notes")
    # Empty for notes kept from before the thread (the exception's single note field).
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["exception", "created_at"], name="exc_note_idx")]

    def __str__(self) -> str:
        return self.text[:60]


class SavedFilter(models.Model):
    """A dashboard filter a person named, kept as its query string (without paging).

    Shown to its owner, and to everyone in `team` when shared. "Assigned to me" in a
    shared filter means whoever opens it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80)
    query = models.TextField(blank=True)
    team = models.CharField(max_length=12, choices=Team.choices, blank=True,
                            help_text="Shared with this team; empty for the owner alone.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_filter_unique_name")]
        indexes = [models.Index(fields=["team", "name"], name="saved_filter_team_idx")]

    def __str__(self) -> str:
        return self.name


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
