"""Deciding what Ometria made of records it answered 200 to.

Ometria validates after answering and keeps only its last 100 validation errors at
`GET /v2/push/_errors` [OM-ERR], each `{error_message, error_path}` with no time and
no request id. So a record is accepted only when nothing can have hidden its error:

1. Every read is compared with the previous one (the `ErrorLedger`, per account): the
   new errors are those after the longest overlap (the list is oldest first). When the
   list is full (100) and shares nothing with the previous read, errors may have been
   pushed out unseen: the ledger notes a *gap* at that read.
2. New errors are logged with the time they were first seen, so a record can be matched
   against errors seen by reads that other flows made.
3. Each push notes when its call went out, by request id (the receipt), so the time
   an item was sent is known exactly, not only when the engine recorded it afterwards
   (a lower bound of SUBMISSION_MARGIN before that is used when the note is gone).
4. For each submitted item: an error naming its type and id, first seen no earlier
   than it was sent (less CLOCK_SKEW between machines) -> "permanent" with Ometria's
   message; else a gap noted after it was sent -> "transient" (the engine sends it
   again; merge on id makes that safe); else submitted at least `grace` seconds ago ->
   "accepted"; else no verdict yet (it stays submitted).

State lives in Redis when REDIS_URL is set (every worker of every machine sees the same
reads; a Redis lock serialises the read-compare-write), otherwise in this process. It
cannot be derived statelessly: a long-lived account's list is always full, so without the
previous read every confirm would have to resend everything.

Known limits, all erring towards resending or refusing, never towards accepting:
- A record re-sent while its previous version's error is still unread may be reported
  with that older error (errors carry no time); a retry settles it.
- The first read of a process without Redis has nothing to compare with: a full list
  then counts as a gap and the records submitted before it are sent again.
- A false overlap needs the newest errors of one read to repeat, entry for entry, as the
  oldest of the next while over 100 others were lost: identical repeated entries (one
  record failing the same way again and again) at the boundary can in principle hide a
  loss. `grace` must also exceed Ometria's processing delay: a record validated after
  it is accepted unseen. The default (300 s) is far above the sandbox's and what the
  queue headers suggest in normal operation; raise it for accounts with long queues.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .payloads import RecordRef, record_of_error_path

ERRORS_LIST_SIZE = 100
SUBMISSION_MARGIN = 60.0  # when the send time is unknown: how long a push may take before the engine records it
CLOCK_SKEW = 1.0  # between the worker that pushed and the one that read
LOG_RETENTION = 6 * 3600.0
LOG_MAX_ENTRIES = 20_000


@dataclass
class LedgerState:
    last: list[list[str]] = field(default_factory=list)  # the previous read, [message, path] oldest first
    read_at: float | None = None
    gap_at: float | None = None
    log: list[list[Any]] = field(default_factory=list)  # [type, id, message, path, seen_at]

    def to_json(self) -> str:
        return json.dumps({"last": self.last, "read_at": self.read_at, "gap_at": self.gap_at, "log": self.log})

    @classmethod
    def from_json(cls, text: str | bytes | None) -> LedgerState:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(last=data.get("last") or [], read_at=data.get("read_at"), gap_at=data.get("gap_at"),
                   log=data.get("log") or [])


@dataclass(frozen=True)
class Observation:
    """What one read taught: errors first seen now, and whether any may have been lost."""

    new: list[list[str]]
    gap: bool


def overlap(previous: Sequence[Sequence[str]], current: Sequence[Sequence[str]]) -> int:
    """The most entries at the start of `current` that end `previous`, in order."""
    previous, current = [list(e) for e in previous], [list(e) for e in current]
    for k in range(min(len(previous), len(current)), 0, -1):
        if current[:k] == previous[len(previous) - k:]:
            return k
    return 0


def observe(state: LedgerState, entries: Sequence[Sequence[str]], now: float) -> Observation:
    """Fold one read of the errors list into `state` (see the module docstring)."""
    current = [[str(message), str(path)] for message, path in entries]
    full = len(current) >= ERRORS_LIST_SIZE
    k = overlap(state.last, current) if state.read_at is not None else 0
    gap = full and k == 0
    new = current[k:]
    for message, path in new:
        ref, _ = record_of_error_path(path)
        if ref is not None:
            state.log.append([ref.type, ref.id, message, path, now])
    if gap:
        state.gap_at = now
    state.last, state.read_at = current, now
    horizon = now - LOG_RETENTION
    state.log = [entry for entry in state.log if entry[4] >= horizon][-LOG_MAX_ENTRIES:]
    return Observation(new=new, gap=gap)


def errors_for(state: LedgerState, refs: set[RecordRef]) -> dict[RecordRef, list[list[Any]]]:
    found: dict[RecordRef, list[list[Any]]] = {}
    for entry in state.log:
        ref = RecordRef(entry[0], entry[1])
        if ref in refs:
            found.setdefault(ref, []).append(entry)
    return found


# ---------------------------------------------------------------- storage


class ErrorLedger:
    """Per-account confirm state, in Redis (REDIS_URL) or in this process."""

    _local: dict[str, str] = {}
    _sent: dict[str, dict[str, float]] = {}
    _local_locks: dict[str, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, account_key: str, *, redis_client: Any = None) -> None:
        self.key = f"sync:ometria:errors:{account_key}"
        self.redis = redis_client
        if self.redis is None and settings.REDIS_URL:
            from syncapp.ratelimit import redis_client as make_client

            self.redis = make_client()

    @contextmanager
    def update(self) -> Any:
        """Yield the state under a lock; it is saved when the block ends without error."""
        if self.redis is not None:
            # Held across one read of the errors list (a few 429 waits at most).
            with self.redis.lock(f"{self.key}:lock", timeout=300, blocking_timeout=60):
                state = LedgerState.from_json(self.redis.get(self.key))
                yield state
                self.redis.set(self.key, state.to_json(), ex=int(LOG_RETENTION * 2))
            return
        with self._guard:
            lock = self._local_locks.setdefault(self.key, threading.Lock())
        with lock:
            state = LedgerState.from_json(self._local.get(self.key))
            yield state
            self._local[self.key] = state.to_json()

    def note_sent(self, receipt: str, at: float) -> None:
        """When the call that got `receipt` went out (before it was sent)."""
        if self.redis is not None:
            self.redis.set(f"{self.key}:sent:{receipt}", repr(at), ex=int(LOG_RETENTION * 2))
            return
        with self._guard:
            sent = self._sent.setdefault(self.key, {})
            sent[receipt] = at
            if len(sent) > LOG_MAX_ENTRIES:  # oldest first: dicts keep insertion order
                for old in list(sent)[: len(sent) - LOG_MAX_ENTRIES]:
                    del sent[old]

    def sent_times(self, receipts: Sequence[str]) -> dict[str, float]:
        wanted = sorted(set(r for r in receipts if r))
        if not wanted:
            return {}
        if self.redis is not None:
            values = self.redis.mget([f"{self.key}:sent:{r}" for r in wanted])
            return {r: float(v) for r, v in zip(wanted, values, strict=True) if v is not None}
        with self._guard:
            sent = self._sent.get(self.key, {})
            return {r: sent[r] for r in wanted if r in sent}

    def forget(self) -> None:
        """Start afresh for this account (tests; an account pointed at another Ometria)."""
        if self.redis is not None:
            names = [self.key, *self.redis.scan_iter(match=f"{self.key}:sent:*", count=1000)]
            self.redis.delete(*names)
        with self._guard:
            self._local.pop(self.key, None)
            self._sent.pop(self.key, None)

    @classmethod
    def forget_all(cls) -> None:
        """Tests: drop the in-process state."""
        with cls._guard:
            cls._local.clear()
            cls._sent.clear()


def read_and_observe(ledger: ErrorLedger, read: Callable[[], list[dict[str, Any]]],
                     now: Callable[[], float]) -> LedgerState:
    """One read of the errors list folded into the ledger; returns the state after it.
    The read happens inside the lock, so two workers never fold reads out of order."""
    with ledger.update() as state:
        entries = [(e.get("error_message", ""), e.get("error_path", "")) for e in read()]
        observe(state, entries, now())
        return LedgerState.from_json(state.to_json())
