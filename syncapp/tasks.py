"""Celery tasks: thin. Each takes ids, loads, calls one service. The outbox is the
queue of record, so a lost task message loses nothing: the sweep finds the rows."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from celery import shared_task

from erp.models import ErpConnection

from . import confirms_due
from .incidents import task_enqueue
from .models import Flow, SyncRun
from .outbox import flows_awaiting_confirmation, flows_with_ready_work, outbox_reclaim_stale, outbox_submitted

logger = logging.getLogger(__name__)

# A push task gives its worker back after about this long, and queues its follow-up behind
# whatever waits (a scheduled pull above all): a slow-paced destination (dotdigital's 35
# calls a minute) must not hold the only worker for minutes while new orders wait to be read.
PUSH_TASK_SECONDS = 10.0
PUSH_TASK_MAX_BATCHES = 20
CALLS_PER_BATCH = 2  # a bulk import and the poll that reads its result
# While a long pull reads, the pushers are woken this often (new changes are read first).
PULL_WAKE_SECONDS = 5.0
# One push task per flow waits in the queue at a time (the Redis mark of it expires after
# this, so a message lost with the broker cannot hold the flow's wakes back for longer).
PUSH_QUEUED_SECONDS = 120
# A push task for a flow with time-sensitive rows ready (a new order, a dispatch) is queued
# at this message priority, ahead of pushes with only routine or backfill work (6, from
# CELERY_TASK_ROUTES) and behind the pulls (0): in the peak run a dispatch waited 11 s at
# the median for a free worker behind the backfill's pushes, after its pull had planned it.
# Still one task per flow waits: a second one (a mark per level was tried) ran beside the
# first, the two split the flow's ready rows into smaller batches (dotdigital 1.4 % over
# the minimum calls in a peak run) and held two processes waiting on one allowance.
URGENT_PUSH_PRIORITY = 3
# A pull that finds the one before it still reading asks it to read again as soon as it ends
# (a Redis mark, which lapses after this): in a peak run an orders pull read for 125 s, the
# two ticks in between were skipped, and what SAP stamped meanwhile waited for the third.
PULL_AGAIN_MARK_SECONDS = 600


def _push_mark(flow: Flow) -> str:
    # The flow's creation time too: a flow id used again (a database made anew) is another flow.
    return f"sync:push-queued:{flow.pk}:{flow.created_at.timestamp():.6f}"


def push_task_args(flow_id: int, trigger: str = "schedule", triggered_by_id: int | None = None) -> tuple:
    """flow_push_task's arguments; a scheduled wake (most of them) carries the flow id alone."""
    if trigger == "schedule" and triggered_by_id is None:
        return (flow_id,)
    return (flow_id, PUSH_TASK_MAX_BATCHES, trigger, triggered_by_id)


def push_wake(flow: Flow, trigger: str = "schedule", triggered_by_id: int | None = None, *,
              time_sensitive: bool = False) -> bool:
    """Queue a push task for the flow unless one is already waiting (see PUSH_QUEUED_SECONDS),
    ahead of other pushes when `time_sensitive` rows are ready (URGENT_PUSH_PRIORITY). Only
    those are queued while the flow's push that stepped aside is due back (push_again_in).
    Without Redis, or with it away, the task is queued regardless: a duplicate task only
    finds nothing to claim, a missing one would leave records waiting for the sweep.
    `trigger` (and who) is what the push run will say started it."""
    if not time_sensitive and _marked(_push_later_mark(flow), "push coming back"):
        return False
    args = push_task_args(flow.pk, trigger, triggered_by_id)
    enqueue = partial(task_enqueue, flow_push_task, *args,
                      **({"priority": URGENT_PUSH_PRIORITY} if time_sensitive else {}))
    return _queued_once(_push_mark(flow), PUSH_QUEUED_SECONDS, enqueue, "queued push")


def _push_later_mark(flow: Flow) -> str:
    return f"sync:push-later:{flow.pk}:{flow.created_at.timestamp():.6f}"


def push_again_in(flow: Flow, seconds: float, trigger: str = "schedule", triggered_by_id: int | None = None) -> bool:
    """The flow's push stepped aside for its destination's allowance (syncapp.ratelimit): one
    task comes back for it in `seconds`, and routine wakes wait for that one meanwhile. A
    process held for a backfill's turn at dotdigital's allowance (14 s on average in a peak
    run, up to 96 s) is one a pull or a dispatch's push waits for."""
    args = (flow.pk, PUSH_TASK_MAX_BATCHES, trigger, triggered_by_id, True)
    enqueue = partial(task_enqueue, flow_push_task, *args, countdown=seconds)
    return _queued_once(_push_later_mark(flow), int(seconds) + PUSH_QUEUED_SECONDS, enqueue, "push coming back")


def _queued_once(mark: str, seconds: int, enqueue: Callable[[], bool], what: str) -> bool:
    """Enqueue unless `mark` says a twin waits (the mark lapses after `seconds`, so a message
    lost with the broker holds nothing back for longer). Without Redis, or with it away, it
    is queued regardless: a twin only finds nothing to do."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return enqueue()
    try:
        from .ratelimit import redis_client

        client = redis_client()
        if not client.set(mark, 1, nx=True, ex=seconds):
            return False
    except Exception as error:  # noqa: BLE001 - redis raises several types for one fault
        logger.warning("Could not mark a %s (queued regardless): %s", what, error)
        return enqueue()
    if not enqueue():
        client.delete(mark)
        return False
    return True


def pushers_wake(flows, *, time_sensitive_only: bool = False, **started) -> None:
    """A push task for each of these flows with rows ready to send: queued ahead of the
    others where time-sensitive rows are ready; with `time_sensitive_only`, for those alone."""
    flows = list(flows)
    ready = set() if time_sensitive_only else set(flows_with_ready_work(flows))
    urgent = set(flows_with_ready_work(flows, time_sensitive=True)) if ready or time_sensitive_only else set()
    for flow in flows:
        if flow.pk in ready or flow.pk in urgent:
            push_wake(flow, **started, time_sensitive=flow.pk in urgent)


def _push_unmark(flow: Flow) -> None:
    _mark_clear(_push_mark(flow), "queued push")


@contextmanager
def _mark_kept(mark: str, what: str) -> Iterator[None]:
    """Hold a mark while the block runs, as its rows' claims are held: set for one lease and
    renewed every heartbeat, so a slow live worker keeps it and a dead one's lapses."""
    from django.conf import settings

    if not settings.REDIS_URL:
        yield
        return
    from .leases import renewed_every_heartbeat
    from .ratelimit import redis_client

    def hold() -> None:
        redis_client().set(mark, 1, ex=max(1, int(settings.SYNC_LEASE_SECONDS)))

    try:
        hold()
    except Exception as error:  # noqa: BLE001 - without it, a twin may only ask the same twice
        logger.warning("Could not mark a %s: %s", what, error)
    try:
        with renewed_every_heartbeat(hold, f"{what}'s mark"):
            yield
    finally:
        _mark_clear(mark, what)


def _mark_clear(mark: str, what: str) -> None:
    from django.conf import settings

    if settings.REDIS_URL:
        try:
            from .ratelimit import redis_client

            redis_client().delete(mark)
        except Exception as error:  # noqa: BLE001 - the mark expires by itself
            logger.warning("Could not clear a %s's mark: %s", what, error)


def batches_per_push_task(flow) -> int:
    """As many batches as the destination's rate lets through in PUSH_TASK_SECONDS."""
    from .pushing import flow_calls_per_minute

    calls = PUSH_TASK_SECONDS * flow_calls_per_minute(flow) / 60
    return max(1, min(PUSH_TASK_MAX_BATCHES, int(calls // CALLS_PER_BATCH)))


@shared_task(name="syncapp.connection_pull_task", ignore_result=True)
def connection_pull_task(connection_id: int, entity: str = "business_partners", trigger: str = "schedule",
                         triggered_by_id: int | None = None) -> None:
    """Pull one connection's changes, then wake the pushers of flows with work. The run
    uses one source adapter (SAP B1: one login) and closes it at the end (/Logout).
    The beat starts it with no trigger (a schedule); "sync now" names the person."""
    from . import services
    from .locks import PullInProgress
    from .services import connection_pull, flows_reading

    connection = ErpConnection.objects.get(pk=connection_id)
    adapter = services.source_adapter_for(connection)  # the engine's seam for the registry
    flows = flows_reading(connection=connection, source_entity=entity)
    started = {"trigger": trigger, "triggered_by_id": triggered_by_id}
    try:
        connection_pull(connection=connection, entity=entity, adapter=adapter,
                        progress=_waking_pushers(flows, started), figures_now=False, **started)
    except PullInProgress as busy:
        logger.info("%s It reads again as soon as it ends.", busy)
        _pull_ask_again(connection, entity)
        late_confirms_run()
        return
    finally:
        close = getattr(adapter, "close", None)
        if close is not None:
            close()
    for asked in _pulls_asked_again(connection, entity):
        task_enqueue(connection_pull_task, connection_id, asked)
    pushers_wake(flows, **started)
    figures_wake(connection)
    late_confirms_run()


# One customer-figures task per connection waits at a time (its Redis mark lapses after this).
FIGURES_QUEUED_SECONDS = 120


def _figures_mark(connection: ErpConnection) -> str:
    return f"sync:figures-queued:{connection.created_at.timestamp():.6f}:{connection.pk}"


def figures_wake(connection: ErpConnection) -> bool:
    """Queue the re-plan of the customers whose figures the connection's pulls moved
    (syncapp.figures), when any are marked and no such task waits already. It waits in the
    queue as a routine push does (CELERY_TASK_ROUTES): a scheduled pull used to re-plan them
    before it ended, and at each tick five or six pulls held a process each for 5-20 s
    doing it, while the pull and push carrying new orders and dispatches waited for one."""
    from .figures import figures_marked

    if not figures_marked(connection_id=connection.pk):
        return False
    return _queued_once(_figures_mark(connection), FIGURES_QUEUED_SECONDS,
                        partial(task_enqueue, figures_replan_task, connection.pk), "queued figures re-plan")


@shared_task(name="syncapp.figures_replan_task", ignore_result=True)
def figures_replan_task(connection_id: int) -> None:
    """Plan every customer marked on the connection once (a run of its own), then wake the
    customers flows' pushers."""
    from .services import figures_replan_run

    connection = ErpConnection.objects.get(pk=connection_id)
    _mark_clear(_figures_mark(connection), "queued figures re-plan")  # marks made from now on queue the next
    flows = figures_replan_run(connection=connection)
    pushers_wake(flows)
    late_confirms_run()


def _pull_again_mark(connection: ErpConnection, entity: str) -> str:
    """One mark per pull lock (items and their stock share one), holding the entities skipped
    while it was held. The connection's creation time too: an id used again (a database made
    anew) is another connection."""
    from .locks import pull_lock_name

    return f"sync:pull-again:{connection.created_at.timestamp():.6f}:{pull_lock_name(connection, entity)}"


def _pull_ask_again(connection: ErpConnection, entity: str) -> None:
    from django.conf import settings

    if settings.REDIS_URL:
        try:
            from .ratelimit import redis_client

            mark = _pull_again_mark(connection, entity)
            redis_client().pipeline().sadd(mark, entity).expire(mark, PULL_AGAIN_MARK_SECONDS).execute()
        except Exception as error:  # noqa: BLE001 - the next tick reads the same changes
            logger.warning("Could not ask the running pull to read again: %s", error)


def _pulls_asked_again(connection: ErpConnection, entity: str) -> list[str]:
    """The entities whose pull was skipped while this one held their lock (the asks are taken)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return []
    try:
        from .ratelimit import redis_client

        mark = _pull_again_mark(connection, entity)
        asked, _ = redis_client().pipeline().smembers(mark).delete(mark).execute()
        return sorted(value.decode() for value in asked)
    except Exception as error:  # noqa: BLE001 - the next tick reads the same changes
        logger.warning("Could not read whether a pull was asked again: %s", error)
        return []


def _waking_pushers(flows, started: dict | None = None):
    """A pull's progress callback: once a page with records is stored (the new changes come
    first), and every PULL_WAKE_SECONDS after, the flows with ready rows get a push task, so
    a second worker sends the new orders while this one reads on. Between those, a page that
    left time-sensitive rows ready wakes their flows at once (one indexed query a page): woken
    only every few seconds, a dispatch planned just after a wake on a page of unchanged records
    waited for the end of the pull (6-7 s in a peak run)."""
    woken = {"at": None}

    def stored(records: int) -> None:
        if not records:
            return
        now = time.monotonic()
        if woken["at"] is None or now - woken["at"] >= PULL_WAKE_SECONDS:
            woken["at"] = now
            pushers_wake(flows, **(started or {}))
        else:
            pushers_wake(flows, time_sensitive_only=True, **(started or {}))

    return stored


@shared_task(name="syncapp.flow_push_task", ignore_result=True)
def flow_push_task(flow_id: int, max_batches: int = 20, trigger: str = "schedule",
                   triggered_by_id: int | None = None, came_back: bool = False) -> None:
    """Send a bounded number of batches; re-enqueue itself (same trigger) while work remains,
    or when it stepped aside for the destination's allowance (`came_back`: that one)."""
    from django.conf import settings

    from .services import flow_push

    flow = Flow.objects.select_related("connection", "destination").get(pk=flow_id)
    _push_unmark(flow)  # a wake from now on queues the next task
    if came_back:
        _mark_clear(_push_later_mark(flow), "push coming back")
    if not flow.enabled:
        return
    back_in: list[float] = []
    # Bounded by time too: batches that wait on an allowance shared with other flows take
    # longer than their pace says, and a pull must not wait for a free worker behind them.
    # With the shared (Redis) allowance, a batch of routine or backfill records gives the
    # process back rather than wait long for its turn.
    flow_push(flow=flow, max_batches=min(max_batches, batches_per_push_task(flow)), confirm=False,
              trigger=trigger, triggered_by_id=triggered_by_id, max_seconds=PUSH_TASK_SECONDS,
              stepped_aside=back_in.append if settings.REDIS_URL else None)
    if back_in:
        logger.info("Push of flow %s stepped aside: its destination's allowance is busy for %.1f s", flow.pk,
                    back_in[0])
        push_again_in(flow, back_in[0], trigger, triggered_by_id)
    else:
        pushers_wake([flow], trigger=trigger, triggered_by_id=triggered_by_id)
    late_confirms_run()  # this flow's too: a confirm run late times its own successor
    if flow_id in flows_awaiting_confirmation([flow]):
        confirm_wake(flow)  # nothing when a confirm is already timed


# A confirm task timed by a push waits at most this long past its due time for a worker;
# the sweep still starts one every minute for anything left, unless a timed one waits or
# runs (their mark), so there is one chain of timed confirms per flow.
CONFIRM_QUEUED_SLACK_SECONDS = 60
# A timed confirm still waiting for a worker this long after it fell due is run by the next
# task to end (late_confirms_run; destinations that reckon each row's verdict: Ometria's pass is
# one read of its errors list): in a peak run Ometria's confirms waited 14-50 s behind the pulls.
# A second: a timed task's message is on time to within milliseconds when its worker is free.
CONFIRM_LATE_SECONDS = 1.0
# Any task ending takes over this many late confirms at most (each an errors-list read): the
# process is free, but the task's own follow-up may be waiting for it too.
LATE_CONFIRMS_AT_ONCE = 2
# A timed confirm never comes sooner than this (and the second of slack confirm_wake adds): a
# row past its due but not yet decided must not have the destination asked back to back. While
# Ometria's records fall due one push after another, this is the confirms' cadence, so it is
# also what they wait past their due: 2 s made it 3 s apart, up to 3 s more at p95. Nor later
# than the latest: a row whose send note was lost counts as behind a full queue, and the rows
# after it must not wait for it.
CONFIRM_SOONEST_SECONDS = 1.0
CONFIRM_LATEST_SECONDS = 60.0


def confirm_wake(flow: Flow, *, only_if_reckoned: bool = False) -> bool:
    """Rows were sent to a destination that validates later: ask it when the oldest one's verdict
    is due (Ometria: a grace after its queue was worked through), not at the next sweep, so what
    waits on them (a new customer's first order) goes on as soon as it may. One such task per
    flow waits at a time. `only_if_reckoned`: only for a destination that reckons each row's
    verdict (verdict_due_in), whose next ask is then a known time, not a guess."""
    from django.conf import settings

    from .pushing import adapter_for_flow

    adapter = adapter_for_flow(flow)
    reckons = _reckons_each_row(adapter)
    if only_if_reckoned and not reckons:
        return False
    due = _first_verdict_in(flow, adapter) + 1
    # The mark holds when the confirm falls due: the task's token, and what tells a late one.
    token = f"{_now() + due:.3f}"
    if settings.REDIS_URL:
        try:
            from .ratelimit import redis_client

            if not redis_client().set(_confirm_mark(flow), token, nx=True,
                                      ex=int(due + CONFIRM_QUEUED_SLACK_SECONDS)):
                return False
        except Exception as error:  # noqa: BLE001 - redis raises several types for one fault
            logger.warning("Could not mark a queued confirm (queued regardless): %s", error)
    if reckons:
        confirms_due.note_due(flow, float(token))
    return task_enqueue(flow_confirm_task, flow.pk, True, token, countdown=due)


def _now() -> float:
    return time.time()


def _reckons_each_row(adapter) -> bool:
    """Whether the destination says when each row's verdict is due (verdict_due_in: Ometria)."""
    return getattr(adapter, "verdict_due_in", None) is not None


# Take a confirm's mark for a run: only while it still holds `token` (a queued timed confirm's
# due time), or (ARGV[2] = 1) while it is gone too (lapsed: the old behaviour of a timed task).
_TAKE_CONFIRM_MARK = """
local held = redis.call('get', KEYS[1])
if held == ARGV[1] or (not held and ARGV[2] == '1') then
  redis.call('set', KEYS[1], '1', 'EX', ARGV[3])
  return 1
end
return 0
"""


def _confirm_mark_taken(flow: Flow, token: str, *, if_lapsed: bool) -> bool:
    """Whether this run may confirm the flow: the mark held `token` (or had lapsed, with
    `if_lapsed`) and now says a confirm runs. Without Redis (or with it away) it may."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return True
    try:
        from .ratelimit import redis_client

        return bool(redis_client().eval(_TAKE_CONFIRM_MARK, 1, _confirm_mark(flow), token, int(if_lapsed),
                                        max(1, int(settings.SYNC_LEASE_SECONDS))))
    except Exception as error:  # noqa: BLE001 - then it confirms, at worst asking twice
        logger.warning("Could not take a confirm's mark: %s", error)
        return True


def _late_confirm_taken_over(flow: Flow) -> bool:
    """At the end of a task (late_confirms_run): when the flow's timed confirm fell due
    CONFIRM_LATE_SECONDS ago or more and still waits for a worker, run it here (this process is
    free now) and time the next; the late task then finds its token gone and asks nothing. Only
    for a destination that reckons each row's verdict (its pass is short)."""
    from django.conf import settings

    from .pushing import adapter_for_flow

    if not settings.REDIS_URL or not _reckons_each_row(adapter_for_flow(flow)):
        return False
    try:
        from .ratelimit import redis_client

        held = redis_client().get(_confirm_mark(flow))
        due = float(held) if held is not None else None
    except Exception as error:  # noqa: BLE001 - the queued one runs when it can
        logger.warning("Could not read a confirm's mark: %s", error)
        return False
    if due is None or due <= 1.0 or _now() < due + CONFIRM_LATE_SECONDS:  # "1": one runs now
        return False
    if not _confirm_mark_taken(flow, held.decode() if isinstance(held, bytes) else str(held), if_lapsed=False):
        return False
    logger.info("Confirm of flow %s waited %.1f s past its due for a worker: run by a task that ended", flow.pk,
                _now() - due)
    _timed_confirm_pass(flow, due=due)
    return True


def late_confirms_run() -> int:
    """At the end of a task, whatever it was (its process is free now): run the timed confirms
    of any flows (destinations that reckon each row's verdict) that fell due CONFIRM_LATE_SECONDS
    ago or more and still wait for a worker, the longest late first, LATE_CONFIRMS_AT_ONCE at
    most. How many ran."""
    ran = 0
    for member, due in confirms_due.due_before(_now() - CONFIRM_LATE_SECONDS, LATE_CONFIRMS_AT_ONCE):
        flow = (Flow.objects.select_related("connection", "destination")
                .filter(pk=confirms_due.flow_pk_of(member)).first())
        if flow is not None and flow.enabled and confirms_due.member_of(flow) == member:
            try:
                ran += _late_confirm_taken_over(flow)
            except Exception:  # another flow's fault must not fail the task that ended here
                logger.exception("Late confirm of flow %s failed; the sweep starts the next", flow.pk)
        confirms_due.forget(member, due)  # unless the pass timed the flow's next confirm
    return ran


def _first_verdict_in(flow: Flow, adapter) -> float:
    """Seconds until the flow's oldest row awaiting validation may first be decided: the
    destination's own reckoning for that row where it has one (Ometria: its grace plus the
    queue the row's call joined), else its first verdict after a push."""
    reckon = getattr(adapter, "verdict_due_in", None)
    oldest = outbox_submitted(flow=flow, limit=1) if reckon is not None else []
    if not oldest or oldest[0].submitted_at is None:
        return float(getattr(adapter, "first_verdict_seconds", 0) or 0)
    due_in = reckon(oldest[0].receipt, oldest[0].submitted_at)
    return min(max(due_in, CONFIRM_SOONEST_SECONDS), CONFIRM_LATEST_SECONDS)


def _confirm_mark(flow: Flow) -> str:
    return f"sync:confirm-queued:{flow.pk}:{flow.created_at.timestamp():.6f}"


def _marked(mark: str, what: str) -> bool:
    """Whether a twin waits (see _queued_once); without Redis, or with it away, none is known."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return False
    try:
        from .ratelimit import redis_client

        return bool(redis_client().exists(mark))
    except Exception as error:  # noqa: BLE001 - then the caller queues one regardless
        logger.warning("Could not read a %s's mark: %s", what, error)
        return False


@shared_task(name="syncapp.outbox_sweep_task", ignore_result=True)
def outbox_sweep_task() -> None:
    """Periodic safety net: reclaim rows and end runs of dead workers (their leases ran
    out), wake flows with ready rows (backoff expired, or a task message was lost) and
    flows with rows awaiting the destination's validation."""
    from datetime import timedelta

    from django.conf import settings

    from exceptions.services import exceptions_return_orphaned

    from .incidents import redis_probe
    from .leases import runs_abandon_stale

    redis_probe()  # this task ran, so the broker is back: close its incident
    outbox_reclaim_stale()
    runs_abandon_stale()
    exceptions_return_orphaned(older_than=timedelta(minutes=settings.SYNC_RETRY_ORPHAN_MINUTES))
    pushers_wake(Flow.objects.all())  # it asks which have rows ready, once
    for flow in Flow.objects.filter(pk__in=flows_awaiting_confirmation()):
        # Not beside a timed confirm still waiting: the two would ask the destination twice.
        if not _marked(_confirm_mark(flow), "queued confirm"):
            task_enqueue(flow_confirm_task, flow.pk)
    late_confirms_run()


@shared_task(name="syncapp.flow_confirm_task", ignore_result=True)
def flow_confirm_task(flow_id: int, timed: bool = False, token: str | None = None) -> None:
    """Settle rows a destination took but had not validated (Ometria, dotdigital's insight
    imports), beside the pushes. A `timed` one (confirm_wake) keeps its mark while it runs, so
    no second one asks the same questions, and then times its successor itself; with its
    `token`, only while the mark is still its own (a push task may have run it, late)."""
    from .services import flow_confirm_pass

    flow = Flow.objects.select_related("connection", "destination").get(pk=flow_id)
    if not timed:
        if flow.enabled:
            flow_confirm_pass(flow=flow)
    elif token is None or _confirm_mark_taken(flow, token, if_lapsed=True):
        _timed_confirm_pass(flow, due=float(token) if token is not None else None)
    late_confirms_run()


def _timed_confirm_pass(flow: Flow, *, due: float | None = None) -> None:
    """The pass of a timed confirm that fell `due` (the time confirm_wake gave it), and its successor."""
    from .services import flow_confirm_pass

    came_when_due = due is not None and _now() >= due - 1.0

    # Its mark stays while it runs: two confirms of one flow at once ask the destination the
    # same questions twice (dotdigital's status reads rose to 1.8 an import in a two-worker peak
    # run). Leased as its rows' claims: a pass paced for minutes keeps it, a dead worker's lapses.
    run = None
    with _mark_kept(_confirm_mark(flow), "running confirm"):
        if flow.enabled:
            run = flow_confirm_pass(flow=flow)
    # Rows left undecided (too recent to ask about, Ometria's grace not over) get the next timed
    # confirm when this pass got somewhere; one that asked and learnt nothing (an outage, imports
    # still running) leaves them to the sweep, so the destination is not asked every few seconds,
    # unless the destination reckons each row's verdict and the pass came when it was due: then the
    # next ask has a time (Ometria: a grace at most, until its minimum pace decides the row). A pass
    # that came early (an eager task runs at once, its countdown ignored) and learnt nothing stops,
    # or the chain would ask without pause.
    if run is None or run.status == SyncRun.Status.FAILED or flow.pk not in flows_awaiting_confirmation([flow]):
        return
    settled = run.api_calls == 0 or (run.records_accepted + run.records_failed + run.records_retried
                                     + run.records_waiting > 0)
    if settled or came_when_due:
        confirm_wake(flow, only_if_reckoned=not settled)


@shared_task(name="syncapp.records_retry_task", ignore_result=True)
def records_retry_task(connection_id: int, flow_id: int | None, entity: str, record_keys: list[str],
                       triggered_by_id: int | None = None) -> None:
    """A bulk Retry from the dashboard: re-read, re-plan at top priority, wake pushers."""
    from .services import records_retry

    records_retry(connection_id=connection_id, flow_id=flow_id, entity=entity, record_keys=record_keys,
                  triggered_by_id=triggered_by_id)


@shared_task(name="syncapp.flows_replan_task", ignore_result=True)
def flows_replan_task(flow_ids: list[int]) -> None:
    """A warehouse or SKU rule changed: re-plan the flows it shapes."""
    from .services import flows_replan_all

    flows_replan_all(flows=Flow.objects.filter(pk__in=flow_ids).select_related("connection", "destination"))
    pushers_wake(Flow.objects.filter(pk__in=flow_ids))


@shared_task(name="syncapp.run_outcomes_prune_task", ignore_result=True)
def run_outcomes_prune_task() -> None:
    """Daily: runs older than SYNC_RUN_OUTCOME_DAYS lose their row-level outcomes, keep their counts."""
    from .run_outcomes import run_outcomes_prune

    run_outcomes_prune()


@shared_task(name="syncapp.health_sample_task", ignore_result=True)
def health_sample_task() -> None:
    """Every few minutes: one backlog/lag/throughput sample per flow for the health charts."""
    from .health import health_sample_record

    health_sample_record()


@shared_task(name="syncapp.connections_probe_task", ignore_result=True)
def connections_probe_task() -> None:
    """Every minute: ask each connection the engine has not heard from lately whether it
    answers and takes the hub's credentials (one cheap documented call each)."""
    from .connection_probe import connections_probe

    connections_probe()


@shared_task(name="syncapp.alerts_check_task", ignore_result=True)
def alerts_check_task() -> None:
    """Every few minutes: mail new alerts and recoveries to the owner teams."""
    from exceptions.alerts import alerts_check

    alerts_check()


@shared_task(name="syncapp.alerts_digest_task", ignore_result=True)
def alerts_digest_task() -> None:
    """Daily: each team's digest (sent at most once a day, however often this runs)."""
    from exceptions.alerts import alerts_digest_send

    alerts_digest_send()


@shared_task(name="syncapp.provisional_orders_check_task", ignore_result=True)
def provisional_orders_check_task() -> None:
    """Every few minutes: web orders still missing from the ERP after the timeout become exceptions,
    and so do documents still waiting for their base document after its grace."""
    from erp.dangling import documents_flag_overdue

    from .planning_orders import provisional_orders_flag_overdue

    provisional_orders_flag_overdue()
    documents_flag_overdue()
