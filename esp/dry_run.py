"""Dry run: how many records a mapping change would re-send, counted before it is saved.

Plans every record of a flow under the new mappings without writing: new payload hashes
are compared with the hashes the destination accepted, batch by batch (a range of
mirror keys, and the outbox rows of the same range), so 100,000 contacts take seconds.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from esp.mapping_trial import trial_for
from esp.models import FieldMapping
from syncapp.models import OutboxItem, OutboxStatus

BATCH = 2000
SAMPLE = 10
_WAITING = {OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED}
# Rows a person must act on first (a duplicate-email conflict), or not sent by policy.
_STOPPED = {OutboxStatus.HELD, OutboxStatus.SKIPPED}


@dataclass
class DryRunResult:
    """Counts for one flow. `resend`: the new payload differs from what the destination
    accepted (or it never accepted one); `already_waiting` of those are queued anyway;
    `changed_by_edit`: differ from the payload the saved mappings planned."""

    flow: object
    available: bool = True
    checked: int = 0
    resend: int = 0
    unchanged: int = 0
    already_waiting: int = 0
    changed_by_edit: int = 0
    failing: int = 0
    not_sent: int = 0
    held: int = 0
    seconds: float = 0.0
    sample: list[str] = field(default_factory=list)
    failing_sample: list[tuple[str, str]] = field(default_factory=list)


def mapping_dry_run(*, flow, mappings: Iterable[FieldMapping], batch_size: int = BATCH) -> DryRunResult:
    """Count what saving `mappings` would do to `flow`'s records. Writes nothing."""
    started = time.monotonic()
    result = DryRunResult(flow=flow)
    trial = trial_for(flow=flow, mappings=list(mappings))
    if trial is None:
        result.available = False
        return result
    for partners in trial.batches(batch_size):
        outcomes = trial.run(partners)
        # The batch is a range of keys: its outbox rows are one range read of the (flow, key) index.
        keys = list(partners)
        rows = {key: (payload_hash, accepted_hash, status) for key, payload_hash, accepted_hash, status in
                OutboxItem.objects.filter(flow=flow, record_key__gte=keys[0], record_key__lte=keys[-1])
                .values_list("record_key", "payload_hash", "accepted_hash", "status")}
        for key, outcome in outcomes.items():
            _count(result, outcome, rows.get(key))
    result.seconds = time.monotonic() - started
    return result


def _count(result: DryRunResult, outcome, row) -> None:
    result.checked += 1
    if outcome.skipped:
        result.not_sent += 1
        return
    if row is not None and row[2] in _STOPPED:
        result.held += 1
        return
    if not outcome.sendable:
        result.failing += 1
        if len(result.failing_sample) < SAMPLE:
            result.failing_sample.append((outcome.key, outcome.problem))
        return
    payload_hash, accepted_hash, status = row or ("", "", "")
    if payload_hash != outcome.payload_hash:
        result.changed_by_edit += 1
    if accepted_hash and accepted_hash == outcome.payload_hash:
        result.unchanged += 1
        return
    result.resend += 1
    if status in _WAITING:
        result.already_waiting += 1
    if len(result.sample) < SAMPLE:
        result.sample.append(outcome.key)
