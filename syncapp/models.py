"""The engine's state: flows, source cursors, the outbox and runs. State is rows."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.fields.json import KT

from erp.models import ErpConnection
from esp.models import EspAccount


class DuplicateEmailPolicy(models.TextChoices):
    REJECT_ALL = "reject_all", "Hold all and raise a conflict"
    MOST_RECENT = "most_recent", "Prefer the most recently updated"
    PREFER_CUSTOMER = "prefer_customer", "Prefer customers over leads"
    MERGE = "merge", "One contact carrying all CardCodes"


class Flow(models.Model):
    """One source entity of one ERP connection delivered to one destination account."""

    class Entity(models.TextChoices):
        CUSTOMERS = "customers", "Customers"
        PRODUCTS = "products", "Products and stock"
        STOCK_EVENTS = "stock_events", "Back-in-stock and low-stock signals"
        ORDERS = "orders", "Orders with dispatch and refunds"
        DISPATCH_EVENTS = "dispatch_events", "Dispatch signals"

    name = models.SlugField(max_length=80, unique=True)
    connection = models.ForeignKey(ErpConnection, on_delete=models.PROTECT, related_name="flows")
    entity = models.CharField(max_length=30, choices=Entity.choices, default=Entity.CUSTOMERS)
    destination = models.ForeignKey(EspAccount, on_delete=models.PROTECT, related_name="flows")
    enabled = models.BooleanField(default=True)
    include_leads = models.BooleanField(default=False, help_text="Send leads as well as customers.")
    channel = models.CharField(
        max_length=60, blank=True,
        help_text="Store or channel of the destination this flow feeds (picks its warehouse rule).")
    dispatch_per_shipment = models.BooleanField(
        default=False, help_text="Dispatch signals: one per shipment instead of one when the whole order has left.")
    duplicate_policy = models.CharField(
        max_length=20, choices=DuplicateEmailPolicy.choices, default=DuplicateEmailPolicy.REJECT_ALL
    )
    # Health thresholds: over the limit turns the flow amber (and alerts), over twice the limit red.
    lag_alert_minutes = models.PositiveIntegerField(
        default=30, help_text="Alert when the oldest record waiting to be sent is older than this (0: never).")
    error_rate_alert_percent = models.FloatField(
        default=5.0, help_text="Alert when more than this share of the last hour's records failed (0: never).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class SourceCursor(models.Model):
    """How far ingest has read one entity of one connection.

    Shared by every flow reading that entity, so two destinations never make the ERP
    read the same changes twice. Advanced in the same transaction that stores the page.
    """

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=30)
    value = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "entity"], name="cursor_unique")
        ]


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "Being sent"
    SUBMITTED = "submitted", "Sent, awaiting the destination's validation"
    ACCEPTED = "accepted", "Accepted"
    FAILED = "failed", "Failed (see exception)"
    HELD = "held", "Held (see exception)"
    SKIPPED = "skipped", "Not sent by policy"


class Priority(models.IntegerChoices):
    URGENT = 0, "Time-sensitive"
    ROUTINE = 50, "Routine update"
    BACKFILL = 90, "Backfill"


class OutboxItem(models.Model):
    """The queue of record: one row per destination record (flow x ERP key).

    Planning overwrites the row with the latest payload and bumps `generation`, so a
    record changed twice before it is sent is sent once, with its newest state.
    `accepted_hash` is what the destination last accepted: a plan with the same hash
    costs no call.
    """

    # (flow, record_key) is unique, and indexed so: no flow-only index to keep up as well.
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="outbox", db_index=False)
    record_key = models.CharField(max_length=100)
    identifier = models.CharField(max_length=254, blank=True)
    payload = models.JSONField(default=dict)
    payload_hash = models.CharField(max_length=64, blank=True)
    accepted_hash = models.CharField(max_length=64, blank=True)
    # The generation whose send `accepted_hash` records: two sends of a record overlap only when
    # the first's worker was taken for dead, and the older one may be answered last (outbox_complete).
    accepted_generation = models.PositiveIntegerField(default=0, db_default=0)
    # The generation the send out carries (set when claimed; None: claimed before it was kept):
    # planned again meanwhile, the row waits for that send's answer, which must not count for
    # the newer payload (outbox._held).
    sent_generation = models.PositiveIntegerField(null=True, blank=True)
    remote_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=12, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.ROUTINE)
    generation = models.PositiveIntegerField(default=1)
    attempts = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)
    planned_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Destinations that validate after answering (Ometria): the receipt and when it was sent.
    submitted_at = models.DateTimeField(null=True, blank=True)
    receipt = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["flow", "record_key"], name="outbox_unique_record")
        ]
        indexes = [
            # The claim query: pending rows of a flow, most urgent first. not_before rides
            # along so the health page counts rows ready now from the index alone.
            models.Index(
                fields=["flow", "priority", "id"],
                include=["not_before"],
                name="outbox_pending_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["claimed_at"], name="outbox_inflight_idx", condition=Q(status="in_flight")
            ),
            models.Index(
                fields=["flow", "submitted_at"], name="outbox_submitted_idx", condition=Q(status="submitted")
            ),
            # Lag on the health page: the oldest pending row of a flow, one index probe.
            models.Index(fields=["flow", "planned_at"], name="outbox_pending_age_idx", condition=Q(status="pending")),
            # ...and the oldest row claimed or awaiting validation, which is backlog too.
            models.Index(fields=["flow", "planned_at"], name="outbox_unsettled_age_idx",
                         condition=Q(status__in=["in_flight", "submitted"])),
            # The health page's lag percentiles: rows accepted in the last minutes, not all of them.
            models.Index(fields=["accepted_at"], include=["flow", "priority", "planned_at"],
                         name="outbox_accepted_at_idx", condition=Q(status="accepted")),
            # The reconciliation's ledger (Ometria): a period's accepted orders by the day in the
            # payload, written exactly as reports.screening compares it (SUBSTR, not SUBSTRING).
            models.Index(F("flow"), Func(KT("payload__purchaseDate"), Value(1), Value(10), function="SUBSTR"),
                         name="outbox_ledger_day_idx", condition=Q(status="accepted")),
        ]

    def __str__(self) -> str:
        return f"{self.flow.name}:{self.record_key}"


class RunTrigger(models.TextChoices):
    """What started a run: the beat, a person (sync now), a person's Retry of records, a backfill."""

    SCHEDULE = "schedule", "Schedule"
    PERSON = "person", "Person"
    RETRY = "retry", "Retry"
    BACKFILL = "backfill", "Backfill"


class SyncRun(models.Model):
    """One pull, plan or push run with its counts and timings, what started it and who.

    Its row-level outcomes (SyncRunOutcome) are kept SYNC_RUN_OUTCOME_DAYS; after that the
    run keeps its counts only (`outcomes_pruned_at` says since when)."""

    class Kind(models.TextChoices):
        PULL = "pull", "Pull from ERP"
        PLAN = "plan", "Re-plan"
        PUSH = "push", "Push to destination"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Succeeded with exceptions"
        FAILED = "failed", "Failed"

    flow = models.ForeignKey(Flow, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    connection = models.ForeignKey(
        ErpConnection, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_read = models.PositiveIntegerField(default=0)
    records_changed = models.PositiveIntegerField(default=0)
    records_planned = models.PositiveIntegerField(default=0)
    records_unchanged = models.PositiveIntegerField(default=0)
    records_accepted = models.PositiveIntegerField(default=0)
    records_failed = models.PositiveIntegerField(default=0)
    records_retried = models.PositiveIntegerField(default=0)
    # Held for something else first: an order for its customer, a contact for a person's decision.
    records_waiting = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.SCHEDULE)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="The person who started it (sync now, Retry).")
    entity = models.CharField(max_length=30, blank=True, help_text="What a pull read (business_partners, ...).")
    outcomes_pruned_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Renewed by the running process (see syncapp.leases); a run whose process died stops
    # being renewed and is ended as abandoned by the sweep.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["flow", "-started_at"], name="run_flow_recent_idx"),
            # Health: what a flow's runs accepted and failed in a window (last hour, since the last sample).
            models.Index(fields=["flow", "finished_at"], name="run_flow_finished_idx"),
            # The runs API lists every run newest first (started_at, then id) without sorting them all.
            models.Index(fields=["-started_at", "-id"], name="run_recent_idx"),
        ]

    @property
    def duration_seconds(self) -> float | None:
        if not self.finished_at:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RunOutcome(models.TextChoices):
    """What became of one record in one run."""

    ACCEPTED = "accepted", "Accepted"
    SUBMITTED = "submitted", "Sent, awaiting validation"
    REFUSED = "refused", "Refused"
    RETRIED = "retried", "Will be retried"
    WAITING = "waiting", "Waiting"
    PLANNED = "planned", "Queued to send"
    SKIPPED = "skipped", "Not sent by policy"


class SyncRunOutcome(models.Model):
    """What one run did with one record: written set-based, one INSERT per pushed batch or
    planned page, and pruned after SYNC_RUN_OUTCOME_DAYS (the run keeps its counts).

    Kept small for millions of rows: the payload is not copied. `payload_digest` is the
    head of the hash of what was sent; the page shows the outbox row's payload while its
    hash still starts so (the exception's last request for a refused record). Unchanged
    records are counted on the run, not listed."""

    # A log written a page at a time on the hot path: the database does not check its keys at
    # every commit (two parent probes a record, ~8 us a Business Partner, issue 12). Nothing
    # deletes a run or a flow but the ORM, whose CASCADE removes their outcomes all the same.
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="outcomes", db_index=False,
                            db_constraint=False)
    # A pull plans for several flows. No index of its own: a flow's outcomes go with its runs.
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    record_key = models.CharField(max_length=100)
    outcome = models.CharField(max_length=10, choices=RunOutcome.choices)
    answer = models.CharField(max_length=300, blank=True, help_text="The destination's short answer, redacted.")
    payload_digest = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [
            # A run's page: its records by outcome, in the order they were written; pruning by run.
            models.Index(fields=["run", "outcome", "id"], name="run_outcome_idx"),
        ]


class HealthSample(models.Model):
    """One flow's backlog and lag at one moment, and what its runs accepted and failed
    since the previous sample. Written every few minutes, so the health page charts a
    week without scanning the outbox or the runs."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    taken_at = models.DateTimeField()
    backlog = models.PositiveIntegerField(default=0)
    lag_seconds = models.PositiveIntegerField(null=True, blank=True)
    accepted = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["flow", "-taken_at"], name="health_flow_recent_idx"),
            models.Index(fields=["taken_at"], name="health_taken_idx"),
        ]


class StockSignalState(models.Model):
    """The availability a stock-events flow last saw for an item, so that a signal
    fires once per transition and never on a poll that changed nothing."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    item_code = models.CharField(max_length=50)
    available = models.FloatField(default=0)
    in_stock = models.BooleanField(default=False)
    low = models.BooleanField(default=False)
    signals = models.PositiveIntegerField(default=0, help_text="Signals emitted so far; numbers the next one.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "item_code"], name="stock_signal_unique")]


class HubIncident(models.Model):
    """A fault of the hub's own machinery (the token bucket or task broker in Redis), from
    when to when. It is the hub's to fix: it never counts against a record's attempts nor
    blames a destination; it turns health red and alerts the integration admins."""

    class Kind(models.TextChoices):
        REDIS = "redis", "Redis (task queue and rate limiter) unreachable"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.TextField(blank=True)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind"], condition=Q(closed_at__isnull=True),
                                               name="incident_one_open_per_kind")]
        indexes = [models.Index(fields=["-opened_at"], name="incident_recent_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} since {self.opened_at:%Y-%m-%d %H:%M}"


class FiguresDirty(models.Model):
    """A customer whose order figures moved during a pull and are not re-planned yet.

    Each page of documents marks its customers in the page's own transaction; the pull
    re-plans every marked customer once at its end and removes the marks as it does
    (syncapp.figures). A pull that stops half-way leaves its marks, and the next pull of
    the connection re-plans them: a moved figure is never forgotten.

    A customer may be marked more than once (no unique key): two pages marking the same
    customer at once (the orders pull and the deliveries pull) would otherwise wait for each
    other's commit, up to a second a page at peak. The re-plan takes them all."""

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+", db_index=False)
    card_code = models.CharField(max_length=50)
    marked_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["connection", "id"], name="figures_dirty_taken_idx")]


class ConnectionIncident(models.Model):
    """An ERP connection or a destination account in trouble, from when to when: unreachable,
    its credentials refused, or a 429 storm (still refused for its rate after the client's
    own bounded waits). Opened where the engine meets the trouble (a pull, a push, the
    connection probe) and closed by the first call that goes through (syncapp.connection_incidents)."""

    class Kind(models.TextChoices):
        UNREACHABLE = "unreachable", "Unreachable"
        CREDENTIALS = "credentials", "Credentials refused"
        RATE_LIMITED = "rate_limited", "429 storm"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    erp_connection = models.ForeignKey(ErpConnection, null=True, blank=True, on_delete=models.CASCADE,
                                       related_name="+")
    destination = models.ForeignKey(EspAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    detail = models.TextField(blank=True)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    seen = models.PositiveIntegerField(default=1, help_text="Times the trouble was met while the incident was open.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(erp_connection__isnull=True) ^ Q(destination__isnull=True),
                                   name="connection_incident_one_side"),
            models.UniqueConstraint(fields=["kind", "erp_connection"], name="connection_incident_one_open_erp",
                                    condition=Q(closed_at__isnull=True, erp_connection__isnull=False)),
            models.UniqueConstraint(fields=["kind", "destination"], name="connection_incident_one_open_dest",
                                    condition=Q(closed_at__isnull=True, destination__isnull=False)),
        ]
        indexes = [models.Index(fields=["-opened_at"], name="conn_incident_recent_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} since {self.opened_at:%Y-%m-%d %H:%M}"


class ConnectionCheck(models.Model):
    """The connection probe's last word on one ERP connection or destination account: when
    it asked, whether the connection answered with the hub's credentials accepted, and what
    it said otherwise. One row per connection, updated in place."""

    erp_connection = models.OneToOneField(ErpConnection, null=True, blank=True, on_delete=models.CASCADE,
                                          related_name="+")
    destination = models.OneToOneField(EspAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    checked_at = models.DateTimeField()
    ok = models.BooleanField(default=False)
    answered_at = models.DateTimeField(null=True, blank=True, help_text="The last check that went through.")
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(erp_connection__isnull=True) ^ Q(destination__isnull=True),
                                              name="connection_check_one_side")]
