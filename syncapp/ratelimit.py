"""Token buckets: one per destination account, shared by every worker.

With REDIS_URL set the bucket lives in Redis (an atomic Lua script), so all workers on
all machines draw from one allowance. On the embedded defaults it is in-process.
`defer()` is how a 429 from the vendor pauses everybody, not just the caller.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings

from .adapters import HubFault

_REDIS_TAKE = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])        -- tokens per second
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local state = redis.call('HMGET', key, 'tokens', 'ts', 'blocked_until')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
local blocked_until = tonumber(state[3]) or 0
if now < blocked_until then
  return tostring(blocked_until - now)
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', key, 3600)
return tostring(wait)
"""

_REDIS_DEFER = """
local key = KEYS[1]
local until_ts = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', key, 'blocked_until')) or 0
if until_ts > current then
  redis.call('HSET', key, 'blocked_until', until_ts, 'tokens', 0, 'ts', until_ts)
  redis.call('EXPIRE', key, 3600)
end
return 1
"""


class LocalTokenBucket:
    """In-process bucket for the embedded defaults (one worker process)."""

    def __init__(
        self,
        calls_per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = calls_per_minute / 60.0
        self.capacity = float(burst or max(1, min(calls_per_minute, 10)))
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.stamp = clock()
        self.blocked_until = 0.0
        self._lock = threading.Lock()

    def _take(self, cost: int) -> float:
        with self._lock:
            now = self.clock()
            if now < self.blocked_until:
                return self.blocked_until - now
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= cost:
                self.tokens -= cost
                return 0.0
            # Reserve the tokens now so concurrent callers queue behind us fairly.
            wait = (cost - self.tokens) / self.rate
            self.tokens -= cost
            return wait

    def acquire(self, cost: int = 1) -> None:
        wait = self._take(cost)
        if wait > 0:
            self.sleep(wait)

    def defer(self, seconds: float) -> None:
        with self._lock:
            self.blocked_until = max(self.blocked_until, self.clock() + seconds)
            self.tokens = 0.0
            self.stamp = self.blocked_until


class RedisTokenBucket:
    """Bucket in Redis shared by every worker; the clock is Redis's own `TIME`."""

    def __init__(self, client, key: str, calls_per_minute: int, *, burst: int | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client, self.key = client, key
        self.rate = calls_per_minute / 60.0
        self.capacity = burst or max(1, min(calls_per_minute, 10))
        self.sleep = sleep
        self._take = client.register_script(_REDIS_TAKE)
        self._defer = client.register_script(_REDIS_DEFER)

    def _now(self) -> float:
        seconds, micros = self.client.time()
        return seconds + micros / 1_000_000

    def acquire(self, cost: int = 1) -> None:
        while True:
            with _hub_fault_on_redis_error():
                wait = float(self._take(keys=[self.key], args=[self.rate, self.capacity, cost, self._now()]))
            if wait <= 0:
                return
            self.sleep(wait)

    def defer(self, seconds: float) -> None:
        with _hub_fault_on_redis_error():
            self._defer(keys=[self.key], args=[self._now() + seconds])


@contextmanager
def _hub_fault_on_redis_error() -> Iterator[None]:
    """Redis away is the hub's own fault: the caller must not blame the destination."""
    import redis

    try:
        yield
    except redis.RedisError as error:
        raise HubFault(f"The hub's rate limiter (Redis) is unreachable: {error}") from error


_local_buckets: dict[str, LocalTokenBucket] = {}
_local_lock = threading.Lock()


def redis_client():
    import redis

    # Fail fast when Redis is away, so the fault shows at once instead of hanging a worker.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5, socket_timeout=10)


def throttle_for(account, calls_per_minute: int, *, burst: int | None = None):
    """The bucket for one destination account at `calls_per_minute`, letting at most
    `burst` calls through back to back (default: min(rate per minute, 10))."""
    key = f"sync:throttle:{account.kind}:{account.name}"
    if settings.REDIS_URL:
        return RedisTokenBucket(redis_client(), key, calls_per_minute, burst=burst)
    with _local_lock:
        bucket = _local_buckets.get(key)
        if bucket is None or bucket.rate != calls_per_minute / 60.0 or (burst and bucket.capacity != burst):
            bucket = _local_buckets[key] = LocalTokenBucket(calls_per_minute, burst=burst)
        return bucket
