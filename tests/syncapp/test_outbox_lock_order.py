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


def test_a_plan_that_re_queues_some_rows_and_stops_others_takes_them_in_one_key_order(postgres_only, flow,
                                                                                        monkeypatch):
    """Each of its statements locks its rows in key order, but the re-plan and the stops one after the
    other are not one order: a push completing a batch holding rows of both deadlocked with them
    (reported by the twenty-fifth session's review)."""
    import time

    from erp.models import BusinessPartner
    from syncapp import planning
    from syncapp.planning import flow_plan
    from syncapp.services import connection_pull
    from tests.syncapp.fakes import FakeSource, bp_record

    connection_pull(connection=flow.connection, adapter=FakeSource([[bp_record("A1"), bp_record("B1")]]))
    OutboxItem.objects.filter(flow=flow).update(status="in_flight", claim_token=TOKEN, claimed_at=timezone.now())
    # While their send is out: A1's email breaks (its row will be stopped), B1 changes (re-queued).
    BusinessPartner.objects.filter(card_code="A1").update(email="not an email", email_normalised="not an email")
    BusinessPartner.objects.filter(card_code="B1").update(card_name="Renamed")
    re_queued = threading.Event()
    stop = planning.outbox_stop

    def stop_once_the_push_waits(**kwargs):
        if not re_queued.is_set():
            re_queued.set()
            time.sleep(0.5)  # the push now holds A1 and waits for B1 (key order), or waits for A1
        return stop(**kwargs)

    monkeypatch.setattr(planning, "outbox_stop", stop_once_the_push_waits)

    def push_completing_its_batch():  # as outbox_complete locks the batch's rows (_held)
        re_queued.wait(5)
        list(OutboxItem.objects.select_for_update().filter(flow=flow).order_by("record_key"))

    errors = in_transactions_side_by_side(lambda: flow_plan(flow=flow, record_keys=["A1", "B1"]),
                                          push_completing_its_batch)

    assert errors == []
    assert dict(OutboxItem.objects.filter(flow=flow).values_list("record_key", "status")) == {
        "A1": "failed", "B1": "in_flight"}  # B1 waits in flight for the send out, with its new payload


def test_a_pull_re_queuing_an_edit_and_a_cancellation_takes_their_rows_in_one_key_order(postgres_only,
                                                                                        monkeypatch):
    """The orders plan writes urgent changes (a cancellation) and routine edits in two statements."""
    import time

    from syncapp import planning_orders
    from tests.syncapp.test_orders import document, hub_at, line

    hub = hub_at()
    hub.pull("orders", document("orders", 1, line(0)), document("orders", 2, line(0)))
    hub.push()
    OutboxItem.objects.filter(flow=hub.orders).update(status="in_flight", claim_token=TOKEN,
                                                      claimed_at=timezone.now())
    enqueue, enqueued = planning_orders.outbox_enqueue, []

    def routine_once_the_push_waits(**kwargs):
        enqueued.append(kwargs["records"])
        if len(enqueued) == 2:
            time.sleep(0.5)  # the push now holds "1" and waits for "2" (key order), or waits for "1"
        return enqueue(**kwargs)

    monkeypatch.setattr(planning_orders, "outbox_enqueue", routine_once_the_push_waits)

    def push_completing_its_batch():
        while len(enqueued) < 2:
            time.sleep(0.01)
        list(OutboxItem.objects.select_for_update().filter(flow=hub.orders).order_by("record_key"))

    errors = in_transactions_side_by_side(
        lambda: hub.pull("orders", document("orders", 1, line(0, quantity=2)),  # routine: edited
                         document("orders", 2, line(0), cancelled=True, status="closed")),  # urgent
        push_completing_its_batch)

    assert errors == []
    assert [[r.key for r in records] for records in enqueued] == [["2"], ["1"]]
