"""Leases: work a process claims is renewed while it lives, and returns when it dies.

A worker's claimed outbox rows and its running SyncRun carry a time the worker renews
every SYNC_HEARTBEAT_SECONDS from a background thread. Rows whose lease is older than
SYNC_LEASE_SECONDS belong to a dead worker: the sweep puts them back (`outbox_reclaim_stale`)
and ends its runs as abandoned. A long push (a dotdigital import polled for minutes) keeps
its rows for as long as its process lives, so a slow live worker is never taken for a
dead one, and a dead one hides nothing for longer than the lease plus one sweep.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)


class _Heartbeat:
    """One daemon thread per process renewing every lease registered with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, tuple[int, ...]], int] = {}  # (claim token, its rows' ids)
        self._runs: dict[int, int] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _register(self, table: dict, key) -> None:
        with self._lock:
            table[key] = table.get(key, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="sync-heartbeat", daemon=True)
                self._thread.start()
        self._wake.set()  # the interval may have changed since the thread last looked

    def _unregister(self, table: dict, key) -> None:
        with self._lock:
            table[key] -= 1
            if not table[key]:
                del table[key]

    def _loop(self) -> None:
        last = time.monotonic()
        while True:
            # Beats keep to the interval however often a registration wakes the thread.
            self._wake.wait(max(0.0, last + settings.SYNC_HEARTBEAT_SECONDS - time.monotonic()))
            self._wake.clear()
            now = time.monotonic()
            # A clock behind the last beat (a test's fake clock, read while it was patched) must
            # not stop the beats until it catches up: that starved leases for minutes.
            if last <= now < last + settings.SYNC_HEARTBEAT_SECONDS:
                continue
            last = now
            with self._lock:
                held, runs = list(self._claims), list(self._runs)
            claims: dict[str, list[int]] = {}
            for token, ids in held:
                claims.setdefault(token, []).extend(ids)
            if claims or runs:
                self.beat(claims=claims, runs=runs)

    @staticmethod
    def beat(*, claims: dict[str, Sequence[int]], runs: list[int]) -> None:
        """Renew now the rows of each claim token (its rows' ids) and the runs. A failed renewal
        is logged, not raised: the next beat tries again, and a lease lost meanwhile only means
        the rows are sent once more."""
        from .models import OutboxItem, SyncRun

        now = timezone.now()
        try:
            close_old_connections()
            if claims:
                # Rows locked right now are being finished (or re-planned) by someone else: skip
                # them rather than wait. Waiting took their locks in another order than the
                # completing transaction and deadlocked it under load (issue 12's peak run).
                # Found by their ids: in a peak the in-flight index holds hundreds of thousands
                # of entries for rows long since sent (until vacuum gets there), and looking the
                # token up through it took 250 ms to 1 s a beat, in every worker process.
                # Whatever their status: a row stopped while its send is out keeps the claim.
                ids = sorted({row_id for held in claims.values() for row_id in held})
                with transaction.atomic():
                    mine = OutboxItem.objects.select_for_update(skip_locked=True).filter(
                        id__in=ids, claim_token__in=list(claims)).values("id")
                    OutboxItem.objects.filter(id__in=mine).update(claimed_at=now)
            if runs:
                SyncRun.objects.filter(pk__in=runs, status=SyncRun.Status.RUNNING).update(heartbeat_at=now)
        except Exception as error:  # noqa: BLE001 - the database may be away; the lease is the safety net
            log.warning("Could not renew leases: %s", error)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()


_heartbeat = _Heartbeat()


@contextmanager
def lease_kept(*, claimed: Sequence = (), run_id: int | None = None) -> Iterator[None]:
    """Keep renewing the lease of these claimed outbox rows (one claim's) and/or this run while
    the block runs."""
    claim = (claimed[0].claim_token, tuple(row.id for row in claimed)) if claimed else None
    if claim:
        _heartbeat._register(_heartbeat._claims, claim)
    if run_id is not None:
        _heartbeat._register(_heartbeat._runs, run_id)
    try:
        yield
    finally:
        if claim:
            _heartbeat._unregister(_heartbeat._claims, claim)
        if run_id is not None:
            _heartbeat._unregister(_heartbeat._runs, run_id)


@contextmanager
def renewed_every_heartbeat(renew: Callable[[], object], what: str) -> Iterator[None]:
    """Call `renew` every heartbeat until the block ends, from a thread of its own: what it
    renews (a Redis lock or mark set for one lease) stays while a slow live worker runs and
    lapses within a lease of a kill. Its first failure ends the renewal (lost, or Redis away:
    the holder finds out when it lets go)."""
    done = threading.Event()

    def renewing() -> None:
        while not done.wait(settings.SYNC_HEARTBEAT_SECONDS):
            try:
                renew()
            except Exception as error:  # noqa: BLE001 - redis raises several types for one fault
                log.warning("Could not renew a %s: %s", what, error)
                return

    thread = threading.Thread(target=renewing, name="sync-lease-renewal", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


def redis_lock_kept(lock):
    """Renew a held redis-py lock (made with `thread_local=False`, timeout = the lease)
    every heartbeat until the block ends."""
    return renewed_every_heartbeat(lock.reacquire, "lock")


def lease_expired_before():
    """Leases renewed before this moment belong to a process that is gone."""
    return timezone.now() - timedelta(seconds=settings.SYNC_LEASE_SECONDS)


def runs_abandon_stale() -> int:
    """End as failed the runs whose process stopped without finishing them."""
    from django.db.models import Q

    from .models import SyncRun

    cutoff = lease_expired_before()
    stale = SyncRun.objects.filter(status=SyncRun.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
    return stale.update(status=SyncRun.Status.FAILED, finished_at=timezone.now(),
                        error=f"Abandoned: the process running it stopped (no sign of life for "
                              f"{settings.SYNC_LEASE_SECONDS} s). Its work is picked up again.")
