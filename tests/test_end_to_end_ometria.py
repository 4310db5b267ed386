"""Ometria end to end: SAP B1 sandbox -> engine -> Ometria sandbox (and dotdigital beside it).

Changes are made in SAP through the Service Layer over HTTP; checks read what the
Ometria sandbox stores and lists as errors, and what a person sees in the hub. Ometria
validates after answering, so every push is followed, a validation grace later, by a
push that confirms (the clock shared by the Ometria side moves ahead instead of waiting).
"""
from __future__ import annotations

import os

import pytest
import requests

from erp.sap_b1.sandbox.demo_items import demo_warehouses
from esp.default_mappings import mappings_install_defaults
from esp.models import EspAccount, FieldMapping
from esp.ometria.adapter import OmetriaDestination
from esp.ometria.confirm import ErrorLedger
from esp.ometria.sandbox import build_demo_sandbox
from exceptions.models import SyncException
from syncapp.models import Flow, OutboxItem, OutboxStatus
from syncapp.sandbox_server import serve_in_thread
from syncapp.services import connection_pull, flow_push
from tests.esp.dotdigital_support import RecordingThrottle
from tests.hub import SAP_PASSWORD, Hub, partner
from tests.syncapp.fakes import OffsetClock

pytestmark = pytest.mark.django_db

os.environ.setdefault("TEST_OMETRIA_API_KEY", "sandbox-ometria-key")
OM_KEY = os.environ["TEST_OMETRIA_API_KEY"]
GRACE = 30
DOCUMENTS = ("orders", "deliveries", "invoices", "credit_notes", "returns")


class OmetriaHub(Hub):
    """SAP B1, dotdigital (the Hub's customers flow) and Ometria, on one ERP connection."""

    def __init__(self, **sandbox_options):
        super().__init__()
        ErrorLedger.forget_all()
        self.om_clock = OffsetClock()
        sandbox_options.setdefault("requests_per_second", 1000)
        # The sandbox's time moves only when the test or a client waits: its limits are exact.
        self.om = build_demo_sandbox(OM_KEY, clock=self.om_clock.frozen(), validation_delay=2.0, **sandbox_options)
        self.om_server = serve_in_thread(self.om)
        self.om_account = EspAccount.objects.create(
            name="om", kind="ometria", base_url=self.om_server.url, password_env="TEST_OMETRIA_API_KEY",
            options={"collection": "customers", "validation_grace_seconds": GRACE})
        mappings_install_defaults(destination=self.om_account)
        ErrorLedger(self.om_account.name).forget()  # Redis outlives a test
        self.sap.add_warehouses(demo_warehouses())
        flows = {}
        for entity in ("customers", "products", "orders", "dispatch_events"):
            flows[entity] = Flow.objects.create(name=f"om-{entity}", connection=self.connection,
                                                destination=self.om_account, entity=entity)
        self.om_flows = flows
        self.om_throttle = RecordingThrottle()
        self.http = requests.Session()
        self.base = f"{self.sap_server.url}/b1s/v1"
        self.http.post(f"{self.base}/Login", json={"CompanyDB": "SBODEMOGB", "UserName": "manager",
                                                    "Password": SAP_PASSWORD}).raise_for_status()

    def ometria(self) -> OmetriaDestination:
        return OmetriaDestination(self.om_account, self.om_throttle, read_throttle=RecordingThrottle(),
                                  clock=self.om_clock, sleep=self.om_clock.sleep)

    # ------------------------------------------------------------ SAP, as people use it

    def sl(self, method: str, path: str, body: dict | None = None) -> dict | None:
        self.sap_clock.advance(minutes=3)
        response = self.http.request(method, f"{self.base}/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def order(self, card_code: str, web_ref: str, *lines: tuple[str, float, float]) -> int:
        return self.sl("POST", "Orders", {
            "CardCode": card_code, "NumAtCard": web_ref, "DocDate": "2026-11-20", "DocDueDate": "2026-11-25",
            "DocumentLines": [{"ItemCode": item, "ItemDescription": f"Item {item}", "Quantity": qty,
                               "Price": price, "WarehouseCode": "01"} for item, qty, price in lines]})["DocEntry"]

    def copy(self, collection: str, card_code: str, base_type: int, base_entry: int, *lines, **header) -> int:
        base = {17: "Orders", 15: "DeliveryNotes", 13: "Invoices", 16: "Returns"}[base_type]
        rows = self.sl("GET", f"{base}({base_entry})")["DocumentLines"]
        return self.sl("POST", collection, {"CardCode": card_code, "DocumentLines": [
            {"ItemCode": rows[n]["ItemCode"], "ItemDescription": rows[n]["ItemDescription"], "Quantity": qty,
             "Price": rows[n]["Price"], "BaseType": base_type, "BaseEntry": base_entry, "BaseLine": n}
            for n, qty in lines]} | header)["DocEntry"]

    # ------------------------------------------------------------ the hub's schedule

    def pull(self):
        for entity in ("warehouses", "business_partners", "items", "item_stock", *DOCUMENTS):
            connection_pull(connection=self.connection, entity=entity)

    def push_ometria(self, entity: str, adapter: OmetriaDestination | None = None) -> None:
        """Send, let Ometria validate and the grace pass, then confirm."""
        flow = self.om_flows[entity]
        adapter = adapter or self.ometria()
        flow_push(flow=flow, adapter=adapter)
        self.om_clock.advance(GRACE + 5)
        flow_push(flow=flow, adapter=adapter)

    def cycle(self):
        self.pull()
        flow_push(flow=self.flow, adapter=self.destination())  # dotdigital, beside Ometria
        for entity in ("customers", "products", "orders", "dispatch_events", "customers"):
            self.push_ometria(entity)

    # ------------------------------------------------------------ what Ometria holds

    def contact(self, card_code: str) -> dict | None:
        return self.om.contact(card_code)

    def om_order(self, web_ref: str) -> dict:
        """The one order Ometria holds with this web reference (its id is the DocNum: a
        NumAtCard without a provisional order is free text, never the id)."""
        found = [order for order in self.om.records("order").values() if order.get("web_id") == web_ref]
        assert len(found) == 1, found
        return found[0]

    def outbox(self, entity: str, key: str) -> OutboxItem:
        return OutboxItem.objects.get(flow=self.om_flows[entity], record_key=key)

    def close(self):
        super().close()
        self.om_server.stop()


@pytest.fixture
def hub():
    hub = OmetriaHub()
    yield hub
    hub.close()


def sap_item(code: str, in_stock: float) -> dict:
    return {"ItemCode": code, "ItemName": f"Linen cushion {code}", "ItemsGroupCode": 100,
            "ItemPrices": [{"PriceList": 1, "Price": 10.0, "Currency": "GBP"}],
            "ItemWarehouseInfoCollection": [{"ItemCode": code, "WarehouseCode": "01", "InStock": in_stock,
                                             "Committed": 0.0, "Ordered": 0.0}]}


# ---------------------------------------------------------------- each record type


def test_customers_products_orders_and_dispatches_reach_ometria_and_are_accepted(hub):
    hub.sap.add_business_partners([partner("C001", CardName="Jane Doe", U_MarketingConsent="N")])
    hub.sap.add_items([sap_item("1001", 20.0), sap_item("1002", 0.0)])
    entry = hub.order("C001", "WEB-1", ("1001", 2, 10.0), ("1002", 1, 5.0))
    hub.copy("DeliveryNotes", "C001", 17, entry, (0, 2), (1, 1), TrackingNumber="RM1GB")
    hub.cycle()

    contact = hub.contact("C001")
    assert (contact["customer_id"], contact["email"], contact["firstname"], contact["lastname"]) == (
        "C001", "c001@example.com", "Jane", "Doe")
    assert contact["marketing_optin"] == "EXPLICITLY_OPTEDOUT" and not hub.om.is_forced_optin("C001")
    assert contact["properties"]["loyalty_tier"] == "Gold" and contact["properties"]["order_count"] == 1
    products = hub.om.records("product")
    assert (products["1001"]["is_in_stock"], products["1002"]["is_in_stock"]) == (True, False)
    order = hub.om_order("WEB-1")
    assert (order["status"], order["is_valid"], order["currency"]) == ("shipped", True, "GBP")
    assert order["customer"] == {"id": "C001", "email": "c001@example.com"}
    assert [(line["product_id"], line["quantity"]) for line in order["lineitems"]] == [("1001", 2.0), ("1002", 1.0)]
    event = hub.om.records("custom_event")[f"{entry}:dispatched"]
    assert (event["event_type"], event["identity_email"]) == ("order_dispatched", "c001@example.com")
    assert hub.om.errors == []
    rows = OutboxItem.objects.filter(flow__destination=hub.om_account)
    assert set(rows.values_list("status", flat=True)) == {OutboxStatus.ACCEPTED}
    assert not SyncException.objects.filter(flow__destination=hub.om_account, status="open").exists()


def test_an_edit_resends_the_whole_order_under_the_same_id(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-2", ("1001", 1, 10.0), ("1002", 1, 5.0))
    hub.cycle()
    first_id = hub.om_order("WEB-2")["id"]
    # Quantities change, and so does the customer's free-text reference: still one order.
    hub.sl("PATCH", f"Orders({entry})", {"NumAtCard": "WEB-2-AMENDED",
                                         "DocumentLines": [{"LineNum": 0, "Quantity": 3.0}]})
    hub.cycle()
    order = hub.om_order("WEB-2-AMENDED")
    assert [line["quantity"] for line in order["lineitems"]] == [3.0, 1.0]
    assert list(hub.om.records("order")) == [first_id] == [hub.outbox("orders", str(entry)).remote_id]


def test_two_customers_orders_with_the_same_reference_stay_two_orders(hub):
    hub.sap.add_business_partners([partner("C001"), partner("C002")])
    first = hub.order("C001", "PO-1001", ("1001", 1, 10.0))
    second = hub.order("C002", "PO-1001", ("1002", 2, 5.0))
    hub.cycle()
    orders = hub.om.records("order")
    assert len(orders) == 2  # NumAtCard is the customers' own text, not an order id
    assert {order["customer"]["id"] for order in orders.values()} == {"C001", "C002"}
    assert {hub.outbox("orders", str(entry)).remote_id for entry in (first, second)} == set(orders)


def test_a_checkout_goes_out_pending_at_once_and_its_erp_order_enriches_the_same_ometria_order(hub):
    from rest_framework.test import APIClient

    from accounts.tokens import api_token_issue
    from syncapp.roles import WEB_SHOP
    from tests.web.factories import UserFactory

    hub.sap.add_business_partners([partner("C001")])
    hub.cycle()  # the customer is in Ometria
    shop = APIClient()
    shop.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=UserFactory(role=WEB_SHOP), name='shop')[1]}")
    posted = shop.post("/api/provisional-orders/", {
        "web_reference": "WEB-500", "customer_email": "c001@example.com", "customer_id": "C001",
        "currency": "GBP", "lines": [{"sku": "1001", "name": "Linen cushion", "qty": 2, "price": "10.00"}],
        "shipping_total": "0", "tax_total": "4.00", "grand_total": "24.00"}, format="json")
    assert posted.status_code == 201, posted.content
    hub.push_ometria("orders")  # no ERP order yet: the abandoned-cart flows stop now
    provisional = hub.om.records("order")["WEB-500"]
    assert (provisional["status"], provisional["customer"]["id"]) == ("pending", "C001")

    entry = hub.order("C001", "WEB-500", ("1001", 2, 10.0))
    hub.cycle()
    orders = hub.om.records("order")
    assert list(orders) == ["WEB-500"]  # the same Ometria order, enriched; nothing duplicated
    assert orders["WEB-500"]["status"] != "pending" and orders["WEB-500"]["is_valid"] is True
    assert hub.outbox("orders", str(entry)).remote_id == "WEB-500"
    assert not SyncException.objects.filter(flow__destination=hub.om_account, status="open").exists()


def test_a_new_customers_first_order_goes_once_the_customer_is_sent_not_once_ometria_validated_them(hub):
    """Issue 12's peak: a new customer's first order waited 3-5 minutes for Ometria's verdict on
    the customer. Ometria processes in order of receipt, so the order may follow the customer
    at once, and is processed after it."""
    hub.sap.add_business_partners([partner("C001")])
    hub.sap.add_items([sap_item("1001", 20.0)])
    entry = hub.order("C001", "WEB-1", ("1001", 1, 10.0))
    hub.pull()
    waiting = SyncException.objects.get(flow=hub.om_flows["orders"], record_key=str(entry))
    assert waiting.reason_code == "waiting_for_customer"  # the customer is not even sent yet

    flow_push(flow=hub.om_flows["customers"], adapter=hub.ometria())  # answered 200; validated later
    assert hub.outbox("customers", "C001").status == OutboxStatus.SUBMITTED
    assert hub.outbox("orders", str(entry)).status == OutboxStatus.PENDING  # released by the sending
    flow_push(flow=hub.om_flows["orders"], adapter=hub.ometria())
    assert hub.outbox("orders", str(entry)).status == OutboxStatus.SUBMITTED  # behind its customer, not after the grace

    hub.push_ometria("customers")  # the grace passes: both validated, the customer first
    hub.push_ometria("orders")
    assert hub.contact("C001")["customer_id"] == "C001"
    assert hub.om_order("WEB-1")["customer"]["id"] == "C001"
    assert hub.outbox("customers", "C001").status == hub.outbox("orders", str(entry)).status == OutboxStatus.ACCEPTED
    assert hub.om.errors == []
    assert not SyncException.objects.filter(flow__destination=hub.om_account, status="open").exists()


# ---------------------------------------------------------------- 200, then refused


def test_a_record_answered_200_that_then_fails_validation_ends_as_an_exception_not_accepted(hub):
    FieldMapping.objects.create(destination=hub.om_account, source_field="cellular", target_field="phone_number")
    hub.sap.add_business_partners([partner("C001", Cellular="+447700900123"),
                                   partner("C002", Cellular="07700 900456")])  # not E.164
    hub.pull()
    flow = hub.om_flows["customers"]
    flow_push(flow=flow, adapter=hub.ometria())
    assert hub.outbox("customers", "C002").status == OutboxStatus.SUBMITTED  # Ometria said 200
    hub.om_clock.advance(GRACE + 5)
    flow_push(flow=flow, adapter=hub.ometria())

    row = hub.outbox("customers", "C002")
    assert row.status == OutboxStatus.FAILED and row.accepted_hash == ""
    problem = SyncException.objects.get(flow=flow, record_key="C002")
    assert problem.status == "open" and problem.destination_code == "validation_error"
    assert "not a valid value" in problem.message and "phone_number" in problem.message
    assert hub.outbox("customers", "C001").status == OutboxStatus.ACCEPTED
    assert hub.contact("C002") is None
    assert hub.om.errors == [{"error_message": "not a valid value", "error_path": "contact[C002] > phone_number"}]

    hub.om_clock.advance(300)  # a person reads the exception and fixes the number in SAP
    hub.patch_in_sap("C002", Cellular="+447700900456")
    hub.pull()
    hub.push_ometria("customers")
    assert hub.outbox("customers", "C002").status == OutboxStatus.ACCEPTED
    assert SyncException.objects.get(flow=flow, record_key="C002").status == "resolved"


def test_errors_lost_beyond_the_last_100_send_the_unconfirmed_records_again(hub, settings):
    settings.SYNC_BACKOFF_BASE_SECONDS = 0
    hub.sap.add_business_partners([partner("C001")])
    hub.pull()
    flow = hub.om_flows["customers"]
    adapter = hub.ometria()
    flow_push(flow=flow, adapter=adapter)  # sent; the confirm at the end reads an empty list
    # Another integration floods the account's errors list before the next read.
    requests.post(f"{hub.om_server.url}/v2/push", headers={"X-Ometria-Auth": OM_KEY}, timeout=5,
                  json=[{"@type": "contact", "id": f"X{i}", "email": "bad"} for i in range(100)])
    requests.post(f"{hub.om_server.url}/v2/push", headers={"X-Ometria-Auth": OM_KEY}, timeout=5,
                  json=[{"@type": "contact", "id": f"Y{i}", "email": "bad"} for i in range(100)])
    hub.om_clock.advance(GRACE + 5)
    flow_push(flow=flow, adapter=adapter)  # cannot prove C001 had no error
    assert hub.outbox("customers", "C001").status == OutboxStatus.PENDING  # so it goes again
    hub.om_clock.advance(15)  # the engine's backoff
    hub.push_ometria("customers")
    assert hub.om.calls(status=200) == 4  # C001 twice, the flood twice
    assert hub.outbox("customers", "C001").status == OutboxStatus.ACCEPTED
    assert not SyncException.objects.filter(flow=flow).exists()


# ---------------------------------------------------------------- lifecycle


def test_a_cancelled_order_becomes_cancelled_and_not_valid(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-3", ("1001", 1, 10.0))
    hub.cycle()
    hub.sl("POST", f"Orders({entry})/Cancel")
    hub.cycle()
    order = hub.om_order("WEB-3")
    assert (order["status"], order["is_valid"]) == ("cancelled", False)
    assert len(hub.om.records("order")) == 1


def test_a_full_refund_is_refunded_and_not_valid(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-4", ("1001", 2, 50.0))
    invoice = hub.copy("Invoices", "C001", 17, entry, (0, 2))
    hub.cycle()
    assert hub.om_order("WEB-4")["is_valid"] is True
    hub.copy("CreditNotes", "C001", 13, invoice, (0, 2))
    hub.cycle()
    order = hub.om_order("WEB-4")
    assert (order["status"], order["is_valid"]) == ("refunded", False)


def test_a_partial_refund_puts_the_refunded_quantity_and_amount_on_the_line(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-5", ("1001", 2, 50.0), ("1002", 1, 20.0))
    delivery = hub.copy("DeliveryNotes", "C001", 17, entry, (0, 2), (1, 1))
    invoice = hub.copy("Invoices", "C001", 15, delivery, (0, 2), (1, 1))
    hub.cycle()
    hub.copy("CreditNotes", "C001", 13, invoice, (0, 1))
    hub.cycle()
    order = hub.om_order("WEB-5")
    assert (order["status"], order["is_valid"]) == ("partial_refund", True)
    first, second = order["lineitems"]
    assert (first["quantity_refunded"], first["refunded"]) == (1.0, 50.0)
    assert (second["quantity_refunded"], second["refunded"]) == (0.0, 0.0)  # said, so nothing stale stays


def test_a_return_and_a_credit_memo_for_the_same_line_never_refund_more_than_the_line(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-6", ("1001", 2, 50.0), ("1002", 1, 20.0))
    invoice = hub.copy("Invoices", "C001", 17, entry, (0, 2), (1, 1))
    hub.cycle()
    hub.copy("Returns", "C001", 13, invoice, (0, 2))  # the goods come back...
    hub.copy("CreditNotes", "C001", 13, invoice, (0, 2))  # ...and the invoice is credited as well
    hub.cycle()
    order = hub.om_order("WEB-6")  # Ometria took it: a line refunded beyond its quantity is refused
    first = order["lineitems"][0]
    assert (first["quantity"], first["quantity_refunded"], first["refunded"]) == (2.0, 2.0, 100.0)
    assert hub.outbox("orders", str(entry)).status == OutboxStatus.ACCEPTED
    assert hub.om.errors == []


# ---------------------------------------------------------------- limits and two destinations


def test_a_429_storm_loses_nothing_and_every_record_is_accepted(settings):
    settings.SYNC_BACKOFF_BASE_SECONDS = 0
    # The real rate, a small queue drained slowly, and a client that never waits of its own accord.
    hub = OmetriaHub(requests_per_second=4, queue_limit=550, processing_rate=100)
    try:
        hub.sap.add_business_partners([partner(f"C{i:04d}") for i in range(1000)])
        hub.pull()
        flow = hub.om_flows["customers"]
        adapter = hub.ometria()
        for _ in range(4):
            flow_push(flow=flow, adapter=adapter)
            hub.om_clock.advance(GRACE + 5)
        refusals = {exchange.response_body for exchange in hub.om.exchanges if exchange.status == 429}
        assert any(b"Rate limit" in body for body in refusals)  # too many calls a second
        assert any(b"waiting to be processed" in body for body in refusals)  # the queue was full
        assert OutboxItem.objects.filter(flow=flow, status=OutboxStatus.ACCEPTED).count() == 1000
        assert len(hub.om.records("contact")) == 1000 and hub.om.errors == []
        assert not SyncException.objects.filter(flow=flow).exists()
    finally:
        hub.close()


def test_both_destinations_work_one_connection_each_with_its_own_state_exceptions_and_rate(settings):
    hub = OmetriaHub(requests_per_second=4)
    try:
        FieldMapping.objects.create(destination=hub.om_account, source_field="cellular",
                                    target_field="phone_number")
        hub.sap.add_business_partners([partner(f"C{i:03d}") for i in range(450)] +
                                      [partner("C999", Cellular="07700 900456")])
        hub.pull()
        dd_run = flow_push(flow=hub.flow, adapter=hub.destination())
        adapter = hub.ometria()
        flow_push(flow=hub.om_flows["customers"], adapter=adapter)
        hub.om_clock.advance(GRACE + 5)
        flow_push(flow=hub.om_flows["customers"], adapter=adapter)

        # dotdigital took all 451 at its own pace; Ometria refused one after its 200, at 4 calls a second.
        assert dd_run.records_accepted == 451 and "c999@example.com" in hub.dd.contacts
        assert OutboxItem.objects.get(flow=hub.flow, record_key="C999").status == OutboxStatus.ACCEPTED
        assert hub.outbox("customers", "C999").status == OutboxStatus.FAILED
        open_problems = SyncException.objects.filter(status="open")
        assert list(open_problems.values_list("flow__destination__name", "record_key")) == [("om", "C999")]
        # Ometria's fifth call in one second was refused: only Ometria's allowance waited for it.
        assert hub.om_throttle.deferred == [1.0] and hub.om.calls(status=429) == 1
        assert hub.throttle.deferred == []  # dotdigital's bucket never held back
        assert len(hub.om.records("contact")) == 450
    finally:
        hub.close()
