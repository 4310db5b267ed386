"""Selectors that follow document lines back to the sales order they came from.

SAP B1 links a copied line to its base line (BaseType / BaseEntry / BaseLine): a
delivery line to an order line (17), an invoice line to an order or delivery line
(17 / 15), a credit memo line to an invoice or return line (13 / 16), a return line to a
delivery or invoice line (15 / 13). Following at most three hops reaches the order line
from any of them.

Cancelled documents and cancellation documents (which reverse another document and
carry the same lines, based on it) are never counted: not as a delivery, an invoice, a
return or a refund. `orders_of` still follows them, because a cancellation changes what
its order looks like and the order must be planned again.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from syncapp.bulksql import any_of

from .documents import DOCUMENT_MODELS

ORDER, DELIVERY, INVOICE, CREDIT_MEMO, RETURN = 17, 15, 13, 14, 16
_LINE_MODEL_BY_TYPE = {code: line for _, (_, line, code) in DOCUMENT_MODELS.items()}
OrderLine = tuple[int, int]  # (order DocEntry, order LineNum)


def _counted_lines(line_model, connection):
    """Lines of documents that count: neither cancelled nor a cancellation."""
    return line_model.objects.filter(document__connection=connection, document__cancelled=False,
                                     document__is_cancellation=False)


def _bases(line_model, connection, entries) -> list[tuple[int, int, int, int]]:
    """(document entry, base type, base entry, base line) of the given documents' lines."""
    return list(line_model.objects.filter(any_of("document__doc_entry", entries), document__connection=connection)
                .exclude(base_type__isnull=True).values_list("document__doc_entry", "base_type", "base_entry",
                                                               "base_line"))


def orders_of(*, connection, entity: str, doc_entries) -> set[int]:
    """The sales orders (doc entries) the given documents of `entity` descend from,
    following base links hop by hop (a credit memo -> invoice -> delivery -> order is
    three hops; a credit memo -> return -> delivery -> order too; a cancellation
    document -> the delivery it reverses -> order)."""
    _, _, code = DOCUMENT_MODELS[entity]
    frontier: dict[int, set[int]] = {code: {int(entry) for entry in doc_entries}}
    orders: set[int] = set(frontier.pop(ORDER, set()))
    for _ in range(5):
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


def delivered_quantities(*, connection, orders) -> dict[OrderLine, Decimal]:
    """Delivered quantity per (order, order line); cancelled deliveries and cancellation
    documents left out."""
    _, line_model, _ = DOCUMENT_MODELS["deliveries"]
    totals: dict[OrderLine, Decimal] = defaultdict(Decimal)
    for order, line, quantity in _counted_lines(line_model, connection).filter(
            any_of("base_entry", orders), base_type=ORDER).values_list("base_entry", "base_line", "quantity"):
        totals[(order, line)] += quantity
    return totals


@dataclass
class LineRefund:
    """What came back on one order line: quantity returned or credited, and money
    credited (credit memo lines after the credit memo's header discount, before tax)."""

    quantity: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)


@dataclass
class OrderRefunds:
    lines: dict[OrderLine, LineRefund] = field(default_factory=dict)
    returned: dict[int, object] = field(default_factory=dict)  # order -> last return date
    amounts: dict[int, Decimal] = field(default_factory=dict)  # order -> money credited

    def amount(self, order: int) -> Decimal:
        return self.amounts.get(order, Decimal(0))


def _copied(connection, entity: str, base_type: int, base_entries) -> list[tuple]:
    """Counted lines of `entity` copied from `base_type` documents among `base_entries`:
    (entry, base entry, base line, quantity, line total, header discount %, date)."""
    if not base_entries:
        return []
    _, line_model, _ = DOCUMENT_MODELS[entity]
    return list(_counted_lines(line_model, connection).filter(any_of("base_entry", base_entries), base_type=base_type)
                .values_list("document__doc_entry", "line_num", "base_entry", "base_line", "quantity", "line_total",
                             "document__discount_percent", "document__doc_date"))


def order_refunds(*, connection, orders) -> OrderRefunds:
    """Returns and credit memos per order line, found through the document chain:
    deliveries and invoices copied from the order, returns from those, credit memos from
    invoices, returns or (SAP ECC) the order itself. A credit memo copied from a return refunds the goods the return
    already brought back, so its quantity is not counted twice."""
    reached: dict[tuple[int, int, int], OrderLine] = {}  # (type, entry, line) -> order line
    result = OrderRefunds()
    orders = {int(o) for o in orders}

    def follow(entity: str, base_type: int) -> list[tuple]:
        code = DOCUMENT_MODELS[entity][2]
        bases = {entry for (kind, entry, _) in reached if kind == base_type} if base_type != ORDER else orders
        found = []
        for row in _copied(connection, entity, base_type, bases):
            entry, line_num, base_entry, base_line = row[:4]
            target = (base_entry, base_line) if base_type == ORDER else reached.get((base_type, base_entry, base_line))
            if target is not None:
                reached[(code, entry, line_num)] = target
                found.append((target, *row))
        return found

    follow("deliveries", ORDER)
    follow("invoices", ORDER)
    follow("invoices", DELIVERY)
    returns = follow("returns", DELIVERY) + follow("returns", INVOICE)
    # SAP ECC's credit memos (INVOIC02) name the order line itself (E1EDP02 002), not an invoice.
    credits = [(row, INVOICE) for row in follow("credit_notes", INVOICE)] + \
        [(row, RETURN) for row in follow("credit_notes", RETURN)] + \
        [(row, ORDER) for row in follow("credit_notes", ORDER)]
    for target, *_, quantity, _, _, doc_date in returns:
        result.lines.setdefault(target, LineRefund()).quantity += quantity
        last = result.returned.get(target[0])
        if last is None or (doc_date and doc_date > last):
            result.returned[target[0]] = doc_date
    for (target, *_, quantity, line_total, discount, _), base_type in credits:
        refund = result.lines.setdefault(target, LineRefund())
        refund_amount = line_total * (1 - Decimal(discount or 0) / 100)
        refund.amount += refund_amount
        if base_type != RETURN:  # a return counted its goods already
            refund.quantity += quantity
        result.amounts[target[0]] = result.amounts.get(target[0], Decimal(0)) + refund_amount
    return result


def refunds_and_returns(*, connection, orders) -> tuple[dict[int, Decimal], dict[int, object]]:
    """Money credited back per order (see `order_refunds`) and the last return date per order."""
    refunds = order_refunds(connection=connection, orders=orders)
    return dict(refunds.amounts), refunds.returned


def shipments_of(*, connection, orders) -> dict[int, list[tuple[int, object, str]]]:
    """Deliveries per order: (delivery entry, date, tracking number), oldest first."""
    _, line_model, _ = DOCUMENT_MODELS["deliveries"]
    found: dict[int, dict[int, tuple]] = defaultdict(dict)
    for order, entry, doc_date, tracking in _counted_lines(line_model, connection).filter(
            any_of("base_entry", orders), base_type=ORDER).values_list("base_entry", "document__doc_entry",
                                                                     "document__doc_date",
                                                                     "document__tracking_number"):
        found[order][entry] = (entry, doc_date, tracking)
    return {order: sorted(shipments.values(), key=lambda s: (s[1] is None, s[1], s[0]))
            for order, shipments in found.items()}
