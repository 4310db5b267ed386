"""The order lifecycle end to end, as people see it: SAP B1 sandbox -> hub -> dotdigital sandbox.

Every change is made in SAP the way a person or the web shop makes it, through the
Service Layer over HTTP (create, PATCH, Cancel); every check reads what dotdigital holds
(contacts' data fields, the Orders and Dispatches insight collections) or what a person
sees in the hub (its exceptions). One test per "Done means" item of the orders issue,
and the cancellation-document, freight and currency cases behind them.
"""
from __future__ import annotations

import pytest
import requests

from exceptions.models import SyncException
from syncapp.models import Flow
from syncapp.services import connection_pull, flow_push
from tests.hub import SAP_PASSWORD, Hub, partner

pytestmark = pytest.mark.django_db

DOCUMENT_ENTITIES = ("orders", "deliveries", "invoices", "credit_notes", "returns")


class LifecycleHub(Hub):
    """Both sandboxes, with the customers, orders and dispatch-signal flows."""

    def __init__(self):
        super().__init__()
        self.orders = Flow.objects.create(name="orders", connection=self.connection, destination=self.account,
                                          entity="orders")
        self.dispatches = Flow.objects.create(name="dispatches", connection=self.connection,
                                              destination=self.account, entity="dispatch_events")
        self.http = requests.Session()
        self.base = f"{self.sap_server.url}/b1s/v1"
        self.http.post(f"{self.base}/Login", json={"CompanyDB": "SBODEMOGB", "UserName": "manager",
                                                    "Password": SAP_PASSWORD}).raise_for_status()

    # ------------------------------------------------------------ what people do in SAP

    def sl(self, method: str, path: str, body: dict | None = None) -> dict | None:
        """One Service Layer call, a few minutes after the last one (as people work)."""
        self.sap_clock.advance(minutes=3)
        response = self.http.request(method, f"{self.base}/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def order(self, card_code: str, web_ref: str, *lines: tuple[str, float, float], **header) -> int:
        return self.sl("POST", "Orders", {
            "CardCode": card_code, "NumAtCard": web_ref, "DocDate": "2026-11-20", "DocDueDate": "2026-11-25",
            "DocumentLines": [{"ItemCode": item, "ItemDescription": f"Item {item}", "Quantity": qty,
                               "Price": price, "WarehouseCode": "01"} for item, qty, price in lines]} | header)[
            "DocEntry"]

    def copy(self, collection: str, card_code: str, base_type: int, base_entry: int,
             *lines: tuple[int, float], **header) -> int:
        """A document copied from base lines (LineNum, quantity), as SAP's "Copy From" makes it."""
        base = {17: "Orders", 15: "DeliveryNotes", 13: "Invoices", 16: "Returns"}[base_type]
        rows = self.sl("GET", f"{base}({base_entry})")["DocumentLines"]
        return self.sl("POST", collection, {"CardCode": card_code, "DocumentLines": [
            {"ItemCode": rows[n]["ItemCode"], "ItemDescription": rows[n]["ItemDescription"], "Quantity": qty,
             "Price": rows[n]["Price"], "BaseType": base_type, "BaseEntry": base_entry, "BaseLine": n}
            for n, qty in lines]} | header)["DocEntry"]

    # ------------------------------------------------------------ the hub's schedule, once

    def cycle(self):
        for entity in ("business_partners", *DOCUMENT_ENTITIES):
            connection_pull(connection=self.connection, entity=entity)
        # Customers first, then what waits for them, then the figures their documents moved.
        for flow in (self.flow, self.orders, self.dispatches, self.flow):
            flow_push(flow=flow, adapter=self.destination())

    # ------------------------------------------------------------ what dotdigital holds

    def dd_records(self, collection: str) -> dict:
        return (self.dd.insight_collections.get(collection) or {"records": {}})["records"]

    def dd_order(self, entry: int) -> dict:
        return self.dd_records("Orders")[str(entry)]

    def dd_fields(self, email: str) -> dict:
        return self.dd.contacts[email]["dataFields"]

    def times_sent(self, collection: str, key: str) -> int:
        return sum(1 for job in self.dd.insight.imports.values() if job.body["collectionName"] == collection
                   for record in job.body["records"] if record["key"] == key)


@pytest.fixture
def hub():
    hub = LifecycleHub()
    yield hub
    hub.close()


def in_welcome_segment(fields: dict) -> bool:
    """Marketing's welcome segment: contacts who never ordered."""
    return not fields.get("ORDERCOUNT")


def test_a_first_purchase_updates_the_customers_fields_so_the_welcome_segment_stops(hub):
    hub.sap.add_business_partners([partner("C001")])
    hub.cycle()
    assert in_welcome_segment(hub.dd_fields("c001@example.com"))

    hub.order("C001", "WEB-1", ("1001", 2, 30.0))
    hub.cycle()

    fields = hub.dd_fields("c001@example.com")
    assert not in_welcome_segment(fields)
    assert fields["ORDERCOUNT"] == 1 and str(fields["FIRSTORDERDATE"]).startswith("2026-11-20")
    assert fields["LIFETIMEVALUE"] == 60.0


def test_a_partial_delivery_does_not_signal_dispatch_and_the_final_one_does_exactly_once(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-2", ("1001", 2, 10.0), ("1002", 1, 5.0))
    hub.cycle()

    first = hub.copy("DeliveryNotes", "C001", 17, entry, (0, 1), TrackingNumber="RM1GB")
    hub.cycle()
    assert hub.dd_records("Dispatches") == {}
    assert hub.dd_order(entry)["orderStatus"] == "processing"

    hub.copy("DeliveryNotes", "C001", 17, entry, (0, 1), (1, 1), TrackingNumber="RM2GB")
    hub.cycle()
    assert hub.dd_records("Dispatches")[f"{entry}:dispatched"]["trackingNumbers"] == ["RM1GB", "RM2GB"]
    assert hub.dd_order(entry)["orderStatus"] == "complete"

    hub.sl("PATCH", f"DeliveryNotes({first})", {"Comments": "left at the door"})  # a later edit
    hub.cycle()
    hub.cycle()
    assert list(hub.dd_records("Dispatches")) == [f"{entry}:dispatched"]
    assert hub.times_sent("Dispatches", f"{entry}:dispatched") == 1


def test_a_line_edit_and_a_cancellation_update_the_same_destination_order(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-3", ("1001", 1, 10.0), ("1002", 1, 5.0))
    hub.cycle()
    assert [p["qty"] for p in hub.dd_order(entry)["products"]] == [1.0, 1.0]

    hub.sl("PATCH", f"Orders({entry})", {"DocumentLines": [{"LineNum": 0, "Quantity": 3.0}]})
    hub.cycle()
    edited = hub.dd_order(entry)
    assert [p["qty"] for p in edited["products"]] == [3.0, 1.0] and edited["orderSubtotal"] == 35.0

    hub.sl("POST", f"Orders({entry})/Cancel")
    hub.cycle()
    assert hub.dd_order(entry)["orderStatus"] == "canceled"
    # One record, the same key, throughout: updated in place, never duplicated.
    assert list(hub.dd_records("Orders")) == [str(entry)]
    assert hub.dd_fields("c001@example.com")["ORDERCOUNT"] == 0  # a cancelled order is no purchase


def test_a_credit_memo_lowers_the_lifetime_value_and_the_orders_value(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-4", ("1001", 2, 50.0), ("1002", 1, 20.0))
    delivery = hub.copy("DeliveryNotes", "C001", 17, entry, (0, 2), (1, 1))
    invoice = hub.copy("Invoices", "C001", 15, delivery, (0, 2), (1, 1))
    hub.cycle()
    assert hub.dd_order(entry)["orderTotal"] == 120.0
    assert hub.dd_fields("c001@example.com")["LIFETIMEVALUE"] == 120.0

    hub.copy("CreditNotes", "C001", 13, invoice, (0, 1))  # one of the two returned for money
    hub.cycle()

    order = hub.dd_order(entry)
    assert (order["orderTotal"], order["refundedTotal"], order["orderStatus"]) == (70.0, 50.0, "complete")
    assert hub.dd_fields("c001@example.com")["LIFETIMEVALUE"] == 70.0
    assert list(hub.dd_records("Orders")) == [str(entry)]


def test_an_order_for_a_customer_with_an_invalid_email_waits_then_flows_when_fixed_in_sap(hub):
    hub.sap.add_business_partners([partner("C002", EmailAddress="jane@")])
    entry = hub.order("C002", "WEB-5", ("1001", 1, 10.0))
    hub.cycle()
    assert hub.dd_records("Orders") == {}
    waiting = SyncException.objects.get(flow=hub.orders, record_key=str(entry))
    assert (waiting.reason_code, waiting.status) == ("waiting_for_customer", "open")
    assert SyncException.objects.get(flow=hub.flow, record_key="C002").reason_code == "invalid_email"

    hub.patch_in_sap("C002", EmailAddress="jane@example.com")
    hub.cycle()

    assert hub.dd_order(entry)["id"] == "WEB-5"
    assert hub.dd_fields("jane@example.com")["ORDERCOUNT"] == 1
    assert SyncException.objects.get(flow=hub.orders, record_key=str(entry)).status == "resolved"
    assert SyncException.objects.get(flow=hub.flow, record_key="C002").status == "resolved"


def test_a_cancelled_delivery_undoes_the_dispatch_it_had_not_yet_signalled(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-6", ("1001", 2, 10.0))
    hub.cycle()
    delivery = hub.copy("DeliveryNotes", "C001", 17, entry, (0, 2), TrackingNumber="RM9GB")
    hub.sl("POST", f"DeliveryNotes({delivery})/Cancel")  # before the hub's next run
    hub.cycle()

    assert hub.dd_order(entry)["orderStatus"] == "processing"  # open again, nothing left the warehouse
    assert hub.dd_records("Dispatches") == {}
    assert hub.dd_fields("c001@example.com").get("LASTDISPATCHDATE") in (None, "")
    assert hub.dd_fields("c001@example.com")["ORDERCOUNT"] == 1  # the cancellation document is no order

    hub.copy("DeliveryNotes", "C001", 17, entry, (0, 2), TrackingNumber="RM10GB")
    hub.cycle()
    assert hub.dd_records("Dispatches")[f"{entry}:dispatched"]["trackingNumbers"] == ["RM10GB"]


def test_a_cancelled_invoice_credit_memo_leaves_the_value_whole(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-7", ("1001", 2, 50.0))
    invoice = hub.copy("Invoices", "C001", 17, entry, (0, 2))
    credit = hub.copy("CreditNotes", "C001", 13, invoice, (0, 1))
    hub.cycle()
    assert hub.dd_order(entry)["orderTotal"] == 50.0

    hub.sl("POST", f"CreditNotes({credit})/Cancel")  # the refund was a mistake
    hub.cycle()

    assert (hub.dd_order(entry)["orderTotal"], hub.dd_order(entry)["refundedTotal"]) == (100.0, 0.0)
    assert hub.dd_fields("c001@example.com")["LIFETIMEVALUE"] == 100.0


def test_an_order_with_freight_in_a_foreign_currency_is_sent_as_the_customer_paid_it(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-8", ("1001", 2, 50.0), DocCurrency="EUR", DocRate=0.85,
                      DocumentAdditionalExpenses=[{"ExpenseCode": 1, "LineTotal": 8.5, "TaxCode": "S"}])
    hub.cycle()

    # Freight is no total mismatch: the order only waited for its customer, as every first order does.
    assert set(SyncException.objects.filter(flow=hub.orders).values_list("reason_code", "status")) == {
        ("waiting_for_customer", "resolved")}
    order = hub.dd_order(entry)
    # 100.00 EUR of goods, 10.00 EUR delivery, tax on both: 132.00 EUR.
    assert (order["currency"], order["orderSubtotal"], order["deliveryTotal"], order["orderTotal"]) == (
        "EUR", 100.0, 10.0, 110.0)
    # dotdigital gets the fields its own integrations send, not the hub's vendor-neutral extras.
    assert not {"state", "customerId", "grandTotal", "taxTotal", "shippingTotal", "webReference"} & set(order)
    assert set(order["products"][0]) == {"sku", "name", "qty", "price"}
    # The customer's lifetime value stays in the company's currency: 85.00 GBP + 8.50 GBP.
    assert hub.dd_fields("c001@example.com")["LIFETIMEVALUE"] == 93.5
