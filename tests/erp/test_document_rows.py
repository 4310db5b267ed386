"""Orders as ingest wrote them are the orders a read of the mirror gives: planning from the
page in hand plans exactly what a later re-plan from the mirror plans."""
from __future__ import annotations

import pytest

from erp.document_rows import sales_orders_from_ingest, sales_orders_with_lines
from erp.ingest import INGESTERS
from syncapp.adapters import SourceRecord
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db

# Amounts beyond the column's six places, ties included, and plain ones.
AMOUNTS = [72.0, 0.1, 2.0000005, 33.3333333, 1e-7, 1234567.891234, 99.99, 0, 12]


def order(entry: int, amount: float) -> SourceRecord:
    lines = [{"line_num": n, "item_code": "1001", "description": "Mug", "quantity": amount, "price": amount / 3,
              "line_total": amount * 2, "warehouse_code": "01", "line_status": "open", "base_type": None,
              "base_entry": None, "base_line": None} for n in (1, 0)]
    data = {"doc_entry": entry, "doc_num": 100 + entry, "card_code": "C1", "num_at_card": f"WEB-{entry}",
            "doc_date": "2026-11-20", "currency": "GBP", "doc_total": amount, "vat_total": amount / 7,
            "discount_percent": 2.5, "freight_total": amount, "status": "open", "cancelled": entry % 2 == 0,
            "source_updated_at": "2026-11-20T10:00:00+00:00", "lines": lines}
    return SourceRecord(entity="orders", key=str(entry), version="v", data=data, raw={"DocEntry": entry})


def as_values(orders) -> dict:
    fields = [name for name in orders[0].__slots__ if name not in ("id", "lines")] if orders else []
    return {order.doc_entry: ([getattr(order, name) for name in fields], list(order.lines)) for order in orders}


def test_orders_from_the_page_in_hand_equal_the_orders_read_back():
    connection = ErpConnectionFactory()
    stored = INGESTERS["orders"](connection=connection,
                                 records=[order(n, amount) for n, amount in enumerate(AMOUNTS, start=1)])
    in_hand = as_values(sales_orders_from_ingest(stored.changed))
    read_back = as_values(sales_orders_with_lines(connection_id=connection.pk, doc_entries=list(in_hand)))
    assert len(in_hand) == len(AMOUNTS)
    for entry, (header, lines) in in_hand.items():
        assert (header, lines) == read_back[entry], entry
        assert [str(value) for value in header] == [str(value) for value in read_back[entry][0]], entry
    assert [line.line_num for line in in_hand[1][1]] == [0, 1]
