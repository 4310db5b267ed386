"""Sales orders with their lines, as plain rows for planning a page at a time.

Planning takes a page of orders (a thousand at a time during a load): model instances,
one per header and per line, and a related manager per order cost more than everything
planning does with them. These are plain rows with the same attribute names and the
values the ORM would give (Decimal amounts with the column's six places, dates): read
from the mirror (`sales_orders_with_lines`), or made from what ingest just wrote
(`sales_orders_from_ingest`), which saves reading a page back.
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal
from operator import attrgetter
from typing import NamedTuple

from django.db import connection as db_connection

from syncapp.bulksql import select_by_keys

from .documents import SalesOrder, SalesOrderLine

ORDER_FIELDS = ("id", "doc_entry", "doc_num", "card_code", "num_at_card", "doc_date", "currency", "doc_total",
                "vat_total", "discount_percent", "discount_total", "freight_total", "rounding_total", "status",
                "cancelled", "is_cancellation", "contact_person_code")


class LineRow(NamedTuple):
    line_num: int
    item_code: str
    description: str
    quantity: object  # Decimal
    price: object
    line_total: object
    line_status: str


class OrderRow:
    """A sales order header (`ORDER_FIELDS` as attributes) and `lines`, by line number."""

    __slots__ = (*ORDER_FIELDS, "lines")

    def __init__(self, values: tuple) -> None:
        for name, value in zip(ORDER_FIELDS, values, strict=True):
            setattr(self, name, value)
        self.lines: list[LineRow] = []


def sales_orders_with_lines(*, connection_id: int, doc_entries: list[int]) -> list[OrderRow]:
    """The mirrored orders among `doc_entries` (in no particular order), each with its lines."""
    orders = [OrderRow(values) for values in select_by_keys(
        SalesOrder, ORDER_FIELDS, key="doc_entry", keys=doc_entries, where={"connection_id": connection_id})]
    by_id = {order.id: order for order in orders}
    for document_id, *line in sorted(select_by_keys(SalesOrderLine, ("document", *LineRow._fields),
                                                    key="document", keys=list(by_id)),
                                     key=lambda row: (row[0], row[1])):
        by_id[document_id].lines.append(LineRow(*line))
    return orders


_PLACES = Decimal("0.000001")
_AMOUNTS = {"doc_total", "vat_total", "discount_percent", "discount_total", "freight_total", "rounding_total"}


def _as_stored() -> Callable[[Decimal], Decimal]:
    """An amount as the mirror's numeric(19, 6) column gives it back: PostgreSQL rounds half
    away from zero; SQLite keeps a REAL, which Django reads back at 15 digits, rounded half even."""
    if db_connection.vendor == "postgresql":
        return lambda amount: amount.quantize(_PLACES, rounding=ROUND_HALF_UP)
    from_float, context = Context(prec=15).create_decimal_from_float, Context(prec=19)
    return lambda amount: from_float(float(amount)).quantize(_PLACES, context=context)


_HEADER_VALUES = attrgetter(*ORDER_FIELDS[1:])  # all but the id, which ingest does not return
_AMOUNT_AT = [index for index, name in enumerate(ORDER_FIELDS) if name in _AMOUNTS]


def sales_orders_from_ingest(changed: dict) -> list[OrderRow]:
    """Orders as ingest wrote them (`IngestResult.changed` of an orders page), with the
    values a read of the mirror would give."""
    orders, stored = [], _as_stored()
    for row in changed.values():  # a thousand orders a page: plain loops, no per-field lookups
        values = [None, *_HEADER_VALUES(row)]
        for index in _AMOUNT_AT:
            values[index] = stored(values[index])
        order = OrderRow(values)
        lines = order.lines
        for line in row.lines:  # ingest's line tuples (erp.ingest_documents._LINE): LineRow's fields at 0-5 and 7
            lines.append(LineRow(line[0], line[1], line[2], stored(line[3]), stored(line[4]), stored(line[5]),
                                 line[7]))
        orders.append(order)
    return orders
