"""Push: drain one flow's outbox to its destination in batches at the vendor's maximum.

Each claimed row ends as accepted (hash and remote id kept), failed (a permanent
exception) or pending again with backoff (a transient failure); after
SYNC_MAX_ATTEMPTS transient failures it becomes an exception too. Exceptions are
written after the outbox transaction, so a failing write can never roll them back.

A destination that validates after answering (Ometria) leaves rows "submitted";
`flow_confirm` asks it later and records the same three outcomes.
"""
from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from esp.mapping import field_specs, mappings_for
from esp.registry import destination_adapter_for
from exceptions.models import Stage
from exceptions.services import exception_raise, exceptions_resolve
from syncapp.adapters import HubFault, PushItem, PushResult, SubmittedItem, TransportError

from .bulk_window import bulk_allowed
from .connection_incidents import destination_push_record
from .deadlocks import again_on_deadlock
from .leases import lease_kept
from .models import Priority, RunOutcome
from .outbox import (
    backoff_delay,
    in_order_of_receipt,
    outbox_claim,
    outbox_complete,
    outbox_release,
    outbox_submitted,
)
from .plan_lock import flows_plan_lock
from .ratelimit import AllowanceBusy, calls_for, may_step_aside, throttle_for
from .run_outcomes import push_outcomes_record

log = logging.getLogger(__name__)

# Rows given back after a fault of the hub itself wait this long before the next try.
HUB_FAULT_PAUSE_SECONDS = 30
# Failure categories an adapter may name; anything else is a plain rejection.
_CATEGORIES = {"invalid_email", "contact_suppressed", "authentication_failed"}


@dataclass
class PushStats:
    claimed: int = 0
    accepted: int = 0
    submitted: int = 0
    failed: int = 0
    retried: int = 0
    waiting: int = 0  # an order the destination holds back until its customer is there: not a failure
    calls: int = 0


def flow_calls_per_minute(flow) -> int:
    """The rate the flow's destination account is held to (its own, or the vendor's default)."""
    return account_calls_per_minute(flow.destination)


def account_calls_per_minute(account) -> int:
    from esp.registry import destination_adapter_class

    return account.calls_per_minute or destination_adapter_class(account.kind).default_limits.calls_per_minute


def adapter_for_flow(flow):
    return adapter_for_account(flow.destination)


def adapter_for_account(account):
    """The account's adapter drawing on its shared token bucket (every worker's, the probe's)."""
    from esp.registry import destination_adapter_class

    limits = destination_adapter_class(account.kind).default_limits
    rate = account_calls_per_minute(account)
    return destination_adapter_for(account, throttle_for(account, rate, burst=limits.burst or None))


FIELDS_CHECK_SECONDS = 900
_fields_checked: dict[tuple, float] = {}


def _ensure_fields(flow, adapter) -> None:
    """Create missing destination fields; checked again at most every 15 minutes per
    account and mapping set, so a routine push spends no call on it."""
    specs = field_specs(mappings_for(destination=flow.destination, entity=flow.entity))
    account = flow.destination
    marker = (account.pk, account.kind, account.base_url, account.region, flow.entity,
              tuple(sorted((s.name, s.type) for s in specs)))
    if time.monotonic() - _fields_checked.get(marker, -FIELDS_CHECK_SECONDS) < FIELDS_CHECK_SECONDS:
        return
    adapter.ensure_fields(flow.entity, specs)
    _fields_checked[marker] = time.monotonic()


def flow_push_batch(*, flow, adapter=None, limit: int | None = None, run_id: int | None = None,
                    step_aside: bool = False) -> PushStats:
    """Claim one batch of ready rows and send it. Returns what happened to it; with
    `run_id`, each row's outcome is kept on that run (one INSERT for the batch).

    With `step_aside`, a batch with no time-sensitive record whose first call would wait
    long for the shared allowance gives its rows back untouched and raises AllowanceBusy
    (syncapp.ratelimit.may_step_aside): its caller frees the worker's process meanwhile."""
    adapter = adapter or adapter_for_flow(flow)
    stats = PushStats()
    # An adapter may document a different maximum per entity (contacts vs insight records).
    limits = adapter.limits_for(flow.entity) if hasattr(adapter, "limits_for") else adapter.limits
    held = None if bulk_allowed(flow.destination) else Priority.BACKFILL  # outside the off-peak window
    rows = outbox_claim(flow=flow, limit=limit or limits.batch_size, below_priority=held)
    stats.claimed = len(rows)
    if not rows:
        return stats
    calls_before = getattr(adapter, "calls", 0)
    items = [PushItem(key=row.record_key, identifier=row.identifier, fields=row.payload) for row in rows]
    try:
        # The batch's calls take the account's allowance ahead of less urgent flows' batches.
        with (lease_kept(claimed=rows), calls_for(min(row.priority for row in rows)),
              may_step_aside() if step_aside else nullcontext()):
            _ensure_fields(flow, adapter)
            results = adapter.push(flow.entity, items)
    except AllowanceBusy:
        outbox_release(rows=rows, delay_seconds=0)  # nothing was sent: they are as they were
        raise
    except HubFault:
        # Not the records' fault nor the destination's: they go back as they were.
        outbox_release(rows=rows, delay_seconds=HUB_FAULT_PAUSE_SECONDS)
        raise
    except TransportError as error:
        results = [PushResult(key=row.record_key, outcome="permanent" if error.permanent else "transient",
                              reason_code=error.reason_code, message=error.message,
                              response=error.response) for row in rows]
        if error.permanent:
            log.warning("Push to %s failed for the whole batch: %s", flow.destination, error.message)
        retry_after = error.retry_after
        destination_push_record(account=flow.destination, error=error, results=results)
    except Exception as error:
        log.exception("Push to %s crashed", flow.destination)
        results = [PushResult(key=row.record_key, outcome="transient",
                              message=f"Unexpected error while sending: {type(error).__name__}: {error}")
                   for row in rows]
        retry_after = None
    else:
        retry_after = None
        destination_push_record(account=flow.destination, error=None, results=results)
    stats.calls = getattr(adapter, "calls", 0) - calls_before
    _record_outcomes(flow, rows, results, retry_after, stats, run_id)
    return stats


CONFIRM_BATCH = 5000


def confirms_later(adapter) -> bool:
    return callable(getattr(adapter, "confirm", None))


def flow_confirm(*, flow, adapter, run_id: int | None = None) -> PushStats:
    """Ask the destination about rows it took but had not validated; record what it decided.

    Rows it cannot decide yet stay submitted, until SYNC_CONFIRM_DEADLINE_SECONDS: then
    they count as a transient failure (sent again, and an exception after
    SYNC_MAX_ATTEMPTS), so a destination that never answers cannot hide a record."""
    stats = PushStats()
    while True:
        rows = outbox_submitted(flow=flow, limit=CONFIRM_BATCH)
        if not rows:
            return stats
        # Asked about as their most urgent record, as a push batch is sent: the verdict of new
        # orders must not wait for the allowance behind routine calls.
        with calls_for(min(row.priority for row in rows)):
            decided = _confirm_batch(flow, adapter, rows, stats, run_id)
        if decided < CONFIRM_BATCH:  # a full batch decided: older rows may be waiting behind it
            return stats


def _confirm_batch(flow, adapter, rows, stats: PushStats, run_id: int | None) -> int:
    calls_before = getattr(adapter, "calls", 0)
    items = [SubmittedItem(key=row.record_key, identifier=row.identifier, receipt=row.receipt,
                           submitted_at=row.submitted_at, fields=row.payload) for row in rows]
    try:
        results = adapter.confirm(flow.entity, items)
    except TransportError as error:
        log.warning("Confirming records with %s failed: %s", flow.destination, error.message)
        # Refused for good (the key may push but not read the errors): every row says so
        # now, rather than at the deadline. A passing failure leaves them submitted.
        results = [PushResult(key=row.record_key, outcome="permanent", reason_code=error.reason_code,
                              category=error.reason_code if error.reason_code in _CATEGORIES else "",
                              message=f"Could not confirm this record with the destination: {error.message}",
                              response=error.response) for row in rows] if error.permanent else []
    stats.calls += getattr(adapter, "calls", 0) - calls_before
    decided = {result.key for result in results}
    deadline = timezone.now() - timedelta(seconds=settings.SYNC_CONFIRM_DEADLINE_SECONDS)
    results += [PushResult(key=row.record_key, outcome="transient", reason_code="not_confirmed",
                           message="The destination took this record but never confirmed or refused it.")
                for row in rows if row.record_key not in decided and row.submitted_at < deadline]
    settled = {result.key for result in results}
    batch = PushStats()
    _record_outcomes(flow, [row for row in rows if row.record_key in settled], results, None, batch, run_id)
    for name in ("claimed", "accepted", "failed", "retried", "waiting"):
        setattr(stats, name, getattr(stats, name) + getattr(batch, name))
    return len(settled)


def _record_outcomes(flow, rows, results: list[PushResult], retry_after, stats: PushStats,
                     run_id: int | None = None) -> None:
    by_key = {result.key: result for result in results}
    accepted, failed, retry, submitted = [], [], [], []
    problems: list[tuple] = []
    for row in rows:
        result = by_key.get(row.record_key) or PushResult(
            key=row.record_key, outcome="transient", message="The destination gave no answer for this record.")
        if result.outcome == "accepted":
            accepted.append((row, result.remote_id or ""))
        elif result.outcome == "submitted":
            submitted.append((row, result.remote_id or ""))
        elif result.category == "waiting_for_customer":
            # Not a failure: it goes again, without counting attempts, once its customer is accepted.
            failed.append(row)
            problems.append((row, result, "waiting_for_customer"))
        elif result.outcome == "permanent":
            failed.append(row)
            problems.append((row, result, _permanent_reason(result)))
        elif row.attempts + 1 >= settings.SYNC_MAX_ATTEMPTS:
            failed.append(row)
            # Sent and answered every time, but never validated, is not an unreachable destination.
            problems.append((row, result, "destination_never_confirmed" if result.reason_code == "not_confirmed"
                             else "destination_unreachable"))
        else:
            row.last_error = result.message
            retry.append((row, backoff_delay(row.attempts + 1, retry_after)))
    ours = outbox_complete(accepted=accepted, failed=failed, retry=retry, submitted=submitted)
    # Only rows still ours count: another worker confirming the same rows counts its own.
    waiting = {row.record_key for row, _, reason_code in problems if reason_code == "waiting_for_customer"}
    stats.accepted = sum(row.record_key in ours for row, _ in accepted)
    stats.failed = sum(row.record_key in ours and row.record_key not in waiting for row in failed)
    stats.waiting = sum(key in ours for key in waiting)
    stats.retried = sum(row.record_key in ours for row, _ in retry)
    stats.submitted = sum(row.record_key in ours for row, _ in submitted)
    stats.claimed = len(rows)

    # Rows re-planned meanwhile belong to their new plan: their exceptions are not ours to change.
    done = [row.record_key for row, _ in accepted if row.record_key in ours]
    exceptions_resolve(flow=flow, entity=flow.entity, record_keys=done)
    for row, result, reason_code in problems:
        if row.record_key not in ours:
            continue
        exception_raise(
            connection=flow.connection, flow=flow, entity=flow.entity, record_key=row.record_key,
            stage=Stage.PUSH, reason_code=reason_code, destination_code=result.reason_code or "",
            message=result.message if reason_code == "destination_rejected" and result.message else "",
            detail=f"{flow.destination.kind} answered: {result.reason_code or 'no code'} {result.message}".strip(),
            last_request=result.request if result.request is not None else {"identifier": row.identifier,
                                                                              "fields": row.payload},
            last_response=result.response,
        )
    if run_id is not None:  # the run page's rows: one INSERT for the batch
        push_outcomes_record(run_id=run_id, flow=flow, outcomes=[
            (row, outcome, by_key.get(row.record_key)) for outcome, outcome_rows in (
                (RunOutcome.ACCEPTED, [row for row, _ in accepted]), (RunOutcome.SUBMITTED, [r for r, _ in submitted]),
                (RunOutcome.RETRIED, [row for row, _ in retry]),
                (RunOutcome.REFUSED, [row for row in failed if row.record_key not in waiting]),
                (RunOutcome.WAITING, [row for row in failed if row.record_key in waiting]))
            for row in outcome_rows if row.record_key in ours])
    # Last: releasing what waited for these records must never cost this batch its exceptions.
    # Every acceptance counts, a row changed meanwhile's too: the record is at the destination
    # (the release's plan checks it). A destination processing in order of receipt takes what
    # waited once these were sent.
    sent = ([row.record_key for row, _ in submitted if row.record_key in ours]
            if in_order_of_receipt(flow) else [])
    _release_waiting(flow, [row.record_key for row, _ in accepted] + sent)


def _release_waiting(flow, keys: list[str]) -> None:
    """Records of other flows that waited for these (orders for their customer), now at the
    destination (or sent, where it processes in order of receipt), go now."""
    if not keys:
        return
    from .entities import flow_entity
    from .models import Flow

    for other in Flow.objects.filter(connection_id=flow.connection_id, destination_id=flow.destination_id,
                                     enabled=True).select_related("connection", "destination"):
        spec = flow_entity(other.entity)
        if spec.waits_for != flow.entity:
            continue
        waiting = import_string(spec.waiting)(flow=other, customer_keys=keys)
        if waiting:
            # Written again if a deadlock's victim: nothing else would release these records.
            again_on_deadlock(partial(_replan_released, spec, other, waiting),
                              what=f"Releasing what waited in {other}")


def _replan_released(spec, flow, keys: list[str]) -> None:
    with transaction.atomic():
        flows_plan_lock([flow.pk])  # a pull may be planning the same orders
        spec.plan(flow=flow, record_keys=keys, force=True, priority=Priority.URGENT)


def _permanent_reason(result: PushResult) -> str:
    if result.category in _CATEGORIES:
        return result.category
    if result.reason_code == "authentication_failed":  # AuthenticationFailed for the whole batch
        return "authentication_failed"
    return "destination_rejected"
