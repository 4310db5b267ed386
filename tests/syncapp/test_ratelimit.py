"""Token buckets: shared through Redis by every worker; in-process on embedded defaults."""
import itertools
import threading
import time

import pytest
import redis
from django.utils import timezone

from syncapp.ratelimit import LocalTokenBucket, RedisTokenBucket


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_local_bucket_paces_calls_at_the_rate():
    clock = FakeClock()
    bucket = LocalTokenBucket(60, burst=1, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    assert clock.now - 1000.0 == pytest.approx(4.0)  # one a second after the first


def test_a_deferral_stops_every_caller_until_it_ends():
    clock = FakeClock()
    bucket = LocalTokenBucket(600, clock=clock, sleep=clock.sleep)
    bucket.defer(30)
    bucket.acquire()
    assert clock.now >= 1030.0


def test_the_redis_bucket_is_shared_by_all_workers(redis_url):
    """Two workers (two clients) together get no more than the account's rate."""
    rate_per_minute = 600  # 10 a second, burst 10
    key = "test:bucket:shared"
    granted = []

    def worker():
        bucket = RedisTokenBucket(redis.Redis.from_url(redis_url), key, rate_per_minute, burst=10)
        for _ in range(15):
            bucket.acquire()
            granted.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # 30 tokens: 10 from the burst, 20 more at 10/s = at least ~2 seconds in total.
    assert len(granted) == 30
    assert elapsed >= 1.8


def test_a_redis_deferral_pauses_other_workers(redis_url):
    key = "test:bucket:deferred"
    first = RedisTokenBucket(redis.Redis.from_url(redis_url), key, 6000)
    second = RedisTokenBucket(redis.Redis.from_url(redis_url), key, 6000)
    first.defer(1.0)
    started = time.monotonic()
    second.acquire()
    assert time.monotonic() - started >= 0.9


def test_a_per_second_vendor_limit_gets_a_bucket_that_never_bursts_past_it(settings):
    """Ometria counts 4 requests a second: a burst of 10 would be refused with 429s."""
    from types import SimpleNamespace

    from syncapp.ratelimit import throttle_for

    settings.REDIS_URL = ""
    account = SimpleNamespace(kind="persecond", name="bucket-test")
    bucket = throttle_for(account, 240, burst=4)
    assert bucket.capacity == 4 and bucket.rate == pytest.approx(4.0)
    clock = FakeClock()
    bucket.clock, bucket.sleep, bucket.stamp = clock, clock.sleep, clock.now
    for _ in range(12):
        bucket.acquire()
    assert clock.now - 1000.0 == pytest.approx(2.0)  # 4 at once, then 4 a second
    other = SimpleNamespace(kind="perminute", name="bucket-test")
    assert throttle_for(other, 240).capacity == 1  # a per-minute vendor: evenly spaced (the next test)


class _Asked(Exception):
    """Raised by a test's sleep: the caller was told to wait."""


def _stop_at_first_wait(seconds):
    raise _Asked(seconds)


@pytest.mark.parametrize("later_class", ["routine", "backfill"])
def test_a_less_urgent_call_takes_no_token_while_a_time_sensitive_one_waits(redis_url, later_class):
    """Issue 12: new orders of one flow must not wait behind another flow's backfill batches
    drawing on the same account's allowance."""
    from syncapp.models import Priority
    from syncapp.ratelimit import calls_for

    client = redis.Redis.from_url(redis_url)
    key = f"test:bucket:classes:{later_class}"
    client.delete(key, f"{key}:waiting:0", f"{key}:waiting:1")
    bucket = RedisTokenBucket(client, key, 60, burst=1)  # one a second
    bucket.acquire()  # the burst is spent
    urgent = RedisTokenBucket(client, key, 60, burst=1, sleep=_stop_at_first_wait)
    with calls_for(Priority.URGENT), pytest.raises(_Asked):
        urgent.acquire()  # told to wait for the next token: it is now listed as waiting
    time.sleep(1.1)  # the next token is there
    later = RedisTokenBucket(client, key, 60, burst=1, sleep=_stop_at_first_wait)
    with calls_for(Priority.ROUTINE if later_class == "routine" else Priority.BACKFILL), pytest.raises(_Asked):
        later.acquire()  # the token is there, but someone more urgent waits for it
    started = time.monotonic()
    with calls_for(Priority.URGENT):
        bucket.acquire()
    assert time.monotonic() - started < 0.5  # the waiting time-sensitive call gets it at once


def test_a_routine_call_goes_when_no_time_sensitive_one_waits_and_a_dead_waiter_drops_out(redis_url):
    from syncapp.models import Priority
    from syncapp.ratelimit import calls_for

    client = redis.Redis.from_url(redis_url)
    key = "test:bucket:classes:dead"
    client.delete(key, f"{key}:waiting:0", f"{key}:waiting:1")
    bucket = RedisTokenBucket(client, key, 600, burst=1)  # ten a second
    bucket.acquire()
    with calls_for(Priority.URGENT), pytest.raises(_Asked):
        RedisTokenBucket(client, key, 600, burst=1, sleep=_stop_at_first_wait).acquire()  # then it dies
    started = time.monotonic()
    with calls_for(Priority.BACKFILL):
        bucket.acquire()
    assert time.monotonic() - started < 2.5  # its listing ran out a second after it would have asked again


@pytest.mark.django_db
def test_a_push_batch_draws_on_the_allowance_as_its_most_urgent_record():
    from syncapp.models import Priority
    from syncapp.outbox import PlannedRecord, outbox_enqueue
    from syncapp.pushing import flow_push_batch
    from syncapp.ratelimit import BULK, TIME_SENSITIVE, current_call_class
    from tests.factories import FlowFactory
    from tests.syncapp.fakes import FakeDestination

    class Recording(FakeDestination):
        def push(self, entity, items):
            classes.append(current_call_class())
            return super().push(entity, items)

    classes: list[int] = []
    flow, adapter = FlowFactory(), Recording(batch_size=2)
    record = lambda key: PlannedRecord(key=key, identifier=f"{key}@example.com", payload={"k": key})  # noqa: E731
    outbox_enqueue(flow=flow, records=[record("B1"), record("B2")], priority=Priority.BACKFILL)
    outbox_enqueue(flow=flow, records=[record("N1")], priority=Priority.URGENT)
    flow_push_batch(flow=flow, adapter=adapter)  # N1 and one backfill row: time-sensitive
    flow_push_batch(flow=flow, adapter=adapter)  # the last backfill row
    assert classes == [TIME_SENSITIVE, BULK]


@pytest.mark.django_db
def test_a_confirm_asks_the_destination_as_its_most_urgent_record():
    """Issue 12: the verdict of new orders (dotdigital's import status) was asked for as routine
    work, so it waited for the allowance behind routine calls while new orders waited for it."""
    from syncapp.models import OutboxItem, OutboxStatus, Priority
    from syncapp.outbox import PlannedRecord, outbox_enqueue
    from syncapp.pushing import flow_confirm
    from syncapp.ratelimit import BULK, TIME_SENSITIVE, current_call_class
    from tests.factories import FlowFactory
    from tests.syncapp.test_confirm_later import ValidatesLater

    class Recording(ValidatesLater):
        def confirm(self, entity, items):
            classes.append(current_call_class())
            return super().confirm(entity, items)

    classes: list[int] = []
    flow = FlowFactory()
    record = lambda key: PlannedRecord(key=key, identifier=f"{key}@example.com", payload={"k": key})  # noqa: E731
    outbox_enqueue(flow=flow, records=[record("B1")], priority=Priority.BACKFILL)
    outbox_enqueue(flow=flow, records=[record("N1")], priority=Priority.URGENT)
    OutboxItem.objects.filter(flow=flow).update(status=OutboxStatus.SUBMITTED, receipt="req-1",
                                                submitted_at=timezone.now())
    flow_confirm(flow=flow, adapter=Recording())  # a new order among the rows: time-sensitive
    OutboxItem.objects.filter(flow=flow, record_key="N1").update(status=OutboxStatus.ACCEPTED)
    flow_confirm(flow=flow, adapter=Recording())  # only the backfill row is left
    assert classes == [TIME_SENSITIVE, BULK]


def _most_in_any(window: float, starts: list[float]) -> int:
    return max(sum(1 for other in starts if start <= other < start + window) for start in starts)


def test_a_per_minute_vendor_gets_no_more_than_its_rate_in_any_60_seconds_and_still_its_rate(settings):
    """dotdigital's Low tier is "35 calls per minute", without saying whether its minute is the
    clock's or any 60 s: the burst on top of the rate let 45 calls into one 60 s span."""
    from types import SimpleNamespace

    from syncapp.ratelimit import throttle_for, throttled_call

    settings.REDIS_URL = ""
    bucket = throttle_for(SimpleNamespace(kind="perminute", name="window-test"), 35)
    clock = FakeClock()
    bucket.clock, bucket.sleep, bucket.stamp = clock, clock.sleep, clock.now
    starts = []
    for _ in range(150):
        with throttled_call(bucket, tells_allowance=True):
            starts.append(clock.now)
            clock.now += 0.3  # the call's round trip: it counts until its answer
    assert _most_in_any(60.0, starts) == 35
    assert clock.now - 1000.0 < 150 / 35 * 60  # and the pace is still 35 a minute
    # Evenly spaced: a burst would fill the window early, and the calls behind it would stall.
    assert max(later - earlier for earlier, later in itertools.pairwise(starts)) < 2.5


def test_the_shared_bucket_keeps_a_minute_long_arrival_window_for_a_per_minute_vendor(redis_url, settings):
    from types import SimpleNamespace

    from syncapp.ratelimit import throttle_for

    client = redis.Redis.from_url(redis_url)
    key = "test:bucket:minute-window"
    client.delete(key, f"{key}:calls")
    settings.REDIS_URL = redis_url
    per_minute = throttle_for(SimpleNamespace(kind="perminute", name="shared-window"), 35)
    per_second = throttle_for(SimpleNamespace(kind="persecond", name="shared-window"), 240, burst=4)
    assert (per_minute.window_calls, per_minute.window_seconds) == (35, 60.0)
    assert (per_second.window_calls, per_second.window_seconds) == (4, 1.0)
    # Scaled down so the test is quick: five calls a minute, tokens plentiful.
    bucket = RedisTokenBucket(client, key, 6000, burst=50, window_calls=5, window_seconds=60.0,
                              sleep=_stop_at_first_wait)
    for _ in range(5):
        bucket.acquire()
    with pytest.raises(_Asked) as asked:
        bucket.acquire()  # the sixth waits until the first call is a minute old
    assert 58.0 < float(asked.value.args[0]) <= 60.0


def test_a_minutes_time_sensitive_calls_take_the_calls_kept_for_them_back_to_back(redis_url, settings):
    """Found by the twenty-second session's peak runs: a minute's new orders and dispatches to
    dotdigital (about ten calls with their status reads) left 1.7 s apart, one token each, and a
    dispatch push waited 20 s behind the new orders' calls while the minute before had calls to
    spare. Five of dotdigital's 35 are now kept for them, and they may take those at once."""
    from types import SimpleNamespace

    from syncapp.models import Priority
    from syncapp.ratelimit import calls_for, throttle_for

    settings.REDIS_URL = redis_url
    client = redis.Redis.from_url(redis_url)
    key = "sync:throttle:perminute:kept-for-urgent"
    client.delete(key, f"{key}:calls", f"{key}:waiting:0", f"{key}:waiting:1")
    bucket = throttle_for(SimpleNamespace(kind="perminute", name="kept-for-urgent"), 35)
    bucket.sleep = _stop_at_first_wait
    with calls_for(Priority.ROUTINE):
        bucket.acquire()  # a routine call takes the one token that is not kept
        with pytest.raises(_Asked) as asked:
            bucket.acquire()  # the next waits for a token of its own, 1.7 s
    assert 1.0 < float(asked.value.args[0]) <= 60 / 35
    with calls_for(Priority.URGENT):
        for _ in range(5):
            bucket.acquire()  # back to back: none is told to wait
        with pytest.raises(_Asked):
            bucket.acquire()  # the sixth waits for the next token


def test_routine_and_backfill_calls_leave_the_kept_calls_of_any_window_to_time_sensitive_ones(redis_url):
    from syncapp.models import Priority
    from syncapp.ratelimit import calls_for

    client = redis.Redis.from_url(redis_url)
    key = "test:bucket:kept-window"
    client.delete(key, f"{key}:calls", f"{key}:waiting:0", f"{key}:waiting:1")
    # Scaled down so the test is quick: five calls a minute, two kept, tokens plentiful.
    bucket = RedisTokenBucket(client, key, 6000, burst=50, window_calls=5, window_seconds=60.0,
                              kept_for_time_sensitive=2, sleep=_stop_at_first_wait)
    with calls_for(Priority.BACKFILL):
        for _ in range(3):
            bucket.acquire()
        with pytest.raises(_Asked) as asked:
            bucket.acquire()  # the window's other two places are kept
    assert 58.0 < float(asked.value.args[0]) <= 60.0  # until the first call is a minute old
    with calls_for(Priority.ROUTINE), pytest.raises(_Asked):
        bucket.acquire()
    with calls_for(Priority.URGENT):
        bucket.acquire()
        bucket.acquire()
        with pytest.raises(_Asked) as asked:
            bucket.acquire()  # the vendor's five are spent, for everybody
    assert 58.0 < float(asked.value.args[0]) <= 60.0
