"""Two-stage order confirmation: the web shop's provisional order, then the ERP order.

The shop posts at checkout (token auth); the order goes out at once as "pending" under
the id its ERP order will carry; the ERP order with the same web reference replaces it
without a duplicate; one the ERP never receives becomes an exception for marketing.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import api_token_issue
from erp.models import ProvisionalOrder
from exceptions.models import SyncException
from syncapp.models import OutboxItem, OutboxStatus, Priority
from syncapp.planning_orders import provisional_orders_flag_overdue
from syncapp.roles import FINANCE, MARKETING, WEB_SHOP
from syncapp.services import connection_pull, flow_push, records_retry
from tests.factories import EspAccountFactory, FlowFactory
from tests.syncapp.fakes import FakeDestination, FakeSource, IdMergingDestination, bp_record
from tests.syncapp.test_orders import document, line
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/provisional-orders/"


def checkout(reference: str = "WEB-77", **changes) -> dict:
    """What a shop posts: two lines, delivery and tax, adding up."""
    return {"web_reference": reference, "customer_email": "jane@example.com", "customer_id": "C001",
            "currency": "GBP", "lines": [{"sku": "12345", "name": "Linen shirt", "qty": 2, "price": "30.00"},
                                         {"sku": "HW-104", "name": "Mug", "qty": 1, "price": 12}],
            "shipping_total": "4.95", "tax_total": "14.39", "grand_total": "91.34"} | changes


@pytest.fixture(autouse=True)
def id_merging_kind(monkeypatch):
    """A destination kind keyed by the order's id (as Ometria is), next to dotdigital."""
    from esp import registry

    monkeypatch.setitem(registry.DESTINATION_ADAPTERS, "by_id", "tests.syncapp.fakes.IdMergingDestination")


@pytest.fixture
def hub():
    """One ERP connection feeding an id-merging destination and dotdigital, customer C001 accepted by both."""
    merging = EspAccountFactory(kind="by_id")
    customers = FlowFactory(entity="customers", destination=merging)
    connection = customers.connection
    orders = FlowFactory(entity="orders", connection=connection, destination=merging)
    dd_customers = FlowFactory(entity="customers", connection=connection)
    dd_orders = FlowFactory(entity="orders", connection=connection, destination=dd_customers.destination)

    class Hub:
        def pull(self, entity, *records):
            return connection_pull(connection=connection, entity=entity, adapter=FakeSource([list(records)]))

        def push(self):
            for flow, destination in ((customers, self.merging), (orders, self.merging),
                                      (dd_customers, self.dotdigital), (dd_orders, self.dotdigital)):
                flow_push(flow=flow, adapter=destination)

    hub = Hub()
    hub.connection, hub.orders, hub.dd_orders = connection, orders, dd_orders
    hub.merging, hub.dotdigital = IdMergingDestination(), FakeDestination()
    hub.pull("business_partners", bp_record("C001", email="jane@example.com"))
    hub.push()
    return hub


@pytest.fixture
def shop():
    """The web shop's client: a token of a user in the Web shop group (that and nothing else)."""
    client = APIClient()
    _, key = api_token_issue(user=UserFactory(username="webshop", role=WEB_SHOP), name="web shop")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_checkout_is_sent_at_once_as_a_pending_order_under_its_web_reference(hub, shop):
    answer = shop.post(URL, checkout(), format="json")

    assert answer.status_code == 201
    assert answer.json() | {"received_at": None} == {"web_reference": "WEB-77", "status": "pending",
                                                      "record_key": "web:WEB-77", "received_at": None}
    row = OutboxItem.objects.get(flow=hub.orders, record_key="web:WEB-77")
    assert (row.priority, row.status, row.identifier) == (Priority.URGENT, OutboxStatus.PENDING, "jane@example.com")
    hub.push()
    order = hub.merging.orders["WEB-77"]
    assert (order["state"], order["orderStatus"], order["webReference"], order["customerId"]) == (
        "pending", "pending", "WEB-77", "C001")
    assert (order["grandTotal"], order["orderSubtotal"], order["shippingTotal"], order["taxTotal"]) == (
        91.34, 72.0, 4.95, 14.39)
    assert [(p["sku"], p["qty"], p["lineTotal"]) for p in order["products"]] == [("12345", 2.0, 60.0),
                                                                                ("HW-104", 1.0, 12.0)]


def test_a_destination_keyed_by_the_erp_key_never_gets_a_provisional_order(hub, shop):
    shop.post(URL, checkout(), format="json")
    hub.push()
    # dotdigital keys orders by DocEntry: a provisional record there would be a second order.
    assert not OutboxItem.objects.filter(flow=hub.dd_orders).exists()
    assert not [key for key in hub.dotdigital.records if key[0] == "orders"]


def test_the_erp_order_with_the_same_reference_replaces_it_without_a_duplicate(hub, shop):
    shop.post(URL, checkout(), format="json")
    hub.push()
    hub.pull("orders", document("orders", 5, line(0, item="12345", quantity=2, price=30.0), num_at_card="WEB-77"))
    hub.push()

    assert list(hub.merging.orders) == ["WEB-77"]  # one order, enriched by the ERP
    assert (hub.merging.orders["WEB-77"]["state"], hub.merging.orders["WEB-77"]["orderNumber"]) == ("open", 5005)
    assert hub.merging.pushed_keys.count("web:WEB-77") == 1 and hub.merging.pushed_keys.count("5") == 1
    provisional = ProvisionalOrder.objects.get()
    assert (provisional.status, provisional.erp_doc_entry) == ("confirmed", 5)
    assert [key for key in hub.dotdigital.records if key[0] == "orders"] == [("orders", "5")]


def test_a_provisional_order_not_yet_sent_is_skipped_when_its_erp_order_arrives(hub, shop):
    shop.post(URL, checkout(), format="json")
    hub.pull("orders", document("orders", 5, line(0, quantity=2, price=30.0), num_at_card="WEB-77"))
    assert OutboxItem.objects.get(flow=hub.orders, record_key="web:WEB-77").status == OutboxStatus.SKIPPED
    hub.push()
    assert "web:WEB-77" not in hub.merging.pushed_keys and "5" in hub.merging.pushed_keys
    assert hub.merging.orders["WEB-77"]["state"] == "open"


def test_a_checkout_posted_again_updates_the_pending_order(hub, shop):
    shop.post(URL, checkout(), format="json")
    again = shop.post(URL, checkout(shipping_total="0", grand_total="86.39"), format="json")
    assert again.status_code == 200
    assert OutboxItem.objects.get(flow=hub.orders, record_key="web:WEB-77").payload["shippingTotal"] == 0.0
    assert ProvisionalOrder.objects.count() == 1


def test_a_checkout_the_erp_already_holds_is_refused_with_a_conflict(hub, shop):
    hub.pull("orders", document("orders", 5, line(0), num_at_card="WEB-77"))
    first = shop.post(URL, checkout(), format="json")
    assert first.status_code == 201 and first.json()["status"] == "confirmed"  # nothing to send
    assert not OutboxItem.objects.filter(record_key="web:WEB-77", status=OutboxStatus.PENDING).exists()
    assert shop.post(URL, checkout(), format="json").status_code == 409


@pytest.mark.parametrize("changes,field", [
    ({"web_reference": "  "}, "web_reference"),
    ({"customer_email": "jane@"}, "customer_email"),
    ({"currency": "pounds"}, "currency"),
    ({"lines": []}, "lines"),
    ({"lines": [{"sku": "1", "qty": 0, "price": 1}]}, "lines"),
    ({"lines": [{"qty": 1, "price": 1}]}, "lines"),
    ({"grand_total": "100.00"}, "grand_total"),
    ({"subtotal": "50.00"}, "subtotal"),
    ({"grand_total": None}, "grand_total"),
])
def test_bad_input_is_a_clear_400_naming_the_field(hub, shop, changes, field):
    answer = shop.post(URL, checkout(**changes), format="json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert not ProvisionalOrder.objects.exists()


def test_with_several_erp_connections_the_shop_must_name_one(hub, shop):
    FlowFactory(entity="orders")  # a second connection
    assert "connection" in shop.post(URL, checkout(), format="json").json()
    named = shop.post(URL, checkout(connection=hub.connection.name), format="json")
    assert named.status_code == 201


@pytest.mark.parametrize("role,status", [(None, 401), (MARKETING, 403), (FINANCE, 403)])
def test_only_a_token_holding_the_capability_may_post(hub, role, status):
    client = APIClient()
    if role:
        _, key = api_token_issue(user=UserFactory(username=f"user-{role}", role=role), name="script")
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post(URL, checkout(), format="json").status_code == status


def test_the_shop_token_opens_nothing_but_the_provisional_orders(hub, shop):
    assert shop.get("/api/exceptions/").status_code == 403
    assert shop.get("/api/runs/").status_code == 403
    assert shop.post("/api/exceptions/1/retry/").status_code in (403, 404)
    assert shop.post(URL, checkout(), format="json").status_code == 201


def test_a_provisional_order_the_erp_never_receives_becomes_an_exception_for_marketing(hub, shop, settings):
    settings.SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES = 30
    shop.post(URL, checkout(received_at=(timezone.now() - timedelta(minutes=20)).isoformat()), format="json")
    assert provisional_orders_flag_overdue() == 0  # 20 minutes is within the allowed time

    later = timezone.now() + timedelta(minutes=15)
    assert provisional_orders_flag_overdue(now=later) == 2  # one per orders flow, each destination its own
    assert provisional_orders_flag_overdue(now=later) == 0  # raised once, not every few minutes
    exception = SyncException.objects.get(flow=hub.orders, record_key="web:WEB-77")
    assert (exception.reason_code, exception.owner_team, exception.status) == (
        "provisional_order_not_in_erp", "marketing", "open")
    assert "WEB-77" in exception.message and "30 minutes" in exception.message

    hub.pull("orders", document("orders", 5, line(0, quantity=2, price=30.0), num_at_card="WEB-77"))
    assert set(SyncException.objects.filter(record_key="web:WEB-77").values_list("status", flat=True)) == {
        "resolved"}


def test_retrying_an_overdue_provisional_order_keeps_it_open_until_the_erp_has_it(hub, shop, settings):
    settings.SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES = 30
    shop.post(URL, checkout(received_at=(timezone.now() - timedelta(hours=3)).isoformat()), format="json")
    hub.push()
    provisional_orders_flag_overdue()
    exception = SyncException.objects.get(flow=hub.orders, record_key="web:WEB-77")

    records_retry(connection_id=hub.connection.pk, flow_id=hub.orders.pk, entity="orders",
                  record_keys=["web:WEB-77"], source_adapter=FakeSource([[]]))

    exception.refresh_from_db()
    assert (exception.status, exception.reason_code) == ("open", "provisional_order_not_in_erp")
    assert hub.merging.pushed_keys.count("web:WEB-77") == 1  # nothing changed, nothing sent again


def test_the_check_runs_on_a_schedule(hub, shop, settings):
    from django_celery_beat.models import PeriodicTask

    from syncapp.schedules import schedules_install_defaults
    from syncapp.tasks import provisional_orders_check_task

    schedules_install_defaults()
    task = PeriodicTask.objects.get(task="syncapp.provisional_orders_check_task")
    assert task.enabled and task.interval.every == 5
    settings.SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES = 0
    shop.post(URL, checkout(received_at=(timezone.now() - timedelta(minutes=1)).isoformat()), format="json")
    provisional_orders_check_task()
    assert SyncException.objects.filter(reason_code="provisional_order_not_in_erp").count() == 2


# ---------------------------------------------------------------- the order id where orders merge on it


def _accept_customer(hub, card_code: str, email: str) -> None:
    hub.pull("business_partners", bp_record(card_code, email=email))
    hub.push()


def test_two_customers_orders_with_the_same_reference_are_two_orders_where_orders_merge_on_id(hub):
    _accept_customer(hub, "C002", "john@example.com")
    hub.pull("orders", document("orders", 5, line(0), num_at_card="PO-1001"),
             document("orders", 6, line(0), num_at_card="PO-1001", card_code="C002"))
    hub.push()
    # No web order carries "PO-1001": it is the customers' own text, so each order goes by its DocNum.
    assert sorted(hub.merging.orders) == ["5005", "5006"]
    assert {hub.merging.orders[k]["customerId"] for k in ("5005", "5006")} == {"C001", "C002"}
    # dotdigital keys orders by DocEntry; "id" there is only a field and keeps its meaning.
    assert {hub.dotdigital.records[("orders", k)]["id"] for k in ("5", "6")} == {"PO-1001"}


def test_a_web_orders_erp_order_keeps_the_web_reference_when_its_reference_is_edited(hub, shop):
    shop.post(URL, checkout(), format="json")
    hub.push()
    hub.pull("orders", document("orders", 5, line(0, item="12345", quantity=2, price=30.0), num_at_card="WEB-77"))
    hub.push()
    hub.pull("orders", document("orders", 5, line(0, item="12345", quantity=3, price=30.0),
                                num_at_card="WEB-77 (phoned in)"))
    hub.push()
    assert list(hub.merging.orders) == ["WEB-77"]
    assert hub.merging.orders["WEB-77"]["products"][0]["qty"] == 3.0


def test_an_order_keeps_the_id_it_was_accepted_under(hub):
    hub.pull("orders", document("orders", 5, line(0), num_at_card="PO-9"))
    hub.push()
    # Accepted before ids stopped following NumAtCard: the destination knows it as "PO-9".
    OutboxItem.objects.filter(flow=hub.orders, record_key="5").update(remote_id="PO-9")
    hub.pull("orders", document("orders", 5, line(0, quantity=4), num_at_card="PO-9-B"))
    hub.push()
    assert hub.merging.orders["PO-9"]["products"][0]["qty"] == 4.0
    assert "PO-9-B" not in hub.merging.orders


def test_dispatch_signals_name_the_order_by_the_same_id(hub, shop):
    dispatch = FlowFactory(entity="dispatch_events", connection=hub.connection, destination=hub.orders.destination)
    dd_dispatch = FlowFactory(entity="dispatch_events", connection=hub.connection,
                              destination=hub.dd_orders.destination)
    shop.post(URL, checkout(), format="json")
    hub.pull("orders", document("orders", 5, line(0), num_at_card="WEB-77"),
             document("orders", 6, line(0), num_at_card="PO-1001"))
    hub.push()
    hub.pull("deliveries", document("deliveries", 10, line(0, base=(17, 5, 0))),
             document("deliveries", 11, line(0, base=(17, 6, 0))))
    signals = {row.record_key: row.payload["orderId"] for row in OutboxItem.objects.filter(flow=dispatch)}
    assert signals == {"5:dispatched": "WEB-77", "6:dispatched": "5006"}
    assert set(hub.merging.orders) >= {"WEB-77", "5006"}  # as the orders themselves went
    dd_signals = {row.record_key: row.payload["orderId"] for row in OutboxItem.objects.filter(flow=dd_dispatch)}
    assert dd_signals == {"5:dispatched": "WEB-77", "6:dispatched": "PO-1001"}


def test_a_provisional_record_still_on_its_way_cannot_overwrite_its_erp_order(hub, shop, settings):
    from syncapp.adapters import PushItem
    from syncapp.outbox import outbox_claim

    shop.post(URL, checkout(), format="json")
    (slow,) = outbox_claim(flow=hub.orders, limit=10)  # a worker took it; its call has not gone out yet
    hub.pull("orders", document("orders", 5, line(0, item="12345", quantity=2, price=30.0), num_at_card="WEB-77"))
    erp_row = OutboxItem.objects.get(flow=hub.orders, record_key="5")
    assert erp_row.not_before >= slow.claimed_at + timedelta(seconds=settings.SYNC_CLAIM_TIMEOUT_SECONDS)
    hub.push()
    assert "5" not in hub.merging.pushed_keys  # it waits for the slow call

    hub.pull("orders", document("orders", 5, line(0, item="12345", quantity=3, price=30.0), num_at_card="WEB-77"))
    assert OutboxItem.objects.get(flow=hub.orders, record_key="5").not_before == erp_row.not_before  # still held
    hub.merging.push("orders", [PushItem(slow.record_key, slow.identifier, slow.payload)])  # the slow call lands
    assert hub.merging.orders["WEB-77"]["state"] == "pending"

    OutboxItem.objects.filter(flow=hub.orders, record_key="5").update(not_before=timezone.now())  # time passes
    hub.push()
    assert (hub.merging.orders["WEB-77"]["state"], hub.merging.orders["WEB-77"]["products"][0]["qty"]) == ("open", 3)
    assert OutboxItem.objects.get(flow=hub.orders, record_key="web:WEB-77").status == OutboxStatus.SKIPPED
