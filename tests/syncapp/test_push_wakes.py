"""Push tasks under load (issue 12, parts 4 and 5): one task per flow waits in the queue
however often it is woken, a task gives its worker back after about PUSH_TASK_SECONDS of
its destination's pace, and a long pull wakes the pushers as soon as it stored a page."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from django.db import connection as db

from syncapp import tasks
from syncapp.models import OutboxItem, SyncRun
from tests.factories import FlowFactory
from tests.syncapp.fakes import FakeSource, bp_record


def _clock_of(module, monkeypatch, start: float) -> list[float]:
    """A clock the test moves, read by `module` alone: patching time.monotonic itself also
    fed it to the process's lease heartbeat thread, which then skipped its beats."""
    clock = [start]
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    return clock


@pytest.fixture
def queued(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.flow_push_task, "delay", lambda *args: sent.append(args))
    return sent


def _ready_row(flow, key="C1"):
    return OutboxItem.objects.create(flow=flow, record_key=key, status="pending", payload={"k": key})


def test_one_push_task_per_flow_waits_in_the_queue(flow, redis_url, settings, queued):
    settings.REDIS_URL = redis_url
    assert tasks.push_wake(flow) is True
    assert tasks.push_wake(flow) is False  # a pull, the sweep and a pull again: one task waits
    assert tasks.push_wake(flow) is False
    assert queued == [(flow.pk,)]

    tasks._push_unmark(flow)  # what a push task does first: a wake from then on queues the next one
    assert tasks.push_wake(flow) is True
    assert queued == [(flow.pk,), (flow.pk,)]


def test_without_redis_every_wake_queues_a_task(flow, settings, queued):
    settings.REDIS_URL = ""
    assert tasks.push_wake(flow) and tasks.push_wake(flow)
    assert len(queued) == 2


def test_a_push_task_takes_as_many_batches_as_its_destination_paces_in_ten_seconds(flow):
    account = flow.destination
    account.kind, account.calls_per_minute = "dotdigital", 35  # Low tier: 2 batches (import + poll each)
    assert tasks.batches_per_push_task(flow) == 2
    account.calls_per_minute = 6
    assert tasks.batches_per_push_task(flow) == 1
    account.kind, account.calls_per_minute = "ometria", None  # 4 a second: the old ceiling of 20
    assert tasks.batches_per_push_task(flow) == 20


def test_a_pull_wakes_the_pushers_once_a_page_is_stored_not_at_its_end(flow, redis_url, settings, queued,
                                                                      monkeypatch):
    settings.REDIS_URL = redis_url
    clock = _clock_of(tasks, monkeypatch, 100.0)
    stored = tasks._waking_pushers([flow])
    stored(0)  # an empty page (the read's last, carrying the cursor) wakes nobody
    _ready_row(flow)
    stored(500)
    assert queued == [(flow.pk,)]
    tasks._push_unmark(flow)
    clock[0] += 1
    stored(500)  # within PULL_WAKE_SECONDS: not again
    assert len(queued) == 1
    clock[0] += tasks.PULL_WAKE_SECONDS
    stored(500)
    assert len(queued) == 2


def test_a_push_that_leaves_rows_awaiting_validation_asks_when_their_verdicts_are_due(flow, redis_url, settings,
                                                                                   monkeypatch):
    """Issue 12: an Ometria verdict comes its validation grace after the push; asking then,
    not at the next minute's sweep, lets a new customer's first order go as soon as it may."""
    settings.REDIS_URL = redis_url
    timed = []
    monkeypatch.setattr(tasks.flow_confirm_task, "apply_async",
                        lambda args, countdown: timed.append((args[:2], countdown)))

    class Validating:  # takes the batch, decides later
        first_verdict_seconds = 10.0
        limits = __import__("tests.syncapp.fakes", fromlist=["FakeDestination"]).FakeDestination.limits

        def ensure_fields(self, entity, specs):
            return []

        def push(self, entity, items):
            from syncapp.adapters import PushResult
            return [PushResult(key=item.key, outcome="submitted", remote_id="req-1") for item in items]

        def confirm(self, entity, items):
            return []

    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: Validating())
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: Validating())
    monkeypatch.setattr(tasks.flow_push_task, "delay", lambda *args: None)
    _ready_row(flow, "C1")
    tasks.flow_push_task(flow.pk)
    _ready_row(flow, "C2")
    tasks.flow_push_task(flow.pk)  # a confirm task already waits for this flow
    assert timed == [((flow.pk, True), 11.0)]

    swept = []
    monkeypatch.setattr(tasks.flow_confirm_task, "delay", swept.append)
    tasks.outbox_sweep_task()
    assert swept == []  # a timed confirm waits: the sweep does not ask the destination beside it
    tasks.flow_confirm_task(flow.pk)  # a sweep's (untimed): the timed one still waits
    _ready_row(flow, "C3")
    tasks.flow_push_task(flow.pk)
    assert len(timed) == 1
    assert OutboxItem.objects.filter(flow=flow, status="submitted").count() == 3


def test_the_next_timed_confirm_comes_when_the_oldest_waiting_row_is_due_not_a_grace_after_now(
        flow, redis_url, settings, monkeypatch):
    """Issue 12: an Ometria record is decided once its grace and the queue its call joined are
    over. Timed a grace after each pass, a confirm came before that (reading the errors list to
    decide nothing) and the next one a whole grace later: in a peak run new orders waited 18-29 s
    from submitted to accepted with a 10 s grace. Timed by the destination's reckoning for the
    oldest waiting row, it comes when that row is due: never sooner than CONFIRM_SOONEST_SECONDS, nor
    later than CONFIRM_LATEST_SECONDS."""
    from datetime import timedelta

    from django.utils import timezone

    settings.REDIS_URL = redis_url
    timed = []
    monkeypatch.setattr(tasks.flow_confirm_task, "apply_async",
                        lambda args, countdown: timed.append((args[:2], countdown)))
    asked = []

    class Reckoning:  # a 10 s grace; the call "r-old" joined a queue worth 15 s more
        first_verdict_seconds = 10.0

        def verdict_due_in(self, receipt, submitted_at):
            asked.append(receipt)
            queue = 2500 if receipt == "r-lost" else 15  # without its note: Ometria's whole queue
            return (submitted_at + timedelta(seconds=10 + queue) - timezone.now()).total_seconds()

    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: Reckoning())
    now = timezone.now()
    OutboxItem.objects.create(flow=flow, record_key="C2", status="submitted", receipt="r-new", payload={},
                              submitted_at=now)
    OutboxItem.objects.create(flow=flow, record_key="C1", status="submitted", receipt="r-old", payload={},
                              submitted_at=now - timedelta(seconds=5))
    assert tasks.confirm_wake(flow) is True
    [((flow_id, is_timed), countdown)] = timed
    assert asked == ["r-old"] and (flow_id, is_timed) == (flow.pk, True)
    assert 20.0 < countdown <= 21.0  # 25 s after the oldest row, which went 5 s ago; + 1 s

    tasks._mark_clear(tasks._confirm_mark(flow), "test")
    OutboxItem.objects.filter(record_key="C1").update(submitted_at=now - timedelta(minutes=5))
    tasks.confirm_wake(flow)  # long overdue (its errors not read yet): soon, not at once
    assert timed[-1][1] == tasks.CONFIRM_SOONEST_SECONDS + 1

    tasks._mark_clear(tasks._confirm_mark(flow), "test")
    OutboxItem.objects.filter(record_key="C1").update(submitted_at=now - timedelta(seconds=1), receipt="r-lost")
    tasks.confirm_wake(flow)  # its note lost (a full queue assumed): the rows after it are not held back
    assert timed[-1][1] == tasks.CONFIRM_LATEST_SECONDS + 1


def test_one_timed_confirm_per_flow_at_a_time_and_the_next_when_it_got_somewhere(flow, redis_url, settings,
                                                                               monkeypatch):
    """Issue 12: a confirm still running when the next push ends must not have a twin asking the
    destination the same questions (dotdigital's status reads rose to 1.8 an import in a two-worker
    peak run); it queues the next timed one itself when rows remain and it settled some, and
    leaves them to the sweep when it asked and learnt nothing (an outage is not asked every 6 s)."""
    from django.utils import timezone

    from syncapp.adapters import PushResult

    settings.REDIS_URL = redis_url
    timed, swept = [], []
    monkeypatch.setattr(tasks.flow_confirm_task, "apply_async",
                        lambda args, countdown: timed.append((args[:2], countdown)))
    monkeypatch.setattr(tasks.flow_confirm_task, "delay", swept.append)

    class Deciding:  # decides one record a pass, with one call; or learns nothing
        first_verdict_seconds = 5.0
        confirm_interval = 5.0
        calls = 0
        learns = True

        def confirm(self, entity, items):
            self.calls += 1
            if during:
                during.pop()()
            return [PushResult(key=items[0].key, outcome="accepted")] if self.learns else []

    adapter = Deciding()
    during = []
    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: adapter)
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: adapter)
    for key in ("C1", "C2", "C3"):
        OutboxItem.objects.create(flow=flow, record_key=key, status="submitted", receipt="r", payload={},
                                  submitted_at=timezone.now())

    # While the timed confirm runs, a push ends and a sweep comes: neither queues a second one.
    woken = []
    during.append(lambda: (woken.append(tasks.confirm_wake(flow)), tasks.outbox_sweep_task()))
    tasks.flow_confirm_task(flow.pk, True)
    assert woken == [False] and swept == []
    assert timed == [((flow.pk, True), 6.0)]  # its own successor: it settled C1, C2 and C3 remain

    adapter.learns = False
    tasks._mark_clear(tasks._confirm_mark(flow), "test")  # the successor starts
    tasks.flow_confirm_task(flow.pk, True)
    assert len(timed) == 1  # asked, learnt nothing: no successor
    tasks.outbox_sweep_task()
    assert swept == [flow.pk]  # the sweep asks next, once a minute
    assert set(OutboxItem.objects.filter(flow=flow).values_list("record_key", "status")) == {
        ("C1", "accepted"), ("C2", "submitted"), ("C3", "submitted")}


def test_a_timed_confirm_that_decided_nothing_still_times_the_next_when_its_destination_reckons_each_row(
        flow, redis_url, settings, monkeypatch):
    """Issue 12: an Ometria record is decided a grace after later pushes showed its queue worked
    through; a timed confirm that came before any push did decides nothing. Such a destination
    says when to ask again (a grace at most), so the confirm times its successor by that: left to
    the minute's sweep, the rows would wait up to a minute longer."""
    from django.utils import timezone

    settings.REDIS_URL = redis_url
    timed, swept = [], []
    monkeypatch.setattr(tasks.flow_confirm_task, "apply_async",
                        lambda args, countdown: timed.append((args[:2], countdown)))
    monkeypatch.setattr(tasks.flow_confirm_task, "delay", swept.append)

    class Reckoning:  # reads the errors list, decides nothing yet; asks again in 5 s
        first_verdict_seconds = 5.0
        confirm_interval = 5.0
        calls = 0

        def confirm(self, entity, items):
            self.calls += 1
            return []

        def verdict_due_in(self, receipt, submitted_at):
            return 5.0

    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: Reckoning())
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: Reckoning())
    OutboxItem.objects.create(flow=flow, record_key="C1", status="submitted", receipt="r", payload={},
                              submitted_at=timezone.now())
    tasks.flow_confirm_task(flow.pk, True, f"{time.time():.3f}")  # as timed: its due is now
    assert timed == [((flow.pk, True), 6.0)]
    tasks.outbox_sweep_task()
    assert swept == []  # the timed one waits: the sweep does not ask beside it


def test_a_timed_confirm_run_before_its_due_that_decided_nothing_times_no_successor(flow, reckoning):
    """An eager task (CELERY_TASK_ALWAYS_EAGER, some tests) runs at once, its countdown ignored: a
    successor timed by a pass that came early and learnt nothing would run at once too, and ask the
    destination again without pause (a test end to end spun for minutes so)."""
    from django.utils import timezone

    adapter, timed, clock = reckoning

    def learns_nothing(entity, items):  # asks (one call), decides nothing
        adapter.calls += 1
        return []

    adapter.confirm = learns_nothing
    OutboxItem.objects.create(flow=flow, record_key="C1", status="submitted", receipt="r", payload={},
                              submitted_at=timezone.now())
    tasks.flow_confirm_task(flow.pk, True, f"{clock[0] + 6:.3f}")  # due 6 s from now, run at once
    assert timed == []
    tasks.flow_confirm_task(flow.pk, True, f"{clock[0]:.3f}")  # when due: the destination says when next
    assert len(timed) == 1


class _Reckoning:
    """Ometria-like: takes a batch, decides it later (one row a pass here), says when each row's
    verdict is due (5 s on)."""

    first_verdict_seconds = 5.0
    confirm_interval = 30.0
    limits = __import__("tests.syncapp.fakes", fromlist=["FakeDestination"]).FakeDestination.limits
    calls = 0

    def __init__(self):
        self.confirms = 0

    def ensure_fields(self, entity, specs):
        return []

    def push(self, entity, items):
        from syncapp.adapters import PushResult
        return [PushResult(key=item.key, outcome="submitted", remote_id="req-1") for item in items]

    def confirm(self, entity, items):
        from syncapp.adapters import PushResult
        self.confirms += 1
        self.calls += 1
        return [PushResult(key=sorted(item.key for item in items)[0], outcome="accepted")]

    def verdict_due_in(self, receipt, submitted_at):
        return 5.0


@pytest.fixture
def reckoning(redis_url, settings, monkeypatch):
    """(adapter, the timed confirms queued as (flow id, timed, token), the clock confirm_wake reads)."""
    settings.REDIS_URL = redis_url
    adapter, timed, clock = _Reckoning(), [], [1_800_000_000.0]
    monkeypatch.setattr(tasks.flow_confirm_task, "apply_async", lambda args, countdown: timed.append(args))
    monkeypatch.setattr(tasks.flow_push_task, "delay", lambda *args: None)
    monkeypatch.setattr(tasks, "_now", lambda: clock[0])
    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: adapter)
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: adapter)
    return adapter, timed, clock


def test_a_push_task_ending_after_its_flows_timed_confirm_fell_due_runs_it_and_the_late_one_asks_nothing(
        flow, reckoning):
    """Issue 12: a timed confirm's message is held by the worker that took it until that worker
    has a free process. In a peak run Ometria's confirms waited 14-50 s past their due behind the
    pulls, and the records they would have accepted with them. The flow's next push task, ending
    on a process of its own, runs the late confirm; the late message then finds its mark taken."""
    adapter, timed, clock = reckoning
    _ready_row(flow, "C1")
    tasks.flow_push_task(flow.pk)
    [(_, _, first)] = timed  # due 6 s on (5 s, and a second's slack)
    clock[0] += 6 + tasks.CONFIRM_LATE_SECONDS - 0.5
    _ready_row(flow, "C2")
    tasks.flow_push_task(flow.pk)  # due, but not late yet: the queued one may be starting
    assert adapter.confirms == 0 and len(timed) == 1
    clock[0] += 1
    _ready_row(flow, "C3")
    tasks.flow_push_task(flow.pk)
    assert adapter.confirms == 1
    assert OutboxItem.objects.get(flow=flow, record_key="C1").status == "accepted"
    [(_, _, second)] = timed[1:]  # C2 and C3 still wait: the push task timed the next one
    assert second != first

    tasks.flow_confirm_task(flow.pk, True, first)  # the late message, when a process is free at last
    assert adapter.confirms == 1
    tasks.flow_confirm_task(flow.pk, True, second)
    assert adapter.confirms == 2


def test_a_push_task_never_takes_over_a_confirm_that_is_running(flow, reckoning):
    adapter, timed, clock = reckoning
    _ready_row(flow, "C1")
    tasks.flow_push_task(flow.pk)
    [(_, _, token)] = timed
    clock[0] += 60
    from syncapp.ratelimit import redis_client

    redis_client().set(tasks._confirm_mark(flow), 1, ex=60)  # the timed one started: its pass holds the mark
    _ready_row(flow, "C2")
    tasks.flow_push_task(flow.pk)
    assert adapter.confirms == 0 and len(timed) == 1
    assert redis_client().get(tasks._confirm_mark(flow)) == b"1" != token.encode()


def _ends_a_push_task(other_flow, monkeypatch) -> None:
    tasks.flow_push_task(other_flow.pk)


def _ends_a_pull(other_flow, monkeypatch) -> None:
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: FakeSource([]))
    tasks.connection_pull_task(other_flow.connection_id, "business_partners")


def _ends_the_sweep(other_flow, monkeypatch) -> None:
    tasks.outbox_sweep_task()


def _ends_a_figures_replan(other_flow, monkeypatch) -> None:
    tasks.figures_replan_task(other_flow.connection_id)


def _ends_another_flows_confirm(other_flow, monkeypatch) -> None:
    tasks.flow_confirm_task(other_flow.pk)


@pytest.mark.parametrize("task_that_ends", [_ends_a_push_task, _ends_a_pull, _ends_the_sweep, _ends_a_figures_replan,
                                            _ends_another_flows_confirm])
def test_any_task_that_ends_runs_another_flows_late_confirm(flow, reckoning, monkeypatch, task_that_ends):
    """Issue 12: in a peak run the Ometria orders flow's timed confirm still waited 11-18 s past
    its due about once a minute, although its own push tasks took over late ones: dotdigital's
    pushes, the pulls and the figures held every process, and only they ended meanwhile. Any
    task ending now runs a late confirm of any flow; the late message then asks nothing."""
    adapter, timed, clock = reckoning
    other_flow = FlowFactory(connection=flow.connection)
    _ready_row(flow, "C1")
    tasks.flow_push_task(flow.pk)
    [(_, _, token)] = timed
    clock[0] += 6 + tasks.CONFIRM_LATE_SECONDS - 0.5
    task_that_ends(other_flow, monkeypatch)  # due, but not late yet: the queued one may be starting
    assert adapter.confirms == 0
    clock[0] += 1
    task_that_ends(other_flow, monkeypatch)
    assert adapter.confirms == 1
    assert OutboxItem.objects.get(flow=flow, record_key="C1").status == "accepted"
    tasks.flow_confirm_task(flow.pk, True, token)  # the late message, when its worker is free at last
    assert adapter.confirms == 1


def test_a_confirm_that_ran_when_due_is_not_run_again_by_a_task_that_ends_later(flow, reckoning):
    adapter, timed, clock = reckoning
    other_flow = FlowFactory(connection=flow.connection)
    _ready_row(flow, "C1")
    _ready_row(flow, "C2")
    tasks.flow_push_task(flow.pk)
    [(_, _, first)] = timed
    clock[0] += 6
    tasks.flow_confirm_task(flow.pk, True, first)  # on time; C2 waits for the next, timed now
    assert adapter.confirms == 1 and len(timed) == 2
    clock[0] += 6 + tasks.CONFIRM_LATE_SECONDS - 0.5  # the first is long past, the second not late yet
    tasks.flow_push_task(other_flow.pk)
    assert adapter.confirms == 1
    clock[0] += 1
    tasks.flow_push_task(other_flow.pk)  # now the second is late
    assert adapter.confirms == 2


def test_a_late_confirm_that_fails_does_not_fail_the_task_that_ran_it(flow, reckoning, caplog):
    adapter, _, clock = reckoning
    other_flow = FlowFactory(connection=flow.connection)
    _ready_row(flow, "C1")
    tasks.flow_push_task(flow.pk)

    def broken(entity, items):
        raise RuntimeError("the destination's client broke")

    adapter.confirm = broken
    clock[0] += 60
    tasks.flow_push_task(other_flow.pk)  # its own work is done: it ends well
    assert "Late confirm of flow" in caplog.text
    assert OutboxItem.objects.get(flow=flow, record_key="C1").status == "submitted"


def test_a_late_confirm_of_a_flow_deleted_since_is_forgotten(flow, reckoning):
    from syncapp import confirms_due

    *_, clock = reckoning
    gone = FlowFactory(connection=flow.connection)
    confirms_due.note_due(gone, clock[0])
    gone.delete()
    clock[0] += 60
    assert tasks.late_confirms_run() == 0
    assert confirms_due.due_before(clock[0], 10) == []


def test_only_confirms_of_destinations_that_reckon_each_row_are_noted_for_other_tasks(flow, redis_url, settings,
                                                                                     monkeypatch):
    """dotdigital's confirm pass can be paced for minutes: no other task's end takes it on."""
    from django.utils import timezone

    from syncapp import confirms_due

    settings.REDIS_URL = redis_url
    monkeypatch.setattr(tasks.flow_confirm_task, "apply_async", lambda args, countdown: None)
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow",
                        lambda flow: SimpleNamespace(first_verdict_seconds=5.0))
    OutboxItem.objects.create(flow=flow, record_key="C1", status="submitted", receipt="r", payload={},
                              submitted_at=timezone.now())
    assert tasks.confirm_wake(flow) is True
    assert confirms_due.due_before(time.time() + 3600, 10) == []


def _leaving_order(queue: str, *sends) -> list[tuple[str, str]]:
    """(task, args) of the messages `sends` put on a Redis queue, in the order a worker takes them."""
    from celery import current_app

    if not str(current_app.conf.broker_url).startswith("redis"):
        pytest.skip("message priorities of the Redis broker (CI sets REDIS_URL)")
    with current_app.connection_for_read() as connection:
        connection.SimpleQueue(queue).clear()
        for send in sends:
            send(queue)
        waiting = connection.SimpleQueue(queue)
        taken = []
        for _ in sends:
            message = waiting.get(timeout=5)
            taken.append((message.headers["task"], message.headers["argsrepr"]))
            message.ack()
        waiting.close()
    return taken


def test_a_pull_queued_behind_pushes_and_confirms_is_taken_first(settings):
    """Issue 12's peak run: scheduled pulls waited up to a minute in the queue behind push
    and confirm tasks, and every new order they would read waited with them."""
    taken = [task for task, _ in _leaving_order(
        "test-priorities",
        lambda queue: tasks.flow_push_task.apply_async(args=(1,), queue=queue),
        lambda queue: tasks.flow_confirm_task.apply_async(args=(1,), queue=queue),
        lambda queue: tasks.connection_pull_task.apply_async(args=(1, "orders"), queue=queue))]
    assert taken[0] == "syncapp.connection_pull_task"
    assert sorted(taken[1:]) == ["syncapp.flow_confirm_task", "syncapp.flow_push_task"]


def test_a_time_sensitive_push_leaves_the_redis_queue_after_the_pulls_and_before_other_pushes(settings):
    """The message priority given at the call wins over the push task's route (priority 6)."""
    assert _leaving_order(
        "test-priorities-urgent",
        lambda queue: tasks.flow_push_task.apply_async(args=(1,), queue=queue),
        lambda queue: tasks.flow_push_task.apply_async(args=(2,), priority=tasks.URGENT_PUSH_PRIORITY, queue=queue),
        lambda queue: tasks.connection_pull_task.apply_async(args=(1, "deliveries"), queue=queue),
    ) == [("syncapp.connection_pull_task", "(1, 'deliveries')"), ("syncapp.flow_push_task", "(2,)"),
          ("syncapp.flow_push_task", "(1,)")]


@pytest.fixture
def enqueued(monkeypatch):
    """What push wakes hand the broker: (task args, message priority)."""
    sent = []

    def enqueue(task, *args, countdown=None, priority=None):
        sent.append((args, priority))
        return True

    monkeypatch.setattr(tasks, "task_enqueue", enqueue)
    return sent


def test_a_flow_with_time_sensitive_rows_ready_is_woken_ahead_of_routine_pushes(flow, redis_url, settings,
                                                                               enqueued):
    """Issue 12's peak run with one worker: a dispatch, planned, waited 11 s at the median (16 s
    at p95) for its push task to leave the queue behind the backfill's and routine pushes."""
    from syncapp.models import Priority
    from tests.factories import FlowFactory

    settings.REDIS_URL = redis_url
    routine = FlowFactory(connection=flow.connection, destination=flow.destination, entity="orders")
    OutboxItem.objects.create(flow=routine, record_key="B1", status="pending", priority=Priority.BACKFILL)
    OutboxItem.objects.create(flow=flow, record_key="B2", status="pending", priority=Priority.ROUTINE)
    OutboxItem.objects.create(flow=flow, record_key="D1", status="pending", priority=Priority.URGENT)
    tasks.pushers_wake([routine, flow])
    assert enqueued == [((routine.pk,), None), ((flow.pk,), tasks.URGENT_PUSH_PRIORITY)]


def test_a_page_that_left_time_sensitive_rows_ready_wakes_their_flow_at_once(flow, redis_url, settings, enqueued,
                                                                           monkeypatch):
    """Issue 12's peak run s19-B: a deliveries pull's first page (unchanged records read again)
    woke the pushers; the dispatches its next pages planned, two seconds apart, waited for the
    next wake five seconds on or the pull's end: their push started 6-7 s after the first was
    planned. Routine rows still wait for the next wake, every PULL_WAKE_SECONDS."""
    from syncapp.models import Priority
    from tests.factories import FlowFactory

    settings.REDIS_URL = redis_url
    clock = _clock_of(tasks, monkeypatch, 100.0)
    routine = FlowFactory(connection=flow.connection, destination=flow.destination, entity="orders")
    stored = tasks._waking_pushers([routine, flow])
    stored(500)  # a page read again, unchanged: nothing ready, the wake is spent
    assert enqueued == []
    clock[0] += 2
    OutboxItem.objects.create(flow=routine, record_key="B1", status="pending", priority=Priority.ROUTINE)
    OutboxItem.objects.create(flow=flow, record_key="D1", status="pending", priority=Priority.URGENT)
    stored(450)
    assert enqueued == [((flow.pk,), tasks.URGENT_PUSH_PRIORITY)]  # the dispatch's flow alone, now
    clock[0] += 2
    stored(450)
    assert len(enqueued) == 1  # its task waits in the queue: one per flow
    clock[0] += tasks.PULL_WAKE_SECONDS
    stored(450)
    assert enqueued[1:] == [((routine.pk,), None)]


def test_still_one_push_task_per_flow_waits_whatever_its_level(flow, redis_url, settings, enqueued):
    """A second task of one flow (a mark per level, tried in the peak run) ran beside the first:
    the two split the flow's ready rows into smaller batches, and dotdigital got 1.4 % more calls
    than the minimum."""
    from syncapp.models import Priority

    settings.REDIS_URL = redis_url
    OutboxItem.objects.create(flow=flow, record_key="B1", status="pending", priority=Priority.ROUTINE)
    tasks.pushers_wake([flow])  # a routine task waits in the queue
    OutboxItem.objects.create(flow=flow, record_key="D1", status="pending", priority=Priority.URGENT)
    tasks.pushers_wake([flow])  # it will claim the dispatch first: no second task
    assert enqueued == [((flow.pk,), None)]

    tasks._push_unmark(flow)  # the task started; what it leaves is time-sensitive
    tasks.pushers_wake([flow])
    assert enqueued[1:] == [((flow.pk,), tasks.URGENT_PUSH_PRIORITY)]


def test_a_push_task_starts_no_batch_after_its_ten_seconds_however_few_batches_it_sent(flow, monkeypatch):
    """Issue 12's peak run: Ometria push tasks held a worker for 20-80 s (their 20 batches
    waited on an allowance shared with another flow) while scheduled pulls waited for one."""
    from syncapp import services
    from tests.syncapp.fakes import FakeDestination

    clock = _clock_of(services, monkeypatch, 1000.0)

    class Slow(FakeDestination):
        def push(self, entity, items):
            clock[0] += 4.0  # each batch waits 4 s for its token
            return super().push(entity, items)

    for index in range(10):
        _ready_row(flow, f"C{index}")
    destination = Slow(batch_size=1)
    run = services.flow_push(flow=flow, adapter=destination, max_batches=20, confirm=False, max_seconds=10.0)
    assert destination.calls == 3  # at 0, 4 and 8 s; none at 12 s
    assert run.records_accepted == 3


def test_a_timed_confirm_longer_than_its_lease_keeps_its_mark_so_no_sweep_asks_beside_it(flow, redis_url, settings,
                                                                                        monkeypatch):
    """A confirm pass paced by dotdigital's 35 calls a minute can outlast the lease its mark was
    set for; once the mark lapsed, the sweep queued a second confirm asking the same questions."""
    import time

    settings.REDIS_URL = redis_url
    settings.SYNC_LEASE_SECONDS = 1
    settings.SYNC_HEARTBEAT_SECONDS = 0.2
    swept = []
    monkeypatch.setattr(tasks.flow_confirm_task, "delay", swept.append)
    monkeypatch.setattr("syncapp.tasks.flows_awaiting_confirmation", lambda flows=None: [flow.pk])

    def slow_pass(flow):  # three leases long; the sweep comes after the first has run out
        time.sleep(1.5)
        tasks.outbox_sweep_task()
        time.sleep(1.5)
        return None

    monkeypatch.setattr("syncapp.services.flow_confirm_pass", slow_pass)
    tasks.flow_confirm_task(flow.pk, True)
    assert swept == []  # the running confirm still held its mark
    assert not tasks._marked(tasks._confirm_mark(flow), "test")  # and gave it up when it ended


class TickedWhileReading(FakeSource):
    """A long pull: while it reads, the next tick's pull of the same entity (or of `ticked`, one
    sharing its lock) comes, in another worker."""

    def __init__(self, tick, pages, ticked: str = "") -> None:
        super().__init__(pages)
        self.tick, self.ticked = tick, ticked

    def read_changes(self, entity, cursor):
        other_worker = threading.Thread(target=self.tick, args=(self.ticked or entity,))
        other_worker.start()
        other_worker.join(30)
        yield from super().read_changes(entity, cursor)


@pytest.mark.django_db(transaction=True)
def test_a_pull_skipped_while_the_one_before_still_reads_runs_as_soon_as_that_one_ends(redis_url, settings,
                                                                                      monkeypatch):
    """A peak run's orders pull read for 125 s; the two ticks in between were skipped, and what SAP
    stamped meanwhile waited for the third tick."""
    settings.REDIS_URL = redis_url
    flow = FlowFactory()
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.connection_pull_task, "delay", lambda *args: sent.append(args))
    monkeypatch.setattr(tasks.connection_pull_task, "apply_async", lambda args, **options: sent.append(tuple(args)))

    def tick(entity: str) -> None:
        try:
            tasks.connection_pull_task(flow.connection_id, entity)
        finally:
            db.close()

    sources = iter([TickedWhileReading(tick, [[bp_record("C1")]]), FakeSource([]), FakeSource([])])
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: next(sources))

    tasks.connection_pull_task(flow.connection_id, "business_partners")

    assert sent == [(flow.connection_id, "business_partners")]  # read again at once, not at the next tick
    assert SyncRun.objects.filter(kind=SyncRun.Kind.PULL).count() == 1  # the skipped tick read nothing
    tasks.connection_pull_task(flow.connection_id, "business_partners")
    assert len(sent) == 1  # nobody asked meanwhile: the next pull ends there


@pytest.mark.django_db(transaction=True)
def test_a_stock_pull_skipped_while_its_items_are_read_runs_when_that_read_ends(redis_url, settings, monkeypatch):
    """Items and their stock share one pull lock: the pull that ends runs the one it made wait, not itself."""
    settings.REDIS_URL = redis_url
    flow = FlowFactory()
    sent: list[tuple] = []
    monkeypatch.setattr(tasks.connection_pull_task, "delay", lambda *args: sent.append(args))

    def tick(entity: str) -> None:
        try:
            tasks.connection_pull_task(flow.connection_id, entity)
        finally:
            db.close()

    sources = iter([TickedWhileReading(tick, [], ticked="item_stock"), FakeSource([])])
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: next(sources))

    tasks.connection_pull_task(flow.connection_id, "items")

    assert sent == [(flow.connection_id, "item_stock")]


def _rows_read(plan: dict, table: str) -> float:
    """Rows a plan's scans of `table` looked at (kept or filtered out), over all their loops."""
    own = 0.0
    if plan.get("Relation Name") == table:
        own = (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", []))


@pytest.mark.django_db
def test_asking_which_flows_have_work_reads_a_row_a_flow_not_every_pending_row(postgres_only):
    """Asked at every wake: with a backfill's rows waiting, a DISTINCT over the pending rows
    read all of them (0.35 s at 176,000 in the twentieth session's peak, where these
    statements kept a seventh of a PostgreSQL backend busy)."""
    from datetime import timedelta

    from django.utils import timezone

    from syncapp.outbox import flows_with_ready_work

    backfill, urgent, backing_off, idle = FlowFactory(), FlowFactory(), FlowFactory(), FlowFactory()
    OutboxItem.objects.bulk_create([OutboxItem(flow=backfill, record_key=f"C{n}", status="pending", priority=90,
                                               payload={}) for n in range(3000)])
    OutboxItem.objects.create(flow=urgent, record_key="O1", status="pending", priority=0, payload={})
    OutboxItem.objects.create(flow=backing_off, record_key="O2", status="pending", priority=0, payload={},
                              not_before=timezone.now() + timedelta(hours=1))
    with db.cursor() as cursor:
        cursor.execute("ANALYZE syncapp_outboxitem")  # as autovacuum leaves a table this size
    flows = [backfill, urgent, backing_off, idle]
    statements = []

    def recorded(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with db.execute_wrapper(recorded):
        assert flows_with_ready_work(flows) == sorted([backfill.pk, urgent.pk])
        assert flows_with_ready_work(flows, time_sensitive=True) == [urgent.pk]
    for sql, params in statements:
        with db.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0][0]["Plan"]
        assert _rows_read(plan, "syncapp_outboxitem") <= 2 * len(flows)
