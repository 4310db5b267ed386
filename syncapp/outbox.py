"""The outbox: the queue of record between planning and pushing.

One row per destination record. Planning writes the newest payload into it; a worker
claims pending rows (skip-locked, so workers never share a row), sends them and marks
each row with its outcome. A worker that dies leaves rows `in_flight`; they are put
back to `pending` after the claim timeout, so nothing is lost, and because every push
is keyed by a stable ERP key a repeat overwrites rather than duplicates.
"""
from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import OutboxItem, OutboxStatus, Priority

S = OutboxStatus


@dataclass(frozen=True)
class PlannedRecord:
    key: str
    identifier: str
    payload: dict

    @property
    def payload_hash(self) -> str:
        body = json.dumps({"id": self.identifier, "p": self.payload}, sort_keys=True, default=str,
                          separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass
class EnqueueResult:
    """queued: will be sent; unchanged: the destination already has it; still_failed:
    refused before with exactly this content, so its exception stays open."""

    queued: list[str]
    unchanged: list[str]
    still_failed: list[str]


def outbox_enqueue(*, flow, records: list[PlannedRecord], priority: int = Priority.ROUTINE,
                   force: bool = False) -> EnqueueResult:
    """Queue the records whose payload differs from what the destination accepted.

    Equal hash means the destination already has exactly this: no row, no call. A
    payload that failed permanently is not re-queued unchanged unless `force` (a retry).
    """
    result = EnqueueResult(queued=[], unchanged=[], still_failed=[])
    if not records:
        return result
    existing = {row.record_key: row for row in OutboxItem.objects.filter(
        flow=flow, record_key__in=[r.key for r in records]).only(
        "id", "record_key", "payload_hash", "accepted_hash", "status", "generation", "priority")}
    now = timezone.now()
    to_create, to_update = [], []
    for record in records:
        digest = record.payload_hash
        row = existing.get(record.key)
        if row is None:
            to_create.append(OutboxItem(
                flow=flow, record_key=record.key, identifier=record.identifier, payload=record.payload,
                payload_hash=digest, priority=priority, planned_at=now,
            ))
            result.queued.append(record.key)
            continue
        # An in-flight row is never marked accepted here: what is on the wire may be
        # another payload; it is re-queued below instead.
        if row.accepted_hash == digest and not force and row.status != S.IN_FLIGHT:
            if row.status != S.ACCEPTED:  # a queued change was reverted before it went out
                row.status, row.payload, row.payload_hash = S.ACCEPTED, record.payload, digest
                row.identifier = record.identifier
                to_update.append(row)
            result.unchanged.append(record.key)
            continue
        if row.payload_hash == digest and not force and row.status in (S.PENDING, S.IN_FLIGHT, S.FAILED):
            # Already queued, being sent, or known to fail with exactly this content.
            (result.still_failed if row.status == S.FAILED else result.queued).append(record.key)
            continue
        was_pending = row.status == S.PENDING
        row.identifier, row.payload, row.payload_hash = record.identifier, record.payload, digest
        row.status, row.generation, row.attempts = S.PENDING, row.generation + 1, 0
        row.priority = min(row.priority, priority) if was_pending else priority
        row.not_before, row.claim_token, row.planned_at = None, "", now
        to_update.append(row)
        result.queued.append(record.key)
    if to_create:
        OutboxItem.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        OutboxItem.objects.bulk_update(
            to_update, ["identifier", "payload", "payload_hash", "status", "generation", "attempts",
                        "priority", "not_before", "claim_token", "planned_at"], batch_size=500)
    return result


def outbox_stop(*, flow, record_keys: list[str], status: str) -> int:
    """Stop rows that must not go out (failed planning, a duplicate email, a lead no
    longer sent). An in-flight row loses its claim, so its push cannot mark it done."""
    if not record_keys:
        return 0
    return OutboxItem.objects.filter(
        flow=flow, record_key__in=record_keys, status__in=[S.PENDING, S.IN_FLIGHT, S.HELD, S.FAILED, S.SKIPPED]
    ).update(status=status, claim_token="")


def outbox_claim(*, flow, limit: int) -> list[OutboxItem]:
    """Claim up to `limit` ready rows, most urgent first. Rows claimed by another
    worker are skipped, never waited for."""
    now = timezone.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        ids = list(
            OutboxItem.objects.select_for_update(skip_locked=True)
            .filter(flow=flow, status=S.PENDING)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("priority", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboxItem.objects.filter(id__in=ids, status=S.PENDING).update(
            status=S.IN_FLIGHT, claimed_at=now, claim_token=token)
    return list(OutboxItem.objects.filter(id__in=ids, claim_token=token).order_by("priority", "id"))


def outbox_reclaim_stale(*, flow=None, older_than: timedelta | None = None) -> int:
    """Put rows back whose worker died mid-push (claimed longer ago than the timeout)."""
    timeout = older_than if older_than is not None else timedelta(seconds=settings.SYNC_CLAIM_TIMEOUT_SECONDS)
    qs = OutboxItem.objects.filter(status=S.IN_FLIGHT, claimed_at__lt=timezone.now() - timeout)
    if flow is not None:
        qs = qs.filter(flow=flow)
    return qs.update(status=S.PENDING, claim_token="")


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the vendor asked."""
    base = settings.SYNC_BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1))
    delay = random.uniform(base / 2, base)
    return min(settings.SYNC_BACKOFF_MAX_SECONDS, max(delay, retry_after or 0.0))


def _still_ours(rows: list[OutboxItem]) -> dict[int, OutboxItem]:
    """Lock the claimed rows again and keep those not re-planned meanwhile."""
    by_id = {row.id: row for row in rows}
    current = OutboxItem.objects.select_for_update().filter(id__in=list(by_id)).only(
        "id", "claim_token", "generation", "status")
    return {row.id: by_id[row.id] for row in current
            if row.claim_token == by_id[row.id].claim_token and row.status == S.IN_FLIGHT}


def outbox_complete(*, accepted: list[tuple[OutboxItem, str]], failed: list[OutboxItem],
                    retry: list[tuple[OutboxItem, float]]) -> set[str]:
    """Record each claimed row's outcome in one transaction.

    accepted: (row, remote_id); failed: permanent; retry: (row, seconds to wait).
    A row re-planned while in flight keeps its new payload pending, but what the
    destination accepted is still recorded. Returns the keys whose outcome was recorded
    (rows still ours); only their exceptions may change.
    """
    now = timezone.now()
    rows = [r for r, _ in accepted] + failed + [r for r, _ in retry]
    with transaction.atomic():
        ours = _still_ours(rows)
        done, replanned = [], []
        for row, remote_id in accepted:
            row.accepted_hash, row.remote_id, row.accepted_at = row.payload_hash, remote_id or row.remote_id, now
            if row.id in ours:
                row.status, row.claim_token, row.attempts = S.ACCEPTED, "", row.attempts + 1
                done.append(row)
            else:
                replanned.append(row)
        if done:
            OutboxItem.objects.bulk_update(
                done, ["status", "claim_token", "attempts", "accepted_hash", "remote_id", "accepted_at"],
                batch_size=500)
        for row in replanned:
            OutboxItem.objects.filter(id=row.id).update(
                accepted_hash=row.accepted_hash, remote_id=row.remote_id, accepted_at=now)
        mine_failed = [row for row in failed if row.id in ours]
        OutboxItem.objects.filter(id__in=[r.id for r in mine_failed]).update(
            status=S.FAILED, claim_token="", attempts=F("attempts") + 1)
        for row, delay in retry:
            if row.id in ours:
                OutboxItem.objects.filter(id=row.id).update(
                    status=S.PENDING, claim_token="", attempts=F("attempts") + 1,
                    not_before=now + timedelta(seconds=delay), last_error=row.last_error[:2000])
    return {row.record_key for row in rows if row.id in ours}


def flows_with_ready_work(flows=None) -> list[int]:
    now = timezone.now()
    qs = OutboxItem.objects.filter(status=S.PENDING).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now))
    if flows is not None:
        qs = qs.filter(flow__in=flows)
    return sorted(set(qs.values_list("flow_id", flat=True).distinct()))
