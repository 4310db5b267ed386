"""Token buckets: one per destination account, shared by every worker.

With REDIS_URL set the bucket lives in Redis (an atomic Lua script on Redis's own
clock), so all workers on all machines draw from one allowance. On the embedded
defaults it is in-process. `defer()` is how a 429, or a rate header saying the
allowance is spent, pauses everybody, not just the caller.

A vendor that counts calls per second by their arrival (Ometria: 4 a second) also gets
an arrival window: a call starts only while fewer than `window_calls` calls are still in
flight or were answered within the last second. A call cannot arrive after its answer,
nor the next one before it starts, so however late the network delivers one call and
however early the next, the vendor never sees more than `window_calls` in a second.
Evenly spaced tokens alone (burst 1) cannot promise that: a call held up 100 ms on the
way and one sent a second later on a quick path land in the same second. The price is
one round trip per `window_calls` calls. Clients take part through `throttled_call()`,
which tells the bucket when the answer is back.

A vendor that counts per minute (dotdigital: 35 calls a minute, without saying whether its
minute is the clock's or any 60 seconds) keeps the same window over 60 seconds: at most its
rate in any 60 s, whichever way it counts (a burst of 10 on top of the rate let up to 45
calls into 60 s). Its calls are evenly spaced (burst 1): a burst would fill the window early
and then stall the calls behind it. In the shared bucket, routine and backfill calls leave a
few of those calls to time-sensitive ones (`kept_for_time_sensitive`: 5 of dotdigital's 35
in any 60 s, and as many tokens), and these may take them back to back. A minute's new
orders and dispatches, planned within seconds of each other, otherwise left one by one,
1.7 s apart: a dispatch waited up to 20 s behind the new orders' imports and status reads
while the minute before had calls to spare. Whatever is kept and not used is lost to the
routine calls, at most 5 a minute.

Calls of one account are not equal: a batch of new orders must not wait behind a backfill's
batch of another flow drawing on the same allowance. The shared (Redis) bucket knows three
classes, time-sensitive, routine and backfill (`calls_for(priority)`, set by the push around
each batch). A caller waiting for a token is listed under its class, and a caller of a
less urgent class takes nothing while anyone more urgent waits: the rate goes to the most
urgent work first, and the rest gets what is left.

A vendor that says in each answer how many calls are left of its current window
(dotdigital's X-RateLimit-Remaining / -Reset) is also paced by that: the client reports
each answer's figures (`throttled_call(..., tells_allowance=True)`), and a call starts
only while the lowest figure told for the window is more than the calls still on their
way. A worker's call that would spend the last of the minute while another's is still out
waits instead, so the vendor is never asked once too often, however many workers share
the account. An answer told late (a slow worker) can only lower the figure, and one from
a window already over is ignored.

A worker's process is worth more than its place in the queue: a push of routine or backfill
records that would wait long for the shared allowance may step aside (`may_step_aside`):
`AllowanceBusy` is raised before anything is taken, and the push gives its rows and its
process back to come again later. Time-sensitive calls, and any call after the first of a
batch (a batch half-sent must finish), wait as before.
"""
from __future__ import annotations

import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .adapters import HubFault

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 1.0
# How long a call in flight holds its place in the window when its answer is never
# reported (a worker died mid-call): longer than any per-second vendor's call timeout
# (Ometria's client waits 30 s).
CALL_LEASE_SECONDS = 60.0
# While the window is full of calls still in flight, ask again this often: their
# answers, not a known time, free the next place.
WINDOW_POLL_SECONDS = 0.02
# Answers' Reset comes in whole seconds, told up to a few seconds late: an answer whose
# window ends within this much of the known one is about the same window.
SAME_WINDOW_SLACK_SECONDS = 5.0

# Call classes, most urgent first (see the module docstring).
TIME_SENSITIVE, ROUTINE, BULK = 0, 1, 2
_call_class: contextvars.ContextVar[int] = contextvars.ContextVar("sync_call_class", default=ROUTINE)
# A caller of a less urgent class asks again this often while someone more urgent waits.
YIELD_POLL_SECONDS = 0.1


# A push that may step aside does so once its first call would have waited this long in all
# (dotdigital's 35 calls a minute space tokens 1.7 s apart), and comes back no sooner than this.
STEP_ASIDE_AFTER_SECONDS = 3.0
STEP_ASIDE_RETRY_SECONDS = 5.0


class AllowanceBusy(Exception):
    """The shared allowance is taken by more urgent work, or spent for a while: nothing was
    taken, and the caller, which agreed to step aside, should come back in `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"The destination's allowance is busy; back in {seconds:.1f} s")
        self.seconds = seconds


@dataclass
class _StepAside:
    after: float
    waited: float = 0.0
    open: bool = True  # until the first call has its token
    page: bool = False  # a person waits (waits_at_most): any class, either bucket


_step_aside: contextvars.ContextVar[_StepAside | None] = contextvars.ContextVar("sync_step_aside", default=None)


@contextmanager
def may_step_aside(after_seconds: float = STEP_ASIDE_AFTER_SECONDS) -> Iterator[None]:
    """Inside, a call that is not time-sensitive and would wait more than `after_seconds` in
    all before its token raises AllowanceBusy instead, as long as no call inside has had its
    token yet (see the module docstring)."""
    token = _step_aside.set(_StepAside(after=after_seconds))
    try:
        yield
    finally:
        _step_aside.reset(token)


@contextmanager
def waits_at_most(seconds: float) -> Iterator[None]:
    """For a call a person waits on (a page): inside, a call that would wait more than
    `seconds` in all before its token raises AllowanceBusy instead, whatever its class and
    on either bucket, as long as nothing is reserved for it yet. The page says the
    allowance is busy; it does not hang behind a pause the pushes earned."""
    token = _step_aside.set(_StepAside(after=seconds, page=True))
    try:
        yield
    finally:
        _step_aside.reset(token)


def allowance_wait(seconds: float, sleep: Callable[[float], None], *, in_process: bool = False) -> None:
    """Wait `seconds` for the allowance, or step aside (AllowanceBusy) where agreed to. On
    the in-process bucket (`in_process`) only a page steps aside: a push there waits as
    it always has (LocalTokenBucket)."""
    state = _step_aside.get()
    agreed = state is not None and (state.page or (not in_process and current_call_class() != TIME_SENSITIVE))
    if agreed and state.open:
        if state.waited + seconds > state.after:
            raise AllowanceBusy(max(seconds, STEP_ASIDE_RETRY_SECONDS))
        state.waited += seconds
    sleep(seconds)


def _token_taken() -> None:
    state = _step_aside.get()
    if state is not None:
        state.open = False


@contextmanager
def calls_for(priority: int) -> Iterator[None]:
    """The calls made inside carry records of this outbox priority (syncapp.models.Priority)."""
    from .models import Priority

    token = _call_class.set(TIME_SENSITIVE if priority < Priority.ROUTINE
                            else ROUTINE if priority < Priority.BACKFILL else BULK)
    try:
        yield
    finally:
        _call_class.reset(token)


def current_call_class() -> int:
    return _call_class.get()


_REDIS_TAKE = """
local key, calls = KEYS[1], KEYS[2]
local class, waiter, yield_poll = tonumber(ARGV[10]), ARGV[11], tonumber(ARGV[12])
local rate = tonumber(ARGV[1])        -- tokens per second
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local window_calls = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local lease = tonumber(ARGV[6])
local ticket = ARGV[7]
local poll = tonumber(ARGV[8])
local held = tonumber(ARGV[9])       -- 1: the call counts until its answer is noted
-- Places of the window (and tokens) only time-sensitive callers may use (module docstring).
-- Not of what the vendor tells is left: a vendor whose limit is below the configured rate
-- would then leave routine calls one a minute.
local kept = tonumber(ARGV[13])
local reserve = class > 0 and kept or 0
-- Redis's clock, read here: a time sent by the caller is stale by a round trip, and an
-- older stamp written after a newer one would hand out the gap again.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
-- A more urgent class waiting: take nothing, ask again shortly.
for c = 0, class - 1 do
  local waiting = KEYS[3 + c]
  redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
  if redis.call('ZCARD', waiting) > 0 then
    return tostring(yield_poll)
  end
end
local function waits(seconds)
  -- Listed as waiting until a little after it will ask again (a caller that died drops out).
  if class < 2 then
    redis.call('ZADD', KEYS[3 + class], now + seconds + 1, waiter)
    redis.call('EXPIRE', KEYS[3 + class], 120)
  end
  return tostring(seconds)
end
local state = redis.call('HMGET', key, 'tokens', 'ts', 'blocked_until')
local tokens = tonumber(state[1]) or capacity + kept
local ts = tonumber(state[2]) or now
local blocked_until = tonumber(state[3]) or 0
if now < blocked_until then
  return waits(blocked_until - now)
end
local tracked = window_calls > 0 or held == 1
if tracked then
  redis.call('ZREMRANGEBYSCORE', calls, '-inf', now - window)
end
-- What the vendor told of its window, less the calls still on their way (see the docstring).
local told = redis.call('HMGET', key, 'told_left', 'told_until')
local told_left, told_until = tonumber(told[1]), tonumber(told[2]) or 0
if told_left and now < told_until then
  if told_left <= 0 then
    return waits(told_until - now)
  end
  if told_left <= redis.call('ZCOUNT', calls, '(' .. now, '+inf') then
    return waits(poll)                -- an answer on its way tells whether one is left
  end
end
if window_calls > 0 then
  local places = window_calls - reserve
  local taken = redis.call('ZCARD', calls)
  if taken >= places then
    -- The call whose leaving frees a place for this class.
    local freeing = tonumber(redis.call('ZRANGE', calls, taken - places, taken - places, 'WITHSCORES')[2])
    if freeing > now then
      return waits(poll)              -- every place is held by a call still in flight
    end
    return waits(math.max(freeing + window - now, 0.000001))
  end
end
tokens = math.min(capacity + kept, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= cost + reserve then
  tokens = tokens - cost
  if tracked then
    redis.call('ZADD', calls, now + lease * held, ticket)
    redis.call('EXPIRE', calls, math.ceil(lease + window) + 60)
  end
else
  wait = (cost + reserve - tokens) / rate
end
redis.call('HSET', key, 'tokens', tokens, 'ts', math.max(ts, now))
redis.call('EXPIRE', key, 3600)
if wait > 0 then
  return waits(wait)
end
if class < 2 then
  redis.call('ZREM', KEYS[3 + class], waiter)
end
return '0'
"""

_REDIS_ANSWERED = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if held and held > now then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
end
if ARGV[2] ~= '' then
  local left, ends, slack = tonumber(ARGV[2]), now + tonumber(ARGV[3]), tonumber(ARGV[4])
  local told = redis.call('HMGET', KEYS[2], 'told_left', 'told_until')
  local known_left, known_ends = tonumber(told[1]), tonumber(told[2])
  if not known_ends or ends > known_ends + slack then
    redis.call('HSET', KEYS[2], 'told_left', left, 'told_until', ends)
  elseif ends >= known_ends - slack then
    redis.call('HSET', KEYS[2], 'told_left', math.min(known_left, left), 'told_until', math.max(known_ends, ends))
  end
  redis.call('EXPIRE', KEYS[2], 3600)
end
return 1
"""

_REDIS_DEFER = """
local clock = redis.call('TIME')
local until_ts = tonumber(clock[1]) + tonumber(clock[2]) / 1000000 + tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked_until')) or 0
if until_ts > current then
  -- One token waits at the end of the pause; the rest come at the rate from then on.
  redis.call('HSET', KEYS[1], 'blocked_until', until_ts, 'tokens', 0, 'ts', until_ts - 1 / rate)
  redis.call('EXPIRE', KEYS[1], 3600)
end
return 1
"""


def window_calls_for(calls_per_minute: int) -> int:
    """How many calls a per-second vendor takes in one second at this rate."""
    return max(1, int(calls_per_minute // 60))


MINUTE_WINDOW_SECONDS = 60.0
# At most this many of a per-minute vendor's calls are kept for time-sensitive ones: a
# minute's new orders and dispatches to dotdigital take about ten calls (imports and their
# status reads), ready within seconds of each other once the pulls have planned them.
MOST_KEPT_FOR_TIME_SENSITIVE = 10


def kept_for_time_sensitive(calls_per_minute: int) -> int:
    """How many calls of any 60 s a per-minute vendor's routine and backfill calls leave to
    time-sensitive ones (5 of dotdigital's 35), which may also take them back to back."""
    calls = int(calls_per_minute)
    return min(MOST_KEPT_FOR_TIME_SENSITIVE, max(1, calls // 7), max(0, calls - 1))  # routine keeps one at least


def arrival_window(calls_per_minute: int, burst: int | None) -> tuple[int, float]:
    """(calls, seconds): the most calls that may arrive in any window of that length. A burst
    is given only for a vendor that counts per second; any other counts per minute."""
    if burst:
        return window_calls_for(calls_per_minute), WINDOW_SECONDS
    return max(1, int(calls_per_minute)), MINUTE_WINDOW_SECONDS


@dataclass
class CallAnswer:
    """What a vendor's answer told of its current window: calls left, seconds to its end."""

    remaining: float | None = None
    reset_in: float | None = None

    def told(self, remaining: float | None, reset_in: float | None) -> None:
        if remaining is not None and reset_in is not None:
            self.remaining, self.reset_in = remaining, reset_in


@contextmanager
def throttled_call(throttle: Any, *, tells_allowance: bool = False,
                   lease: float = CALL_LEASE_SECONDS) -> Iterator[CallAnswer]:
    """One vendor call through `throttle`: wait for a token; with an arrival window, or for a
    vendor whose answers tell what is left of its window (`tells_allowance`: report it on the
    yielded `CallAnswer`), the call keeps its place until the answer is back (the `with`
    block ends; `lease`: longer than the call's timeout). A throttle without either (or a
    test's) is only asked for the token."""
    answer = CallAnswer()
    keeps_place = getattr(throttle, "window_calls", 0) or (tells_allowance and hasattr(throttle, "answered"))
    ticket = throttle.acquire(held=True, lease=lease) if keeps_place else throttle.acquire()
    try:
        yield answer
    finally:
        if ticket is not None:
            throttle.answered(ticket, answer.remaining, answer.reset_in)


class LocalTokenBucket:
    """In-process bucket for the embedded defaults (one worker process). It reserves a
    caller's tokens before the caller waits, so no push steps aside here (`may_step_aside`).
    A page may (`waits_at_most`), from a wait with nothing reserved: a pause after a 429, or
    an allowance the vendor said is spent."""

    def __init__(
        self,
        calls_per_minute: int,
        *,
        burst: int | None = None,
        window_calls: int = 0,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = calls_per_minute / 60.0
        self.capacity = float(burst or max(1, min(calls_per_minute, 10)))
        self.window_calls, self.window_seconds = window_calls, window_seconds
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.stamp = clock()
        self.blocked_until = 0.0
        self._calls: dict[str, float] = {}  # ticket -> its answer's time (start + lease while in flight)
        self.told_left: float | None = None  # what the vendor told of its window (module docstring)
        self.told_until = 0.0
        self._lock = threading.Lock()

    def _window_wait(self, now: float) -> float:
        if len(self._calls) < self.window_calls:
            return 0.0
        first = min(self._calls.values())
        return WINDOW_POLL_SECONDS if first > now else max(first + self.window_seconds - now, 1e-6)

    def _told_wait(self, now: float) -> float:
        if self.told_left is None or now >= self.told_until:
            return 0.0
        if self.told_left <= 0:
            return self.told_until - now
        in_flight = sum(1 for answer_at in self._calls.values() if answer_at > now)
        return WINDOW_POLL_SECONDS if self.told_left <= in_flight else 0.0

    def _take(self, cost: int, ticket: str | None = None, held: bool = False,
              lease: float = CALL_LEASE_SECONDS) -> tuple[float, bool]:
        """(seconds to wait, whether the tokens are already ours once they are over)."""
        with self._lock:
            now = self.clock()
            if now < self.blocked_until:
                return self.blocked_until - now, False
            for known, answer_at in list(self._calls.items()):
                if answer_at <= now - self.window_seconds:
                    del self._calls[known]
            if (wait := self._told_wait(now)) > 0:
                return wait, False
            if self.window_calls and ticket is not None and (wait := self._window_wait(now)) > 0:
                return wait, False  # nothing reserved: ask again then
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            wait = 0.0 if self.tokens >= cost else (cost - self.tokens) / self.rate
            # Reserve the tokens now so concurrent callers queue behind us fairly; the
            # call's place in the window is taken now too (counting it early is safe).
            self.tokens -= cost
            if ticket is not None:
                self._calls[ticket] = now + wait + (lease if held else 0.0)
            return wait, True

    def acquire(self, cost: int = 1, *, held: bool = False, lease: float = CALL_LEASE_SECONDS) -> str | None:
        """Wait for `cost` tokens. With an arrival window the call counts from its start, or
        with `held` until `answered(ticket)` (the ticket is returned)."""
        ticket = uuid.uuid4().hex if self.window_calls or held else None
        while True:
            wait, reserved = self._take(cost, ticket, held, lease)
            if wait > 0 and reserved:
                self.sleep(wait)
            elif wait > 0:
                allowance_wait(wait, self.sleep, in_process=True)
            if reserved:
                _token_taken()
                return ticket if held else None

    def answered(self, ticket: str, remaining: float | None = None, reset_in: float | None = None) -> None:
        with self._lock:
            now = self.clock()
            if ticket in self._calls:
                self._calls[ticket] = min(self._calls[ticket], now)
            if remaining is None or reset_in is None:
                return
            ends = now + reset_in
            if self.told_left is None or ends > self.told_until + SAME_WINDOW_SLACK_SECONDS:
                self.told_left, self.told_until = remaining, ends
            elif ends >= self.told_until - SAME_WINDOW_SLACK_SECONDS:
                self.told_left, self.told_until = min(self.told_left, remaining), max(self.told_until, ends)

    def defer(self, seconds: float) -> None:
        with self._lock:
            self.blocked_until = max(self.blocked_until, self.clock() + seconds)
            # One token waits at the end of the pause (the vendor's allowance is back
            # then); the rest come at the rate from then on.
            self.tokens = 0.0
            self.stamp = self.blocked_until - 1 / self.rate


class RedisTokenBucket:
    """Bucket in Redis shared by every worker; the clock is Redis's own `TIME`."""

    def __init__(self, client, key: str, calls_per_minute: int, *, burst: int | None = None,
                 window_calls: int = 0, window_seconds: float = WINDOW_SECONDS, kept_for_time_sensitive: int = 0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client, self.key = client, key
        self.calls_key = f"{key}:calls"
        self.rate = calls_per_minute / 60.0
        self.capacity = burst or max(1, min(calls_per_minute, 10))
        self.window_calls, self.window_seconds = window_calls, window_seconds
        self.kept_for_time_sensitive = kept_for_time_sensitive
        self.sleep = sleep
        self._take = client.register_script(_REDIS_TAKE)
        self._answered = client.register_script(_REDIS_ANSWERED)
        self._defer = client.register_script(_REDIS_DEFER)

    def acquire(self, cost: int = 1, *, held: bool = False, lease: float = CALL_LEASE_SECONDS) -> str | None:
        """Wait for `cost` tokens, after every more urgent caller (see the module docstring).
        With an arrival window the call counts from its start, or with `held` until
        `answered(ticket)` (the ticket is returned)."""
        ticket = uuid.uuid4().hex if self.window_calls or held else ""
        call_class, waiter = current_call_class(), uuid.uuid4().hex
        args = [self.rate, self.capacity, cost, self.window_calls, self.window_seconds, lease, ticket,
                WINDOW_POLL_SECONDS, int(held), call_class, waiter, YIELD_POLL_SECONDS, self.kept_for_time_sensitive]
        keys = [self.key, self.calls_key, f"{self.key}:waiting:0", f"{self.key}:waiting:1"]
        while True:
            with _hub_fault_on_redis_error():
                wait = float(self._take(keys=keys, args=args))
            if wait <= 0:
                _token_taken()
                return ticket if held and ticket else None
            try:
                allowance_wait(wait, self.sleep)
            except AllowanceBusy:
                # Listed as waiting (all but backfill callers are), it would hold the less
                # urgent back until the listing lapsed.
                if call_class < BULK:
                    with _hub_fault_on_redis_error():
                        self.client.zrem(f"{self.key}:waiting:{call_class}", waiter)
                raise

    def answered(self, ticket: str, remaining: float | None = None, reset_in: float | None = None) -> None:
        """The call's answer is back, with what it told of the vendor's window if anything.
        Never raises: the call went out, and a lost note only keeps its place taken until
        the lease ends."""
        told = ["", ""] if remaining is None or reset_in is None else [remaining, reset_in]
        try:
            self._answered(keys=[self.calls_key, self.key], args=[ticket, *told, SAME_WINDOW_SLACK_SECONDS])
        except Exception:
            logger.warning("Could not note a call's answer in the shared rate limiter", exc_info=True)

    def defer(self, seconds: float) -> None:
        with _hub_fault_on_redis_error():
            self._defer(keys=[self.key], args=[seconds, self.rate])


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
    `burst` calls through back to back.

    A burst is given only for a vendor that counts calls per second
    (`DestinationLimits.burst`), so such a bucket keeps a one-second arrival window: at most
    the per-second rate's calls in any second. Any other keeps a 60-second one, at most
    `calls_per_minute` in any 60 s (see the module docstring), and spaces its calls evenly:
    a burst would fill that window early and be paid back by a stall of up to a third of a
    minute, time-sensitive calls waiting in it with the push tasks that hold their processes.
    The shared bucket keeps a few of those 60 s's calls for time-sensitive ones, which may take
    them back to back (`kept_for_time_sensitive`)."""
    key = f"sync:throttle:{account.kind}:{account.name}"
    window_calls, window_seconds = arrival_window(calls_per_minute, burst)
    kept = 0 if burst else kept_for_time_sensitive(calls_per_minute)
    burst = burst or 1
    if settings.REDIS_URL:
        return RedisTokenBucket(redis_client(), key, calls_per_minute, burst=burst, window_calls=window_calls,
                                window_seconds=window_seconds, kept_for_time_sensitive=kept)
    with _local_lock:
        bucket = _local_buckets.get(key)
        if (bucket is None or bucket.rate != calls_per_minute / 60.0 or bucket.capacity != burst
                or (bucket.window_calls, bucket.window_seconds) != (window_calls, window_seconds)):
            bucket = _local_buckets[key] = LocalTokenBucket(calls_per_minute, burst=burst, window_calls=window_calls,
                                                            window_seconds=window_seconds)
        return bucket
