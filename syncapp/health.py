"""Sync health: per flow, is data moving, how far behind is it, how much fails.

Every figure comes from an indexed query: the backlog is a count over the partial
pending index, the lag one probe of the pending-age index, throughput and error rate a
sum over the flow's runs that finished in the last hour. History for the charts comes
from HealthSample rows written every few minutes, never from the outbox itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import BooleanField, F, Func, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from exceptions.models import SyncException

from .bulk_window import bulk_allowed
from .connection_incidents import incidents_open_by_connection
from .erp_outages import erp_outages, outage_text
from .health_history import RANGES, Bucket, FlowHistory, flows_history, health_sample_record  # noqa: F401 - re-exported
from .incidents import incidents_open
from .leases import lease_expired_before
from .models import ConnectionIncident, Flow, OutboxItem, OutboxStatus, Priority, SyncRun

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
    causes: list[tuple[int, str]] = field(default_factory=list)  # (level, text) behind `problems`

    @property
    def worst_cause(self) -> str:
        """The "Why" column's lead: the problem of the highest level (the first of equals)."""
        return max(self.causes, key=lambda cause: cause[0])[1] if self.causes else ""

    @property
    def throughput_per_minute(self) -> float:
        return self.accepted_last_hour / (WINDOW.total_seconds() / 60)

    @property
    def error_rate_percent(self) -> float | None:
        total = self.accepted_last_hour + self.failed_last_hour
        return 100.0 * self.failed_last_hour / total if total else None


# ------------------------------------------------------------------ figures, for many flows at once
#
# One query per kind of figure, grouped by flow (or one scalar subquery per flow, each an
# index probe), so the page costs the same dozen queries at 4 flows or 40. The one-flow
# functions below them are the same queries for a list of one.


def _status_is(*statuses: str) -> Func:
    """The statuses written into the SQL as literals: SQLite then answers from the partial
    index alone, where a bound parameter makes it read every row to check the status (20x
    slower on a 40,000-row backlog). The column through F, so it holds in a subquery too."""
    listed = _literal(*statuses)
    return Func(F("status"), template=f"%(expressions)s = {listed}" if len(statuses) == 1
                else f"%(expressions)s IN ({listed})", output_field=BooleanField())


def _in_status(flow, *statuses: str) -> QuerySet[OutboxItem]:
    """The flow's rows in these statuses (`flow` a Flow or an OuterRef)."""
    return OutboxItem.objects.filter(_status_is(*statuses), flow=flow)


def _pending(flow) -> QuerySet[OutboxItem]:
    return _in_status(flow, OutboxStatus.PENDING)


# Sent to a worker or to the destination but not settled: still backlog (a dead worker's
# claim or a destination that never validates must not make a flow look drained).
_UNSETTLED = (OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED)


# Counting stops here: past it the page says "1,000,000+" (a count of millions of rows
# is exactly the unbounded query the pages must not make).
BACKLOG_COUNT_CAP = 1_000_000


def capped_count(condition: str, cap: int, params=()) -> RawSQL:
    """COUNT of the outer flow's outbox rows meeting `condition` (SQL on alias o), stopping
    at `cap`: a scalar subquery to annotate flows with."""
    return RawSQL(f'(SELECT COUNT(*) FROM (SELECT 1 FROM "{OutboxItem._meta.db_table}" o WHERE o.flow_id = '
                  f'"{Flow._meta.db_table}"."id" AND {condition} LIMIT %s) AS capped)', [*params, cap])


def _literal(*statuses: str) -> str:
    return ", ".join(f"'{status}'" for status in statuses)


def _flows_annotated(flow_ids, **figures) -> dict[int, dict]:
    """flow id -> {figure: value}, one query over the flows."""
    return {row.pop("pk"): row for row in Flow.objects.filter(pk__in=list(flow_ids)).order_by()
            .annotate(**figures).values("pk", *figures)}


def flows_backlog(flow_ids) -> dict[int, int]:
    """Records not yet settled: pending (backing off included), claimed by a worker, or
    sent and awaiting the destination's validation; each counted up to BACKLOG_COUNT_CAP + 1."""
    cap = BACKLOG_COUNT_CAP + 1
    found = _flows_annotated(flow_ids, pending=capped_count(f"o.status = '{OutboxStatus.PENDING}'", cap),
                             unsettled=capped_count(f"o.status IN ({_literal(*_UNSETTLED)})", cap))
    return {pk: min(cap, row["pending"] + row["unsettled"]) for pk, row in found.items()}


def _oldest(rows: QuerySet[OutboxItem]) -> Subquery:
    return Subquery(rows.filter(planned_at__isnull=False).order_by("planned_at").values("planned_at")[:1])


def flows_lag_seconds(flows, *, now: datetime | None = None) -> dict[int, float | None]:
    """Age of each flow's oldest unsettled record (since it was planned), or None when none
    waits. Per flow, probes of the partial indexes on (flow, planned_at)."""
    now = now or timezone.now()
    outer = OuterRef("pk")
    found = _flows_annotated([flow.pk for flow in flows], pending=_oldest(_pending(outer)),
                             pending_now=_oldest(_pending(outer).filter(priority__lt=Priority.BACKFILL)),
                             unsettled=_oldest(_in_status(outer, *_UNSETTLED)))
    lags = {}
    for flow in flows:
        row = found[flow.pk]
        # Bulk waiting for its off-peak window is not lag.
        pending = row["pending"] if bulk_allowed(flow.destination, now) else row["pending_now"]
        oldest = min((at for at in (pending, row["unsettled"]) if at is not None), default=None)
        lags[flow.pk] = None if oldest is None else max(0.0, (now - oldest).total_seconds())
    return lags


def flows_stale_claims(flow_ids) -> dict[int, int]:
    """Rows claimed by a worker that stopped renewing its lease (it died): they go back
    at the next sweep; until then they are the flow's problem to show."""
    found = _flows_annotated(flow_ids, stale=capped_count(
        f"o.status = '{OutboxStatus.IN_FLIGHT}' AND o.claimed_at < %s", 1001, [lease_expired_before()]))
    return {pk: row["stale"] for pk, row in found.items()}


def flows_run_counts(flow_ids, *, since: datetime, until: datetime | None = None) -> dict[int, tuple[int, int]]:
    """Records accepted and failed by each flow's runs that finished in (since, until]."""
    runs = SyncRun.objects.filter(flow_id__in=list(flow_ids), finished_at__gt=since)
    if until is not None:
        runs = runs.filter(finished_at__lte=until)
    found = {pk: (a or 0, f or 0) for pk, a, f in runs.order_by().values("flow_id").annotate(
        a=Sum("records_accepted"), f=Sum("records_failed")).values_list("flow_id", "a", "f")}
    return {pk: found.get(pk, (0, 0)) for pk in flow_ids}


def _latest_run(flow, **conditions) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(flow=flow, **conditions).order_by("-started_at")


def flows_last_push(flow_ids) -> dict[int, datetime | None]:
    found = _flows_annotated(flow_ids, at=Subquery(_latest_run(OuterRef("pk"), status__in=_OK_RUNS)
                                                   .values("finished_at")[:1]))
    return {pk: row["at"] for pk, row in found.items()}


def flows_destination_failing(flow_ids) -> dict[int, str]:
    """Why each flow's latest push got nothing through ("" when it did): a destination
    down or in a 429/5xx storm shows at once, before lag or exceptions grow. (Records it
    refused for good are the error rate's to judge, by its own limit.)"""
    last = _latest_run(OuterRef("pk"), kind=SyncRun.Kind.PUSH, finished_at__isnull=False)
    found = _flows_annotated(flow_ids, accepted=Subquery(last.values("records_accepted")[:1]),
                             retried=Subquery(last.values("records_retried")[:1]))
    return {pk: "" if row["accepted"] or not row["retried"]
            else f"the destination took none of the last push: {row['retried']} to retry"
            for pk, row in found.items()}


ABANDONED_SHOWN = timedelta(minutes=10)


def flows_recently_abandoned(flows, *, now: datetime) -> dict[int, datetime | None]:
    """When a worker last died mid-run on each flow or mid-pull on its connection, if
    within ABANDONED_SHOWN: its work is picked up again by then, but an admin should
    know a worker is dying. Two queries: runs still "running" with a lapsed lease (dead,
    the sweep has not ended them yet), and runs recently ended as abandoned."""
    own = Q(flow__in=flows) | Q(flow__isnull=True, connection_id__in={flow.connection_id for flow in flows})
    dead = SyncRun.objects.filter(own, status=SyncRun.Status.RUNNING, heartbeat_at__lt=lease_expired_before())
    ended = SyncRun.objects.filter(own, finished_at__gt=now - ABANDONED_SHOWN, status=SyncRun.Status.FAILED,
                                   error__startswith="Abandoned")
    found = {flow.pk: None for flow in flows}
    for runs, column in ((dead, "heartbeat_at"), (ended, "finished_at")):
        by_flow, by_connection = {}, {}
        for flow_id, connection_id, at in runs.values_list("flow_id", "connection_id", column):
            if flow_id:
                by_flow[flow_id] = max(at, by_flow.get(flow_id, at))
            else:
                by_connection[connection_id] = max(at, by_connection.get(connection_id, at))
        for flow in flows:
            if found[flow.pk] is None:
                found[flow.pk] = max((at for at in (by_flow.get(flow.pk), by_connection.get(flow.connection_id))
                                      if at is not None), default=None)
    return found


def connections_last_pull(connection_ids) -> dict[int, datetime | None]:
    from erp.models import ErpConnection

    last = SyncRun.objects.filter(flow__isnull=True, connection=OuterRef("pk"), kind=SyncRun.Kind.PULL,
                                  status__in=_OK_RUNS).order_by("-started_at").values("finished_at")[:1]
    return dict(ErpConnection.objects.filter(pk__in=list(connection_ids)).order_by()
                .annotate(at=Subquery(last)).values_list("pk", "at"))


def auth_failing(flows) -> tuple[set[int], set[int]]:
    """(connections, flows) refused credentials: open exceptions about a connection (the
    ERP refused the hub) or about a flow's records (the destination refused them)."""
    connections, refused_flows = set(), set()
    for flow_id, connection_id in SyncException.objects.filter(
            Q(flow__in=flows) | Q(flow__isnull=True, connection_id__in={flow.connection_id for flow in flows}),
            reason_code=AUTH_REASON, status__in=_ACTIVE).values_list("flow_id", "connection_id").distinct():
        (refused_flows.add(flow_id) if flow_id else connections.add(connection_id))
    return connections, refused_flows


def connection_auth_failing_ids(connection_ids) -> set[int]:
    return set(SyncException.objects.filter(connection_id__in=list(connection_ids), flow__isnull=True,
                                            reason_code=AUTH_REASON, status__in=_ACTIVE)
               .values_list("connection_id", flat=True).distinct())


# The same, one flow at a time (alerts, the samples, the connection lights).

def flow_backlog(flow: Flow) -> int:
    return flows_backlog([flow.pk])[flow.pk]


def flow_lag_seconds(flow: Flow, *, now: datetime | None = None) -> float | None:
    return flows_lag_seconds([flow], now=now)[flow.pk]


def flow_stale_claims(flow: Flow) -> int:
    return flows_stale_claims([flow.pk])[flow.pk]


def flow_run_counts(flow: Flow, *, since: datetime, until: datetime | None = None) -> tuple[int, int]:
    return flows_run_counts([flow.pk], since=since, until=until)[flow.pk]


def flow_last_push(flow: Flow) -> datetime | None:
    return flows_last_push([flow.pk])[flow.pk]


def flow_destination_failing(flow: Flow) -> str:
    return flows_destination_failing([flow.pk])[flow.pk]


def flow_recently_abandoned(flow: Flow, *, now: datetime) -> datetime | None:
    return flows_recently_abandoned([flow], now=now)[flow.pk]


def connection_last_pull(connection_id: int) -> datetime | None:
    return connections_last_pull([connection_id]).get(connection_id)


def connection_auth_failing(connection_id: int) -> bool:
    """The ERP refused the hub's credentials (an open ingest exception about the connection)."""
    return bool(connection_auth_failing_ids([connection_id]))


def flow_auth_failing(flow: Flow) -> bool:
    """The destination refused the hub's credentials for this flow's records."""
    return flow.pk in auth_failing([flow])[1]


# ------------------------------------------------------------------ the light


def _over(value: float | None, limit: float) -> int:
    """0 within the limit (or no limit), 1 over it, 2 over twice it."""
    if value is None or not limit or value <= limit:
        return 0
    return 2 if value > 2 * limit else 1


def flow_causes(*, flow: Flow, lag_seconds: float | None, error_rate_percent: float | None,
                auth_failing: bool, outages: list[tuple[int, str]] = ()) -> list[tuple[int, str]]:
    """(level, plain reason) of each problem: 1 over a configured limit, 2 over twice it or
    when credentials are refused. `outages` are (level, text) of what stops the flow outside
    its own figures (the ERP or destination away, the hub's own incident, a dead worker's claims)."""
    causes = [(2, "credentials refused")] if auth_failing else []
    causes += list(outages)
    if lag_level := _over(lag_seconds, flow.lag_alert_minutes * 60):
        causes.append((lag_level, f"lag {duration_text(lag_seconds)} over the {flow.lag_alert_minutes} min limit"))
    if error_level := _over(error_rate_percent, flow.error_rate_alert_percent):
        causes.append((error_level, f"{error_rate_percent:.1f}% failed, limit {flow.error_rate_alert_percent:g}%"))
    return causes


def flow_light(**figures) -> tuple[str, list[str]]:
    """The light of the worst cause (green when none) and the plain reasons, in order found."""
    causes = flow_causes(**figures)
    return (GREEN, AMBER, RED)[max((level for level, _ in causes), default=0)], [text for _, text in causes]


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


# A destination unreachable turns its flows amber at once (as an ERP away) and red past this.
DESTINATION_OUTAGE_RED = timedelta(minutes=15)


def destination_outage_level(incident: ConnectionIncident, now: datetime) -> int:
    return 2 if now - incident.opened_at > DESTINATION_OUTAGE_RED else 1


def destination_outages(incidents: list[ConnectionIncident], now: datetime) -> tuple[bool, list[tuple[int, str]]]:
    """(credentials refused, [(level, text)]) from a destination's open incidents."""
    refused, outages = False, []
    for incident in incidents:
        at = f"{timezone.localtime(incident.opened_at):%H:%M}"
        if incident.kind == ConnectionIncident.Kind.CREDENTIALS:
            refused = True  # said as "credentials refused"
        elif incident.kind == ConnectionIncident.Kind.UNREACHABLE:
            outages.append((destination_outage_level(incident, now), f"destination unreachable since {at}"))
        else:
            outages.append((1, f"429 storm at the destination since {at}: records wait and go again"))
    return refused, outages


def flows_health(*, flows=None, now: datetime | None = None, open_incidents=None) -> list[FlowHealth]:
    """The health of each flow (all flows by default), by name. `open_incidents`: the
    connections' open incidents when the caller has read them already."""
    now = now or timezone.now()
    _, destination_open = open_incidents or incidents_open_by_connection()
    flows = list((flows if flows is not None else Flow.objects.all())
                 .select_related("connection", "destination").order_by("name"))
    hub_outages = [(2, f"hub fault: {incident.get_kind_display()} since {incident.opened_at:%H:%M}")
                   for incident in incidents_open()]
    erp_away = erp_outages()
    inbound = inbound_backlogs()
    ids = [flow.pk for flow in flows]
    pulls = connections_last_pull({flow.connection_id for flow in flows})
    refused_connections, refused_flows = auth_failing(flows)
    counts = flows_run_counts(ids, since=now - WINDOW, until=now)
    lags = flows_lag_seconds(flows, now=now)
    backlogs, stale_claims, last_pushes = flows_backlog(ids), flows_stale_claims(ids), flows_last_push(ids)
    failing_pushes = flows_destination_failing(ids)
    abandoned_at = flows_recently_abandoned(flows, now=now)
    rows = []
    for flow in flows:
        accepted, failed = counts[flow.pk]
        lag = lags[flow.pk]
        destination_refused, outages = destination_outages(destination_open.get(flow.destination_id, []), now)
        auth = flow.connection_id in refused_connections or destination_refused or flow.pk in refused_flows
        outages = [*hub_outages, *outages]
        if (away := erp_away.get(flow.connection_id)) is not None:
            outages.append((2 if away.over_threshold(now) else 1, outage_text(away, now)))
        if waiting := inbound_outage(inbound.get(flow.connection_id), now):
            outages.append(waiting)
        if failing := failing_pushes[flow.pk]:
            outages.append((1, failing))
        if abandoned := abandoned_at[flow.pk]:
            outages.append((1, f"a worker stopped mid-run at {abandoned:%H:%M}; its records were handed back"))
        if stale := stale_claims[flow.pk]:
            outages.append((1, f"{stale} records held by a worker that stopped; they go back at the next sweep"))
        row = FlowHealth(flow=flow, light=GREEN, problems=[], backlog=backlogs[flow.pk], lag_seconds=lag,
                         accepted_last_hour=accepted, failed_last_hour=failed, last_push_at=last_pushes[flow.pk],
                         last_pull_at=pulls.get(flow.connection_id), auth_failing=auth)
        row.causes = flow_causes(flow=flow, lag_seconds=lag, error_rate_percent=row.error_rate_percent,
                                 auth_failing=auth, outages=outages)
        row.light = (GREEN, AMBER, RED)[max((level for level, _ in row.causes), default=0)]
        row.problems = [text for _, text in row.causes]
        rows.append(row)
    return rows


# ------------------------------------------------------------------ samples and history: syncapp.health_history


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


# Rows ready to send are counted up to this per flow and class; past it the page says "10,000+".
READY_COUNT_CAP = 10_000


def flows_ready(flow_ids: list[int], *, now: datetime) -> dict[tuple[int, int], int]:
    """(flow, priority) -> pending rows whose back-off is over, up to READY_COUNT_CAP + 1:
    one query, each count read from the pending index alone (it carries not_before)."""
    priorities = [int(priority) for priority in PRIORITY_CLASSES]
    found = _flows_annotated(flow_ids, **{f"p{priority}": capped_count(
        f"o.status = '{OutboxStatus.PENDING}' AND o.priority = {priority} "
        "AND (o.not_before IS NULL OR o.not_before <= %s)", READY_COUNT_CAP + 1, [now]) for priority in priorities})
    return {(pk, priority): row[f"p{priority}"] for pk, row in found.items() for priority in priorities
            if row[f"p{priority}"]}


def flows_by_priority(*, flows: list[Flow], now: datetime | None = None,
                      window: timedelta = PEAK_WINDOW) -> tuple[list[ClassFigures], list[FlowCalls]]:
    """Per flow and priority class: the last `window`'s lag and rows ready to send now; per
    flow: its calls in the window. Classes with nothing to show are left out."""
    now = now or timezone.now()
    ids = [flow.pk for flow in flows]
    lags = _lag_percentiles(ids, now - window)
    ready = flows_ready(ids, now=now)
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
