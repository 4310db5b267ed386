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

ORDER, DELIVERY, INVOICE, RETURN = 17, 15, 13, 16
_LINE_MODEL_BY_TYPE = {code: line for _, (_, line, code) in DOCUMENT_MODELS.items()}


def _bases(line_model, connection, entries) -> list[tuple[int, int, int, int]]:
    """(document entry, base type, base entry, base line) of the given documents' lines."""
    return list(line_model.objects.filter(document__connection=connection, document__doc_entry__in=list(entries))
                .exclude(base_type__isnull=True).values_list("document__doc_entry", "base_type", "base_entry",
                                                               "base_line"))


def orders_of(*, connection, entity: str, doc_entries) -> set[int]:
    """The sales orders (doc entries) the given documents of `entity` descend from,
    following base links hop by hop (a credit memo -> invoice -> delivery -> order is
    three hops; a credit memo -> return -> delivery -> order too)."""
    _, _, code = DOCUMENT_MODELS[entity]
    frontier: dict[int, set[int]] = {code: {int(entry) for entry in doc_entries}}
    orders: set[int] = set(frontier.pop(ORDER, set()))
    for _ in range(4):
        following: dict[int, set[int]] = defaultdict(set)
        for base_type_of_docs, entries in frontier.items():
            for _, base_type, base_entry, _ in _bases(_LINE_MODEL_BY_TYPE[base_type_of_docs], connection, entries):
                if base_type == ORDER:
                    orders.add(base_entry)
                elif base_type in _LINE_MODEL_BY_TYPE:
                    following[base_type].add(base_entry)
        if not following:
            break
        frontier = following
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
    return date per order. Credit memos may be based on an invoice or a return; returns
    on a delivery or an invoice; invoices on an order or a delivery."""
    orders = set(orders)
    deliveries = _descendants(connection, "deliveries", ORDER, orders)  # delivery -> order
    invoices = _descendants(connection, "invoices", ORDER, orders)  # invoice -> order
    from_deliveries = _descendants(connection, "invoices", DELIVERY, deliveries)
    invoices.update({invoice: deliveries[delivery] for invoice, delivery in from_deliveries.items()})
    returns = {ret: deliveries[d] for ret, d in _descendants(connection, "returns", DELIVERY, deliveries).items()}
    returns.update({ret: invoices[i] for ret, i in _descendants(connection, "returns", INVOICE, invoices).items()})
    refunded: dict[int, Decimal] = defaultdict(Decimal)
    returned: dict[int, object] = {}
    _, credit_lines, _ = DOCUMENT_MODELS["credit_notes"]
    for base_type, base_entry, line_total in credit_lines.objects.filter(
            document__connection=connection, document__cancelled=False, base_type__in=[INVOICE, RETURN],
            base_entry__in=list(set(invoices) | set(returns))).values_list("base_type", "base_entry", "line_total"):
        order = invoices.get(base_entry) if base_type == INVOICE else returns.get(base_entry)
        if order is not None:
            refunded[order] += line_total
    return_model = DOCUMENT_MODELS["returns"][0]
    for entry, doc_date in return_model.objects.filter(
            connection=connection, cancelled=False, doc_entry__in=list(returns)).values_list("doc_entry", "doc_date"):
        order = returns[entry]
        if returned.get(order) is None or (doc_date and doc_date > returned[order]):
            returned[order] = doc_date
    return refunded, returned


def shipments_of(*, connection, orders) -> dict[int, list[tuple[int, object, str]]]:
    """Deliveries per order: (delivery entry, date, tracking number), oldest first."""
    _, line_model, _ = DOCUMENT_MODELS["deliveries"]
    found: dict[int, dict[int, tuple]] = defaultdict(dict)
    for order, entry, doc_date, tracking in line_model.objects.filter(
            document__connection=connection, document__cancelled=False, base_type=ORDER,
            base_entry__in=list(orders)).values_list("base_entry", "document__doc_entry", "document__doc_date",
                                                     "document__tracking_number"):
        found[order][entry] = (entry, doc_date, tracking)
    return {order: sorted(shipments.values(), key=lambda s: (s[1] is None, s[1], s[0]))
            for order, shipments in found.items()}
