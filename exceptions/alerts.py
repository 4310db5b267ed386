"""Alerts by email to the team that owns the problem, and a daily digest per team.

Kinds of condition: open exceptions of one reason over a threshold (to the reason's
owner); a flow's lag over its limit, a connection whose credentials are refused, an ERP
unreachable past its connection's limit, a destination unreachable or in a 429 storm and
the hub's own incidents (to the integration admins). Each condition has an AlertState row: it is said at
most once per period while it lasts, and its recovery is said once when it clears
(only after an alert actually went out). Mail goes through Django's email backend.
"""
from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Count, Q
from django.utils import timezone

from .models import AlertState, SyncException, Team
from .reasons import REASONS, reason_for

log = logging.getLogger(__name__)

AUTH_REASON = "authentication_failed"
SUBJECT_PREFIX = "[Sync hub] "
DIGEST_PREFIX = "digest:"


@dataclass(frozen=True)
class Condition:
    """A problem that holds now: `key` names it across checks."""

    key: str
    team: str
    subject: str
    body: str


@dataclass
class CheckResult:
    raised: list[str] = field(default_factory=list)  # alerts (or reminders) sent
    recovered: list[str] = field(default_factory=list)  # recovery messages sent
    active: list[str] = field(default_factory=list)  # every condition holding now


# ------------------------------------------------------------------ conditions


def exception_threshold(reason_code: str) -> int:
    return settings.SYNC_ALERT_EXCEPTION_THRESHOLDS.get(reason_code, settings.SYNC_ALERT_EXCEPTION_THRESHOLD)


def _link(path: str) -> str:
    return settings.SYNC_SITE_URL.rstrip("/") + path


def _exception_conditions() -> Iterator[Condition]:
    open_ = SyncException.objects.filter(status=SyncException.Status.OPEN)
    for code, reason in REASONS.items():
        if code in (AUTH_REASON, "erp_unreachable"):
            continue  # each is its own condition (a refused login from the first record, an outage past its limit)
        limit = exception_threshold(code)
        # Bounded: at most limit + 1 index entries are read to know whether it is over.
        if open_.filter(reason_code=code)[:limit + 1].count() <= limit:
            continue
        count = open_.filter(reason_code=code).count()
        yield Condition(
            key=f"exceptions:{code}", team=reason.owner,
            subject=f"{count} open exceptions: {reason.title}",
            body=(f"{count} records are not going through because: {reason.message}\n"
                  f"The alert threshold is {limit}.\n\nWhat to do: {reason.what_to_do}\n\n"
                  f"See them: {_link(f'/exceptions/?reason={code}&status=open')}"),
        )


def _lag_conditions(now: datetime) -> Iterator[Condition]:
    from syncapp.health import duration_text, flow_lag_seconds
    from syncapp.models import Flow

    for flow in Flow.objects.filter(enabled=True).order_by("name"):
        limit = flow.lag_alert_minutes * 60
        lag = flow_lag_seconds(flow, now=now)
        if not limit or lag is None or lag <= limit:
            continue
        yield Condition(
            key=f"lag:flow:{flow.pk}", team=Team.INTEGRATION,
            subject=f"Flow {flow.name} is {duration_text(lag)} behind",
            body=(f"The oldest record waiting to be sent by flow {flow.name} was queued {duration_text(lag)} ago; "
                  f"the limit is {flow.lag_alert_minutes} minutes.\nCheck that workers are running and that the "
                  f"destination answers.\n\nSync health: {_link('/health/')}"),
        )


def _auth_conditions() -> Iterator[Condition]:
    from erp.models import ErpConnection
    from syncapp.health import connection_auth_failing, flow_auth_failing
    from syncapp.models import ConnectionIncident, Flow

    reason = reason_for(AUTH_REASON)
    for connection in ErpConnection.objects.order_by("name"):
        if connection_auth_failing(connection.pk):
            yield Condition(
                key=f"auth:connection:{connection.pk}", team=Team.INTEGRATION,
                subject=f"The ERP refused the hub's credentials ({connection.name})",
                body=f"{reason.message}\n{reason.what_to_do}\n\nSync health: {_link('/health/')}")
    refused: dict[int, list[str]] = {}
    for flow in Flow.objects.filter(enabled=True).select_related("destination").order_by("name"):
        if flow_auth_failing(flow):
            refused.setdefault(flow.destination_id, [flow.destination.name]).append(flow.name)
    for incident in _destination_incidents(ConnectionIncident.Kind.CREDENTIALS):  # found by the probe or a push
        refused.setdefault(incident.destination_id, [incident.destination.name])
    for destination_id, (account, *flows) in refused.items():
        yield Condition(
            key=f"auth:destination:{destination_id}", team=Team.INTEGRATION,
            subject=f"The destination refused the hub's credentials ({account})",
            body=(f"{reason.message}\nFlows affected: {', '.join(flows) or 'none with records yet'}.\n"
                  f"{reason.what_to_do}\n\nSync health: {_link('/health/')}"))


def _destination_incidents(kind: str):
    from syncapp.models import ConnectionIncident

    return (ConnectionIncident.objects.filter(kind=kind, closed_at__isnull=True, destination__isnull=False)
            .select_related("destination").order_by("opened_at"))


def _destination_outage_conditions() -> Iterator[Condition]:
    """A destination unreachable, or in a 429 storm, at once: the incident opens only
    after the client's own retries and bounded waits gave up (syncapp.connection_incidents)."""
    from syncapp.models import ConnectionIncident

    what = {ConnectionIncident.Kind.UNREACHABLE: "cannot be reached",
            ConnectionIncident.Kind.RATE_LIMITED: "keeps refusing calls for its rate limit (429)"}
    for kind, text in what.items():
        for incident in _destination_incidents(kind):
            yield Condition(
                key=f"destination:{kind}:{incident.destination_id}", team=Team.INTEGRATION,
                subject=f"The destination {incident.destination.name} {text}",
                body=(f"Since {incident.opened_at:%Y-%m-%d %H:%M}: {incident.detail}\nRecords wait and are sent "
                      f"again with backoff; nothing is lost.\n\nSync health: {_link('/health/')}"))


def _outage_conditions(now: datetime) -> Iterator[Condition]:
    """The hub's own incidents at once; an ERP away for longer than its connection's threshold."""
    from erp.models import ErpConnection
    from syncapp.erp_outages import erp_outages, outage_text
    from syncapp.incidents import incidents_open

    for incident in incidents_open():
        yield Condition(
            key=f"incident:{incident.kind}", team=Team.INTEGRATION,
            subject=f"The hub itself has a fault: {incident.get_kind_display()}",
            body=(f"Since {incident.opened_at:%Y-%m-%d %H:%M}: {incident.detail}\nRecords wait and are sent once it "
                  f"is fixed; no record's attempts are used up.\n\nSync health: {_link('/health/')}"))
    reason = reason_for("erp_unreachable")
    names = dict(ErpConnection.objects.values_list("pk", "name"))
    for connection_id, outage in erp_outages().items():
        if outage.over_threshold(now):
            yield Condition(
                key=f"erp_unreachable:{connection_id}", team=Team.INTEGRATION,
                subject=f"{outage_text(outage, now)} ({names.get(connection_id, connection_id)})",
                body=f"{reason.message}\n{reason.what_to_do}\n\nSync health: {_link('/health/')}")


def conditions_current(*, now: datetime | None = None) -> list[Condition]:
    """Every alert condition that holds now."""
    now = now or timezone.now()
    return [*_exception_conditions(), *_lag_conditions(now), *_auth_conditions(), *_outage_conditions(now),
            *_destination_outage_conditions()]


# ------------------------------------------------------------------ sending


def team_addresses(team: str) -> list[str]:
    return list(settings.SYNC_ALERT_EMAILS.get(team) or [])


def _send(team: str, subject: str, body: str) -> bool:
    """Mail one team. False when the team has no address or the mail server failed,
    so the message is tried again at the next check."""
    addresses = team_addresses(team)
    if not addresses:
        log.info("No alert address for team %s; not sent: %s", team, subject)
        return False
    try:
        send_mail(SUBJECT_PREFIX + subject, body, settings.DEFAULT_FROM_EMAIL, addresses)
    except (smtplib.SMTPException, OSError) as error:
        log.warning("Alert to %s not sent (%s): %s", team, type(error).__name__, subject)
        return False
    return True


def alerts_check(*, now: datetime | None = None) -> CheckResult:
    """Compare the conditions holding now with the stored states: alert what is new
    (or still there a period after the last message), announce what has cleared."""
    now = now or timezone.now()
    period = timedelta(minutes=settings.SYNC_ALERT_PERIOD_MINUTES)
    current = {condition.key: condition for condition in conditions_current(now=now)}
    states = {state.key: state for state in AlertState.objects.filter(
        Q(key__in=list(current)) | Q(raised_at__isnull=False, cleared_at__isnull=True)
    ).exclude(key__startswith=DIGEST_PREFIX)}
    result = CheckResult(active=sorted(current))
    for key, condition in current.items():
        state = states.get(key) or AlertState(key=key)
        if not state.active:
            state.raised_at, state.cleared_at = now, None
        state.team, state.subject = condition.team, condition.subject[:200]
        said_this_time = state.last_sent_at is not None and state.last_sent_at >= state.raised_at
        due = state.last_sent_at is None or now - state.last_sent_at >= period
        subject = ("Still: " if said_this_time else "") + condition.subject
        if due and _send(condition.team, subject, condition.body):
            state.last_sent_at = now
            result.raised.append(key)
        state.save()
    for key, state in states.items():
        if key in current or not state.active:
            continue
        said = state.last_sent_at is not None and state.last_sent_at >= state.raised_at
        state.cleared_at = now
        if said and _send(state.team, f"Recovered: {state.subject}",
                          f"This has cleared: {state.subject}.\nIt started at {state.raised_at:%Y-%m-%d %H:%M} "
                          f"and cleared at {now:%Y-%m-%d %H:%M} ({settings.TIME_ZONE})."):
            result.recovered.append(key)
        state.save()
    return result


# ------------------------------------------------------------------ the daily digest


def digest_text(team: str, *, now: datetime) -> str:
    """What a team should know each morning: its open exceptions by reason, what is
    alerting, and how the flows are."""
    from syncapp.health import GREEN, flows_health

    open_ = SyncException.objects.filter(status=SyncException.Status.OPEN, owner_team=team)
    by_reason = list(open_.values("reason_code").order_by().annotate(n=Count("id")).order_by("-n", "reason_code"))
    new = open_.filter(first_seen__gte=now - timedelta(days=1)).count()
    lines = [f"Daily digest for {Team(team).label}, {now:%Y-%m-%d}.", ""]
    if by_reason:
        lines.append(f"Open exceptions you own: {sum(g['n'] for g in by_reason)} ({new} new in the last 24 hours)")
        lines += [f"  {g['n']:>7}  {reason_for(g['reason_code']).title}" for g in by_reason]
        lines.append(f"See them: {_link(f'/exceptions/?owner_team={team}&status=open')}")
    else:
        lines.append("No open exceptions you own.")
    alerting = AlertState.objects.filter(team=team, raised_at__isnull=False, cleared_at__isnull=True).exclude(
        key__startswith=DIGEST_PREFIX).order_by("raised_at")
    lines.append("")
    lines += ["Alerting now:", *[f"  since {s.raised_at:%Y-%m-%d %H:%M}: {s.subject}" for s in alerting]] \
        if alerting else ["Nothing is alerting."]
    rows = flows_health(now=now)
    unwell = [row for row in rows if row.light != GREEN]
    lines += ["", f"Flows: {len(rows) - len(unwell)} of {len(rows)} healthy."]
    if team == Team.INTEGRATION:
        lines += [f"  {row.light:>5}  {row.flow.name}: {'; '.join(row.problems)}" for row in unwell]
    lines.append(f"Sync health: {_link('/health/')}")
    return "\n".join(lines)


def alerts_digest_send(*, now: datetime | None = None) -> list[str]:
    """Send each team with an address its digest, at most once a day. Returns the teams sent to."""
    now = now or timezone.now()
    sent = []
    for team in Team.values:
        if not team_addresses(team):
            continue
        state, _ = AlertState.objects.get_or_create(key=f"{DIGEST_PREFIX}{team}", defaults={"team": team})
        if state.last_sent_at and timezone.localdate(state.last_sent_at) == timezone.localdate(now):
            continue
        if _send(team, f"Daily digest, {now:%Y-%m-%d}", digest_text(team, now=now)):
            state.last_sent_at = now
            state.subject = "Daily digest"
            state.save(update_fields=["last_sent_at", "subject"])
            sent.append(team)
    return sent
