"""Issue 12: an Ometria record is accepted a grace after later pushes' own answers showed
the queue it joined worked through, not only after the grace plus that queue at the
account's minimum pace (esp/ometria/errors_list.py: queues_worked_through, verdict_at).

In the peak runs the minimum pace (50 records a second, Ometria's pace being undocumented)
held Ometria's new orders and dispatches 18-30 s from submitted to accepted with a 10 s
grace, while the queue headers of the next pushes already showed the queue empty."""
from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esp.ometria.client import OmetriaClient
from esp.ometria.confirm import ErrorLedger
from esp.ometria.errors_list import CallNote, SentNote, queues_worked_through, verdict_at
from tests.esp.dotdigital_support import RecordingThrottle
from tests.esp.test_ometria_adapter import KEY, World, customer


def call(receipt, sent, answered, joined=100, queued=None, answered_at=None):
    return CallNote(receipt, at=float(sent), epoch="e", seq=1, size=joined, sent_tick=sent, answered_tick=answered,
                    answered_at=float(answered if answered_at is None else answered_at), joined=joined,
                    queued=queued)


# ---------------------------------------------------------------- the proof, alone


def test_later_calls_that_add_up_to_the_queue_reported_after_them_prove_the_earlier_queue_worked_through():
    calls = [call("c1", 1, 2, queued=300), call("c2", 3, 4, queued=350), call("c3", 5, 6, queued=150),
             call("c4", 7, 8, queued=100)]
    # c3's answer: 150 queued, and only c2's 100 went in after c1's answer: not yet.
    # c4's answer: 100 queued, and c2 and c3 (200) went in since c1's answer: c1 is through;
    # c2 counts only c3 (100 >= 100): through too. c3 and c4: nothing after them proves them.
    assert queues_worked_through(calls) == {"c1": 8.0, "c2": 8.0}


def test_an_empty_queue_proves_every_call_answered_before_that_call_went_out():
    calls = [call("c1", 1, 2, queued=100), call("c2", 3, 5, queued=200), call("c3", 4, 6, queued=0)]
    assert queues_worked_through(calls) == {"c1": 6.0}  # c2 was still in flight when c3 went out


def test_a_call_in_flight_across_either_answer_is_not_counted():
    # c2 went out before c1's answer came back: it may have joined the queue ahead of c1's records.
    assert queues_worked_through([call("c1", 1, 3, queued=100), call("c2", 2, 4, queued=100),
                                  call("c3", 5, 6, queued=100)]) == {}
    assert queues_worked_through([call("c1", 1, 2, queued=100), call("c2", 3, 4, queued=100),
                                  call("c3", 5, 6, queued=100)]) == {"c1": 6.0}  # c2 sent after: counted
    # c2 came back only after c3 went out: its records may be in c3's queue or not.
    assert queues_worked_through([call("c1", 1, 2, queued=100), call("c2", 3, 5, queued=100),
                                  call("c3", 4, 6, queued=100)]) == {}


def test_records_refused_on_receipt_and_unknown_queues_prove_nothing():
    refused = [call("c1", 1, 2, queued=100), call("c2", 3, 4, joined=40, queued=140), call("c3", 5, 6, queued=100)]
    assert queues_worked_through(refused) == {}  # c2 put 40 in the queue, not 100
    unknown = [call("c1", 1, 2, queued=100), call("c2", 3, 4, queued=100), call("c3", 5, 6, queued=None)]
    assert queues_worked_through(unknown) == {}
    before_proofs = [CallNote("c1", at=1.0, epoch="e", seq=1, size=100), call("c2", 3, 4), call("c3", 5, 6, queued=0)]
    assert queues_worked_through(before_proofs) == {"c2": 6.0}  # a call noted before ticks is neither


def test_the_verdict_is_a_grace_after_the_proof_or_the_minimum_pace_whichever_comes_first():
    note = SentNote(at=100.0, queued=1000)
    assert verdict_at(note, 100.0, grace=10, min_rate=50) == 130.0  # 10 + 1000 / 50
    assert verdict_at(note, 100.0, grace=10, min_rate=50, worked_through=103.0) == 113.0
    assert verdict_at(note, 100.0, grace=10, min_rate=50, worked_through=125.0) == 130.0
    assert verdict_at(note, 100.0, grace=10, min_rate=50, worked_through=99.0) == 110.0  # never within a grace


@st.composite
def traffic(draw):
    """Three workers pushing (each call goes out, reaches Ometria, is answered: one of the three
    per step of its worker), another sender on the account, and Ometria working through its
    queue in order, interleaved at random; and whether an answer's queue counts its own records."""
    steps = draw(st.lists(st.tuples(st.sampled_from(["worker", "worker", "worker", "other sender", "work", "work"]),
                                    st.integers(0, 2), st.integers(1, 100)), min_size=40, max_size=150))
    return steps, draw(st.booleans())


@settings(max_examples=400, deadline=None)
@given(traffic())
def test_a_call_is_never_proven_worked_through_before_ometria_worked_through_its_records(case):
    steps, answer_counts_own = case
    tick, now = 0, 0.0
    queue: deque = deque()  # [call id, records left], in order of receipt
    calls, notes, finished = {}, [], {}
    for n, (kind, worker, size) in enumerate(steps):
        now += 1.0
        if kind == "worker" and worker not in calls:  # the call goes out
            tick += 1
            calls[worker] = {"id": f"c{n}", "size": size, "sent_tick": tick, "at": now}
        elif kind == "worker" and "queued" not in calls[worker]:  # Ometria takes it
            going = calls[worker]
            ahead = sum(left for _, left in queue)
            queue.append([going["id"], going["size"]])
            going["queued"] = ahead + going["size"] if answer_counts_own else ahead
        elif kind == "worker":  # its answer is back
            done = calls.pop(worker)
            tick += 1
            notes.append(CallNote(done["id"], at=done["at"], epoch="e", seq=1, size=done["size"],
                                  sent_tick=done["sent_tick"], answered_tick=tick, answered_at=now,
                                  joined=done["size"], queued=done["queued"]))
        elif kind == "other sender":
            queue.append(["other sender", size])
        else:
            budget = 3 * size
            while queue and budget:
                taken = min(budget, queue[0][1])
                queue[0][1] -= taken
                budget -= taken
                if queue[0][1] == 0:
                    finished[queue.popleft()[0]] = now
    for receipt, proven_at in queues_worked_through(notes).items():
        assert receipt in finished and finished[receipt] <= proven_at, (receipt, proven_at, finished.get(receipt))


# ---------------------------------------------------------------- the adapter against the sandbox


@pytest.fixture
def fast_ometria(settings):
    """Ometria validating 200 records a second (2 s after receipt at the soonest); the account
    assumes 20 a second, its minimum pace."""
    settings.REDIS_URL = ""
    ErrorLedger.forget_all()
    world = World(processing_rate=200)
    yield world
    world.server.stop()


def _push(world, destination, keys):
    items = [customer(key) if key != "BAD" else customer("BAD", email="bad@localhost") for key in keys]
    return world.submitted(items, destination.push("customers", items))


def _accepted_only_once_validated(world, results):
    stored = {key for _, key in world.sandbox.records("contact")}
    early = [r.key for r in results if r.outcome == "accepted" and r.key not in stored]
    assert early == [], f"accepted before Ometria validated them: {early[:5]}"


def test_a_record_is_accepted_a_grace_after_later_pushes_showed_its_queue_worked_through(fast_ometria):
    world = fast_ometria
    destination = world.destination(validation_grace_seconds=5, min_processing_rate=20)
    first = [f"G{n:03d}" for n in range(300)]
    submitted = []
    for start in range(0, 300, 100):  # three calls at once: the last joined a queue of 300
        chunk = first[start:start + 100] + (["BAD"] if start == 200 else [])
        submitted += _push(world, destination, chunk)
    world.clock.sleep(4)  # Ometria worked through all 301 by 3.5 s
    later = _push(world, destination, [f"H{n:03d}" for n in range(100)])  # its answer: 100 queued, its own
    world.clock.sleep(3)
    later += _push(world, destination, [f"I{n:03d}" for n in range(100)])

    world.clock.sleep(2)  # 9 s: the fourth call's answer (at 4 s) showed the first two calls' queue through
    decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
    _accepted_only_once_validated(world, destination.confirm("customers", submitted))
    assert {decided.get(key) for key in first[:200]} == {"accepted"}  # the minimum pace: 10 and 15 s
    assert not any(key in decided for key in first[200:])  # the third call's queue: shown at 7 s
    world.clock.sleep(3)  # 12 s: a grace after the fifth call's answer; the minimum pace says 20 s
    decided = {r.key: r.outcome for r in destination.confirm("customers", submitted)}
    assert decided["BAD"] == "permanent"
    assert {decided[key] for key in first[200:]} == {"accepted"}
    assert destination.confirm("customers", later) == []  # nothing after them shows their queue yet


def test_another_sender_filling_the_queue_only_delays_the_proof(settings):
    """Ometria works at the account's minimum pace (20 a second) while another integration on
    the account pushes too: the later pushes' answers show a queue the hub's own records do not
    add up to, so nothing is taken as worked through before Ometria validated it."""
    settings.REDIS_URL = ""
    ErrorLedger.forget_all()
    world = World(processing_rate=20)
    other = OmetriaClient(world.server.url, KEY, throttle=RecordingThrottle(), sleep=world.clock.sleep)
    try:
        destination = world.destination(validation_grace_seconds=5, min_processing_rate=20)
        submitted, seen = [], {}
        for second in range(40):
            if second % 2 == 0:
                keys = [f"S{second:02d}-{n:02d}" for n in range(40)] + (["BAD"] if second == 10 else [])
                submitted += _push(world, destination, keys)
            other.push([{"@type": "contact", "@collection": "web", "id": f"W{second}-{n}",
                         "email": f"w{second}-{n}@example.com"} for n in range(30)])
            results = destination.confirm("customers", submitted)
            _accepted_only_once_validated(world, results)
            seen.update({r.key: r.outcome for r in results})
            world.clock.sleep(1)
        assert seen.get("BAD") == "permanent"
        assert "S00-00" in seen and seen["S00-00"] == "accepted"
    finally:
        world.server.stop()


def test_the_adapter_times_the_next_confirm_a_grace_after_the_proof_or_within_a_grace_while_none(fast_ometria):
    world = fast_ometria
    destination = world.destination(validation_grace_seconds=5, min_processing_rate=20)
    submitted = []
    for start in range(0, 300, 100):
        submitted += _push(world, destination, [f"G{n:03d}" for n in range(start, start + 100)])
    last = submitted[-1]
    # Nothing shows its queue (300) worked through yet: at the minimum pace 20 s, but a push may
    # show it at any moment, so the engine comes back within a grace.
    assert destination.verdict_due_in(last.receipt, last.submitted_at) == pytest.approx(5)
    world.clock.sleep(4)
    _push(world, destination, ["H000"])
    world.clock.sleep(3)  # H000 validated at 6 s
    _push(world, destination, ["H001"])  # its answer (at 7 s): 1 queued, and H000 went in after the third call
    world.clock.sleep(2)
    assert destination.verdict_due_in(last.receipt, last.submitted_at) == pytest.approx(3)  # 7 + 5 - 9
    world.clock.sleep(2.9)
    assert destination.confirm("customers", submitted[200:]) == []
    world.clock.sleep(0.1)
    assert {r.key for r in destination.confirm("customers", submitted)} == {r.key for r in submitted}
