"""dotdigital insight imports confirmed later: a worker's push sends the import and gives its
process back; the confirm task reads the report. Adapter level against the sandbox, then the
engine (flow_push as the workers run it, flow_confirm_pass as the confirm task does)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from exceptions.models import SyncException
from syncapp.adapters import PushItem, SubmittedItem
from syncapp.models import Flow, OutboxItem, Priority
from syncapp.ratelimit import calls_for
from syncapp.services import connection_pull, flow_confirm_pass, flow_push
from tests.hub import Hub, partner

from .dotdigital_support import world
from .test_dotdigital_insight import insight_calls, products

ALL = ("customers", "products", "orders")
STATUS = "/insightData/v3/import/"


def submitted(results, items, *, seconds_ago: float = 10) -> list[SubmittedItem]:
    by_key, at = {item.key: item for item in items}, datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return [SubmittedItem(r.key, by_key[r.key].identifier, r.remote_id, at, by_key[r.key].fields) for r in results]


def status_reads(w, import_id: str) -> int:
    return sum(1 for method, path, _ in insight_calls(w) if method == "GET" and path == STATUS + import_id)


def test_a_worker_push_sends_the_import_and_confirm_gives_each_records_verdict():
    with world(import_delay_seconds=3) as w:
        dest = w.destination(entities=ALL)
        dest.push("customers", [PushItem("C1", "ann@example.com", {"FIRSTNAME": "Ann"})])
        dest.verdicts_in_push = False
        orders = [PushItem("SO-1", "ann@example.com", {"orderTotal": 56.0, "currency": "GBP"}),
                  PushItem("SO-2", "bob@example.com", {"orderTotal": 9.0, "currency": "GBP"})]
        sleeps_before = len(w.clock.sleeps)

        results = dest.push("orders", orders)

        assert [r.outcome for r in results] == ["submitted", "submitted"]
        import_id = results[0].remote_id
        assert import_id and results[1].remote_id == import_id
        assert len(w.clock.sleeps) == sleeps_before  # the push did not wait for dotdigital
        assert status_reads(w, import_id) == 0
        assert dest.confirm("orders", submitted(results, orders, seconds_ago=1)) == []
        assert status_reads(w, import_id) == 0  # sent a second ago: not asked before dotdigital's 5 s
        items = submitted(results, orders)

        assert dest.confirm("orders", items) == []  # still processing: asked again later
        w.clock.sleep(3)
        verdicts = {r.key: r for r in dest.confirm("orders", items)}

        assert verdicts["SO-1"].outcome == "accepted"
        assert (verdicts["SO-2"].outcome, verdicts["SO-2"].category) == ("transient", "waiting_for_customer")
        assert status_reads(w, import_id) == 2
        assert "SO-1" in w.sandbox.insight_collections["Orders"]["records"]


def test_a_sixth_import_waits_for_a_slot_instead_of_earning_a_429_and_its_report_is_not_read_twice():
    with world(import_delay_seconds=10) as w:
        dest = w.destination()
        dest.verdicts_in_push = False
        pushed = [products(f"SKU-{n}") for n in range(6)]
        with calls_for(Priority.URGENT):  # time-sensitive records may take all five
            results = [dest.push("products", batch) for batch in pushed]

        assert all(r.outcome == "submitted" for batch in results for r in batch)
        assert [c for c in insight_calls(w) if c[2] == 429] == []
        first = results[0][0].remote_id
        reads_while_waiting = status_reads(w, first)
        assert reads_while_waiting >= 1  # the sixth push read the oldest import's status, and waited
        assert sum(w.clock.sleeps) >= 10

        verdicts = dest.confirm("products", [i for batch, items in zip(results, pushed, strict=True)
                                             for i in submitted(batch, items)])

        # The first import's report, read while waiting, settles its record without another call.
        assert status_reads(w, first) == reads_while_waiting
        assert {r.key: r.outcome for r in verdicts} == {f"SKU-{n}": "accepted" for n in range(5)}  # 6th: running


def test_imports_of_records_not_time_sensitive_leave_two_of_the_five_slots_to_new_orders_and_dispatches():
    """Issue 12 (time-sensitive first): a backfill's imports could take all five of dotdigital's
    slots, and a push of new orders then waited for one of them to finish (5 s and more)."""
    with world(import_delay_seconds=10) as w:
        dest = w.destination()
        dest.verdicts_in_push = False
        with calls_for(Priority.BACKFILL):
            backfill = [dest.push("products", products(f"OLD-{n}")) for n in range(3)]
            assert w.clock.sleeps == [] and status_reads(w, backfill[0][0].remote_id) == 0
            backfill.append(dest.push("products", products("OLD-3")))  # a fourth waits for the oldest
        assert status_reads(w, backfill[0][0].remote_id) >= 1 and sum(w.clock.sleeps) >= 10
        sleeps = len(w.clock.sleeps)
        with calls_for(Priority.URGENT):
            urgent = [dest.push("products", products(f"NEW-{n}")) for n in range(2)]
        assert len(w.clock.sleeps) == sleeps  # three backfill imports running, and the two kept slots free
        assert all(status_reads(w, batch[0].remote_id) == 0 for batch in backfill[1:] + urgent)
        assert [c for c in insight_calls(w) if c[2] == 429] == []


def test_a_confirm_pass_asks_for_at_most_ten_seconds_and_leaves_the_rest_for_the_next(monkeypatch):
    with world(import_delay_seconds=1) as w:
        dest = w.destination()
        dest.verdicts_in_push = False
        pushed = [products(f"SKU-{n}") for n in range(3)]
        items = [i for batch in pushed for i in submitted(dest.push("products", batch), batch)]
        w.clock.sleep(2)
        read = dest.client.insight_import_status

        def slow_read(import_id):  # each read waits 6 s for the account's allowance
            w.clock.sleep(6)
            return read(import_id)

        monkeypatch.setattr(dest.client, "insight_import_status", slow_read)
        first = dest.confirm("products", items[:1]) + dest.confirm("products", items[1:])  # two batches
        assert [r.key for r in first] == ["SKU-0", "SKU-1"]  # 12 s into the pass: the third is not asked
        next_pass = w.destination()
        monkeypatch.setattr(next_pass.client, "insight_import_status", slow_read)
        assert [r.key for r in next_pass.confirm("products", items[2:])] == ["SKU-2"]


def test_an_import_whose_rows_the_engine_confirms_in_two_batches_is_read_once():
    with world(import_delay_seconds=1) as w:
        dest = w.destination()
        dest.verdicts_in_push = False
        batch = products("A", "B", "C")
        results = dest.push("products", batch)
        w.clock.sleep(2)
        items = submitted(results, batch)
        assert [r.outcome for r in dest.confirm("products", items[:2])] == ["accepted"] * 2
        assert [r.outcome for r in dest.confirm("products", items[2:])] == ["accepted"]
        assert status_reads(w, results[0].remote_id) == 1


def test_an_import_dotdigital_no_longer_knows_sends_its_records_again():
    with world() as w:
        dest = w.destination()
        at = datetime.now(UTC) - timedelta(seconds=10)
        item = SubmittedItem("SKU-1", "SKU-1", "no-such-import", at, {"name": "A"})
        [result] = dest.confirm("products", [item])
        assert (result.outcome, result.reason_code) == ("transient", "not_in_report")


def test_contacts_are_always_settled_in_the_push():
    with world() as w:
        dest = w.destination()
        dest.verdicts_in_push = False
        people = [PushItem(f"C{n}", f"p{n}@example.com", {"FIRSTNAME": "P"}) for n in range(3)]
        assert {r.outcome for r in dest.push("customers", people)} == {"accepted"}


@pytest.fixture
def orders_hub(db):
    hub = Hub()
    hub.orders = Flow.objects.create(name="orders", connection=hub.connection, destination=hub.account,
                                     entity="orders")
    yield hub
    hub.close()


def _customers_accepted_and_their_orders_planned(hub, *codes: str):
    hub.sap.add_business_partners([partner(code) for code in codes])
    for code in codes:
        hub.sap.add_document("orders", {"CardCode": code, "DocDate": "2026-11-20", "DocDueDate": "2026-11-25",
                                        "DocCurrency": "GBP", "DocumentLines": [
                                            {"LineNum": 0, "ItemCode": "1001", "Quantity": 1, "Price": 10.0,
                                             "WarehouseCode": "01", "VatGroup": "O1"}]})
    for entity in ("business_partners", "orders"):
        connection_pull(connection=hub.connection, entity=entity)
    flow_push(flow=hub.flow, adapter=hub.destination())
    return hub


def test_with_imports_confirmed_later_the_workers_push_leaves_orders_submitted_and_the_confirm_accepts_them(
        orders_hub, settings):
    settings.SYNC_CONFIRM_IMPORTS_LATER = True
    hub = _customers_accepted_and_their_orders_planned(orders_hub, "C001", "C002")
    sleeps_before = len(hub.dd_clock.sleeps)

    run = flow_push(flow=hub.orders, adapter=hub.destination(), confirm=False)  # as flow_push_task does

    rows = OutboxItem.objects.filter(flow=hub.orders)
    assert run.status == "succeeded" and run.records_accepted == 0
    assert {row.status for row in rows} == {"submitted"} and len(rows) == 2
    assert len({row.receipt for row in rows}) == 1
    assert len(hub.dd_clock.sleeps) == sleeps_before  # no worker process sat through the import
    assert len(hub.dd.insight_collections["Orders"]["records"]) == 0

    hub.dd_clock.sleep(2)
    OutboxItem.objects.filter(flow=hub.orders).update(submitted_at=timezone.now() - timedelta(seconds=6))
    confirmed = flow_confirm_pass(flow=hub.orders, adapter=hub.destination())

    assert confirmed.records_accepted == 2
    assert set(OutboxItem.objects.filter(flow=hub.orders).values_list("status", flat=True)) == {"accepted"}
    assert len(hub.dd.insight_collections["Orders"]["records"]) == 2
    assert not SyncException.objects.filter(flow=hub.orders, status="open").exists()


@pytest.mark.parametrize("later, confirm", [(True, True), (False, False)])
def test_a_run_that_confirms_in_line_or_a_worker_by_default_settles_in_the_push(orders_hub, settings, later, confirm):
    settings.SYNC_CONFIRM_IMPORTS_LATER = later
    hub = _customers_accepted_and_their_orders_planned(orders_hub, "C001")
    run = flow_push(flow=hub.orders, adapter=hub.destination(), confirm=confirm)
    assert run.records_accepted == 1
    assert OutboxItem.objects.get(flow=hub.orders).status == "accepted"
