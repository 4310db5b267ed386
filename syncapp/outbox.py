"""The outbox: the queue of record between planning and pushing.

One row per destination record. Planning writes the newest payload into it; a worker
claims pending rows (skip-locked, so workers never share a row), sends them and marks
each row with its outcome. A claim is a lease the live worker renews (syncapp.leases):
a worker that dies leaves rows `in_flight` whose lease runs out; the sweep puts them back
to `pending`, so nothing is lost, and because every push is keyed by a stable ERP key a
repeat overwrites rather than duplicates. A record is never on its way twice: changed while
its send is out, its row stays in flight with the newer content until that send is answered,
and only then goes back to pending, so the destination gets contents in the order planned.
"""
from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from .adapters import PushItem
from .bulksql import (
    JsonText,
    any_of,
    array_of,
    bulk_update_by_id,
    db_datetime,
    execute,
    fetch,
    is_distinct_from,
    json_text,
    quote,
    stage,
    vendor,
)
from .deadlocks import again_on_deadlock
from .logging import redact_text
from .models import Flow, OutboxItem, OutboxStatus, Priority

S = OutboxStatus


@dataclass(frozen=True)
class PlannedRecord:
    key: str
    identifier: str
    payload: dict
    # What the destination receives of it, when less than the payload (its adapter's
    # record_view): the hash covers only that, so a change it never sees sends nothing.
    sent: Any = field(default=None, compare=False, repr=False)

    @cached_property
    def payload_json(self) -> JsonText:
        return json_text(self.payload)

    @cached_property
    def payload_hash(self) -> str:
        compared = self.payload_json if self.sent is None else json_text(self.sent)
        return hashlib.sha256(f"{self.identifier}\n{compared}".encode()).hexdigest()


def records_as_sent(*, flow, records: list[PlannedRecord]) -> list[PlannedRecord]:
    """The records with what the flow's destination receives of each, where it narrows them."""
    from esp.registry import destination_record_view

    view = destination_record_view(flow.destination.kind, flow.entity)
    if view is None:
        return records
    return [replace(r, sent=view(PushItem(r.key, r.identifier, r.payload))) for r in records]


@dataclass
class EnqueueResult:
    """queued: will be sent; unchanged: the destination already has it; still_failed:
    refused before with exactly this content, so its exception stays open."""

    queued: list[str]
    unchanged: list[str]
    still_failed: list[str]


_STAGED = ["record_key", "identifier", "payload", "payload_hash"]
_SENDING = f"('{S.IN_FLIGHT}', '{S.SUBMITTED}')"
_QUEUED_OR_FAILED = f"('{S.PENDING}', '{S.IN_FLIGHT}', '{S.SUBMITTED}', '{S.FAILED}')"
_STOPPED = (S.HELD, S.FAILED, S.SKIPPED)
# SQL: outbox row `t` was stopped while a send of it was out, still unanswered (outbox_stop).
_STOPPED_WHILE_OUT = "(t.claim_token <> '' AND t.status IN (" + ", ".join(f"'{status}'" for status in _STOPPED) + "))"
_WRITES = ("new", "requeue", "revert", "refresh")  # the verdicts that write the row (a refresh as a revert)
_WRITES_SQL = "(" + ", ".join(f"'{verdict}'" for verdict in _WRITES) + ")"
# The verdicts as EnqueueResult's lists: will be sent, costs no call, stays refused.
_OUTCOME = {"new": "queued", "requeue": "queued", "queued": "queued", "unchanged": "unchanged",
            "revert": "unchanged", "refresh": "unchanged", "still_failed": "still_failed"}


def _has_it(row: str, planned_hash: str) -> str:
    """SQL: outbox row `row` says its destination holds the content `planned_hash`: the last
    accepted, with nothing of the record's on the way, nor sent since without an answer
    recorded (claimed after the acceptance: released, reclaimed, or re-planned while out)."""
    return (f"({row}.accepted_hash = {planned_hash} AND {row}.status NOT IN {_SENDING} AND "
            f"({row}.status = '{S.ACCEPTED}' OR {row}.claimed_at IS NULL OR {row}.claimed_at <= {row}.accepted_at))")


def _verdict(force: bool, narrowed: bool = False) -> str:
    """What planning a staged record `s` means for its outbox row, in SQL: new | unchanged
    (the destination has it) | refresh (it has it, but the engine's payload around it moved on:
    the row keeps the newer one, for the planner and the pages) | revert (a queued change was
    undone before it went out) | queued (already queued or on its way with this content) |
    still_failed (refused before with exactly this content) | requeue. `force` (a retry)
    re-queues all. `narrowed`: the hash covers only what the destination receives, so an equal
    hash may hide another payload. A correlated subquery, so each staged record costs one probe
    of the (flow, record_key) index whatever the planner thinks of a staging table it has no
    statistics for."""
    table = quote(OutboxItem._meta.db_table)
    if force:
        verdict = "'requeue'"
    else:
        unchanged = (f"CASE WHEN o.payload {is_distinct_from()} s.payload THEN 'refresh' ELSE 'unchanged' END"
                     if narrowed else "'unchanged'")
        # An in-flight row is never marked accepted here: what is on the wire may be another payload.
        verdict = (f"CASE WHEN {_has_it('o', 's.payload_hash')} "
                   f"THEN CASE WHEN o.status = '{S.ACCEPTED}' THEN {unchanged} ELSE 'revert' END "
                   f"WHEN o.payload_hash = s.payload_hash AND o.status IN {_QUEUED_OR_FAILED} "
                   f"THEN CASE WHEN o.status = '{S.FAILED}' THEN 'still_failed' ELSE 'queued' END "
                   "ELSE 'requeue' END")
    return (f"COALESCE((SELECT {verdict} FROM {table} o WHERE o.flow_id = %s AND o.record_key = s.record_key), "
            "'new')")


def _write_sql(force: bool, *, all_new: bool = False, judged: bool = False, narrowed: bool = False,
               in_order_of_receipt: bool = False) -> str:
    """One INSERT ... ON CONFLICT for the page: new, re-queued, reverted and refreshed rows. The
    conflict branch decides revert or re-queue again on the row as it is when written. When
    every record was new (a first load) no row needs looking up again; when the staged rows
    come `judged` (with their verdict column) it is not worked out again. A destination that
    processes `in_order_of_receipt` lets a newer send follow one it has taken, not validated."""
    table = quote(OutboxItem._meta.db_table)
    revert = "FALSE" if force else _has_it("t", "EXCLUDED.payload_hash")
    waits = (f"'{S.IN_FLIGHT}'" if in_order_of_receipt else f"'{S.IN_FLIGHT}', '{S.SUBMITTED}'")
    out = f"(t.status IN ({waits}) OR {_STOPPED_WHILE_OUT})"  # a send of the row is out, unanswered

    def unless_revert(value: str, column: str) -> str:
        return f"{column} = CASE WHEN {revert} THEN t.{column} ELSE {value} END"

    return (
        f"INSERT INTO {table} AS t (flow_id, record_key, identifier, payload, payload_hash, priority, status, "
        "generation, attempts, accepted_hash, remote_id, receipt, claim_token, last_error, planned_at, created_at, "
        f"updated_at) SELECT %s, s.record_key, s.identifier, s.payload, s.payload_hash, %s, '{S.PENDING}', 1, 0, "
        f"'', '', '', '', '', %s, %s, %s FROM {{staged}} s WHERE "
        + ("1 = 1 " if all_new else f"s.verdict IN {_WRITES_SQL} " if judged
           else f"{_verdict(force, narrowed)} IN {_WRITES_SQL} ") +
        # Rows are locked in key order, as a push completing a batch locks them (_held):
        # two transactions taking the same rows in other orders deadlock.
        "ORDER BY s.record_key "
        "ON CONFLICT (flow_id, record_key) DO UPDATE SET identifier = EXCLUDED.identifier, "
        "payload = EXCLUDED.payload, payload_hash = EXCLUDED.payload_hash, updated_at = EXCLUDED.updated_at, "
        # Changed while its send is out (stopped meanwhile or not): it keeps that send's claim,
        # in flight (or submitted, for the confirm step to answer), until the send is answered
        # (_outcomes_recorded). Two sends of one record out at once could be applied in either
        # order, and neither engine nor destination says which came last; except at a
        # destination processing in order of receipt, where a submitted send waits in its queue
        # and the newer one lines up behind it.
        f"status = CASE WHEN {revert} THEN '{S.ACCEPTED}' WHEN t.status IN ({waits}) THEN t.status "
        f"WHEN {_STOPPED_WHILE_OUT} THEN '{S.IN_FLIGHT}' ELSE '{S.PENDING}' END, "
        + ", ".join([
            unless_revert("t.generation + 1", "generation"), unless_revert("0", "attempts"),
            # A pending row keeps the more urgent of its priorities (%s: a re-plan's, which a
            # row new to the outbox, written with its own, does not take).
            unless_revert(f"CASE WHEN t.status = '{S.PENDING}' AND t.priority < %s THEN t.priority "
                          "ELSE %s END", "priority"),
            unless_revert("NULL", "not_before"),
            unless_revert(f"CASE WHEN {out} THEN t.claim_token ELSE '' END", "claim_token"),
            unless_revert("EXCLUDED.planned_at", "planned_at")]))


def outbox_enqueue(*, flow, records: list[PlannedRecord], priority: int = Priority.ROUTINE,
                   force: bool = False, new_priority: int | None = None) -> EnqueueResult:
    """Queue the records whose payload differs from what the destination accepted, at
    `priority`; a record the flow has no row for yet at `new_priority` (default the same).

    Equal hash means the destination already has exactly this: no row, no call. The hash
    covers what the destination receives (records_as_sent). A payload that failed
    permanently is not re-queued unchanged unless `force` (a retry). Set statements for
    the whole list: the records are staged, compared with their rows in one query, and
    written in one INSERT ... ON CONFLICT.
    """
    result = EnqueueResult(queued=[], unchanged=[], still_failed=[])
    if not records:
        return result
    records = records_as_sent(flow=flow, records=records)
    narrowed = records[0].sent is not None
    latest = {record.key: record for record in records}  # one row per key (the last planned wins)
    staged = stage("outbox", OutboxItem, _STAGED, (
        (record.key, record.identifier, record.payload_json, record.payload_hash) for record in latest.values()))
    now = db_datetime(timezone.now())
    first = priority if new_priority is None else new_priority  # a row inserted now; a conflict takes `priority`
    in_order = in_order_of_receipt(flow)
    if vendor() == "postgresql":
        # One statement: each staged record judged once, the rows to write written, the verdicts returned.
        write = _write_sql(force, judged=True, in_order_of_receipt=in_order).format(staged="s")
        verdicts = dict(fetch(
            f"WITH s AS MATERIALIZED (SELECT s.*, {_verdict(force, narrowed)} AS verdict FROM {staged} s), "
            f"w AS ({write}) SELECT record_key, verdict FROM s",
            [flow.pk, flow.pk, first, now, now, now, priority, priority]))
    else:
        verdicts = dict(fetch(f"SELECT s.record_key, {_verdict(force, narrowed)} FROM {staged} s", [flow.pk]))
        all_new = all(verdict == "new" for verdict in verdicts.values())
        if any(verdict in _WRITES for verdict in verdicts.values()):
            write = _write_sql(force, all_new=all_new, narrowed=narrowed, in_order_of_receipt=in_order)
            execute(write.format(staged=staged),
                    [flow.pk, first, now, now, now, *([] if all_new else [flow.pk]), priority, priority])
    for key in latest:
        getattr(result, _OUTCOME[verdicts[key]]).append(key)
    return result


def in_order_of_receipt(flow) -> bool:
    """The flow's destination processes what it takes in order of receipt (its adapter declares
    `processes_in_order_of_receipt`): a send it has taken, not yet validated, is applied before
    any sent after it."""
    from esp.registry import destination_does

    return destination_does(flow.destination.kind, "processes_in_order_of_receipt")


def outbox_would_plan(*, flow, hashes: dict[str, str]) -> dict[str, str]:
    """What planning would make of each record (its key: the hash of the payload it would
    plan), writing nothing: queued | unchanged | still_failed, by the planner's own verdict,
    so a dry run or a preview counts what a save will really send."""
    if not hashes:
        return {}
    with transaction.atomic():  # its staging table is emptied by the commit, not a TRUNCATE a call
        staged = stage("outbox_trial", OutboxItem, ["record_key", "payload_hash"], hashes.items())
        verdicts = fetch(f"SELECT s.record_key, {_verdict(force=False)} FROM {staged} s", [flow.pk])
    return {key: _OUTCOME[verdict] for key, verdict in verdicts}


def outbox_stop(*, flow, record_keys: list[str], status: str) -> int:
    """Stop rows that must not go out (failed planning, a duplicate email, a lead no
    longer sent). An in-flight row's push can no longer mark it done, but the row keeps its
    claim token, the mark that a send of it is out, until that send is answered (_held):
    planned again meanwhile, it waits for that answer as a row changed while out does."""
    if not record_keys:
        return 0
    with transaction.atomic():
        ids = _locked_in_key_order(flow, record_keys)
        return OutboxItem.objects.filter(
            any_of("id", ids), status__in=[S.PENDING, S.IN_FLIGHT, S.SUBMITTED, S.HELD, S.FAILED, S.SKIPPED]
        ).update(status=status, claim_token=Case(When(status=S.IN_FLIGHT, then=F("claim_token")),
                                                 default=Value(""))) if ids else 0


def outbox_lock(*, flow, passes: list[list[str]]) -> None:
    """Lock the flow's rows of a page in key order before a transaction writes them in several
    statements (`passes`: the keys of each write or stop). Each statement locks its own rows in
    key order, but two of them one after the other are not one order: a push completing a batch
    holding rows of both deadlocks with them. One pass needs no lock of its own; nor does SQLite,
    which locks the whole database, or a caller outside a transaction, whose statements each
    commit and hold nothing."""
    several = sum(1 for keys in passes if keys) > 1
    if several and vendor() == "postgresql" and transaction.get_connection().in_atomic_block:
        _locked_in_key_order(flow, [key for keys in passes for key in keys])


def _locked_in_key_order(flow, keys: list[str]) -> list[int]:
    """Ids of the flow's rows of these keys, locked (PostgreSQL) in key order: the order planning
    writes them and a push completing its batch locks them (_held)."""
    return _probed_ids([flow.pk], keys, lock=True)


def outbox_backfill_brought_forward(*, flow, record_keys: list[str]) -> int:
    """The flow's rows of these records still waiting at backfill priority come forward, as a
    scheduled read found each record again: it changed lately, so it is not history. A backfill
    reads today's records too, and one that read a new order before the scheduled read did left
    that read the same content, nothing to plan: in a peak run new orders so waited at backfill
    priority for up to ten minutes. One the destination never accepted goes as a planner
    sends a record new to it (a contact, an order: time-sensitive), the others as routine
    edits. How many came forward. Costs one probe of the flow's backfill rows when it has none."""
    waiting = OutboxItem.objects.filter(flow=flow, status=S.PENDING, priority=Priority.BACKFILL)
    if not record_keys or not waiting.exists():
        return 0
    found = sorted(outbox_rows_of(flows=flow, keys=record_keys).filter(status=S.PENDING, priority=Priority.BACKFILL)
                   .values_list("record_key", flat=True))
    if not found:
        return 0
    if vendor() == "postgresql" and transaction.get_connection().in_atomic_block:
        _locked_in_key_order(flow, found)  # the order planning and pushes lock them in
    rows = waiting.filter(any_of("record_key", found))  # still at backfill: the second update skips the first's
    return (rows.filter(accepted_hash="").update(priority=Priority.URGENT)
            + rows.update(priority=Priority.ROUTINE))


def outbox_rows_of(*, flows, keys: list[str]):
    """The outbox rows of these keys in these flows (a flow or flow ids), as a queryset to filter
    further: found as _probed_ids finds them, so a page's read costs the same however large the
    flows, and whatever the planner's statistics say."""
    flow_ids = [flows.pk] if isinstance(flows, Flow) else list(flows)
    if vendor() != "postgresql":
        return OutboxItem.objects.filter(any_of("flow_id", flow_ids), any_of("record_key", list(keys)))
    return OutboxItem.objects.filter(any_of("id", _probed_ids(flow_ids, keys)))


def _probed_ids(flow_ids: list[int], keys: list[str], *, lock: bool = False) -> list[int]:
    """Ids of the rows of these keys in these flows: one index probe per key. With no statistics
    yet for a flow (its rows loaded after the last ANALYZE), `record_key = ANY(...)` is planned as
    a walk of every row of the flow, each checked against the list (25-70 ms for 1,000 keys among
    150,000 rows, 2 s when the plan cannot see the keys). With `lock`, the rows are locked in key
    order (the database's collation), as a push completing its batch locks them."""
    keys = sorted(set(keys))
    if not keys or not flow_ids:
        return []
    if vendor() != "postgresql":
        return [pk for start in range(0, len(keys), 900) for pk in OutboxItem.objects.filter(
            any_of("flow_id", flow_ids), record_key__in=keys[start:start + 900]).values_list("id", flat=True)]
    # OFFSET 0 keeps each probe a probe; a nested loop takes the keys in the order given.
    ordered, locked = (" ORDER BY value", " FOR UPDATE") if lock else ("", "")
    return [pk for (pk,) in fetch(
        f"SELECT x.id FROM (SELECT value FROM unnest(%s::text[]) AS u(value){ordered}) AS k, LATERAL "
        f"(SELECT t.id FROM {quote(OutboxItem._meta.db_table)} t WHERE t.flow_id = ANY(%s) "
        f"AND t.record_key = k.value OFFSET 0{locked}) x", [array_of(keys), array_of(flow_ids)])]


def outbox_claim(*, flow, limit: int, below_priority: int | None = None) -> list[OutboxItem]:
    """Claim up to `limit` ready rows, most urgent first (only those more urgent than
    `below_priority`, when given: bulk work outside its off-peak window waits). Rows
    claimed by another worker are skipped, never waited for."""
    now = timezone.now()
    token = uuid.uuid4().hex
    ready = Q(priority__lt=below_priority) if below_priority is not None else Q()
    with transaction.atomic():
        ids = list(
            OutboxItem.objects.select_for_update(skip_locked=True)
            .filter(ready, flow=flow, status=S.PENDING)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("priority", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        OutboxItem.objects.filter(id__in=ids, status=S.PENDING).update(
            status=S.IN_FLIGHT, claimed_at=now, claim_token=token, sent_generation=F("generation"))
    return list(OutboxItem.objects.filter(id__in=ids, claim_token=token).order_by("priority", "id"))


def outbox_reclaim_stale(*, flow=None, older_than: timedelta | None = None) -> int:
    """Put rows back whose worker died mid-push (lease not renewed for SYNC_LEASE_SECONDS).
    (Rows a destination never confirmed are the confirm step's to settle: see pushing.)"""
    timeout = older_than if older_than is not None else timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    qs = OutboxItem.objects.filter(status=S.IN_FLIGHT, claimed_at__lt=timezone.now() - timeout)
    if flow is not None:
        qs = qs.filter(flow=flow)
    return _update_in_key_order(qs, status=S.PENDING, claim_token="")


def outbox_release(*, rows: list[OutboxItem], delay_seconds: float) -> int:
    """Give claimed rows back untouched: the hub itself failed (its rate limiter or broker),
    so the attempt does not count against the records."""
    released = 0
    for start in range(0, len(rows), 1000):
        with transaction.atomic():
            carried = _held(rows[start:start + 1000])
            released += OutboxItem.objects.filter(id__in=carried.untouched).update(
                status=S.PENDING, claim_token="", not_before=timezone.now() + timedelta(seconds=delay_seconds))
            _free_to_go(carried)
    return released


def _update_in_key_order(rows, **values) -> int:
    """UPDATE `rows`, locking them first in (flow, key) order, as planning writes them and a
    push completing its batch locks them (_held): a plain UPDATE takes its rows in
    whatever order its scan finds them (id order, for an id list), and two transactions
    taking the same rows in other orders deadlock."""
    with transaction.atomic():
        ids = list(rows.select_for_update().order_by("flow_id", "record_key").values_list("id", flat=True))
        return OutboxItem.objects.filter(id__in=ids).update(**values) if ids else 0


def outbox_submitted(*, flow, limit: int) -> list[OutboxItem]:
    """Rows sent and awaiting the destination's validation, oldest first."""
    return list(OutboxItem.objects.filter(flow=flow, status=S.SUBMITTED).order_by("submitted_at", "id")[:limit])


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the vendor asked."""
    base = settings.SYNC_BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1))
    delay = random.uniform(base / 2, base)
    return min(settings.SYNC_BACKOFF_MAX_SECONDS, max(delay, retry_after or 0.0))


class _Carried(NamedTuple):
    """A send's rows as they stand when its answer is recorded (ids)."""

    untouched: list[int]  # still its own, as sent
    changed: list[int]  # re-planned while it was out: they waited for this answer
    stopped: list[int]  # stopped while it was out: the stop stands
    as_sent: set[int]  # the row in hand is the generation that went out (not a newer one read since)


def _held(rows: list[OutboxItem]) -> _Carried:
    """Lock the claimed rows again (in key order, as planning writes them) and sort them by what
    happened while this send was out. Rows taken back since (a lease run out) are neither
    untouched, changed nor stopped."""
    by_id = {row.id: row for row in rows}
    current = OutboxItem.objects.select_for_update().filter(id__in=list(by_id)).order_by("record_key").only(
        "id", "claim_token", "generation", "sent_generation", "status")
    def sent(row) -> int:  # claimed before the sent generation was kept: the row in hand is the sent one
        return by_id[row.id].generation if row.sent_generation is None else row.sent_generation

    carried = [row for row in current if row.claim_token == by_id[row.id].claim_token]
    held = [row for row in carried if row.status in (S.IN_FLIGHT, S.SUBMITTED)]
    return _Carried([row.id for row in held if row.generation == sent(row)],
                    [row.id for row in held if row.generation != sent(row)],
                    [row.id for row in carried if row.status in _STOPPED],
                    {row.id for row in current if by_id[row.id].generation == sent(row)})


def _free_to_go(carried: _Carried) -> None:
    """A send answered or given back: rows re-planned while it was out go pending with their
    newer payload, for the next batch to claim; rows stopped while it was out lose the mark."""
    for ids, values in ((carried.changed, {"status": S.PENDING, "claim_token": ""}),
                        (carried.stopped, {"claim_token": ""})):
        for start in range(0, len(ids), 1000):
            OutboxItem.objects.filter(id__in=ids[start:start + 1000]).update(**values)


def outbox_complete(*, accepted: list[tuple[OutboxItem, str]], failed: list[OutboxItem],
                    retry: list[tuple[OutboxItem, float]],
                    submitted: list[tuple[OutboxItem, str]] = ()) -> set[str]:
    """Record each claimed row's outcome in one transaction.

    accepted: (row, remote_id); failed: permanent; retry: (row, seconds to wait);
    submitted: (row, receipt), taken by the destination but not validated yet: the row
    keeps its claim until confirmed (the confirm step answers for it here, with the row as it
    read it). A row re-planned while its send was out waited for this answer: it goes back to
    pending with its newer payload, and what the destination accepted is still recorded (when
    the row in hand is the one sent), unless a send of a later generation was recorded first
    (possible only when this send's lease ran out, its worker taken for dead, and another sent
    the newer payload). Returns the keys whose outcome was recorded (rows still ours); only
    their exceptions may change.
    """
    rows = [r for r, _ in accepted] + failed + [r for r, _ in retry] + [r for r, _ in submitted]
    # The destination has answered: an outcome lost to a deadlock would send the batch again.
    ours = again_on_deadlock(lambda: _outcomes_recorded(rows, accepted, failed, retry, submitted),
                             what="A push's outcomes")
    return {row.record_key for row in rows if row.id in ours}


def _outcomes_recorded(rows, accepted, failed, retry, submitted) -> set[int]:
    now = timezone.now()
    with transaction.atomic():
        carried = _held(rows)
        ours, waited = set(carried.untouched), set(carried.changed)
        done, replanned = [], []
        for row, answered_id in accepted:
            remote_id = answered_id or row.remote_id
            if row.id in ours:
                done.append((S.ACCEPTED, "", row.attempts + 1, row.payload_hash, row.generation, remote_id, now,
                             row.id))
            elif row.id in carried.as_sent:  # else what went out is not at hand (a confirm read it later)
                # A send no longer holding its row (taken for dead, stopped, or a second confirm
                # pass) is accepted as of its claim: a send claimed after it, whose answer may be
                # unknown, then keeps _has_it from taking this content for the destination's.
                accepted_at = now if row.id in waited else row.claimed_at or now
                replanned.append((row.payload_hash, row.generation, remote_id, accepted_at, row.id))
        accepted_columns = ["accepted_hash", "accepted_generation", "remote_id", "accepted_at"]
        bulk_update_by_id(OutboxItem, ["status", "claim_token", "attempts", *accepted_columns], done)
        # A newer send's answer may be in already, when this send's lease ran out (its worker
        # taken for dead) and another worker sent the newer content: the later generation stands.
        bulk_update_by_id(OutboxItem, accepted_columns, replanned, unless_above="accepted_generation")
        _free_to_go(carried)
        mine_failed = [row.id for row in failed if row.id in ours]
        for start in range(0, len(mine_failed), 1000):
            OutboxItem.objects.filter(id__in=mine_failed[start:start + 1000]).update(
                status=S.FAILED, claim_token="", attempts=F("attempts") + 1)
        bulk_update_by_id(OutboxItem, ["status", "claim_token", "attempts", "not_before", "last_error"], [
            (S.PENDING, "", row.attempts + 1, now + timedelta(seconds=delay), redact_text(row.last_error)[:2000],
             row.id)
            for row, delay in retry if row.id in ours])
        bulk_update_by_id(OutboxItem, ["status", "receipt", "submitted_at"], [
            (S.SUBMITTED, receipt[:100], now, row.id) for row, receipt in submitted if row.id in ours])
    return ours


def _flows_having(rows, flows=None) -> list[int]:
    """The flows (of `flows`, or all) with at least one of `rows` (outbox rows), by id.

    One EXISTS per flow, which stops at the flow's first such row. (A DISTINCT over the rows
    read every one of them: 0.35 s and 67,000 pages at 176,000 pending rows, asked at every
    wake while a backfill waits in the outbox.)"""
    candidates = Flow.objects.all() if flows is None else Flow.objects.filter(
        pk__in=[getattr(flow, "pk", flow) for flow in flows])
    return sorted(candidates.filter(Exists(rows.filter(flow=OuterRef("pk")))).values_list("pk", flat=True))


def flows_awaiting_confirmation(flows=None) -> list[int]:
    """Flows with rows sent and awaiting the destination's validation."""
    return _flows_having(OutboxItem.objects.filter(status=S.SUBMITTED), flows)


def flows_with_ready_work(flows=None, *, time_sensitive: bool = False) -> list[int]:
    """Flows with rows ready to send now; with `time_sensitive`, only time-sensitive rows count."""
    ready = OutboxItem.objects.filter(status=S.PENDING).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=timezone.now()))
    if time_sensitive:
        ready = ready.filter(priority=Priority.URGENT)
    return _flows_having(ready, flows)
