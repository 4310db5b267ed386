"""Selectors that follow document lines back to the sales order they came from.

SAP B1 links a copied line to its base line (BaseType / BaseEntry / BaseLine): a
delivery line to an order line (17), an invoice line to an order or delivery line
(17 / 15), a credit memo line to an invoice line (13), a return line to a delivery
line (15). Following at most two hops reaches the order from any of them.
"""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from .documents import DOCUMENT_MODELS

ORDER, DELIVERY, INVOICE = 17, 15, 13
_LINE_MODEL_BY_TYPE = {code: line for _, (_, line, code) in DOCUMENT_MODELS.items()}


def _bases(line_model, connection, entries) -> list[tuple[int, int, int, int]]:
    """(document entry, base type, base entry, base line) of the given documents' lines."""
    return list(line_model.objects.filter(document__connection=connection, document__doc_entry__in=list(entries))
                .exclude(base_type__isnull=True).values_list("document__doc_entry", "base_type", "base_entry",
                                                               "base_line"))


def orders_of(*, connection, entity: str, doc_entries) -> set[int]:
    """The sales orders (doc entries) the given documents of `entity` descend from."""
    _, line_model, code = DOCUMENT_MODELS[entity]
    entries = {int(entry) for entry in doc_entries}
    if code == ORDER:
        return entries
    orders: set[int] = set()
    pending: dict[int, set[int]] = defaultdict(set)
    for _, base_type, base_entry, _ in _bases(line_model, connection, entries):
        if base_type == ORDER:
            orders.add(base_entry)
        elif base_type in (DELIVERY, INVOICE):
            pending[base_type].add(base_entry)
    for base_type, bases in pending.items():  # one more hop: a delivery or invoice to its order
        for _, next_type, next_entry, _ in _bases(_LINE_MODEL_BY_TYPE[base_type], connection, bases):
            if next_type == ORDER:
                orders.add(next_entry)
    return orders


def delivered_quantities(*, connection, orders) -> dict[tuple[int, int], Decimal]:
    """Delivered quantity per (order, order line), cancelled deliveries left out."""
    _, line_model, _ = DOCUMENT_MODELS["deliveries"]
    totals: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for order, line, quantity in line_model.objects.filter(
            document__connection=connection, document__cancelled=False, base_type=ORDER,
            base_entry__in=list(orders)).values_list("base_entry", "base_line", "quantity"):
        totals[(order, line)] += quantity
    return totals


def _descendants(connection, entity: str, base_type: int, base_entries) -> dict[int, int]:
    """Documents of `entity` copied from the given base documents: {document entry: base entry}."""
    _, line_model, _ = DOCUMENT_MODELS[entity]
    return dict(line_model.objects.filter(document__connection=connection, document__cancelled=False,
                                          base_type=base_type, base_entry__in=list(base_entries))
                .values_list("document__doc_entry", "base_entry"))


def refunds_and_returns(*, connection, orders) -> tuple[dict[int, Decimal], dict[int, object]]:
    """Money credited back per order (credit memo line totals, net of tax) and the last
    return date per order, following order -> delivery / invoice -> credit memo / return."""
    orders = set(orders)
    deliveries = _descendants(connection, "deliveries", ORDER, orders)  # delivery -> order
    invoices = _descendants(connection, "invoices", ORDER, orders)  # invoice -> order
    invoices.update({invoice: deliveries[delivery] for invoice, delivery in
                     _descendants(connection, "invoices", DELIVERY, deliveries).items()})
    refunded: dict[int, Decimal] = defaultdict(Decimal)
    returned: dict[int, object] = {}
    _, credit_lines, _ = DOCUMENT_MODELS["credit_notes"]
    for base_entry, line_total in credit_lines.objects.filter(
            document__connection=connection, document__cancelled=False, base_type=INVOICE,
            base_entry__in=list(invoices)).values_list("base_entry", "line_total"):
        refunded[invoices[base_entry]] += line_total
    _, return_lines, _ = DOCUMENT_MODELS["returns"]
    for base_entry, doc_date in return_lines.objects.filter(
            document__connection=connection, document__cancelled=False, base_type=DELIVERY,
            base_entry__in=list(deliveries)).values_list("base_entry", "document__doc_date"):
        order = deliveries[base_entry]
        if returned.get(order) is None or doc_date > returned[order]:
            returned[order] = doc_date
    return refunded, returned
