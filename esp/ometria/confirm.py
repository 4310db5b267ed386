"""Where an Ometria account's confirm state lives: the ledger of errors-list reads.

The decisions themselves are in errors_list.py. State lives in Redis when REDIS_URL is set
(every worker of every machine sees the same reads; a Redis lock serialises the
read-compare-write), otherwise in this process. It cannot be derived statelessly: a
long-lived account's list is always full, so without the previous read every confirm would
have to resend everything.

Keys per account (`sync:ometria:errors:<account>`): the state (JSON); `:marker`, the
epoch and read count a push notes before sending (small, so a push never loads the log);
`:since`, records sent since the last read (so a push knows when to read); `:sent:<request
id>`, one `SentNote` per push call; `:calls`, every call by time (request id, epoch,
read count, records, when its verdict is due, and what proves its queue worked through), so a
read can tell which calls a `root[<n>]` error may be about and a confirm when a queue was
worked through; `:ticks`, the counter that orders pushes' sends and answers across workers.
Notes and calls are kept twice the engine's confirm deadline (a note holds its call's record
ids, in order); the rest expire after twice the log's retention: a ledger
that expires starts again with a baseline read, and notes from before it count as sent
before that baseline (sent again, never accepted).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from django.conf import settings
from redis.exceptions import LockError

from syncapp.leases import redis_lock_kept

from .errors_list import (
    CLOCK_SKEW,
    GRACE_MAX,
    LOG_RETENTION,
    CallNote,
    LedgerState,
    Observation,
    SentNote,
    errors_for,
    observe,
    overlap,
)

__all__ = ["ErrorLedger", "LedgerState", "Observation", "SentNote", "errors_for", "observe", "overlap",
           "read_and_observe"]

EXPIRY = int(LOG_RETENTION * 2)
LOCAL_NOTES_MAX = 20_000


class ErrorLedger:
    """Per-account confirm state, in Redis (REDIS_URL) or in this process."""

    _local: dict[str, str] = {}
    _markers: dict[str, tuple[str, int]] = {}
    _since: dict[str, int] = {}
    _sent: dict[str, dict[str, str]] = {}
    _calls: dict[str, list[CallNote]] = {}
    _ticks: dict[str, int] = {}
    _local_locks: dict[str, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, account_key: str, *, redis_client: Any = None) -> None:
        self.key = f"sync:ometria:errors:{account_key}"
        self.redis = redis_client
        if self.redis is None and settings.REDIS_URL:
            from syncapp.ratelimit import redis_client as make_client

            self.redis = make_client()

    @contextmanager
    def update(self, *, wait: bool = True) -> Iterator[LedgerState | None]:
        """Yield the state under the account's lock; it is saved (with the marker pushes read,
        and the count of records sent since reset) when the block ends without error. With
        `wait=False` yields None at once if another worker holds the lock."""
        if self.redis is not None:
            # Held across one read of the errors list (a few 429 waits at most) and leased
            # like claimed rows: renewed while its worker lives, free a lease after a kill.
            lock = self.redis.lock(f"{self.key}:lock", timeout=settings.SYNC_LEASE_SECONDS,
                                   blocking_timeout=60, thread_local=False)
            if not lock.acquire(blocking=wait):
                yield None
                return
            try:
                with redis_lock_kept(lock):
                    state = LedgerState.from_json(self.redis.get(self.key))
                    yield state
                    pipe = self.redis.pipeline()
                    pipe.set(self.key, state.to_json(), ex=EXPIRY)
                    pipe.set(f"{self.key}:marker", f"{state.epoch}:{state.reads}", ex=EXPIRY)
                    pipe.delete(f"{self.key}:since")
                    pipe.execute()
            finally:
                with suppress(LockError):  # renewal lost it meanwhile: nothing of ours to free
                    lock.release()
            return
        with self._guard:
            lock = self._local_locks.setdefault(self.key, threading.Lock())
        if not lock.acquire(blocking=wait):
            yield None
            return
        try:
            state = LedgerState.from_json(self._local.get(self.key))
            yield state
            with self._guard:
                self._local[self.key] = state.to_json()
                self._markers[self.key] = (state.epoch, state.reads)
                self._since.pop(self.key, None)
        finally:
            lock.release()

    def marker(self) -> tuple[str, int] | None:
        """(epoch, reads folded so far), or None before the first read."""
        if self.redis is not None:
            value = self.redis.get(f"{self.key}:marker")
            if not value:
                return None
            epoch, _, reads = (value.decode() if isinstance(value, bytes) else str(value)).partition(":")
            return (epoch, int(reads)) if epoch else None
        with self._guard:
            return self._markers.get(self.key)

    def count_sent(self, records: int) -> int:
        """Add `records` to the account's count of records sent since the last read; return it."""
        if self.redis is not None:
            pipe = self.redis.pipeline()
            pipe.incrby(f"{self.key}:since", records)
            pipe.expire(f"{self.key}:since", EXPIRY)
            return int(pipe.execute()[0])
        with self._guard:
            self._since[self.key] = self._since.get(self.key, 0) + records
            return self._since[self.key]

    def tick(self) -> int:
        """The account's next tick: pushes take one as they go out and one when answered, so
        any worker can tell which of two calls went out after the other was answered."""
        if self.redis is not None:
            pipe = self.redis.pipeline()
            pipe.incr(f"{self.key}:ticks")
            pipe.expire(f"{self.key}:ticks", EXPIRY)
            return int(pipe.execute()[0])
        with self._guard:
            self._ticks[self.key] = self._ticks.get(self.key, 0) + 1
            return self._ticks[self.key]

    def note_sent(self, receipt: str, note: SentNote, *, due: float | None = None, sent_tick: int | None = None,
                  answered_tick: int | None = None, answered_at: float | None = None,
                  joined: int | None = None) -> None:
        """What the call that got `receipt` noted (taken before it was sent); `due`: when
        silence would accept its records; the rest for the queue's proof (CallNote)."""
        call = CallNote(receipt, at=note.at, epoch=note.epoch, seq=note.seq, size=len(note.refs), due=due,
                        sent_tick=sent_tick, answered_tick=answered_tick, answered_at=answered_at, joined=joined,
                        queued=note.queued)
        if self.redis is not None:
            member = json.dumps([call.receipt, call.epoch, call.seq, call.size, call.due, call.sent_tick,
                                 call.answered_tick, call.answered_at, call.joined, call.queued])
            pipe = self.redis.pipeline()
            # A note now holds its call's record ids (up to 100): it is kept only as long as a
            # verdict can need it, twice the engine's confirm deadline, not the ledger's hours.
            kept = int(2 * still_relevant())
            pipe.set(f"{self.key}:sent:{receipt}", note.to_json(), ex=kept)
            pipe.zadd(f"{self.key}:calls", {member: call.at})
            pipe.zremrangebyscore(f"{self.key}:calls", "-inf", call.at - kept)
            pipe.expire(f"{self.key}:calls", EXPIRY)
            pipe.execute()
            return
        with self._guard:
            sent = self._sent.setdefault(self.key, {})
            sent[receipt] = note.to_json()
            if len(sent) > LOCAL_NOTES_MAX:  # oldest first: dicts keep insertion order
                for old in list(sent)[: len(sent) - LOCAL_NOTES_MAX]:
                    del sent[old]
            calls = self._calls.setdefault(self.key, [])
            calls.append(call)
            if len(calls) > LOCAL_NOTES_MAX:
                del calls[: len(calls) - LOCAL_NOTES_MAX]

    def recent_calls(self, since: float) -> list[CallNote]:
        """The calls noted at or after `since` (a read asks only when a `root[<n>]` error is new)."""
        if self.redis is not None:
            calls = []
            for member, at in self.redis.zrangebyscore(f"{self.key}:calls", since, "+inf", withscores=True):
                receipt, epoch, seq, size, due, *proof = json.loads(member)  # calls noted before proofs: none
                sent_tick, answered_tick, answered_at, joined, queued = (proof + [None] * 5)[:5]
                calls.append(CallNote(str(receipt), at=float(at), epoch=str(epoch or ""), seq=seq, size=int(size),
                                      due=due, sent_tick=sent_tick, answered_tick=answered_tick,
                                      answered_at=answered_at, joined=joined, queued=queued))
            return calls
        with self._guard:
            return [call for call in self._calls.get(self.key, []) if call.at >= since]

    def notes(self, receipts: Sequence[str]) -> dict[str, SentNote]:
        wanted = sorted(set(r for r in receipts if r))
        if not wanted:
            return {}
        if self.redis is not None:
            values = self.redis.mget([f"{self.key}:sent:{r}" for r in wanted])
            return {r: SentNote.from_json(v) for r, v in zip(wanted, values, strict=True) if v is not None}
        with self._guard:
            sent = self._sent.get(self.key, {})
            return {r: SentNote.from_json(sent[r]) for r in wanted if r in sent}

    def forget(self) -> None:
        """Start afresh for this account (tests; an account pointed at another Ometria)."""
        if self.redis is not None:
            names = [self.key, f"{self.key}:marker", f"{self.key}:since", f"{self.key}:calls", f"{self.key}:ticks",
                     *self.redis.scan_iter(match=f"{self.key}:sent:*", count=1000)]
            self.redis.delete(*names)
        with self._guard:
            for store in (self._local, self._markers, self._since, self._sent, self._calls, self._ticks):
                store.pop(self.key, None)

    @classmethod
    def forget_all(cls) -> None:
        """Tests: drop the in-process state."""
        with cls._guard:
            for store in (cls._local, cls._markers, cls._since, cls._sent, cls._calls, cls._ticks):
                store.clear()


def still_relevant() -> float:
    """How long a record may stay submitted, so how long its error still matters: until the
    engine's confirm deadline, and never less than the longest wait for a verdict."""
    return max(float(getattr(settings, "SYNC_CONFIRM_DEADLINE_SECONDS", 0) or 0), GRACE_MAX)


def read_and_observe(ledger: ErrorLedger, read: Callable[[], list[dict[str, Any]]],
                     now: Callable[[], float], *, wait: bool = True) -> LedgerState | None:
    """One read of the errors list folded into the ledger; returns the state after it (None
    when `wait` is False and another worker is reading). The read happens inside the lock,
    so two workers never fold reads out of order."""
    with ledger.update(wait=wait) as state:
        if state is None:
            return None
        entries = [(e.get("error_message", ""), e.get("error_path", "")) for e in read()]
        moment, relevant = now(), still_relevant()
        observe(state, entries, moment, still_relevant=relevant,
                calls=lambda: ledger.recent_calls(moment - relevant - CLOCK_SKEW))
        return LedgerState.from_json(state.to_json())
