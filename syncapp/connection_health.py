"""Each connection at a glance: is the ERP reachable, is the destination reachable, are the
hub's credentials valid, is a destination in a 429 storm; and the incident timeline.

Read from what the engine already learned (open ConnectionIncidents, the ERP outage and
refused-credential exceptions, the last runs that talked to it) and from the connection
probe's last word (ConnectionCheck). A handful of small queries per connection; nothing
reads the outbox.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max, Q
from django.utils import timezone

from erp.models import ErpConnection
from erp.registry import source_adapter_class
from esp.models import EspAccount
from exceptions.models import SyncException

from .connection_incidents import incidents_open_by_connection
from .erp_outages import erp_outages
from .health import (
    AMBER,
    AUTH_REASON,
    GREEN,
    RED,
    connection_auth_failing,
    connection_last_pull,
    destination_outage_level,
    duration_text,
)
from .health_why import plural
from .models import ConnectionCheck, ConnectionIncident, HubIncident, SyncRun

OK, FAILING, WARNING, UNKNOWN, NOT_APPLICABLE = "ok", "failing", "warning", "unknown", "not-applicable"
GREY = "grey"  # nothing known yet
EVIDENCE_WINDOW = timedelta(days=1)  # how far back a destination's last answered push is looked for
STALE_AFTER = timedelta(hours=1)  # an answer older than this (the probe asks every minute) says nothing now
_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)
Kind = ConnectionIncident.Kind


@dataclass
class Aspect:
    """One cell of a connection's row: its state and the words for it."""

    state: str
    text: str


@dataclass
class ConnectionStatus:
    side: str  # "erp" or "destination"
    pk: int
    name: str
    kind: str
    reachable: Aspect
    credentials: Aspect
    rate: Aspect | None = None
    flows: list = field(default_factory=list)  # the flows using it
    checked_at: datetime | None = None

    @property
    def anchor(self) -> str:
        return f"connection-{self.side}-{self.pk}"

    @property
    def light(self) -> str:
        states = {self.reachable.state, self.credentials.state, self.rate.state if self.rate else OK}
        if FAILING in states:
            return RED
        if WARNING in states:
            return AMBER
        seen = {self.reachable.state, self.credentials.state}
        return GREEN if OK in seen and seen <= {OK, NOT_APPLICABLE} else GREY  # an ERP that only calls us: grey


def _ago(moment: datetime, now: datetime) -> str:
    seconds = (now - moment).total_seconds()
    return "just now" if seconds < 30 else f"{duration_text(seconds)} ago"


def _since(incident: ConnectionIncident, now: datetime) -> str:
    lasted = duration_text((now - incident.opened_at).total_seconds())
    return f"since {timezone.localtime(incident.opened_at):%H:%M} ({lasted})"


def _heard(answered: datetime | None, now: datetime, verb: str) -> Aspect:
    """What the last answer says when nothing is failing: fresh, stale (the probe is not
    running), or nothing yet."""
    if answered is None:
        return Aspect(UNKNOWN, "not checked yet")
    if now - answered > STALE_AFTER:
        return Aspect(UNKNOWN, f"last {verb} {_ago(answered, now)}; not checked since")
    return Aspect(OK, f"{verb} {_ago(answered, now)}")


def _latest(*moments: datetime | None) -> datetime | None:
    return max((moment for moment in moments if moment is not None), default=None)


def _by_kind(incidents: list[ConnectionIncident]) -> dict[str, ConnectionIncident]:
    return {incident.kind: incident for incident in incidents}


def _erp_status(connection, *, incidents, outage, check, flows, now) -> ConnectionStatus:
    kind = connection.get_kind_display()
    if not callable(getattr(source_adapter_class(connection.kind), "probe", None)):
        # An ERP that pushes (SAP ECC) is not called by the hub: what it sent waits on the inbound table.
        return ConnectionStatus("erp", connection.pk, connection.name, kind,
                                Aspect(NOT_APPLICABLE, "sends to the hub (IDocs)"),
                                Aspect(NOT_APPLICABLE, "not used: the ERP calls the hub"), flows=flows)
    open_ = _by_kind(incidents)
    answered = _latest(connection_last_pull(connection.pk), check.answered_at if check else None)
    if (away := open_.get(Kind.UNREACHABLE)) is not None:
        reachable = Aspect(FAILING if outage is None or outage.over_threshold(now) else WARNING,
                           f"unreachable {_since(away, now)}")
    elif outage is not None:
        reachable = Aspect(FAILING if outage.over_threshold(now) else WARNING,
                           f"unreachable since {timezone.localtime(outage.since):%H:%M}")
    else:
        reachable = _heard(answered, now, "answered")
    if (refused := open_.get(Kind.CREDENTIALS)) is not None:
        credentials = Aspect(FAILING, f"refused {_since(refused, now)}")
    elif connection_auth_failing(connection.pk):
        credentials = Aspect(FAILING, "refused")
    else:
        credentials = _heard(answered, now, "accepted")
    return ConnectionStatus("erp", connection.pk, connection.name, kind, reachable, credentials, flows=flows,
                            checked_at=check.checked_at if check else None)


def _destination_status(account, *, incidents, check, flows, now) -> ConnectionStatus:
    open_ = _by_kind(incidents)
    pushed = (SyncRun.objects.filter(flow__destination=account, kind=SyncRun.Kind.PUSH, api_calls__gt=0,
                                     finished_at__gte=now - EVIDENCE_WINDOW)
              # It answered: it took records, or settled every one it was sent (none to retry).
              .exclude(status=SyncRun.Status.FAILED).filter(Q(records_accepted__gt=0) | Q(records_retried=0))
              .aggregate(at=Max("finished_at"))["at"])
    answered = _latest(pushed, check.answered_at if check else None)
    if (away := open_.get(Kind.UNREACHABLE)) is not None:
        reachable = Aspect(FAILING if destination_outage_level(away, now) == 2 else WARNING,
                           f"unreachable {_since(away, now)}")
    else:
        reachable = _heard(answered, now, "answered")
    # Records refused for the credentials stay open until retried; they say the credentials
    # fail only while nothing answered after them.
    refused_last = SyncException.objects.filter(flow__destination=account, reason_code=AUTH_REASON,
                                                status__in=_ACTIVE).aggregate(at=Max("last_seen"))["at"]
    if (refused := open_.get(Kind.CREDENTIALS)) is not None:
        credentials = Aspect(FAILING, f"refused {_since(refused, now)}")
    elif refused_last is not None and (answered is None or answered < refused_last):
        credentials = Aspect(FAILING, "refused (see the open exceptions)")
    else:
        credentials = _heard(answered, now, "accepted")
        if refused_last is not None and credentials.state == OK:
            credentials.text += "; records refused before wait for a Retry"
    if (storm := open_.get(Kind.RATE_LIMITED)) is not None:
        rate = Aspect(WARNING, f"429 storm {_since(storm, now)}, {plural(storm.seen, 'push', 'pushes')} put back")
    else:
        rate = Aspect(OK, "within its rate")
    return ConnectionStatus("destination", account.pk, account.name, account.get_kind_display(), reachable,
                            credentials, rate, flows=flows, checked_at=check.checked_at if check else None)


def connections_status(*, flows, now: datetime | None = None, open_incidents=None) -> list[ConnectionStatus]:
    """Every ERP connection, then every destination account, with the flows that use it."""
    now = now or timezone.now()
    erp_open, destination_open = open_incidents or incidents_open_by_connection()
    checks = list(ConnectionCheck.objects.all())
    erp_checks = {check.erp_connection_id: check for check in checks if check.erp_connection_id}
    destination_checks = {check.destination_id: check for check in checks if check.destination_id}
    outages = erp_outages()
    erp_flows: dict[int, list] = {}
    destination_flows: dict[int, list] = {}
    for flow in flows:
        erp_flows.setdefault(flow.connection_id, []).append(flow)
        destination_flows.setdefault(flow.destination_id, []).append(flow)
    found = [_erp_status(connection, incidents=erp_open.get(connection.pk, []), outage=outages.get(connection.pk),
                         check=erp_checks.get(connection.pk), flows=erp_flows.get(connection.pk, []), now=now)
             for connection in ErpConnection.objects.order_by("name")]
    found += [_destination_status(account, incidents=destination_open.get(account.pk, []),
                                  check=destination_checks.get(account.pk), flows=destination_flows.get(account.pk, []),
                                  now=now)
              for account in EspAccount.objects.order_by("name")]
    return found


# ------------------------------------------------------------------ the timeline


@dataclass
class TimelineEntry:
    """One incident on the timeline, placed on the chosen period (0..1 from its start)."""

    what: str
    where: str
    opened_at: datetime
    closed_at: datetime | None
    detail: str
    severity: str
    start: float = 0.0
    end: float = 1.0

    @property
    def lasted_seconds(self) -> float:
        return ((self.closed_at or timezone.now()) - self.opened_at).total_seconds()

    @property
    def lasted_text(self) -> str:
        return duration_text(self.lasted_seconds)

    @property
    def track_x(self) -> str:
        return f"{min(self.start * TRACK_W, TRACK_W - float(self.track_width)):.1f}"  # a bar at now stays in view

    @property
    def track_width(self) -> str:
        """At least 2 px: a short incident on 30 days is still seen."""
        return f"{max(2.0, (self.end - self.start) * TRACK_W):.1f}"


TIMELINE_LIMIT = 100
TRACK_W = 200  # px of the period's track on the page
_SEVERITY = {Kind.UNREACHABLE: RED, Kind.CREDENTIALS: RED, Kind.RATE_LIMITED: AMBER}


def incidents_timeline(*, since: datetime, now: datetime | None = None) -> list[TimelineEntry]:
    """Outages, 429 storms, refused credentials and the hub's own faults that were going on
    at any time since `since`, newest first (at most TIMELINE_LIMIT)."""
    now = now or timezone.now()
    during = Q(closed_at__isnull=True) | Q(closed_at__gte=since)
    entries = []
    for incident in (ConnectionIncident.objects.filter(during).select_related("erp_connection", "destination")
                     .order_by("-opened_at")[:TIMELINE_LIMIT]):
        side = incident.erp_connection or incident.destination
        role = "ERP" if incident.erp_connection_id else "destination"
        what = {Kind.RATE_LIMITED: "429 storm", Kind.CREDENTIALS: "credentials refused"}.get(
            incident.kind, f"{role} unreachable")
        where = f"{role} {side.name}"
        entries.append(TimelineEntry(what, where, incident.opened_at, incident.closed_at, incident.detail,
                                     _SEVERITY[incident.kind]))
    for incident in HubIncident.objects.filter(during).order_by("-opened_at")[:TIMELINE_LIMIT]:
        entries.append(TimelineEntry("hub fault", incident.get_kind_display(), incident.opened_at, incident.closed_at,
                                     incident.detail, RED))
    entries.sort(key=lambda entry: entry.opened_at, reverse=True)
    span = (now - since).total_seconds()
    for entry in entries:
        entry.start = max(0.0, (entry.opened_at - since).total_seconds() / span)
        entry.end = min(1.0, ((entry.closed_at or now) - since).total_seconds() / span)
    return entries[:TIMELINE_LIMIT]
