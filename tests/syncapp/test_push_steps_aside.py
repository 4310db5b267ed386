"""A push that would wait long for its destination's shared allowance gives its worker's
process back (issue 12, part 3): in a peak run, backfill imports waited 14 s on average (up to
96 s) for dotdigital's allowance, each holding a process, while a dispatch's push waited
6.1 s (p50) / 10.0 s (p95) for a free one after its pull had planned it."""
from __future__ import annotations

import pytest
import redis

from syncapp import tasks
from syncapp.models import OutboxItem, Priority, SyncRun
from syncapp.ratelimit import AllowanceBusy, RedisTokenBucket, calls_for, may_step_aside
from tests.syncapp.fakes import FakeDestination


class _Asked(Exception):
    """Raised by a test's sleep: the caller chose to wait."""


def _stop_at_first_wait(seconds):
    raise _Asked(seconds)


class _Clockless:
    """A sleep that records and returns at once (Redis's clock does not move with it)."""

    def __init__(self):
        self.slept: list[float] = []

    def __call__(self, seconds):
        self.slept.append(seconds)


def _bucket(redis_url, name: str, **kwargs) -> RedisTokenBucket:
    client = redis.Redis.from_url(redis_url)
    key = f"test:bucket:aside:{name}"
    client.delete(key, f"{key}:calls", f"{key}:waiting:0", f"{key}:waiting:1")
    return RedisTokenBucket(client, key, 60, burst=1, **kwargs)  # one a second


def test_a_backfill_call_behind_a_waiting_time_sensitive_one_steps_aside_and_takes_nothing(redis_url):
    bucket = _bucket(redis_url, "behind")
    bucket.acquire()  # the burst is spent
    urgent = RedisTokenBucket(bucket.client, bucket.key, 60, burst=1, sleep=_stop_at_first_wait)
    with calls_for(Priority.URGENT), pytest.raises(_Asked):
        urgent.acquire()  # listed as waiting for the next token
    sleep = _Clockless()
    later = RedisTokenBucket(bucket.client, bucket.key, 60, burst=1, sleep=sleep)
    with calls_for(Priority.BACKFILL), may_step_aside(0.5), pytest.raises(AllowanceBusy) as busy:
        later.acquire()
    assert sum(sleep.slept) <= 0.5 < sum(sleep.slept) + 0.1  # it polled up to what it agreed to, then left
    assert busy.value.seconds >= 5.0  # not back within a few polls
    with calls_for(Priority.URGENT):
        bucket.acquire()  # the token the backfill call waited for is still there


def test_a_time_sensitive_call_never_steps_aside(redis_url):
    bucket = _bucket(redis_url, "urgent")
    bucket.defer(1.0)  # the allowance is spent for a second
    with calls_for(Priority.URGENT), may_step_aside(0.1):
        bucket.acquire()  # waits it out


def test_once_a_batch_has_a_token_its_later_calls_wait_rather_than_leave_it_half_sent(redis_url):
    bucket = _bucket(redis_url, "half")
    with calls_for(Priority.BACKFILL), may_step_aside(0.1):
        bucket.acquire()  # the batch's first call goes
        bucket.defer(30.0)  # and spends the allowance
        waiting = RedisTokenBucket(bucket.client, bucket.key, 60, burst=1, sleep=_stop_at_first_wait)
        with pytest.raises(_Asked):
            waiting.acquire()  # the import's status read waits for its turn


def test_a_routine_call_stepping_aside_is_no_longer_listed_as_waiting(redis_url):
    bucket = _bucket(redis_url, "unlisted", sleep=_Clockless())
    bucket.defer(30.0)
    with calls_for(Priority.ROUTINE), may_step_aside(1.0), pytest.raises(AllowanceBusy) as busy:
        bucket.acquire()
    assert 25 < busy.value.seconds <= 30  # back when the allowance is
    # Still listed, it would keep every backfill call from its turn until the listing lapsed.
    assert bucket.client.zcard(f"{bucket.key}:waiting:1") == 0


# ---------------------------------------------------------------- the push and its task


class _Paced:
    """A destination whose every call waits on a shared (Redis) allowance."""

    limits = FakeDestination.limits

    def __init__(self, bucket: RedisTokenBucket):
        self.bucket, self.calls, self.pushed = bucket, 0, []

    def ensure_fields(self, entity, specs):
        return []

    def push(self, entity, items):
        from syncapp.adapters import PushResult

        self.bucket.acquire()
        self.calls += 1
        self.pushed.append([item.key for item in items])
        return [PushResult(key=item.key, outcome="accepted", remote_id=f"id-{item.key}") for item in items]


@pytest.fixture
def paced(redis_url, settings, monkeypatch, flow):
    settings.REDIS_URL = redis_url
    adapter = _Paced(_bucket(redis_url, "push", sleep=_Clockless()))
    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: adapter)
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: adapter)
    return adapter


@pytest.fixture
def enqueued(monkeypatch):
    """What the tasks hand the broker: (task name, args, countdown, message priority)."""
    sent = []

    def enqueue(task, *args, countdown=None, priority=None):
        sent.append((task.name, args, countdown, priority))
        return True

    monkeypatch.setattr(tasks, "task_enqueue", enqueue)
    return sent


def _row(flow, key, priority):
    return OutboxItem.objects.create(flow=flow, record_key=key, status="pending", payload={"k": key},
                                     priority=priority)


def test_a_backfill_push_waiting_long_for_the_allowance_gives_its_rows_and_process_back(flow, paced, enqueued):
    paced.bucket.defer(40.0)  # dotdigital's minute is spent by other flows' calls
    _row(flow, "B1", Priority.BACKFILL)
    _row(flow, "B2", Priority.BACKFILL)

    tasks.flow_push_task(flow.pk)  # returns at once instead of holding the process for 40 s

    assert paced.calls == 0
    assert set(OutboxItem.objects.filter(flow=flow).values_list("status", "attempts", "claim_token")) == {
        ("pending", 0, "")}  # untouched: no attempt counted, nothing claimed
    [(name, args, countdown, _)] = enqueued
    assert name == "syncapp.flow_push_task" and args == (flow.pk, tasks.PUSH_TASK_MAX_BATCHES, "schedule", None, True)
    assert 35 < countdown <= 40  # back when the allowance is
    run = SyncRun.objects.get(flow=flow)
    assert run.status == "succeeded" and run.api_calls == 0 and run.error == ""


def test_while_it_is_due_back_only_a_wake_for_time_sensitive_rows_queues_another(flow, paced, enqueued):
    paced.bucket.defer(40.0)
    _row(flow, "B1", Priority.BACKFILL)
    tasks.flow_push_task(flow.pk)
    tasks.outbox_sweep_task()  # the minute's sweep, a pull's wake: the task coming back will send it
    tasks.pushers_wake([flow])
    assert [args for name, args, _, _ in enqueued if name == "syncapp.flow_push_task"] == [
        (flow.pk, tasks.PUSH_TASK_MAX_BATCHES, "schedule", None, True)]

    _row(flow, "D1", Priority.URGENT)  # a dispatch is planned
    tasks.pushers_wake([flow])
    assert enqueued[-1][1:] == ((flow.pk,), None, tasks.URGENT_PUSH_PRIORITY)


def test_a_time_sensitive_batch_waits_for_the_allowance_and_goes(flow, paced, enqueued):
    paced.bucket.defer(40.0)
    slept = []

    def wait_it_out(seconds):  # the allowance is back once waited for
        slept.append(seconds)
        paced.bucket.client.delete(paced.bucket.key)

    paced.bucket.sleep = wait_it_out
    _row(flow, "D1", Priority.URGENT)
    _row(flow, "B1", Priority.BACKFILL)
    tasks.flow_push_task(flow.pk)
    assert paced.pushed[0] == ["D1", "B1"]  # the batch carries a dispatch: it waited its turn
    assert len(slept) == 1 and slept[0] > 35
    coming_back = [args for name, args, countdown, _ in enqueued if name == "syncapp.flow_push_task" and countdown]
    assert coming_back == []


def test_the_task_that_comes_back_sends_and_lets_routine_wakes_queue_again(flow, paced, enqueued):
    paced.bucket.defer(40.0)
    _row(flow, "B1", Priority.BACKFILL)
    tasks.flow_push_task(flow.pk)
    [(_, args, _, _)] = enqueued
    paced.bucket.client.delete(paced.bucket.key)  # the allowance is back
    tasks.flow_push_task(*args)
    assert paced.pushed == [["B1"]]
    assert OutboxItem.objects.get(flow=flow).status == "accepted"
    _row(flow, "B2", Priority.BACKFILL)
    tasks.pushers_wake([flow])
    assert enqueued[-1][1:] == ((flow.pk,), None, None)


def test_without_the_shared_allowance_a_push_waits_as_before(flow, settings, monkeypatch, enqueued):
    """The embedded defaults' bucket reserves a caller's tokens before it waits: nobody steps aside."""
    from syncapp.ratelimit import LocalTokenBucket

    settings.REDIS_URL = ""
    clock, slept = [1000.0], []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    bucket = LocalTokenBucket(60, burst=1, clock=lambda: clock[0], sleep=sleep)
    bucket.defer(40.0)
    adapter = _Paced(bucket)
    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: adapter)
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: adapter)
    _row(flow, "B1", Priority.BACKFILL)
    tasks.flow_push_task(flow.pk)
    assert adapter.pushed == [["B1"]] and slept and slept[0] > 35
    assert not [name for name, *_ in enqueued if name == "syncapp.flow_push_task"]
