"""Sync health: per flow, is data moving, how far behind is it, how much fails.

Every figure comes from an indexed query: the backlog is a count over the partial
pending index, the lag one probe of the pending-age index, throughput and error rate a
sum over the flow's runs that finished in the last hour. History for the charts comes
from HealthSample rows written every few minutes, never from the outbox itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import BooleanField, Max, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncHour
from django.utils import timezone

from exceptions.models import SyncException

from .bulk_window import bulk_allowed
from .erp_outages import erp_outages, outage_text
from .incidents import incidents_open
from .leases import lease_expired_before
from .models import Flow, HealthSample, OutboxItem, OutboxStatus, Priority, SyncRun

GREEN, AMBER, RED = "green", "amber", "red"
WINDOW = timedelta(hours=1)  # throughput and error rate look at the last hour
_OK_RUNS = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)
AUTH_REASON = "authentication_failed"


@dataclass
class FlowHealth:
    """One row of the health page (and of /api/health/)."""

    flow: Flow
    light: str
    problems: list[str]
    backlog: int
    lag_seconds: float | None
    accepted_last_hour: int
    failed_last_hour: int
    last_push_at: datetime | None
    last_pull_at: datetime | None
    auth_failing: bool

    @property
    def throughput_per_minute(self) -> float:
        return self.accepted_last_hour / (WINDOW.total_seconds() / 60)

    @property
    def error_rate_percent(self) -> float | None:
        total = self.accepted_last_hour + self.failed_last_hour
        return 100.0 * self.failed_last_hour / total if total else None


# ------------------------------------------------------------------ figures, one flow at a time


def _in_status(flow: Flow, *statuses: str) -> QuerySet[OutboxItem]:
    """The flow's rows in these statuses, with the statuses written into the SQL as
    literals: SQLite then answers from the partial index alone, where a bound parameter
    makes it read every row to check the status (20x slower on a 40,000-row backlog)."""
    listed = ", ".join(f"'{status}'" for status in statuses)
    condition = (f'"{OutboxItem._meta.db_table}"."status" = {listed}' if len(statuses) == 1
                 else f'"{OutboxItem._meta.db_table}"."status" IN ({listed})')
    return OutboxItem.objects.filter(RawSQL(condition, [], output_field=BooleanField()), flow=flow)


def _pending(flow: Flow) -> QuerySet[OutboxItem]:
    return _in_status(flow, OutboxStatus.PENDING)


# Sent to a worker or to the destination but not settled: still backlog (a dead worker's
# claim or a destination that never validates must not make a flow look drained).
_UNSETTLED = (OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED)


# Counting stops here: past it the page says "1,000,000+" (a count of millions of rows
# is exactly the unbounded query the pages must not make).
BACKLOG_COUNT_CAP = 1_000_000


def flow_backlog(flow: Flow) -> int:
    """Records not yet settled: pending (backing off included), claimed by a worker, or
    sent and awaiting the destination's validation; counted up to BACKLOG_COUNT_CAP + 1."""
    pending = _pending(flow)[:BACKLOG_COUNT_CAP + 1].count()
    return pending + _in_status(flow, *_UNSETTLED)[:BACKLOG_COUNT_CAP + 1 - pending].count()


def flow_lag_seconds(flow: Flow, *, now: datetime | None = None) -> float | None:
    """Age of the oldest unsettled record (since it was planned), or None when none waits.
    Two probes, each of its own partial index on (flow, planned_at)."""
    pending = _pending(flow)
    if not bulk_allowed(flow.destination, now):
        pending = pending.filter(priority__lt=Priority.BACKFILL)  # bulk waiting for its off-peak window is not lag
    candidates = [qs.filter(planned_at__isnull=False).order_by("planned_at").values_list("planned_at", flat=True)
                  .first() for qs in (pending, _in_status(flow, *_UNSETTLED))]
    oldest = min((at for at in candidates if at is not None), default=None)
    if oldest is None:
        return None
    return max(0.0, ((now or timezone.now()) - oldest).total_seconds())


def flow_stale_claims(flow: Flow) -> int:
    """Rows claimed by a worker that stopped renewing its lease (it died): they go back
    at the next sweep; until then they are the flow's problem to show."""
    return _in_status(flow, OutboxStatus.IN_FLIGHT).filter(claimed_at__lt=lease_expired_before())[:1001].count()


def flow_run_counts(flow: Flow, *, since: datetime, until: datetime | None = None) -> tuple[int, int]:
    """Records accepted and failed by the flow's runs that finished in (since, until]."""
    runs = SyncRun.objects.filter(flow=flow, finished_at__gt=since)
    if until is not None:
        runs = runs.filter(finished_at__lte=until)
    totals = runs.aggregate(accepted=Sum("records_accepted"), failed=Sum("records_failed"))
    return totals["accepted"] or 0, totals["failed"] or 0


def flow_last_push(flow: Flow) -> datetime | None:
    return (SyncRun.objects.filter(flow=flow, status__in=_OK_RUNS).order_by("-started_at")
            .values_list("finished_at", flat=True).first())


def flow_destination_failing(flow: Flow) -> str:
    """Why the flow's latest push got nothing through ("" when it did): a destination
    down or in a 429/5xx storm shows at once, before lag or exceptions grow. (Records it
    refused for good are the error rate's to judge, by its own limit.)"""
    last = (SyncRun.objects.filter(flow=flow, kind=SyncRun.Kind.PUSH, finished_at__isnull=False)
            .order_by("-started_at").values("records_accepted", "records_retried").first())
    if not last or last["records_accepted"] or not last["records_retried"]:
        return ""
    return f"the destination took none of the last push: {last['records_retried']} to retry"


ABANDONED_SHOWN = timedelta(minutes=10)


def flow_recently_abandoned(flow: Flow, *, now: datetime) -> datetime | None:
    """When a worker last died mid-run on this flow or mid-pull on its connection, if
    within ABANDONED_SHOWN: its work is picked up again by then, but an admin should
    know a worker is dying."""
    own = Q(flow=flow) | Q(flow__isnull=True, connection_id=flow.connection_id)
    # Still "running" with a lapsed lease: dead, the sweep has not ended it yet.
    dead = (SyncRun.objects.filter(own, status=SyncRun.Status.RUNNING, heartbeat_at__lt=lease_expired_before())
            .values_list("heartbeat_at", flat=True).first())
    if dead is not None:
        return dead
    runs = SyncRun.objects.filter(own, finished_at__gt=now - ABANDONED_SHOWN, status=SyncRun.Status.FAILED,
                                  error__startswith="Abandoned")
    return runs.order_by("-finished_at").values_list("finished_at", flat=True).first()


def connection_last_pull(connection_id: int) -> datetime | None:
    return (SyncRun.objects.filter(flow__isnull=True, connection_id=connection_id, kind=SyncRun.Kind.PULL,
                                   status__in=_OK_RUNS).order_by("-started_at")
            .values_list("finished_at", flat=True).first())


def connection_auth_failing(connection_id: int) -> bool:
    """The ERP refused the hub's credentials (an open ingest exception about the connection)."""
    return SyncException.objects.filter(connection_id=connection_id, flow__isnull=True, reason_code=AUTH_REASON,
                                        status__in=_ACTIVE).exists()


def flow_auth_failing(flow: Flow) -> bool:
    """The destination refused the hub's credentials for this flow's records."""
    return SyncException.objects.filter(flow=flow, reason_code=AUTH_REASON, status__in=_ACTIVE).exists()


# ------------------------------------------------------------------ the light


def _over(value: float | None, limit: float) -> int:
    """0 within the limit (or no limit), 1 over it, 2 over twice it."""
    if value is None or not limit or value <= limit:
        return 0
    return 2 if value > 2 * limit else 1


def flow_light(*, flow: Flow, lag_seconds: float | None, error_rate_percent: float | None,
               auth_failing: bool, outages: list[tuple[int, str]] = ()) -> tuple[str, list[str]]:
    """Amber over a configured limit, red over twice it or when credentials are refused.
    `outages` are (level, text) of what stops the flow outside its own figures (the ERP
    away, the hub's own incident, a dead worker's claims). Returns the light and the
    plain reasons for it."""
    level, problems = 0, []
    if auth_failing:
        level = 2
        problems.append("credentials refused")
    for outage_level, text in outages:
        level = max(level, outage_level)
        problems.append(text)
    lag_level = _over(lag_seconds, flow.lag_alert_minutes * 60)
    if lag_level:
        problems.append(f"lag {duration_text(lag_seconds)} over the {flow.lag_alert_minutes} min limit")
    error_level = _over(error_rate_percent, flow.error_rate_alert_percent)
    if error_level:
        problems.append(f"{error_rate_percent:.1f}% failed, limit {flow.error_rate_alert_percent:g}%")
    level = max(level, lag_level, error_level)
    return (GREEN, AMBER, RED)[level], problems


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@dataclass
class InboundBacklog:
    """What an ERP that pushes (SAP ECC) sent and the hub has not applied yet."""

    connection: object
    count: int
    oldest: datetime | None

    def lag_seconds(self, now: datetime) -> float | None:
        return (now - self.oldest).total_seconds() if self.oldest else None


def inbound_backlogs() -> dict[int, InboundBacklog]:
    """Per connection of a pushing kind: its received, unapplied messages (one query each)."""
    from erp.models import ErpConnection
    from erp.registry import pushing_kinds, source_adapter_for

    found = {}
    for connection in ErpConnection.objects.filter(kind__in=pushing_kinds()):
        count, oldest = source_adapter_for(connection).inbound_backlog()
        found[connection.pk] = InboundBacklog(connection, count, oldest)
    return found


def inbound_outage(backlog: InboundBacklog | None, now: datetime) -> tuple[int, str] | None:
    """Amber once received messages wait over a minute, red past the connection's alert time."""
    lag = backlog.lag_seconds(now) if backlog else None
    if lag is None or lag < 60:
        return None
    level = 2 if lag > backlog.connection.unreachable_alert_minutes * 60 else 1
    return level, f"{backlog.count} IDocs received from the ERP and not applied yet (oldest {duration_text(lag)})"


# ------------------------------------------------------------------ rows


def flows_health(*, flows=None, now: datetime | None = None) -> list[FlowHealth]:
    """The health of each flow (all flows by default), by name."""
    now = now or timezone.now()
    flows = list((flows if flows is not None else Flow.objects.all())
                 .select_related("connection", "destination").order_by("name"))
    pulls: dict[int, datetime | None] = {}
    refused: dict[int, bool] = {}
    hub_outages = [(2, f"hub fault: {incident.get_kind_display()} since {incident.opened_at:%H:%M}")
                   for incident in incidents_open()]
    erp_away = erp_outages()
    inbound = inbound_backlogs()
    rows = []
    for flow in flows:
        if flow.connection_id not in pulls:
            pulls[flow.connection_id] = connection_last_pull(flow.connection_id)
            refused[flow.connection_id] = connection_auth_failing(flow.connection_id)
        accepted, failed = flow_run_counts(flow, since=now - WINDOW, until=now)
        lag = flow_lag_seconds(flow, now=now)
        auth = refused[flow.connection_id] or flow_auth_failing(flow)
        outages = list(hub_outages)
        if (away := erp_away.get(flow.connection_id)) is not None:
            outages.append((2 if away.over_threshold(now) else 1, outage_text(away, now)))
        if waiting := inbound_outage(inbound.get(flow.connection_id), now):
            outages.append(waiting)
        if failing := flow_destination_failing(flow):
            outages.append((1, failing))
        if abandoned := flow_recently_abandoned(flow, now=now):
            outages.append((1, f"a worker stopped mid-run at {abandoned:%H:%M}; its records were handed back"))
        if stale := flow_stale_claims(flow):
            outages.append((1, f"{stale} records held by a worker that stopped; they go back at the next sweep"))
        row = FlowHealth(flow=flow, light=GREEN, problems=[], backlog=flow_backlog(flow), lag_seconds=lag,
                         accepted_last_hour=accepted, failed_last_hour=failed, last_push_at=flow_last_push(flow),
                         last_pull_at=pulls[flow.connection_id], auth_failing=auth)
        row.light, row.problems = flow_light(flow=flow, lag_seconds=lag, error_rate_percent=row.error_rate_percent,
                                             auth_failing=auth, outages=outages)
        rows.append(row)
    return rows


# ------------------------------------------------------------------ samples and history


def sample_minutes() -> int:
    return getattr(settings, "SYNC_HEALTH_SAMPLE_MINUTES", 5)


RETENTION = timedelta(days=8)  # the longest chart is 7 days


def health_sample_record(*, now: datetime | None = None) -> list[HealthSample]:
    """Write one sample per flow: backlog and lag now, accepted and failed since the
    flow's previous sample. Samples older than the longest chart are removed."""
    now = now or timezone.now()
    samples = []
    for flow in Flow.objects.all():
        previous = (HealthSample.objects.filter(flow=flow, taken_at__lt=now).order_by("-taken_at")
                    .values_list("taken_at", flat=True).first())
        since = previous or now - timedelta(minutes=sample_minutes())
        accepted, failed = flow_run_counts(flow, since=since, until=now)
        lag = flow_lag_seconds(flow, now=now)
        samples.append(HealthSample(flow=flow, taken_at=now, backlog=flow_backlog(flow),
                                    lag_seconds=None if lag is None else int(lag), accepted=accepted, failed=failed))
    HealthSample.objects.bulk_create(samples)
    HealthSample.objects.filter(taken_at__lt=now - RETENTION).delete()
    return samples


# Chart ranges: how far back, and how wide each bar is.
RANGES = {"24h": (timedelta(hours=24), timedelta(minutes=30)), "7d": (timedelta(days=7), timedelta(hours=4))}


@dataclass
class Bucket:
    start: datetime
    accepted: int = 0
    failed: int = 0
    backlog: int | None = None  # the highest sampled in the bucket; None when none was taken


@dataclass
class FlowHistory:
    flow_id: int
    buckets: list[Bucket] = field(default_factory=list)


def _grid(span: timedelta, width: timedelta, now: datetime) -> tuple[datetime, int]:
    """Buckets aligned to their width (a 4-hour bar starts at 00:00, 04:00...), the last holding now."""
    seconds = width.total_seconds()
    end = datetime.fromtimestamp((now.timestamp() // seconds + 1) * seconds, tz=UTC)
    return end - span, int(span / width)


def flows_history(*, flow_ids: list[int], range_name: str = "24h",
                  now: datetime | None = None) -> dict[int, FlowHistory]:
    """Samples of the range summed into bars: accepted and failed added up, the highest
    backlog kept. One query over the sample index; a week (2,016 samples a flow) is
    first summed by the hour in the database."""
    span, width = RANGES[range_name]
    start, count = _grid(span, width, now or timezone.now())
    histories = {fid: FlowHistory(fid, [Bucket(start + i * width) for i in range(count)]) for fid in flow_ids}
    samples = HealthSample.objects.filter(flow_id__in=flow_ids, taken_at__gte=start, taken_at__lt=start + span)
    if width >= timedelta(hours=1):
        rows = (samples.annotate(at=TruncHour("taken_at", tzinfo=UTC)).values("flow_id", "at").order_by()
                .annotate(a=Sum("accepted"), f=Sum("failed"), b=Max("backlog"))
                .values_list("flow_id", "at", "a", "f", "b"))
    else:
        rows = samples.values_list("flow_id", "taken_at", "accepted", "failed", "backlog")
    for flow_id, at, accepted, failed, backlog in rows:
        bucket = histories[flow_id].buckets[min(count - 1, int((at - start) / width))]
        bucket.accepted += accepted
        bucket.failed += failed
        bucket.backlog = max(backlog, bucket.backlog or 0)
    return histories


# ------------------------------------------------------------------ drift checks (syncapp/drift)


DRIFT_DAYS_SHOWN = 7


def drift_counts_by_day(*, flow_ids: list[int], days: int = DRIFT_DAYS_SHOWN,
                        today=None) -> dict[int, list]:
    """Per flow, what the drift read-backs checked and found on each of the last `days`
    days, newest first (a day without checks is left out). One query over the day rows."""
    from .drift.models import DriftDay

    today = today or timezone.localdate()
    found: dict[int, list] = {flow_id: [] for flow_id in flow_ids}
    for row in DriftDay.objects.filter(flow_id__in=flow_ids, day__gt=today - timedelta(days=days)).order_by(
            "flow_id", "-day"):
        found[row.flow_id].append(row)
    return found


# ------------------------------------------------------------------ the last minutes by priority (peak trading)


PEAK_WINDOW = timedelta(minutes=15)
PRIORITY_CLASSES = {Priority.URGENT: "time-sensitive", Priority.ROUTINE: "routine", Priority.BACKFILL: "backfill"}


@dataclass
class ClassFigures:
    """One flow's records of one priority class: how fast the last PEAK_WINDOW's went
    (from planned to accepted by the destination) and how many are ready to send now."""

    flow: Flow
    label: str
    accepted: int = 0
    p50: float | None = None
    p95: float | None = None
    max: float | None = None
    ready: int = 0


@dataclass
class FlowCalls:
    """A flow's destination calls in the last PEAK_WINDOW (pushes, and Ometria's result
    reads) beside the records they settled."""

    flow: Flow
    calls: int
    accepted: int

    @property
    def records_per_call(self) -> float | None:
        return self.accepted / self.calls if self.calls else None


def _lag_percentiles(flow_ids: list[int], since: datetime) -> dict[tuple[int, int], tuple]:
    """(flow, priority) -> (accepted, p50, p95, max) seconds from planned to accepted, for
    rows accepted since `since` (a row accepted twice counts its latest time only)."""
    import math

    from django.db import connection

    table = OutboxItem._meta.db_table
    if connection.vendor == "postgresql":
        sql = (f'SELECT flow_id, priority, count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY lag), '
               f'percentile_disc(0.95) WITHIN GROUP (ORDER BY lag), max(lag) FROM (SELECT flow_id, priority, '
               f'extract(epoch FROM accepted_at - planned_at) AS lag FROM "{table}" WHERE status = %s '
               f'AND accepted_at >= %s AND planned_at IS NOT NULL AND flow_id = ANY(%s)) AS accepted '
               'GROUP BY flow_id, priority')
        with connection.cursor() as cursor:
            cursor.execute(sql, [OutboxStatus.ACCEPTED, since, flow_ids])
            return {(f, p): (n, float(a), float(b), float(c)) for f, p, n, a, b, c in cursor.fetchall()}
    lags: dict[tuple[int, int], list[float]] = {}
    for flow_id, priority, planned, accepted in OutboxItem.objects.filter(
            flow_id__in=flow_ids, status=OutboxStatus.ACCEPTED, accepted_at__gte=since,
            planned_at__isnull=False).values_list("flow_id", "priority", "planned_at", "accepted_at"):
        lags.setdefault((flow_id, priority), []).append((accepted - planned).total_seconds())
    found = {}
    for slot, values in lags.items():
        values.sort()
        p50, p95 = (values[max(0, math.ceil(share * len(values)) - 1)] for share in (0.5, 0.95))  # nearest rank
        found[slot] = (len(values), p50, p95, values[-1])
    return found


def flows_by_priority(*, flows: list[Flow], now: datetime | None = None,
                      window: timedelta = PEAK_WINDOW) -> tuple[list[ClassFigures], list[FlowCalls]]:
    """Per flow and priority class: the last `window`'s lag and rows ready to send now; per
    flow: its calls in the window. Classes with nothing to show are left out."""
    from django.db.models import Count

    now = now or timezone.now()
    ids = [flow.pk for flow in flows]
    lags = _lag_percentiles(ids, now - window)
    ready = dict(((f, p), n) for f, p, n in OutboxItem.objects.filter(flow_id__in=ids, status=OutboxStatus.PENDING)
                 .filter(Q(not_before__isnull=True) | Q(not_before__lte=now)).values("flow_id", "priority")
                 .order_by().annotate(n=Count("id")).values_list("flow_id", "priority", "n"))
    classes = []
    for flow in flows:
        for priority, label in PRIORITY_CLASSES.items():
            n, p50, p95, top = lags.get((flow.pk, priority), (0, None, None, None))
            waiting = ready.get((flow.pk, priority), 0)
            if n or waiting:
                classes.append(ClassFigures(flow, label, n, p50, p95, top, waiting))
    runs = dict((f, (c or 0, a or 0)) for f, c, a in SyncRun.objects.filter(
        flow_id__in=ids, kind=SyncRun.Kind.PUSH, finished_at__gte=now - window).values("flow_id").order_by()
        .annotate(c=Sum("api_calls"), a=Sum("records_accepted")).values_list("flow_id", "c", "a"))
    calls = [FlowCalls(flow, *runs[flow.pk]) for flow in flows if flow.pk in runs]
    return classes, calls
