"""Token buckets: shared through Redis by every worker; in-process on embedded defaults."""
import threading
import time

import pytest
import redis

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
    assert throttle_for(other, 240).capacity == 10  # without a burst, the default
