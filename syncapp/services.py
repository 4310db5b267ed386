"""Engine services: pull (ingest + plan), push runs, retries and re-plans.

Each pulled page is stored, planned for every flow reading it, and its cursor saved in
one transaction: a crash re-reads the page, never skips it. Views, commands, admin
actions and tasks call these; none holds engine rules of its own.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, nullcontext, suppress

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from erp.ingest import INGESTERS
from erp.models import ErpConnection
from erp.registry import source_adapter_for
from esp.mapping import MappingConfigError
from exceptions.models import Stage
from exceptions.services import exception_raise, exceptions_reopen, exceptions_resolve
from syncapp.adapters import AuthenticationFailed, HubFault, SourceRecord, TransportError

from .bulksql import commit_unawaited
from .deadlocks import again_on_deadlock
from .entities import flow_entity, source_entity_of
from .erp_outages import (
    CONNECTION_KEY,
    connection_reachable_record,
    connection_refused_record,
    connection_unreachable_record,
)
from .figures import FIGURES_RUN_ENTITY, figures_deferred, figures_marked, figures_replan
from .incidents import incident_open, task_enqueue
from .leases import lease_kept
from .locks import PullInProgress, pull_lock
from .logging import redact_text
from .models import Flow, Priority, RunTrigger, SourceCursor, SyncRun
from .outbox import outbox_backfill_brought_forward, outbox_reclaim_stale
from .page_lookahead import pages_read_ahead
from .page_reads import page_reads_shared
from .plan_lock import flows_plan_lock
from .pushing import PushStats, adapter_for_flow, confirms_later, flow_confirm, flow_push_batch
from .ratelimit import AllowanceBusy
from .retry_handlers import retry_handler_for
from .run_outcomes import plan_outcomes_record

log = logging.getLogger(__name__)


def flows_reading(*, connection, source_entity: str) -> list[Flow]:
    """Enabled flows whose records a change of `source_entity` can alter."""
    return [flow for flow in Flow.objects.filter(connection=connection, enabled=True)
            .select_related("connection", "destination")
            if source_entity in flow_entity(flow.entity).triggers]


def _finish(run: SyncRun, *, error: str = "", failed: bool = False) -> SyncRun:
    run.finished_at = timezone.now()
    run.error = redact_text(error)[:5000]  # finance reads runs: no email address, no secret
    if failed:
        run.status = SyncRun.Status.FAILED
    elif run.records_failed or run.records_waiting:
        run.status = SyncRun.Status.PARTIAL
    else:
        run.status = SyncRun.Status.SUCCEEDED
    # Not heartbeat_at: the heartbeat thread owns it, this copy of it is stale.
    run.save(update_fields=[field.name for field in SyncRun._meta.concrete_fields
                            if field.name not in ("id", "heartbeat_at")])
    return run



def _unreadable_key(record: SourceRecord) -> str:
    """A record without a key still needs its own exception row: name it by its content."""
    if record.key:
        return record.key
    digest = hashlib.sha256(json.dumps(record.raw, sort_keys=True, default=str).encode()).hexdigest()
    return f"(no key) {digest[:12]}"


def _record_unreadable(connection, entity: str, records: list[SourceRecord]) -> None:
    for record in records:
        exception_raise(
            connection=connection, entity=entity, record_key=_unreadable_key(record), stage=Stage.INGEST,
            reason_code=record.reason_code or "unreadable_record", detail=record.error or "", source_payload=record.raw,
            message=f"The ERP record could not be read: {record.error}" if record.error else "",
        )


def changes_plan(*, connection, entity: str, flows: list[Flow], stored, priority: int = Priority.ROUTINE,
                 run: SyncRun | None = None, force_flow: Flow | None = None) -> None:
    """Plan what an ingested page changed, for every flow reading `entity`.

    `force_flow` is re-planned even where nothing changed (a person pressed Retry on one
    of its exceptions); the other flows only for records whose mirror row changed."""
    work = []
    # Flows of one kind (the customers flows of two destinations) map the page's keys once: a
    # key mapper may write (the customers' figure marks), and the same marks written twice
    # in one transaction could interleave with another pull's and deadlock.
    mapped: dict[tuple[str, bool], list[str]] = {}
    for flow in flows:
        spec = flow_entity(flow.entity)
        forced = force_flow is not None and flow.pk == force_flow.pk
        # The rows in hand are this flow's own records only when it reads this entity.
        rows = stored.changed if spec.source_entity == entity and not forced else None
        if (spec.name, forced) not in mapped:
            mapped[spec.name, forced] = spec.keys_for(connection=connection, entity=entity,
                                                      keys=stored.readable_keys if forced else stored.changed_keys)
        keys = mapped[spec.name, forced]
        if not keys:
            continue  # an unchanged page (most of a stock poll) costs no planning
        if entity in spec.replan_all_on:
            keys, rows = spec.all_keys(connection=connection), None
        work.append((flow, spec, forced, rows, keys))
    # Only the flows planned here, all at once: no older read of the mirror commits after ours.
    flows_plan_lock(flow.pk for flow, *_ in work)
    with page_reads_shared():  # the page's orders, deliveries and refunds read once for all its flows
        planned = [(flow, spec.plan(flow=flow, record_keys=keys, rows=rows, priority=priority, force=forced))
                   for flow, spec, forced, rows, keys in work]
    plan_outcomes_record(run=run, planned=planned)


def connection_pull(*, connection: ErpConnection, entity: str = "business_partners", adapter=None,
                    progress: Callable[[int], None] | None = None, full: bool = False,
                    priority: int = Priority.ROUTINE, trigger: str = RunTrigger.SCHEDULE,
                    triggered_by_id: int | None = None, figures_now: bool = True) -> SyncRun:
    """Read what changed since the cursor, page by page: store, plan, advance cursor.

    `full` reads everything without touching the stored cursor (a backfill), planning
    at `priority`; the scheduled delta reads go on from where they were. The customers whose
    figures the pages moved are re-planned at the end, or with `figures_now` off left marked
    for `figures_replan_run` (the workers' own task: syncapp.tasks.figures_wake).
    One pull of a connection's entity at a time (a backfill beside the delta reads):
    raises PullInProgress when another process holds it. `trigger` and `triggered_by_id`
    say on the run what started it and who.
    """
    with pull_lock(connection, f"{entity}:full" if full else entity) as acquired:
        if not acquired:
            raise PullInProgress(connection, entity)
        run = SyncRun.objects.create(kind=SyncRun.Kind.PULL, connection=connection, entity=entity, trigger=trigger,
                                     triggered_by_id=triggered_by_id, heartbeat_at=timezone.now())
        # Customer figures the pages move are planned once, at the end (syncapp.figures).
        with lease_kept(run_id=run.pk), figures_deferred():
            return _pull(run, connection=connection, entity=entity, adapter=adapter, progress=progress, full=full,
                         priority=priority, figures_now=figures_now)


def _page_stored(run: SyncRun, batch, *, connection, entity: str, ingest, flows, priority: int, cursor):
    """Store, plan and move the cursor past one page, in one transaction: a failure anywhere
    re-reads the page next time, so nothing in it (the unreadable records included) is past
    the cursor unseen. `cursor` None: a full read, which leaves the stored cursor alone.
    A deadlock's victim (another pull, a backfill or a push took the same rows in another
    order) is written again at once, rather than failing the pull and waiting an interval."""

    def write():
        with transaction.atomic():
            commit_unawaited()  # a page lost with the server is re-read: its cursor is in it
            stored = ingest(connection=connection, records=batch.records, screened=batch.screened)
            changes_plan(connection=connection, entity=entity, flows=flows, stored=stored, priority=priority,
                         run=run)
            _record_unreadable(connection, entity, stored.unreadable)
            exceptions_resolve(connection=connection, entity=entity,
                               record_keys=[*stored.readable_keys, CONNECTION_KEY], stages=[Stage.INGEST])
            if batch.on_stored:
                batch.on_stored(stored)
            if cursor is not None:
                _found_again_brought_forward(flows, entity, stored)
                cursor.value = batch.cursor
                cursor.save(update_fields=["value", "updated_at"])
        return stored

    return again_on_deadlock(write, what=f"A page of {entity} from {connection}")


def _found_again_brought_forward(flows: list[Flow], entity: str, stored) -> None:
    """A scheduled read's records it found unchanged were stored first by another read: their
    rows still waiting at backfill priority come forward (outbox_backfill_brought_forward)."""
    found_again = sorted(set(stored.readable_keys) - set(stored.changed_keys))
    for flow in flows if found_again else ():
        if flow_entity(flow.entity).source_entity == entity:
            outbox_backfill_brought_forward(flow=flow, record_keys=found_again)


def _pull(run: SyncRun, *, connection, entity: str, adapter, progress, full: bool, priority: int,
          figures_now: bool) -> SyncRun:
    adapter = adapter or source_adapter_for(connection)
    flows = flows_reading(connection=connection, source_entity=entity)
    ingest = INGESTERS[entity]
    cursor, _ = SourceCursor.objects.get_or_create(connection=connection, entity=entity)
    try:
        pages = adapter.read_changes(entity, None if full else cursor.value)
        if getattr(adapter, "pages_read_ahead", False):
            pages = pages_read_ahead(pages, entity=entity)
        # The read ends with the pull, failed or not, before the caller closes the source
        # (a page read ahead must not use a session the caller logs out).
        with closing(pages) if hasattr(pages, "close") else nullcontext():
            for batch in pages:
                stored = _page_stored(run, batch, connection=connection, entity=entity, ingest=ingest, flows=flows,
                                      priority=priority, cursor=None if full else cursor)
                run.records_read += len(batch.records)
                run.records_changed += len(stored.changed_keys)
                run.records_failed += len(stored.unreadable)
                if progress:
                    progress(len(batch.records))
        if figures_now:
            figures_replan(connection=connection, priority=priority, run=run)
    except AuthenticationFailed as error:
        connection_refused_record(connection=connection, entity=entity, error=error.message)  # it answered, refusing
        return _finish(run, error=error.message, failed=True)
    except TransportError as error:
        log.warning("Pull from %s stopped: %s", connection, error.message)
        if error.permanent:
            exception_raise(connection=connection, entity=entity, record_key=CONNECTION_KEY, stage=Stage.INGEST,
                            reason_code="unreadable_record", detail=error.message,
                            message=f"Reading from the ERP stopped: {error.message}")
        else:
            connection_unreachable_record(connection=connection, entity=entity, error=error.message)
        return _finish(run, error=error.message, failed=True)
    except MappingConfigError as error:
        # A person must fix the mapping; the page was rolled back and will be re-read.
        return _finish(run, error=str(error), failed=True)
    except Exception as error:
        _finish(run, error=f"{type(error).__name__}: {error}", failed=True)
        raise
    connection_reachable_record(connection=connection)
    if not run.records_read:
        # Nothing changed, but the ERP answered: its credentials work again.
        exceptions_resolve(connection=connection, entity=entity, record_keys=[CONNECTION_KEY], stages=[Stage.INGEST])
    return _finish(run)


def flow_push(*, flow: Flow, adapter=None, max_batches: int | None = None, confirm: bool = True,
              progress: Callable[[PushStats], None] | None = None, trigger: str = RunTrigger.SCHEDULE,
              triggered_by_id: int | None = None, max_seconds: float | None = None,
              stepped_aside: Callable[[float], None] | None = None) -> SyncRun:
    """Send every ready row of one flow (or `max_batches` batches, or what `max_seconds`
    allow: no batch starts after them) and record the run.

    With `stepped_aside`, a batch with no time-sensitive record that would wait long for the
    destination's shared allowance steps aside (syncapp.ratelimit.may_step_aside): the run
    ends there, its rows untouched, and `stepped_aside(seconds)` says when to come back.

    For a destination that validates later, what it has decided is confirmed between
    batches (at most every `confirm_interval` seconds) and once at the end, unless
    `confirm` is off: the workers confirm in their own task (`flow_confirm_pass`), so a
    confirm round never holds up the push pace. A fault of the hub itself (Redis away)
    ends the run as failed, gives the rows back untouched and opens a hub incident."""
    run = SyncRun.objects.create(kind=SyncRun.Kind.PUSH, flow=flow, trigger=trigger, triggered_by_id=triggered_by_id,
                                 heartbeat_at=timezone.now())
    outbox_reclaim_stale(flow=flow)
    adapter = adapter or adapter_for_flow(flow)
    if hasattr(adapter, "verdicts_in_push"):
        # A destination that can answer either way (dotdigital's imports) may answer "submitted"
        # when the workers confirm in their own task, so this push holds no process meanwhile.
        adapter.verdicts_in_push = confirm or not settings.SYNC_CONFIRM_IMPORTS_LATER
    confirming = confirm and confirms_later(adapter)
    last_confirm = time.monotonic()

    def count(stats: PushStats) -> None:
        run.records_accepted += stats.accepted
        run.records_failed += stats.failed
        run.records_retried += stats.retried
        run.records_waiting += stats.waiting
        run.api_calls += stats.calls

    batches = 0
    ends = None if max_seconds is None else time.monotonic() + max_seconds
    with lease_kept(run_id=run.pk), _run_recorded(run):
        while (max_batches is None or batches < max_batches) and (ends is None or time.monotonic() < ends):
            try:
                stats = flow_push_batch(flow=flow, adapter=adapter, run_id=run.pk, step_aside=stepped_aside is not None)
            except AllowanceBusy as busy:
                stepped_aside(busy.seconds)
                break
            if not stats.claimed:
                break
            batches += 1
            count(stats)
            if progress:
                progress(stats)
            if confirming and time.monotonic() - last_confirm >= adapter.confirm_interval:
                count(flow_confirm(flow=flow, adapter=adapter, run_id=run.pk))
                last_confirm = time.monotonic()
        if confirming:
            count(flow_confirm(flow=flow, adapter=adapter, run_id=run.pk))
    return run if run.finished_at else _finish(run)


def flow_confirm_pass(*, flow: Flow, adapter=None) -> SyncRun:
    """Ask the destination about every row of the flow it took but had not validated."""
    run = SyncRun.objects.create(kind=SyncRun.Kind.PUSH, flow=flow, heartbeat_at=timezone.now())
    with lease_kept(run_id=run.pk), _run_recorded(run):
        stats = flow_confirm(flow=flow, adapter=adapter or adapter_for_flow(flow), run_id=run.pk)
        run.records_accepted, run.records_failed = stats.accepted, stats.failed
        run.records_retried, run.api_calls = stats.retried, stats.calls
        run.records_waiting = stats.waiting
    return run if run.finished_at else _finish(run)


@contextmanager
def _run_recorded(run: SyncRun) -> Iterator[None]:
    """The run row says what stopped it. The hub's own fault is recorded as an incident
    and not raised (a task retry would need the broker that is down); anything else is
    raised after the run is marked failed (its claimed rows return when their lease ends)."""
    try:
        yield
    except HubFault as fault:
        incident_open(kind=fault.kind, detail=fault.message)
        _finish(run, error=f"Stopped by a fault of the hub itself: {fault.message}", failed=True)
    except Exception as error:
        _finish(run, error=f"{type(error).__name__}: {error}", failed=True)
        raise


def records_replan(*, flow: Flow, record_keys: Iterable[str], force: bool = False,
                   priority: int = Priority.ROUTINE, run: SyncRun | None = None):
    """Plan these records of one flow again; with `run`, counted on it with their outcomes."""
    with transaction.atomic():
        flows_plan_lock([flow.pk])
        planned = flow_entity(flow.entity).plan(flow=flow, record_keys=list(record_keys), force=force,
                                                priority=priority)
        plan_outcomes_record(run=run, planned=[(flow, planned)])
        return planned


@contextmanager
def plan_run(*, flow_id: int | None, connection, trigger: str, triggered_by_id: int | None = None) -> Iterator[SyncRun]:
    """A re-plan outside a pull (a person's Retry, a backfill) as a run of its own, so it can
    be opened: pass it to records_replan / records_refresh; finished when the block ends
    (failed, and the error raised, when the block fails)."""
    run = SyncRun.objects.create(kind=SyncRun.Kind.PLAN, flow_id=flow_id, connection=connection, trigger=trigger,
                                 triggered_by_id=triggered_by_id, heartbeat_at=timezone.now())
    with lease_kept(run_id=run.pk), _run_recorded(run):
        yield run
    if not run.finished_at:
        _finish(run)


def figures_replan_run(*, connection) -> list[Flow]:
    """Plan, as a run of its own, every customer the connection's pulls marked (syncapp.figures),
    when any are; returns the connection's customers flows, whose pushers then have work."""
    if not figures_marked(connection_id=connection.pk):
        return []
    with plan_run(flow_id=None, connection=connection, trigger=RunTrigger.SCHEDULE) as run:
        run.entity = FIGURES_RUN_ENTITY
        figures_replan(connection=connection, run=run)
    return list(Flow.objects.filter(connection=connection, enabled=True, entity=Flow.Entity.CUSTOMERS)
                .select_related("connection", "destination"))


def records_replan_for_connection(*, connection, source_entity: str, record_keys: Iterable[str]) -> None:
    """Re-plan these records of `source_entity` in every flow whose own records they are
    (a Business Partner key means nothing to an orders or products flow)."""
    keys = list(record_keys)
    for flow in Flow.objects.filter(connection=connection, enabled=True).select_related("connection", "destination"):
        spec = flow_entity(flow.entity)
        if spec.source_entity == source_entity:
            spec.plan(flow=flow, record_keys=keys)
    _wake_pushers(connection=connection)


def records_refresh(*, connection, entity: str, record_keys: Iterable[str], adapter=None,
                    replanned_by_caller: Iterable[Flow] = (), run: SyncRun | None = None) -> list[str]:
    """Re-read records from the ERP now, so a fix made there is used at once.

    What the re-read changed in the mirror is planned for every flow reading the entity
    (but those the caller re-plans itself): once the mirror holds the fix, no later pull
    sees a change, so a flow left out here would keep its exception open.
    An ingest exception whose record cannot be re-read goes back to open, saying why,
    rather than waiting in "retrying" for ever.
    """
    adapter = adapter or source_adapter_for(connection)
    if hasattr(adapter, "reprocess"):
        # A pushing source cannot be asked again: its stored messages are applied anew.
        return adapter.reprocess(entity, list(record_keys))
    records, unread = [], {}
    for key in record_keys:
        try:
            record = adapter.read_one(entity, key)
        except (TransportError, ValueError) as error:
            unread[key] = f"The ERP could not be asked again: {getattr(error, 'message', error)}"
            continue
        if record is None:
            unread[key] = "The record is no longer in the ERP (deleted, or it has no key)."
        else:
            records.append(record)
    skip = {flow.pk for flow in replanned_by_caller}
    with transaction.atomic():
        stored = INGESTERS[entity](connection=connection, records=records)
        others = [flow for flow in flows_reading(connection=connection, source_entity=entity) if flow.pk not in skip]
        changes_plan(connection=connection, entity=entity, flows=others, stored=stored, priority=Priority.URGENT,
                     run=run)
        _record_unreadable(connection, entity, stored.unreadable)
        exceptions_resolve(connection=connection, entity=entity, record_keys=stored.readable_keys,
                           stages=[Stage.INGEST])
        exceptions_reopen(connection=connection, entity=entity, reasons=unread)
    if run is not None:
        run.records_read += len(records)
        run.records_changed += len(stored.changed_keys)
        run.records_failed += len(stored.unreadable) + len(unread)
    return stored.readable_keys


def records_retry(*, connection_id: int, flow_id: int | None, entity: str, record_keys: list[str],
                  source_adapter=None, triggered_by_id: int | None = None) -> None:
    """A person pressed Retry: re-read from the ERP, re-plan (even an unchanged payload
    that failed before) at top priority, and wake the pushers. The re-plan is a run of its
    own (trigger "retry", by `triggered_by_id`), and so are the pushes it wakes."""
    connection = ErpConnection.objects.get(pk=connection_id)
    if handler := retry_handler_for(entity):  # another room's own records (syncapp.retry_handlers)
        handler(connection=connection, record_keys=record_keys)
        return
    source_entity = source_entity_of(entity)
    trigger = {"trigger": RunTrigger.RETRY, "triggered_by_id": triggered_by_id}
    if CONNECTION_KEY in record_keys:
        # The credentials were refused (or the ERP was away): retrying means trying the
        # connection again; a pull already running does exactly that.
        with suppress(PullInProgress):
            connection_pull(connection=connection, entity=source_entity, adapter=source_adapter, **trigger)
        record_keys = [key for key in record_keys if key != CONNECTION_KEY]
    if entity == "warehouses":
        _retry_warehouses(connection, flow_id, record_keys, source_adapter, trigger)
        return
    if not record_keys:  # only the connection was retried: its pull is the run
        _wake_pushers(connection=connection, **trigger)
        return
    with plan_run(flow_id=flow_id, connection=connection, **trigger) as run:
        _retry_records(run, connection, flow_id, source_entity, record_keys, source_adapter)
    _wake_pushers(connection=connection, **trigger)


def _retry_records(run: SyncRun, connection, flow_id: int | None, source_entity: str, record_keys: list[str],
                   source_adapter) -> None:
    flows = list((Flow.objects.filter(pk=flow_id) if flow_id
                  else Flow.objects.filter(connection=connection, enabled=True)).select_related("connection",
                                                                                                "destination"))
    # An ingest exception (no flow) concerns the flows whose own records it holds.
    flows = [flow for flow in flows if flow_id or flow_entity(flow.entity).source_entity == source_entity]
    source_keys = flow_entity(flows[0].entity).source_keys(record_keys) if flow_id and flows else record_keys
    records_refresh(connection=connection, entity=source_entity, record_keys=source_keys, adapter=source_adapter,
                    replanned_by_caller=flows, run=run)
    for flow in flows:
        spec = flow_entity(flow.entity)
        in_mirror = spec.keys_in_mirror(connection=connection, keys=source_keys)
        missing = {key: "The record is not in the ERP's data the hub holds." for key in record_keys
                   if spec.source_keys([key])[0] not in in_mirror}
        records_replan(flow=flow, record_keys=source_keys, force=True, priority=Priority.URGENT, run=run)
        exceptions_reopen(connection=connection, entity=flow.entity, reasons=missing, flow=flow)


def _retry_warehouses(connection, flow_id, codes: list[str], source_adapter, trigger: dict) -> None:
    """An unknown-warehouse exception: read the warehouses again, then re-plan the items
    holding stock there (which resolves or re-raises the exception)."""
    from erp.models import StockLevel

    with suppress(PullInProgress):
        connection_pull(connection=connection, entity="warehouses", adapter=source_adapter, **trigger)
    items = list(StockLevel.objects.filter(connection=connection, warehouse_code__in=codes)
                 .values_list("item_code", flat=True).distinct())
    for flow in Flow.objects.filter(pk=flow_id).select_related("connection", "destination"):
        records_replan(flow=flow, record_keys=items, priority=Priority.URGENT)
    _wake_pushers(connection=connection, **trigger)


def _wake_pushers(*, connection, trigger: str = RunTrigger.SCHEDULE, triggered_by_id: int | None = None) -> None:
    from .tasks import flow_push_task, push_task_args

    for flow_id in Flow.objects.filter(connection=connection, enabled=True).values_list("id", flat=True):
        args = push_task_args(flow_id, trigger, triggered_by_id)
        transaction.on_commit(lambda args=args: task_enqueue(flow_push_task, *args))


def flows_replan_all(*, flows: Iterable[Flow]) -> None:
    """Re-plan every record of these flows (a rule that shapes all of them changed).
    Unchanged payloads cost nothing; the rest are bulk work (backfill priority): behind
    time-sensitive records, and inside the destination's off-peak window if it has one."""
    for flow in flows:
        spec = flow_entity(flow.entity)
        keys = spec.all_keys(connection=flow.connection)
        for start in range(0, len(keys), 1000):
            records_replan(flow=flow, record_keys=keys[start:start + 1000], priority=Priority.BACKFILL)
