"""Orders end to end: SAP B1 sandbox documents -> engine -> dotdigital's Orders insight collection."""
from __future__ import annotations

import pytest

from exceptions.models import SyncException
from syncapp.models import Flow
from syncapp.services import connection_pull, flow_push
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db


def sap_order(card_code: str, web_ref: str, *lines: tuple[str, float, float]) -> dict:
    return {"CardCode": card_code, "NumAtCard": web_ref, "DocDate": "2026-11-20", "DocDueDate": "2026-11-25",
            "DocCurrency": "GBP", "DocumentLines": [
                {"LineNum": n, "ItemCode": item, "ItemDescription": f"Item {item}", "Quantity": qty, "Price": price,
                 "WarehouseCode": "01", "VatGroup": "O1"} for n, (item, qty, price) in enumerate(lines)]}


class OrdersHub(Hub):
    def __init__(self):
        super().__init__()
        self.orders = Flow.objects.create(name="orders", connection=self.connection, destination=self.account,
                                          entity="orders")

    def cycle(self):
        for entity in ("business_partners", "orders", "deliveries"):
            connection_pull(connection=self.connection, entity=entity)
        for flow in (self.flow, self.orders, self.flow):  # customers, their orders, then the figures
            flow_push(flow=flow, adapter=self.destination())

    def dd_orders(self) -> dict:
        return (self.dd.insight_collections.get("Orders") or {"records": {}})["records"]


@pytest.fixture
def hub():
    hub = OrdersHub()
    yield hub
    hub.close()


def test_an_order_reaches_dotdigital_after_its_customer_and_updates_the_customer(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.sap.add_document("orders", sap_order("C001", "WEB-1", ("1001", 2, 10.0)))["DocEntry"]
    hub.cycle()
    record = hub.dd_orders()[str(entry)]
    assert record["id"] == "WEB-1" and record["orderStatus"] == "processing"
    assert hub.dd.contacts["c001@example.com"]["dataFields"]["ORDERCOUNT"] == 1


def test_an_order_for_a_customer_with_an_invalid_email_waits_then_flows_when_fixed(hub):
    hub.sap.add_business_partners([partner("C002", EmailAddress="jane@")])
    entry = hub.sap.add_document("orders", sap_order("C002", "WEB-2", ("1001", 1, 10.0)))["DocEntry"]
    hub.cycle()
    assert str(entry) not in hub.dd_orders()
    assert SyncException.objects.get(record_key=str(entry)).reason_code == "waiting_for_customer"
    hub.patch_in_sap("C002", EmailAddress="jane@example.com")
    hub.cycle()
    assert hub.dd_orders()[str(entry)]["id"] == "WEB-2"
    assert SyncException.objects.get(record_key=str(entry)).status == "resolved"


def test_the_dispatched_status_comes_with_the_last_delivery_not_the_first(hub):
    hub.sap.add_business_partners([partner("C001")])
    order = hub.sap.add_document("orders", sap_order("C001", "WEB-3", ("1001", 2, 10.0), ("1002", 1, 5.0)))
    hub.cycle()

    def deliver(*lines):
        hub.sap_clock.advance(minutes=5)
        hub.sap.add_document("deliveries", {"CardCode": "C001", "DocDate": "2026-11-21", "TrackingNumber": "TRK",
                                            "DocumentLines": [{"BaseType": 17, "BaseEntry": order["DocEntry"],
                                                               "BaseLine": line, "Quantity": qty}
                                                              for line, qty in lines]})
        hub.cycle()
        return hub.dd_orders()[str(order["DocEntry"])]["orderStatus"]

    assert deliver((0, 1)) == "processing"  # partial: no dispatch yet
    assert deliver((0, 1), (1, 1)) == "complete"
