"""Drift detection: read records back from a destination, compare them field by field
with what the hub last sent, and act on each difference.

What was last sent is the outbox row's payload, for rows the destination accepted and
that carry nothing newer (payload hash = accepted hash); any other row is on its way
anyway and is not checked. A drifted record is
- sent again through the normal engine (re-planned from the mirror, forced, routine
  priority) when only fields the ERP owns differ, or the destination lost the record;
- raised as a `drifted_at_destination` exception for marketing, showing both values,
  when a field the destination owns differs (its mapping's configured owner,
  ownership.field_owner). The hub then sends nothing for it: the destination's value
  stands (a re-plan leaves destination-owned fields out for a contact the destination
  holds); Retry sends the ERP's fields again, Ignore closes it.

Reads go one record at a time, each after push_first.PushFirst said pushes are not
waiting; re-sends are queued after each chunk, so a pass does not stop itself at every
drifted record.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from exceptions.models import Stage, SyncException, Team
from exceptions.services import exception_raise, exceptions_resolve_matching
from syncapp.adapters import HubFault, PushItem, TransportError
from syncapp.incidents import task_enqueue
from syncapp.logging import redact_text
from syncapp.models import Flow, OutboxItem, OutboxStatus, Priority

from .compare import record_drift
from .models import DriftDay, DriftFinding, DriftPass, DriftPolicy
from .ownership import DESTINATION, field_owner, flow_owners
from .push_first import PushesWaiting, PushFirst
from .sampling import daily_sample_size, sample_due_now

log = logging.getLogger(__name__)

REASON = "drifted_at_destination"
CHUNK = 25  # records read before their re-sends and exceptions are written
STALE_RUN = timedelta(minutes=10)  # a "running" pass untouched this long lost its worker
UNSUPPORTED_RETRY = timedelta(days=1)
KEPT = timedelta(days=30)  # finished passes and their findings are kept this long
BUDGET_NOTE = "Time budget used; goes on at once."
_UNSUPPORTED = {"unsupported_read_back", "unsupported_entity"}
_ACTIVE_EXCEPTION = (SyncException.Status.OPEN, SyncException.Status.RETRYING)


# ------------------------------------------------------------------ selectors


def drift_policy_for(flow: Flow) -> DriftPolicy:
    """The flow's sample settings (the defaults, unsaved, when it has none)."""
    return DriftPolicy.objects.filter(flow=flow).first() or DriftPolicy(flow=flow)


def sent_records(flow: Flow):
    """Rows whose payload is exactly what the destination accepted."""
    return OutboxItem.objects.filter(flow=flow, status=OutboxStatus.ACCEPTED,
                                     payload_hash=F("accepted_hash")).exclude(accepted_hash="")


def sample_checked_on(flow: Flow, day: date) -> int:
    return sum(DriftPass.objects.filter(flow=flow, kind=DriftPass.Kind.SAMPLE, created_at__date=day)
               .values_list("checked", flat=True))


def _sample_position(flow: Flow) -> int:
    """Where the flow's next sample starts: where the last one stopped."""
    return (DriftPass.objects.filter(flow=flow, kind=DriftPass.Kind.SAMPLE).order_by("-created_at", "-id")
            .values_list("after_id", flat=True).first() or 0)


# ------------------------------------------------------------------ starting passes


def drift_sample_start(*, flow: Flow, now=None) -> DriftPass | None:
    """This hour's share of the flow's daily sample, as a queued pass (None: nothing due)."""
    policy = drift_policy_for(flow)
    if not (flow.enabled and policy.enabled):
        return None
    now = now or timezone.now()
    last = DriftPass.objects.filter(flow=flow, kind=DriftPass.Kind.SAMPLE).order_by("-created_at", "-id").first()
    if last is not None and last.status == DriftPass.Status.UNSUPPORTED and last.created_at > now - UNSUPPORTED_RETRY:
        return None  # the destination cannot read this entity back: asked again once a day, not every hour
    local = timezone.localtime(now)
    daily = daily_sample_size(records=sent_records(flow).count(), percent=policy.sample_percent,
                              minimum=policy.minimum_per_day)
    due = sample_due_now(daily=daily, done_today=sample_checked_on(flow, local.date()), local_now=local)
    if not due:
        return None
    return DriftPass.objects.create(flow=flow, kind=DriftPass.Kind.SAMPLE, target=due,
                                    after_id=_sample_position(flow))


def drift_full_pass_start(*, flow: Flow, user=None) -> tuple[DriftPass, bool]:
    """Queue a full pass over every sent record of the flow: (the pass, whether it is
    new). A full pass already queued, running or paused is returned instead."""
    with transaction.atomic():
        active = DriftPass.objects.select_for_update().filter(
            flow=flow, kind=DriftPass.Kind.FULL, status__in=DriftPass.ACTIVE).first()
        if active is not None:
            return active, False
        return DriftPass.objects.create(flow=flow, kind=DriftPass.Kind.FULL, requested_by=user), True


def drift_passes_prune(*, now=None) -> int:
    """Remove finished passes (and their findings) older than KEPT; the day counts stay."""
    before = (now or timezone.now()) - KEPT
    deleted, _ = DriftPass.objects.filter(created_at__lt=before).exclude(status__in=DriftPass.ACTIVE).delete()
    return deleted


# ------------------------------------------------------------------ running a pass


@dataclass
class ChunkOutcome:
    checked: list[str] = field(default_factory=list)
    clean: list[str] = field(default_factory=list)
    requeue: list[str] = field(default_factory=list)
    raised: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    findings: list[DriftFinding] = field(default_factory=list)
    owners: dict[str, str] | None = None


class ReadBackUnsupported(Exception):
    pass


def _claim(drift_pass: DriftPass) -> bool:
    """Take the pass for this worker: queued, paused, or running with a lost worker."""
    now = timezone.now()
    claimable = Q(status__in=[DriftPass.Status.QUEUED, DriftPass.Status.PAUSED]) | Q(
        status=DriftPass.Status.RUNNING, updated_at__lt=now - STALE_RUN)
    return bool(DriftPass.objects.filter(claimable, pk=drift_pass.pk).update(
        status=DriftPass.Status.RUNNING, started_at=Coalesce("started_at", now), updated_at=now))


def _rows(flow: Flow, after_id: int, limit: int) -> list[OutboxItem]:
    return list(sent_records(flow).filter(id__gt=after_id).order_by("id")
                .only("id", "record_key", "identifier", "payload", "payload_hash")[:limit])


def drift_pass_run(*, drift_pass: DriftPass, adapter=None, guard: PushFirst | None = None,
                   budget_seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> DriftPass:
    """Run a pass until it is done, pushes wait too long (paused), or `budget_seconds`
    pass (paused, to go on at once). A pass another worker holds is left alone."""
    if not _claim(drift_pass):
        drift_pass.refresh_from_db()
        return drift_pass
    drift_pass.refresh_from_db()
    drift_pass.note = ""  # why it stopped last time is history now
    flow = Flow.objects.select_related("connection", "destination").get(pk=drift_pass.flow_id)
    if adapter is None:
        from syncapp.pushing import adapter_for_flow

        adapter = adapter_for_flow(flow)  # the pushes' own bucket
    guard = guard or PushFirst(flow.destination, calls_per_minute=adapter.limits.calls_per_minute)
    started = clock()
    status, note = DriftPass.Status.DONE, ""
    try:
        while True:
            left = drift_pass.target - drift_pass.checked if drift_pass.target else CHUNK
            if left <= 0:
                break
            rows = _rows(flow, drift_pass.after_id, min(CHUNK, left))
            if not rows:
                if drift_pass.kind == DriftPass.Kind.SAMPLE and not drift_pass.wrapped and drift_pass.after_id:
                    drift_pass.after_id, drift_pass.wrapped = 0, True  # the sample goes round again
                    continue
                break
            _run_chunk(drift_pass, flow, adapter, guard, rows)
            if budget_seconds is not None and clock() - started >= budget_seconds:
                status, note = DriftPass.Status.PAUSED, BUDGET_NOTE
                break
    except PushesWaiting as waiting:
        status, note = DriftPass.Status.PAUSED, f"Paused so pushes go first ({waiting})."
    except ReadBackUnsupported as unsupported:
        status, note = DriftPass.Status.UNSUPPORTED, str(unsupported)
    except HubFault as fault:
        status, note = DriftPass.Status.PAUSED, f"The hub's own fault: {fault.message}"
    except TransportError as error:
        status = DriftPass.Status.FAILED if error.permanent else DriftPass.Status.PAUSED
        note = f"{flow.destination.kind} answered: {error.reason_code or 'no code'} {error.message}".strip()
    # Redacted: a vendor's message may name the record's address (a path like /contacts/v3/email/...).
    drift_pass.status, drift_pass.note = status, redact_text(note or drift_pass.note)[:2000]
    if status in (DriftPass.Status.DONE, DriftPass.Status.UNSUPPORTED, DriftPass.Status.FAILED):
        drift_pass.finished_at = timezone.now()
    drift_pass.save()
    log.info("Drift %s of %s: %s, %d checked, %d drifted", drift_pass.kind, flow.name, status,
             drift_pass.checked, drift_pass.drifted)
    return drift_pass


def _run_chunk(drift_pass: DriftPass, flow: Flow, adapter, guard: PushFirst, rows: list[OutboxItem]) -> None:
    """Read each row back and compare; then act on what differs and count, together. A
    pause mid-chunk still acts on what was read before it."""
    outcome = ChunkOutcome()
    read_to = drift_pass.after_id
    try:
        for row in rows:
            guard.before_read()
            item = PushItem(key=row.record_key, identifier=row.identifier, fields=dict(row.payload or {}))
            views = _read(adapter, flow, item)
            _judge(flow, drift_pass, row, views.get(row.record_key), outcome)
            read_to = row.id
    finally:
        drift_pass.after_id = read_to
        _act(drift_pass, flow, outcome)


def _read(adapter, flow: Flow, item: PushItem) -> dict:
    reader = getattr(adapter, "read_back_fields", None)
    if reader is None:
        raise ReadBackUnsupported(f"{flow.destination.kind} cannot be read back field by field.")
    try:
        return reader(flow.entity, [item])
    except TransportError as error:
        if error.permanent and error.reason_code in _UNSUPPORTED:
            raise ReadBackUnsupported(error.message) from error
        raise


def _judge(flow: Flow, drift_pass: DriftPass, row: OutboxItem, view: dict | None, outcome: ChunkOutcome) -> None:
    key = row.record_key
    outcome.checked.append(key)
    if view is None:
        outcome.missing.append(key)
        outcome.requeue.append(key)
        outcome.findings.append(DriftFinding(drift_pass=drift_pass, record_key=key, missing=True,
                                             action=DriftFinding.Action.REQUEUED))
        return

    if outcome.owners is None:  # read once per chunk: an owner edited meanwhile counts from the next
        outcome.owners = flow_owners(flow)

    def owner_of(name: str) -> str:
        return field_owner(destination_kind=flow.destination.kind, entity=flow.entity, field=name,
                           owners=outcome.owners)

    drifts = record_drift(sent=row.payload or {}, found=view, owner_of=owner_of)
    if not drifts:
        outcome.clean.append(key)
        return
    raised = any(drift.owner == DESTINATION for drift in drifts)
    (outcome.raised if raised else outcome.requeue).append(key)
    outcome.findings.append(DriftFinding(
        drift_pass=drift_pass, record_key=key, fields=[drift.as_dict() for drift in drifts],
        action=DriftFinding.Action.RAISED if raised else DriftFinding.Action.REQUEUED))


def _act(drift_pass: DriftPass, flow: Flow, outcome: ChunkOutcome) -> None:
    """Re-send, raise and resolve; count the chunk on the pass and the day. Rows planned
    again while they were read (their payload is no longer the one compared) are left
    to the engine: it is sending something newer anyway."""
    keys = outcome.requeue + outcome.raised + outcome.clean
    unchanged = set(sent_records(flow).filter(record_key__in=keys).values_list("record_key", flat=True))
    requeue = [key for key in outcome.requeue if key in unchanged]
    findings = [f for f in outcome.findings if f.record_key in unchanged]
    queued: set[str] = set()
    if requeue:
        from syncapp.services import records_replan
        from syncapp.tasks import flow_push_task

        planned = records_replan(flow=flow, record_keys=requeue, force=True, priority=Priority.ROUTINE)
        queued = set(getattr(planned, "queued", requeue))
        transaction.on_commit(lambda: task_enqueue(flow_push_task, flow.pk))
        if unplanned := [key for key in requeue if key not in queued]:
            # Planning refused them (its own exception says why) or the ERP no longer holds them.
            drift_pass.note = (f"{len(unplanned)} drifted record(s) could not be planned again, e.g. "
                               f"{unplanned[0]}: see their exceptions, or the ERP no longer holds them.")
    for finding in findings:
        if finding.action == DriftFinding.Action.RAISED:
            _raise(flow, finding)
    DriftFinding.objects.bulk_create(findings)
    _resolve(flow, [key for key in outcome.clean if key in unchanged])
    counts = {"checked": len(outcome.checked), "drifted": len(findings),
              "requeued": sum(f.action == DriftFinding.Action.REQUEUED and f.record_key in queued for f in findings),
              "raised": sum(f.action == DriftFinding.Action.RAISED for f in findings),
              "missing": sum(f.missing for f in findings)}
    for name, value in counts.items():
        setattr(drift_pass, name, getattr(drift_pass, name) + value)
    drift_pass.save()
    if counts["checked"]:
        day, _ = DriftDay.objects.get_or_create(flow=flow, day=timezone.localdate())
        DriftDay.objects.filter(pk=day.pk).update(**{name: F(name) + value for name, value in counts.items()})


def _values_text(drifts: list[dict]) -> str:
    return "; ".join(f"{d['field']}: the hub sent {d['sent']!r}, it now holds {d['found']!r}" for d in drifts)


def _raise(flow: Flow, finding: DriftFinding) -> None:
    owned = [d for d in finding.fields if d["owner"] == DESTINATION]
    erp = [d for d in finding.fields if d["owner"] != DESTINATION]
    where = flow.destination.name
    message = (f"Changed at {where} since the hub sent it: {_values_text(owned)}. The hub has not overwritten "
               "it (the marketing platform owns this field).")
    if erp:
        message += (f" Fields the ERP owns differ too ({_values_text(erp)}); Retry sends the ERP's values "
                    "for those; the marketing platform's stand.")
    exception_raise(
        connection=flow.connection, flow=flow, entity=flow.entity, record_key=finding.record_key,
        stage=Stage.PUSH, reason_code=REASON, message=message, owner_team=Team.MARKETING,
        detail=f"Found by a drift check ({len(finding.fields)} field(s) differ).",
        last_request={"sent": {d["field"]: d["sent"] for d in finding.fields}},
        last_response={"found": {d["field"]: d["found"] for d in finding.fields}})


def _resolve(flow: Flow, keys: list[str]) -> None:
    """Records that match again (someone put the value back): their drift exception closes."""
    if keys:
        exceptions_resolve_matching(
            queryset=SyncException.objects.filter(flow=flow, record_key__in=keys, reason_code=REASON),
            text="Resolved: the destination holds the hub's values again.")
