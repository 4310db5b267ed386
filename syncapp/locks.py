"""One pull per connection at a time.

Pulls of one connection write the same mirror rows (stock levels, signal states); two
at once could interleave an older read over a newer one. Scheduled pulls that find the
lock taken simply skip: the running pull, or the next schedule, reads the changes.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

_local_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


@contextmanager
def pull_lock(connection) -> Iterator[bool]:
    """Yields True when this caller holds the connection's pull lock, False when another does."""
    key = f"sync:pull:{connection.pk}"
    if settings.REDIS_URL:
        from .ratelimit import redis_client

        # Expires on its own if the worker dies holding it.
        lock = redis_client().lock(key, timeout=settings.SYNC_CLAIM_TIMEOUT_SECONDS)
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
        return
    with _guard:
        lock = _local_locks.setdefault(key, threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()
