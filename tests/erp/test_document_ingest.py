"""The sales document mirror: idempotent upserts, lines replaced on change, base links kept."""
from decimal import Decimal

import pytest

from erp.documents import Delivery, SalesOrder, SalesOrderLine
from erp.ingest import INGESTERS
from syncapp.adapters import SourceRecord
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db


def document(entry: int, *lines: dict, entity: str = "orders", **header) -> SourceRecord:
    data = {"doc_entry": entry, "doc_num": 1000 + entry, "doc_type": entity, "card_code": "C001",
            "num_at_card": f"WEB-{entry}", "doc_date": "2026-11-20", "doc_due_date": "2026-11-25",
            "currency": "GBP", "doc_total": 60.0, "vat_total": 10.0, "discount_percent": 0.0, "status": "open",
            "cancelled": False, "tracking_number": "", "source_updated_at": "2026-11-20T10:00:00+00:00",
            "lines": list(lines)} | header
    return SourceRecord(entity=entity, key=str(entry), version="v", data=data, raw={"DocEntry": entry})


def line(num: int, item: str = "1001", quantity: float = 1, price: float = 25.0, **links) -> dict:
    return {"line_num": num, "item_code": item, "description": f"Item {item}", "quantity": quantity, "price": price,
            "line_total": quantity * price, "warehouse_code": "01", "line_status": "open", "base_type": None,
            "base_entry": None, "base_line": None} | links


def test_an_order_and_its_lines_are_mirrored_once_however_often_they_are_read():
    connection = ErpConnectionFactory()
    first = INGESTERS["orders"](connection=connection, records=[document(1, line(0), line(1, "1002", 2, 5.0))])
    again = INGESTERS["orders"](connection=connection, records=[document(1, line(0), line(1, "1002", 2, 5.0))])
    assert first.changed_keys == ["1"] and again.changed_keys == [] and again.unchanged == 1
    order = SalesOrder.objects.get()
    assert (order.num_at_card, order.lines.count()) == ("WEB-1", 2)


def test_an_edited_order_replaces_its_lines():
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=[document(1, line(0), line(1, "1002"))])
    result = INGESTERS["orders"](connection=connection, records=[document(1, line(0, quantity=3), doc_total=75.0)])
    assert result.changed_keys == ["1"]
    assert list(SalesOrderLine.objects.values_list("line_num", "quantity")) == [(0, 3)]


def test_a_cancellation_is_a_change_of_the_same_order():
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=[document(1, line(0))])
    INGESTERS["orders"](connection=connection, records=[document(1, line(0), cancelled=True, status="closed")])
    order = SalesOrder.objects.get()
    assert order.cancelled and order.status == "closed"


def test_a_delivery_keeps_the_link_to_its_order_line():
    connection = ErpConnectionFactory()
    INGESTERS["deliveries"](connection=connection, records=[
        document(7, line(0, base_type=17, base_entry=1, base_line=1), entity="deliveries", tracking_number="TRK1")])
    delivery = Delivery.objects.get()
    assert delivery.tracking_number == "TRK1"
    assert list(delivery.lines.values_list("base_type", "base_entry", "base_line")) == [(17, 1, 1)]


def test_an_unreadable_document_is_reported_and_the_page_goes_on():
    connection = ErpConnectionFactory()
    broken = SourceRecord(entity="orders", key="9", version="", data=None, raw={"DocEntry": 9},
                          error="Order 9 has a line quantity that is not a number")
    result = INGESTERS["orders"](connection=connection, records=[broken, document(1, line(0))])
    assert [r.key for r in result.unreadable] == ["9"] and result.changed_keys == ["1"]


def test_a_cancellation_document_is_stored_flagged():
    connection = ErpConnectionFactory()
    INGESTERS["deliveries"](connection=connection, records=[
        document(7, line(0, base_type=17, base_entry=1, base_line=0), entity="deliveries", cancelled=True),
        document(8, line(0, base_type=15, base_entry=7, base_line=0), entity="deliveries", is_cancellation=True)])
    flags = dict(Delivery.objects.values_list("doc_entry", "is_cancellation"))
    assert flags == {7: False, 8: True}
    assert Delivery.objects.get(doc_entry=7).cancelled


def test_freight_discount_and_local_figures_are_kept_and_a_change_to_them_is_a_change():
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=[document(
        1, line(0), currency="EUR", doc_total=71.0, freight_total=5.0, discount_total=2.5, rounding_total=0.01,
        doc_total_local=61.06, vat_total_local=8.6)])
    order = SalesOrder.objects.get()
    assert (order.currency, order.doc_total, order.freight_total, order.discount_total, order.doc_total_local) == (
        "EUR", 71, 5, Decimal("2.5"), Decimal("61.06"))
    changed = INGESTERS["orders"](connection=connection, records=[document(
        1, line(0), currency="EUR", doc_total=71.0, freight_total=6.0, discount_total=2.5, rounding_total=0.01,
        doc_total_local=61.06, vat_total_local=8.6)])
    assert changed.changed_keys == ["1"]


def test_a_source_with_one_currency_only_has_its_totals_as_local_figures():
    connection = ErpConnectionFactory()
    INGESTERS["orders"](connection=connection, records=[document(1, line(0))])
    order = SalesOrder.objects.get()
    assert (order.doc_total_local, order.vat_total_local, order.freight_total, order.is_cancellation) == (
        60, 10, 0, False)
