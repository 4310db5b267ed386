"""Product categories end to end (issue 15, part 0): SAP B1 item groups through the engine
into dotdigital (contact data fields, Orders and the catalog) and Ometria (contact
properties, order lines and products), through the sandboxes over real sockets.
"""
from __future__ import annotations

import pytest

from exceptions.models import SyncException
from syncapp.models import Flow, OutboxItem, OutboxStatus
from syncapp.services import connection_pull, flow_push
from tests.hub import partner
from tests.test_end_to_end_ometria import DOCUMENTS, OmetriaHub, sap_item

pytestmark = pytest.mark.django_db

KNITWEAR, SOCKS = 110, 111


class CategoriesHub(OmetriaHub):
    """OmetriaHub (dotdigital customers, Ometria's four flows) plus dotdigital's products
    and orders, and a shop selling knitwear and socks."""

    def __init__(self):
        super().__init__()
        self.dd_flows = {"customers": self.flow} | {
            entity: Flow.objects.create(name=f"dd-{entity}", connection=self.connection, destination=self.account,
                                        entity=entity) for entity in ("products", "orders")}
        self.sap.add_item_groups([{"Number": KNITWEAR, "GroupName": "Knitwear"},
                                  {"Number": SOCKS, "GroupName": "Socks"}])
        self.sap.add_items([item("K1", KNITWEAR, "Cable-knit jumper"), item("S1", SOCKS, "Wool socks")])

    def pull(self):
        for entity in ("warehouses", "item_groups", "business_partners", "items", "item_stock", *DOCUMENTS):
            connection_pull(connection=self.connection, entity=entity)

    def push(self):
        for entity in ("customers", "products", "orders", "customers"):  # the figures after the orders
            flow_push(flow=self.dd_flows[entity], adapter=self.destination())
            self.push_ometria(entity)

    def cycle(self):
        self.pull()
        self.push()

    def dd_contact_fields(self, card_code: str) -> dict:
        return self.dd.contacts[f"{card_code.lower()}@example.com"]["dataFields"]

    def dd_records(self, collection: str) -> dict:
        return self.dd.insight_collections[collection]["records"]

    def pending(self) -> dict[str, set[str]]:
        """Flow name -> keys waiting to be sent."""
        found: dict[str, set[str]] = {}
        for name, key in OutboxItem.objects.filter(status=OutboxStatus.PENDING).values_list("flow__name", "record_key"):
            found.setdefault(name, set()).add(key)
        return found


def item(code: str, group: int, name: str) -> dict:
    return sap_item(code, 50.0) | {"ItemsGroupCode": group, "ItemName": name}


@pytest.fixture
def hub():
    hub = CategoriesHub()
    yield hub
    hub.close()


def test_a_first_order_in_knitwear_sets_the_first_purchase_category_and_the_lines_category_at_both(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-1", ("K1", 1, 80.0), ("S1", 2, 5.0))
    hub.cycle()

    fields = hub.dd_contact_fields("C001")
    assert (fields["FIRSTPURCHASECAT"], fields["MOSTPURCHASEDCAT"], fields["CATEGORIESBOUGHT"]) == (
        "Knitwear", "Knitwear", "Knitwear, Socks")
    properties = hub.contact("C001")["properties"]
    assert (properties["first_purchase_category"], properties["most_purchased_category"],
            properties["categories_bought"]) == ("Knitwear", "Knitwear", "Knitwear, Socks")

    dd_order = hub.dd_records("Orders")[str(entry)]
    assert [(p["sku"], p["category"]) for p in dd_order["products"]] == [("K1", "Knitwear"), ("S1", "Socks")]
    om_order = hub.om_order("WEB-1")
    assert [(line["product_id"], line["properties"]["category"]) for line in om_order["lineitems"]] == [
        ("K1", "Knitwear"), ("S1", "Socks")]

    assert hub.dd_records("Catalog_Default")["K1"]["category"] == "Knitwear"
    assert hub.om.records("product")["K1"]["attributes"] == [{"type": "category", "id": "110", "label": "Knitwear"}]
    assert hub.om.errors == []
    assert not SyncException.objects.filter(status="open").exists()


def test_a_credit_memo_refunding_the_knitwear_moves_the_most_purchased_category(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-2", ("K1", 1, 80.0), ("S1", 2, 5.0))
    hub.cycle()
    invoice = hub.copy("Invoices", "C001", 17, entry, (0, 1), (1, 2))
    hub.copy("CreditNotes", "C001", 13, invoice, (0, 1))  # the jumper comes back
    hub.cycle()

    fields = hub.dd_contact_fields("C001")
    # Socks are now worth more than the refunded knitwear; the first purchase stays what it was.
    assert (fields["FIRSTPURCHASECAT"], fields["MOSTPURCHASEDCAT"], fields["CATEGORIESBOUGHT"]) == (
        "Knitwear", "Socks", "Knitwear, Socks")
    assert hub.contact("C001")["properties"]["most_purchased_category"] == "Socks"
    assert hub.om_order("WEB-2")["status"] == "partial_refund"


def test_a_category_rename_reaches_the_records_that_show_it_and_no_others(hub):
    hub.sap.add_business_partners([partner("C001"), partner("C002"), partner("C003")])
    knitwear = hub.order("C001", "WEB-3", ("K1", 1, 80.0))
    socks = hub.order("C002", "WEB-4", ("S1", 3, 5.0))
    cancelled = hub.order("C003", "WEB-5", ("K1", 1, 80.0))
    hub.sl("POST", f"Orders({cancelled})/Cancel")
    hub.cycle()
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {OutboxStatus.ACCEPTED}
    before = dict(OutboxItem.objects.values_list("id", "accepted_hash"))

    hub.sl("PATCH", f"ItemGroups({KNITWEAR})", {"GroupName": "Knitwear & Jumpers"})
    run = connection_pull(connection=hub.connection, entity="item_groups")

    # The renamed group's product, its orders (the cancelled one shows its lines too) and the
    # customer whose figures name it; the socks, their buyer and their order are not touched.
    assert hub.pending() == {
        "dd-products": {"K1"}, "om-products": {"K1"}, "customers": {"C001"}, "om-customers": {"C001"},
        "dd-orders": {str(knitwear), str(cancelled)}, "om-orders": {str(knitwear), str(cancelled)}}
    # C003's cancelled order never counted: planned again, the same payload, nothing to send.
    assert (run.records_planned, run.records_unchanged) == (8, 2)

    hub.push()
    assert hub.dd_contact_fields("C001")["FIRSTPURCHASECAT"] == "Knitwear & Jumpers"
    assert hub.contact("C001")["properties"]["categories_bought"] == "Knitwear & Jumpers"
    assert hub.dd_records("Orders")[str(knitwear)]["products"][0]["category"] == "Knitwear & Jumpers"
    assert hub.om_order("WEB-3")["lineitems"][0]["properties"]["category"] == "Knitwear & Jumpers"
    assert hub.dd_records("Catalog_Default")["K1"]["category"] == "Knitwear & Jumpers"
    assert hub.om.records("product")["K1"]["attributes"][0]["label"] == "Knitwear & Jumpers"
    assert hub.dd_records("Orders")[str(socks)]["products"][0]["category"] == "Socks"
    changed = {item_id for item_id, accepted in OutboxItem.objects.values_list("id", "accepted_hash")
               if before.get(item_id) != accepted}
    assert OutboxItem.objects.filter(id__in=changed).count() == 8  # the eight sent, and only those

    connection_pull(connection=hub.connection, entity="item_groups")  # the same names again
    assert hub.pending() == {}
