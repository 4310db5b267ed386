"""Failure counters shared by every web process, kept in Django's cache (Redis, or the database).

A `Limit` counts failures of one kind for one subject (an account, a client address) in
fixed windows; the failure that reaches the limit locks the subject for `lockout_seconds`.
All times come from `now()`, never from the cache's own expiry (which only cleans up), so
tests move the clock instead of sleeping. Subjects are hashed into the keys: the cache
holds no usernames or addresses.

If the cache cannot be reached (Redis down), throttling is off and says so in the log:
locking every person out of the hub during an outage would do more harm than the pause in
throttling, and a failed login is still refused by its password.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TypeVar

from django.core.cache import cache
from django.db import DatabaseError
from redis.exceptions import RedisError

log = logging.getLogger("accounts.security")
T = TypeVar("T")

_SLACK = 60  # seconds the cache keeps an entry beyond its use, so clocks a little apart agree


def now() -> float:
    return time.time()


def _unless_unreachable(default: T) -> Callable[[Callable[..., T]], Callable[..., T]]:
    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @wraps(function)
        def guarded(*args, **kwargs) -> T:
            try:
                return function(*args, **kwargs)
            except (RedisError, DatabaseError) as error:
                log.error("Throttle store unreachable (%s): failed logins and API tokens are not throttled",
                          type(error).__name__)
                return default

        return guarded

    return decorate


@dataclass(frozen=True)
class Limit:
    scope: str  # "login-account", "login-address", "api-address"
    failures: int
    window_seconds: int
    lockout_seconds: int


def _key(kind: str, limit: Limit, subject: str) -> str:
    digest = hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"accounts:{kind}:{limit.scope}:{digest}"


def _count_key(limit: Limit, subject: str, at: float) -> str:
    return f"{_key('count', limit, subject)}:{int(at // limit.window_seconds)}"


@_unless_unreachable(0)
def throttle_locked_for(*, limit: Limit, subject: str) -> int:
    """Whole seconds `subject` stays locked; 0 when it is not locked."""
    until = cache.get(_key("lock", limit, subject))
    if until is None:
        return 0
    remaining = float(until) - now()
    return math.ceil(remaining) if remaining > 0 else 0


@_unless_unreachable(False)
def throttle_failure_record(*, limit: Limit, subject: str) -> bool:
    """Count one failure of `subject`; True when it reached the limit and locked the subject.

    The count is an atomic INCR on Redis; the database cache reads and writes, so racing
    processes may lose a count there (the lock still comes, a few attempts later at worst).
    """
    at = now()
    key = _count_key(limit, subject, at)
    timeout = limit.window_seconds + _SLACK
    cache.add(key, 0, timeout)
    try:
        count = cache.incr(key)
    except ValueError:  # the entry expired between add and incr
        cache.set(key, 1, timeout)
        count = 1
    if count < limit.failures:
        return False
    cache.set(_key("lock", limit, subject), at + limit.lockout_seconds, limit.lockout_seconds + _SLACK)
    return True


@_unless_unreachable(None)
def throttle_reset(*, limit: Limit, subject: str) -> None:
    """Forget the failures counted so far in this window (a lock, if any, stays)."""
    cache.delete(_count_key(limit, subject, now()))
