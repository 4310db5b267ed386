"""The new changes read apart from the overlap re-read (issue 12, part 3): in a peak run a
deliveries pull read its new changes in a second or two, then re-read about 2,000 unchanged
deliveries of its overlap window for 5 s more, and the dispatches it had planned waited for
the pull's worker process to come free. A pull now reads the new changes alone, its cursor
owing the re-read, and a read of its own does the re-read after: together they read what
one read did, and leave the cursor where one read left it."""
from __future__ import annotations

import pytest

from erp.sap_b1.adapter import SapB1Source
from tests.erp.test_sap_b1_documents import document

MINUTE_ONE = [str(n) for n in range(1, 31)]  # stamped 09:20
MINUTE_TWO = [str(n) for n in range(31, 61)]  # stamped 09:21


def _keys(batches) -> list[str]:
    return sorted((r.key for batch in batches for r in batch.records), key=int)


def _two_minutes_of_orders(sandbox, clock, source) -> dict:
    """Orders 1-30 stamped 09:20, 31-60 at 09:21, 61 at 09:22; the cursor after reading them."""
    clock.set(9, 20, 10)
    for entry in range(1, 31):
        sandbox.add_document("orders", document(entry))
    clock.set(9, 21, 10)
    for entry in range(31, 61):
        sandbox.add_document("orders", document(entry))
    clock.set(9, 22, 0)
    sandbox.add_document("orders", document(61))
    *_, last = source.read_changes("orders", None)
    return last.cursor


def test_the_new_changes_are_read_alone_and_the_re_read_they_owe_after_them(sandbox, connection, clock):
    source = SapB1Source(connection, clock=clock)
    cursor = _two_minutes_of_orders(sandbox, clock, source)
    clock.set(9, 23, 30)
    sandbox.add_document("orders", document(99))  # the new order
    together = list(source.read_changes("orders", cursor))

    new = list(source.read_new_changes("orders", cursor))

    assert _keys(new) == ["61", "99"]  # the cursor's own minute and the new order: no re-read
    assert all(batch.cursor == cursor for batch in new[:-1])  # stopped half-way, it is read again whole
    owed = new[-1].cursor
    assert owed == {"updated_at": "2026-11-22T09:23:30+00:00", "reread_base": "2026-11-22T09:22:00+00:00"}
    assert source.overlap_due("orders", owed)

    overlap = list(source.read_overlap("orders", owed))

    assert _keys(overlap) == MINUTE_ONE == _keys(together)[:30]  # the minute whose overlap has passed
    assert all(batch.cursor == owed for batch in overlap[:-1])
    assert overlap[-1].cursor == together[-1].cursor == {"updated_at": "2026-11-22T09:23:30+00:00",
                                                         "reread_to": "2026-11-22T09:21:00+00:00"}
    assert not source.overlap_due("orders", overlap[-1].cursor)
    assert list(source.read_overlap("orders", overlap[-1].cursor)) == []  # a second one reads nothing


def _pulls(source, cursor, clock, minutes, *, apart: str) -> tuple[list[list[str]], dict]:
    """A pull at half past each of `minutes`: read together, apart (the re-read right after the
    new changes), or apart with every re-read left undone (its task never got a worker); what
    each read, and the cursor left."""
    reads = []
    for minute in minutes:
        clock.set(9, minute, 30)
        if apart == "no":
            batches = list(source.read_changes("orders", cursor))
        else:
            batches = list(source.read_new_changes("orders", cursor))
            if apart == "yes":
                batches += list(source.read_overlap("orders", batches[-1].cursor))
        cursor = batches[-1].cursor
        reads.append([key for key in _keys(batches) if key != "61"])  # 61: the cursor's own minute, every pull
    return reads, cursor


@pytest.mark.parametrize("apart", ["yes", "re-read never run"])
def test_each_minute_is_read_again_once_whether_the_re_read_runs_apart_or_not_at_all(sandbox, connection, clock,
                                                                                   apart):
    source = SapB1Source(connection, clock=clock)
    cursor = _two_minutes_of_orders(sandbox, clock, source)
    together, last_together = _pulls(source, cursor, clock, (22, 23, 24, 25, 26), apart="no")
    assert together == [[], MINUTE_ONE, MINUTE_TWO, [], []]

    reads, last = _pulls(source, cursor, clock, (22, 23, 24, 25, 26), apart=apart)

    if apart == "yes":
        assert reads == together
    else:  # a pull whose cursor owes a re-read reads whole, the owed re-read with its own
        assert reads == [[], [], MINUTE_ONE + MINUTE_TWO, [], []]
    assert last == last_together


@pytest.mark.parametrize("apart", ["no", "yes", "re-read never run"])
def test_a_change_sap_shows_late_is_found_by_the_re_read_read_apart(sandbox, connection, clock, apart):
    """What the overlap is for: a change stamped in a minute the reads have passed (a long
    transaction in SAP) is read when that minute is read again, the overlap after it ended."""
    clock.set(9, 20, 10)
    sandbox.add_document("orders", document(1))
    clock.set(9, 22, 0)
    sandbox.add_document("orders", document(61))
    source = SapB1Source(connection, clock=clock)
    *_, last = source.read_changes("orders", None)
    _, cursor = _pulls(source, last.cursor, clock, (22,), apart=apart)
    clock.set(9, 21, 40)
    sandbox.add_document("orders", document(3))  # stamped 09:21:40, shown only after the read at 09:22:30

    reads, cursor = _pulls(source, cursor, clock, (23, 24, 25), apart=apart)

    assert any("3" in keys for keys in reads)
    assert cursor == {"updated_at": "2026-11-22T09:22:00+00:00", "reread_to": "2026-11-22T09:22:00+00:00"}


def test_a_first_read_and_a_read_without_an_overlap_owe_nothing(sandbox, connection, clock):
    sandbox.add_document("orders", document(1))
    source = SapB1Source(connection, clock=clock)
    *_, first = source.read_new_changes("orders", None)
    assert first.cursor == {"updated_at": "2026-11-22T09:00:00+00:00"}
    connection.delta_overlap_minutes = 0
    clock.set(9, 30)
    *_, last = SapB1Source(connection, clock=clock).read_new_changes("orders", first.cursor)
    assert last.cursor == {"updated_at": "2026-11-22T09:00:00+00:00"}
    assert not source.overlap_due("orders", last.cursor)
