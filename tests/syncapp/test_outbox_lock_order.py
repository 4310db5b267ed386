"""Every statement that locks several outbox rows takes them in key order, as planning and a
push completing its batch do: two transactions taking the same rows in other orders deadlock.

Found by the seventeenth session's peak run: a push stepping aside gave its rows back in id
order while a figures re-plan wrote the same flow's rows in key order, and PostgreSQL failed
the re-plan, and then a push completing a batch the destination had already accepted."""
from __future__ import annotations

import threading

import pytest
from django.utils import timezone

from syncapp.models import OutboxItem
from syncapp.outbox import outbox_complete, outbox_reclaim_stale, outbox_release, outbox_stop
from tests.factories import FlowFactory
from tests.syncapp.lock_races import deadlock_once, in_transactions_side_by_side

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "a" * 32


@pytest.fixture
def rows(postgres_only):
    """Key order and id order disagree, as with DocEntry keys of different lengths ("99999"
    sorts after "100000"): "b" is written first, so its id is the lower."""
    flow = FlowFactory()
    claimed = timezone.now() - timezone.timedelta(hours=1)
    made = {key: OutboxItem.objects.create(flow=flow, record_key=key, status="in_flight", claim_token=TOKEN,
                                           claimed_at=claimed, payload={"key": key}, payload_hash=key)
            for key in ("b", "a")}
    assert made["b"].id < made["a"].id
    return flow, made


def _against_a_key_order_locker(statement) -> list[Exception]:
    """Run `statement` while another transaction holds "a" and, once `statement` has had time
    to take what it takes first, asks for "b" (key order: a, then b)."""
    holding = threading.Event()

    def key_order_locker():
        list(OutboxItem.objects.select_for_update().filter(record_key="a"))
        holding.set()
        threading.Event().wait(0.5)  # the statement now holds "b" (id order) or waits on "a"
        list(OutboxItem.objects.select_for_update().filter(record_key="b"))

    def other():
        holding.wait(5)
        statement()

    return in_transactions_side_by_side(key_order_locker, other)


def test_rows_given_back_are_locked_in_key_order(rows):
    _, made = rows
    assert _against_a_key_order_locker(lambda: outbox_release(rows=list(made.values()), delay_seconds=0)) == []
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"pending"}


def test_rows_stopped_are_locked_in_key_order(rows):
    flow, _ = rows
    assert _against_a_key_order_locker(lambda: outbox_stop(flow=flow, record_keys=["b", "a"], status="held")) == []
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"held"}


def test_rows_of_a_dead_worker_are_locked_in_key_order(rows):
    flow, _ = rows
    assert _against_a_key_order_locker(lambda: outbox_reclaim_stale(flow=flow)) == []
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"pending"}


def test_a_push_completing_a_batch_locks_in_key_order(rows):
    _, made = rows
    accepted = [(made["b"], "remote-b"), (made["a"], "remote-a")]
    assert _against_a_key_order_locker(lambda: outbox_complete(accepted=accepted, failed=[], retry=[])) == []
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {"accepted"}


def test_a_push_whose_outcomes_were_a_deadlocks_victim_records_them_again(monkeypatch):
    """The peak run's push failed there after the destination had accepted its batch: the rows
    stayed in flight until their lease ran out, and went out a second time."""
    from syncapp import outbox

    flow = FlowFactory()
    row = OutboxItem.objects.create(flow=flow, record_key="1", status="in_flight", claim_token=TOKEN,
                                    claimed_at=timezone.now(), payload={}, payload_hash="h")
    failures: list[int] = []
    monkeypatch.setattr(outbox, "_held", deadlock_once(outbox._held, failures))
    assert outbox_complete(accepted=[(row, "remote-1")], failed=[], retry=[]) == {"1"}
    assert failures == [1]
    row.refresh_from_db()
    assert (row.status, row.remote_id, row.accepted_hash) == ("accepted", "remote-1", "h")
