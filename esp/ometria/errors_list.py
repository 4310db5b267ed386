"""What Ometria's errors list proves about records it answered 200 to (pure logic, no I/O).

Ometria validates after answering and keeps only its last 100 validation errors at
`GET /v2/push/_errors` [OM-ERR], each `{error_message, error_path}`, with no time, no
request id, and an order that is not documented. So a record is accepted only when
nothing can have hidden its error:

1. Reads are numbered. Each read is compared with the previous one (`observe`): the new
   errors are those outside the longest overlap, tried both ways (oldest first, as the
   sandbox lists them, and newest first), since Ometria's order is unconfirmed.
2. A read *gap* means errors may have been missed: the list was full and shared nothing
   with the previous read; or a new error could not be tied to a record (Ometria
   documents paths like "root > lastname"; a head that is no record type, "widget[7]",
   counts the same); or the log's size cap dropped an entry that could still matter.
   Every record sent before that read is sent again, never accepted.
2a. A path that indexes the pushed array, `root[<n>] > field`, names the record at
   position n of the call that made it; which call is not said. The read keeps with it
   the *candidates*: the account's calls (`CallNote`, noted by each push with the order
   of its records) sent before this read with a record at position n, whose verdict was
   not yet due at the previous read (a call due earlier is taken as validated by then:
   the same assumption that accepts its silent records). One candidate: that record is refused with the error. Several
   (or a call whose note came too late to be a candidate): the record at position n of
   each is sent again, never accepted; the records at other positions are unaffected.
3. The first read of a ledger (new, expired, or lost with a restart) is a *baseline*:
   nothing in it is new (it may be yesterday's), and it counts as a gap for everything
   sent before it. A new baseline starts a new *epoch*.
4. A push notes (`SentNote`) the ledger's epoch and read count before it goes out, so
   only errors first seen by later reads can be its records' (no clocks compared between
   machines), and Ometria's queue depth from the push's own answer.
5. A record is refused with its error; else sent again after a gap; else accepted once
   `grace + queued / min_rate` seconds have passed since it was submitted, so a long
   queue Ometria has not worked through yet is waited for; or sooner, a grace after later
   pushes' answers showed that queue worked through (`queues_worked_through`). A push whose answer counted
   records rejected on receipt must see that many of its records named in later errors
   (by id, or by position when the call is the error's only candidate),
   or its unnamed records are sent again (only that call's: the answer says nothing about
   other calls). The wait compares the confirming worker's clock with the engine's
   `submitted_at`; a skew between machines shifts it by seconds against minutes of grace.

Everything errs towards sending again or refusing, never towards accepting. A record sent
again while its earlier version's error is still unread may be refused with that older
error (errors carry no time); a retry settles it.
"""
from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .payloads import RecordRef, position_of_error_path, record_of_error_path

ERRORS_LIST_SIZE = 100
QUEUE_LIMIT = 50_000  # Ometria's documented queue; assumed full when a push answer gave no depth
SUBMISSION_MARGIN = 60.0  # no note: how long a push may take before the engine records it
CLOCK_SKEW = 1.0  # only for sends without a note (times from two machines compared)
LOG_RETENTION = 6 * 3600.0
LOG_MAX_ENTRIES = 20_000
GRACE_MAX = 3000.0  # the longest wait for a verdict, well inside the engine's confirm deadline
POSITIONAL = "#"  # the log's type for `root[<n>]` errors (no Ometria record type starts with "#")


@dataclass
class LedgerState:
    """One account's reads so far. `log` rows: [type, id, message, path, seen_at, read_no];
    a `root[<n>]` error's row is [POSITIONAL, n, message, path, seen_at, read_no, candidate
    request ids]."""

    epoch: str = ""  # "" until the baseline read
    reads: int = 0  # reads folded in this epoch
    last: list[list[str]] = field(default_factory=list)  # the previous read, as listed
    read_at: float | None = None
    started_at: float | None = None  # the baseline's time
    gap_read: int = 0  # the latest read at which errors may have been lost
    gap_at: float | None = None
    log: list[list[Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str | bytes | None) -> LedgerState:
        data = json.loads(text) if text else {}
        if not data.get("epoch"):  # nothing stored, or a state from before epochs: a new baseline
            return cls()
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True)
class SentNote:
    """What a push noted when its call went out (by Ometria's request id)."""

    at: float
    epoch: str = ""
    seq: int | None = None  # the ledger's read count before the call; None when unknown
    queued: int | None = None  # Ometria's queue after taking the call, from its own answer
    rejected: int = 0  # records the answer counted as rejected on receipt
    refs: tuple[tuple[str, str], ...] = ()  # the call's records (type, id), in the order sent

    def position(self, ref: RecordRef) -> int | None:
        """Where the record stood in the call's array; None when the note does not say."""
        try:
            return self.refs.index((ref.type, ref.id))
        except ValueError:
            return None

    def to_json(self) -> str:
        return json.dumps({"at": self.at, "epoch": self.epoch, "seq": self.seq, "queued": self.queued,
                           "rejected": self.rejected, "refs": [list(ref) for ref in self.refs]})

    @classmethod
    def from_json(cls, text: str | bytes) -> SentNote:
        data = json.loads(text)
        if not isinstance(data, dict):  # a note from before: only the time
            return cls(at=float(data))
        return cls(at=float(data["at"]), epoch=data.get("epoch") or "", seq=data.get("seq"),
                   queued=data.get("queued"), rejected=int(data.get("rejected") or 0),
                   refs=tuple((str(t), str(i)) for t, i in data.get("refs") or ()))


@dataclass(frozen=True)
class CallNote:
    """One push call, as a read sees it when a `root[<n>]` error needs its candidates."""

    receipt: str
    at: float
    epoch: str
    seq: int | None
    size: int
    due: float | None = None  # when silence would accept its records (`at` + acceptance_wait)
    # For the queue's proof (queues_worked_through): the account's ticks when the call went out and
    # when its answer came back, that answer's time, the records Ometria took into its queue,
    # and the queue the answer reported (None: unknown, the call proves nothing).
    sent_tick: int | None = None
    answered_tick: int | None = None
    answered_at: float | None = None
    joined: int | None = None
    queued: int | None = None

    def could_have_made(self, state: LedgerState, position: int, now: float, still_relevant: float,
                        previous_read_at: float | None) -> bool:
        """Whether this call's record at `position` can be the one an error first seen by the
        read now being folded (number `state.reads`) is about."""
        if position >= self.size or self.at < now - still_relevant - CLOCK_SKEW:
            return False
        due = self.due if self.due is not None else self.at + still_relevant
        if previous_read_at is not None and due + CLOCK_SKEW < previous_read_at:
            return False  # validated before the previous read, as its acceptance assumes
        # Sent after this read began (its marker counts this read): its errors come later.
        return not (self.epoch == state.epoch and self.seq is not None and self.seq >= state.reads)


@dataclass(frozen=True)
class Observation:
    """What one read taught: errors first seen now, and whether any may have been lost."""

    new: list[list[str]]
    gap: bool
    baseline: bool = False


def overlap(previous: Sequence[Sequence[str]], current: Sequence[Sequence[str]]) -> int:
    """The most entries at the start of `current` that end `previous`, in order."""
    previous, current = [list(e) for e in previous], [list(e) for e in current]
    for k in range(min(len(previous), len(current)), 0, -1):
        if current[:k] == previous[len(previous) - k:]:
            return k
    return 0


def new_entries(previous: Sequence[Sequence[str]], current: list[list[str]]) -> tuple[list[list[str]], bool]:
    """(entries of `current` not in `previous`, whether the two reads overlap at all).

    Oldest first, new errors follow the overlap; newest first, they precede it. The reading
    with the longer overlap wins; when both match equally, whatever either calls new is new."""
    n = len(current)
    oldest_first = overlap(previous, current)
    newest_first = overlap(list(reversed(previous)), list(reversed(current)))
    if oldest_first > newest_first:
        return current[oldest_first:], True
    if newest_first > oldest_first:
        return current[:n - newest_first], True
    if oldest_first == 0:
        return list(current), False
    indexes = sorted(set(range(oldest_first, n)) | set(range(n - newest_first)))
    return [current[i] for i in indexes], True


def observe(state: LedgerState, entries: Iterable[Sequence[str]], now: float, *,
            still_relevant: float = GRACE_MAX,
            calls: Callable[[], Sequence[CallNote]] = tuple) -> Observation:
    """Fold one read of the errors list into `state` (see the module docstring).
    `still_relevant`: how long a record may stay undecided, so how long its error matters.
    `calls`: the account's recent push calls, asked for only when a `root[<n>]` error is new."""
    current = [[str(message), str(path)] for message, path in entries]
    if not state.epoch:
        state.epoch, state.reads, state.started_at = uuid.uuid4().hex, 1, now
        state.last, state.read_at, state.gap_read, state.gap_at = current, now, 1, now
        return Observation(new=[], gap=True, baseline=True)
    state.reads += 1
    previous_read_at = state.read_at
    new, overlapping = new_entries(state.last, current)
    gap = len(current) >= ERRORS_LIST_SIZE and not overlapping
    recent: Sequence[CallNote] | None = None
    for message, path in new:
        ref, _ = record_of_error_path(path)
        position, _ = position_of_error_path(path)
        if ref is not None:
            state.log.append([ref.type, ref.id, message, path, now, state.reads])
        elif position is not None:
            recent = calls() if recent is None else recent
            candidates = [call.receipt for call in recent
                          if call.could_have_made(state, position, now, still_relevant, previous_read_at)]
            state.log.append([POSITIONAL, str(position), message, path, now, state.reads, candidates])
        else:
            gap = True  # an error we cannot tie to a record could be anyone's
    state.last, state.read_at = current, now
    horizon = now - max(LOG_RETENTION, still_relevant + CLOCK_SKEW)
    state.log = [entry for entry in state.log if entry[4] >= horizon]
    if len(state.log) > LOG_MAX_ENTRIES:
        dropped, state.log = state.log[:-LOG_MAX_ENTRIES], state.log[-LOG_MAX_ENTRIES:]
        if any(entry[4] >= now - still_relevant - CLOCK_SKEW for entry in dropped):
            gap = True  # a record still waiting for its verdict may have lost its error
    if gap:
        state.gap_read, state.gap_at = state.reads, now
    return Observation(new=new, gap=gap)


def errors_for(state: LedgerState, refs: set[RecordRef]) -> dict[RecordRef, list[list[Any]]]:
    found: dict[RecordRef, list[list[Any]]] = {}
    for entry in state.log:
        ref = RecordRef(entry[0], entry[1])
        if ref in refs:
            found.setdefault(ref, []).append(entry)
    return found


# ---------------------------------------------------------------- one submitted record


def _counted(state: LedgerState, note: SentNote | None) -> bool:
    """Whether the note places the send among this epoch's reads."""
    return note is not None and note.seq is not None and note.epoch == state.epoch


def _since(note: SentNote | None, submitted_at: float) -> float:
    return (note.at if note is not None else submitted_at - SUBMISSION_MARGIN) - CLOCK_SKEW


def errors_after_send(state: LedgerState, entries: Sequence[list[Any]], note: SentNote | None,
                      submitted_at: float) -> list[list[Any]]:
    """The log entries first seen after the record was sent."""
    if _counted(state, note):
        return [entry for entry in entries if len(entry) > 5 and entry[5] > note.seq]
    since = _since(note, submitted_at)
    return [entry for entry in entries if entry[4] >= since]


def lost_since_send(state: LedgerState, note: SentNote | None, submitted_at: float) -> bool:
    """Whether a gap came after the record was sent (so its error may have gone unseen)."""
    if _counted(state, note):
        return state.gap_read > note.seq
    if note is not None and note.epoch and note.epoch != state.epoch:
        return True  # noted under a ledger since lost: sent before this epoch's baseline
    return state.gap_at is not None and state.gap_at >= _since(note, submitted_at)


def acceptance_wait(note: SentNote | None, *, grace: float, min_rate: float) -> float:
    """Seconds after submission before silence means valid: the grace, plus the time Ometria
    may take to work through the queue that stood when the record joined it."""
    queued = note.queued if note is not None and note.queued is not None else QUEUE_LIMIT
    return grace + max(queued, 0) / min_rate


def queues_worked_through(calls: Sequence[CallNote]) -> dict[str, float]:
    """For each call, by receipt, when a later push's own answer proved that Ometria had
    worked through the queue its records joined (that answer's time); calls nothing proves
    yet are left out.

    A call's answer reported Q records queued. Ometria works in order of receipt, so the call's
    records are worked through once Ometria has worked through Q records, and the call's own,
    since. A later call c2 reports Q2; in between the hub added A records, so Ometria worked
    through at least Q + A - Q2 (other senders to the account only add to the queue, so leaving
    them out errs low). Whether an answer's queue counts the call's own records is undocumented;
    counting neither call's own, `A >= Q2` covers both readings. A counts the calls sent after
    the first was answered and answered before c2 was sent; that order comes from the account's
    ticks (one counter all workers share), never from two clocks. A call in flight across
    either moment is left out, since it may have joined on either side."""
    known = [c for c in calls if c.sent_tick is not None and c.answered_tick is not None]
    by_answer = sorted(known, key=lambda c: c.answered_tick)
    sent_ticks: list[int] = []  # the calls answered before the current c2 went out, by send
    joined: list[int] = []
    proofs: list[tuple[int, int, float]] = []  # (c2's answer, the bound it proves, its time)
    taken = 0
    for c2 in sorted(known, key=lambda c: c.sent_tick):  # what was answered before each went out only grows
        while taken < len(by_answer) and by_answer[taken].answered_tick < c2.sent_tick:
            call = by_answer[taken]
            taken += 1
            if call.joined:
                at = bisect.bisect(sent_ticks, call.sent_tick)
                sent_ticks.insert(at, call.sent_tick)
                joined.insert(at, call.joined)
        if c2.queued is None or c2.answered_at is None:
            continue
        # The latest sends that add up to Q2: every call answered before the earliest of them
        # has A >= Q2 (with Q2 = 0, every call answered before c2 went out).
        bound, added, k = (c2.sent_tick if c2.queued <= 0 else None), 0, len(sent_ticks)
        while bound is None and k > 0:
            k -= 1
            added += joined[k]
            if added >= c2.queued:
                bound = sent_ticks[k]
        if bound is not None:
            proofs.append((c2.answered_tick, bound, c2.answered_at))
    bounds: list[int] = []  # in the order answered, each proof that reaches further than those before
    proved_at: list[float] = []
    for _, bound, at in sorted(proofs):
        if not bounds or bound > bounds[-1]:
            bounds.append(bound)
            proved_at.append(at)
    found = {}
    for call in known:
        first = bisect.bisect(bounds, call.answered_tick)  # the first proof whose bound is above it
        if first < len(bounds):
            found[call.receipt] = proved_at[first]
    return found


def verdict_at(note: SentNote | None, submitted_at: float, *, grace: float, min_rate: float,
               worked_through: float | None = None) -> float:
    """When silence first means valid for a record submitted at `submitted_at`: the grace
    after its queue was shown worked through, or else the grace plus its queue at the
    account's minimum pace (acceptance_wait), whichever comes first; never within a grace
    of the send."""
    due = submitted_at + acceptance_wait(note, grace=grace, min_rate=min_rate)
    if worked_through is not None:
        due = min(due, max(worked_through, submitted_at) + grace)
    return due


def positional_errors(state: LedgerState, *, receipt: str, position: int | None, note: SentNote | None,
                      submitted_at: float) -> tuple[list[list[Any]], list[list[Any]]]:
    """(`root[<n>]` errors that can only be this record's, those that may be it or another
    call's) for the record at `position` of the call that got `receipt`, first seen after
    it was sent. An unknown position (no note) makes every such error a "may be"."""
    entries = [entry for entry in state.log if entry[0] == POSITIONAL
               and (position is None or entry[1] == str(position))]
    entries = errors_after_send(state, entries, note, submitted_at)
    sole = [entry for entry in entries if position is not None and len(entry) > 6 and entry[6] == [receipt]]
    shared = [entry for entry in entries if entry not in sole]
    return sole, shared


def receipt_errors_missing(state: LedgerState, note: SentNote | None, submitted_at: float, *,
                           receipt: str = "") -> bool:
    """The push answer counted records rejected on receipt, but fewer of the call's records
    are named by errors seen since: the rest of its records cannot be told apart."""
    if note is None or note.rejected <= 0:
        return False
    refs = set(note.refs)
    named = {(entry[0], entry[1]) for entry in errors_after_send(
        state, [entry for entry in state.log if (entry[0], entry[1]) in refs], note, submitted_at)}
    for entry in errors_after_send(state, [e for e in state.log if e[0] == POSITIONAL], note, submitted_at):
        if receipt and len(entry) > 6 and entry[6] == [receipt] and int(entry[1]) < len(note.refs):
            named.add(note.refs[int(entry[1])])
    return len(named) < note.rejected
