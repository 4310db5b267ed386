"""Read-backs never starve pushes.

A read-back is one call of the destination adapter, so it takes its token from the same
bucket as the pushes to that account (syncapp/ratelimit.py; Ometria's reads from its
Data API bucket, which its errors-list reads use too). The policy, two rules:

1. Idle only. Before each read the pass asks whether any push to the same account is
   waiting: a row ready to go (pending, its backoff over, not bulk held for its off-peak
   window) or one a worker has claimed. If so it waits, polling, up to
   SYNC_DRIFT_PUSH_WAIT_SECONDS; then it pauses where it stands and goes on at its next
   run. A push claims its rows before asking for a token, so a push arriving meets at
   most the one read already past this check.
2. Paced, never a burst. Reads are spaced to SYNC_DRIFT_RATE_SHARE (default half) of
   the account's rate, so they take tokens more slowly than the bucket refills: its
   burst stays there for the next push instead of being drained by a read-back (a pass
   drawing as fast as the bucket allows would leave a push arriving an empty bucket),
   and half the rate is never touched by read-backs at all.

`PushesWaiting` ends the read-back for now; nothing of the pass is lost.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from syncapp.bulk_window import bulk_allowed
from syncapp.models import OutboxItem, OutboxStatus, Priority

DEFAULT_PUSH_WAIT_SECONDS = 20.0
DEFAULT_RATE_SHARE = 0.5
POLL_SECONDS = 0.5


class PushesWaiting(Exception):
    """Pushes to the account kept waiting longer than the read-back may wait for them."""


def pushes_waiting(*, account, now: datetime | None = None) -> bool:
    """Is a push to this destination account ready to go, or on its way?"""
    now = now or timezone.now()
    ready = Q(status=OutboxStatus.PENDING) & (Q(not_before__isnull=True) | Q(not_before__lte=now))
    if not bulk_allowed(account, now):
        ready &= Q(priority__lt=Priority.BACKFILL)  # bulk held for its window is not waiting now
    return OutboxItem.objects.filter(ready | Q(status=OutboxStatus.IN_FLIGHT), flow__destination=account,
                                     flow__enabled=True).exists()


class PushFirst:
    """Asked before every read-back call of one pass (see the module docstring)."""

    def __init__(self, account, *, calls_per_minute: int, share: float | None = None,
                 wait_seconds: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.account = account
        share = share if share is not None else getattr(settings, "SYNC_DRIFT_RATE_SHARE", DEFAULT_RATE_SHARE)
        self.interval = 60.0 / (max(calls_per_minute, 1) * share)
        self.wait_seconds = (wait_seconds if wait_seconds is not None
                             else getattr(settings, "SYNC_DRIFT_PUSH_WAIT_SECONDS", DEFAULT_PUSH_WAIT_SECONDS))
        self.clock, self.sleep = clock, sleep
        self.last_read: float | None = None
        self.waited_for_pushes = 0  # times a read waited for pushes (for the pass's note and tests)

    def before_read(self) -> None:
        """Return when the next read may start; raise PushesWaiting to pause the pass."""
        if self.last_read is not None and (gap := self.last_read + self.interval - self.clock()) > 0:
            self.sleep(gap)
        deadline = self.clock() + self.wait_seconds
        waited = False
        while pushes_waiting(account=self.account):
            if not waited:
                self.waited_for_pushes += 1
                waited = True
            if self.clock() >= deadline:
                raise PushesWaiting(f"pushes to {self.account} kept waiting for over {self.wait_seconds:g} s")
            self.sleep(POLL_SECONDS)
        self.last_read = self.clock()
