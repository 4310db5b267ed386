"""Plan orders: one destination record per sales order, updated in place.

Edits overwrite the same record (keyed by the order's DocEntry); a cancellation sets
the destination's cancelled status; credit memos lower the order's value; the
dispatch state comes from deliveries, not from the order. An order whose customer the
destination does not have yet waits, visibly, and moves as soon as the customer does.
"""
from __future__ import annotations

from decimal import Decimal

from erp.document_links import delivered_quantities, refunds_and_returns
from erp.documents import SalesOrder
from erp.models import BusinessPartner, Item
from esp.order_status import status_map
from esp.sku import SkuPolicy, sku_normalise
from exceptions.models import Stage, SyncException
from exceptions.services import exception_raise, exceptions_mark_retrying, exceptions_resolve

from .models import Flow, OutboxItem, OutboxStatus, Priority
from .outbox import PlannedRecord, outbox_enqueue, outbox_stop
from .planning import PlanResult

TOTAL_TOLERANCE = Decimal("0.05")  # rounding SAP may do per line


def _customers_at_destination(flow, card_codes: set[str]) -> set[str]:
    """Customers the destination has accepted through a customers flow of this connection."""
    customer_flows = Flow.objects.filter(connection_id=flow.connection_id, destination_id=flow.destination_id,
                                         entity="customers")
    return set(OutboxItem.objects.filter(flow__in=customer_flows, record_key__in=list(card_codes))
               .exclude(accepted_hash="").values_list("record_key", flat=True))


def _state(order, ordered: dict, delivered: dict, refunded: Decimal) -> str:
    if order.cancelled:
        return "cancelled"
    if refunded > 0:
        return "refunded" if refunded >= order.doc_total - order.vat_total else "partially_refunded"
    wanted = sum(ordered.values(), Decimal(0))
    sent = sum((min(delivered.get(line, Decimal(0)), qty) for line, qty in ordered.items()), Decimal(0))
    if wanted > 0 and sent >= wanted:
        return "dispatched"
    if sent > 0:
        return "partially_dispatched"
    return "closed" if order.status == "closed" else "open"


def _problems(order, lines, known_items: set[str] | None) -> list[tuple[str, str]]:
    problems = []
    if known_items is not None:
        unknown = sorted({line.item_code for line in lines if line.item_code and line.item_code not in known_items})
        if unknown:
            problems.append(("unknown_item", f"Order {order.doc_num} has lines for items the ERP did not list: "
                                             f"{', '.join(unknown)}."))
    expected = sum((line.line_total for line in lines), Decimal(0)) * (1 - order.discount_percent / 100) \
        + order.vat_total
    if abs(expected - order.doc_total) > TOTAL_TOLERANCE:
        problems.append(("total_mismatch", f"Order {order.doc_num} totals {order.doc_total} {order.currency}, but "
                                           f"its lines and tax add up to {expected:.2f}."))
    return problems


def orders_plan(*, flow, record_keys: list[str], force: bool = False, priority: int = Priority.ROUTINE,
                rows: dict | None = None) -> PlanResult:
    """Plan the given orders (DocEntry keys) of one orders flow."""
    result = PlanResult()
    entries = [int(key) for key in record_keys]
    orders = list(SalesOrder.objects.filter(connection_id=flow.connection_id, doc_entry__in=entries)
                  .prefetch_related("lines").defer("raw"))
    card_codes = {order.card_code for order in orders}
    partners = {p.card_code: p for p in BusinessPartner.objects.filter(
        connection_id=flow.connection_id, card_code__in=list(card_codes)).only("card_code", "email")}
    at_destination = _customers_at_destination(flow, card_codes)
    mirror_items = Item.objects.filter(connection_id=flow.connection_id)
    line_items = list({line.item_code for order in orders for line in order.lines.all() if line.item_code})
    known_items = (set(mirror_items.filter(item_code__in=line_items).values_list("item_code", flat=True))
                   if mirror_items.exists() else None)
    skus = SkuPolicy.for_connection(flow.connection)
    statuses = status_map(flow.destination)
    delivered = delivered_quantities(connection=flow.connection, orders=[o.doc_entry for o in orders])
    refunded, returned = refunds_and_returns(connection=flow.connection, orders=[o.doc_entry for o in orders])
    delivered_by_order: dict[int, dict[int, Decimal]] = {}
    for (entry, line_num), quantity in delivered.items():
        delivered_by_order.setdefault(entry, {})[line_num] = quantity
    existing = set(OutboxItem.objects.filter(flow=flow, record_key__in=record_keys).values_list("record_key",
                                                                                               flat=True))
    urgent, routine, problems, waiting = [], [], [], []
    for order in orders:
        key, lines = str(order.doc_entry), list(order.lines.all())
        partner = partners.get(order.card_code)
        if partner is None:
            problems.append((key, "unknown_customer", f"Order {order.doc_num} is for customer {order.card_code}, "
                                                      "whom the ERP did not list."))
            continue
        found = _problems(order, lines, known_items)
        if found:
            problems.extend((key, reason, message) for reason, message in found)
            continue
        if order.card_code not in at_destination:
            waiting.append((key, order.card_code))
            continue
        ordered = {line.line_num: line.quantity for line in lines if line.line_status != "closed" or
                   delivered_by_order.get(order.doc_entry, {}).get(line.line_num)}
        order_delivered = delivered_by_order.get(order.doc_entry, {})
        state = _state(order, ordered, order_delivered, refunded.get(order.doc_entry, Decimal(0)))
        value = order.doc_total - order.vat_total - refunded.get(order.doc_entry, Decimal(0))
        payload = {
            "id": order.num_at_card or str(order.doc_num), "orderNumber": order.doc_num,
            "purchaseDate": order.doc_date.isoformat() if order.doc_date else None,
            "orderStatus": statuses[state], "currency": order.currency,
            "orderSubtotal": float(sum((line.line_total for line in lines), Decimal(0))),
            "orderTotal": float(max(value, Decimal(0))),
            "refundedTotal": float(refunded.get(order.doc_entry, Decimal(0))),
            "lastReturnDate": returned[order.doc_entry].isoformat() if order.doc_entry in returned else None,
            "products": [{"sku": sku_normalise(line.item_code, skus), "name": line.description,
                          "qty": float(line.quantity), "price": float(line.price)} for line in lines],
        }
        record = PlannedRecord(key=key, identifier=partner.email.strip(), payload=payload)
        # New orders and cancellations go before routine edits.
        (urgent if key not in existing or state == "cancelled" else routine).append(record)

    # During a backfill nothing is urgent: history must never overtake today's orders.
    new_priority = priority if priority == Priority.BACKFILL else min(priority, Priority.URGENT)
    queued_urgent = outbox_enqueue(flow=flow, records=urgent, priority=new_priority, force=force)
    queued_routine = outbox_enqueue(flow=flow, records=routine, priority=priority, force=force)
    result.queued = queued_urgent.queued + queued_routine.queued
    result.unchanged = queued_urgent.unchanged + queued_routine.unchanged
    result.failed = [key for key, *_ in problems] + queued_urgent.still_failed + queued_routine.still_failed
    result.held = [key for key, _ in waiting]
    exceptions_resolve(flow=flow, entity=flow.entity, record_keys=result.unchanged)
    exceptions_mark_retrying(flow=flow, entity=flow.entity, record_keys=result.queued)
    outbox_stop(flow=flow, record_keys=[key for key, *_ in problems], status=OutboxStatus.FAILED)
    outbox_stop(flow=flow, record_keys=result.held, status=OutboxStatus.HELD)
    for key, reason, message in problems:
        exception_raise(connection=flow.connection, flow=flow, entity=flow.entity, record_key=key,
                        stage=Stage.PLAN, reason_code=reason, message=message)
    for key, card_code in waiting:
        exception_raise(connection=flow.connection, flow=flow, entity=flow.entity, record_key=key,
                        stage=Stage.PLAN, reason_code="waiting_for_customer",
                        message=f"Waiting for customer {card_code} to reach the destination first.")
    return result


def orders_waiting_for(*, flow, customer_keys: list[str]) -> list[str]:
    """Orders of this flow held for any of these customers, now worth planning again."""
    waiting = SyncException.objects.filter(flow=flow, reason_code__in=["waiting_for_customer", "unknown_customer"],
                                           status__in=[SyncException.Status.OPEN, SyncException.Status.RETRYING])
    # Keys are orders ("12") or, for signals refused at the destination, "12:dispatched".
    keys = {int(k.split(":")[0]) for k in waiting.values_list("record_key", flat=True) if k.split(":")[0].isdigit()}
    return [str(entry) for entry in SalesOrder.objects.filter(
        connection_id=flow.connection_id, doc_entry__in=keys, card_code__in=customer_keys)
        .values_list("doc_entry", flat=True)]


def orders_touched(*, connection, entity: str, keys: list[str]) -> list[str]:
    """Orders whose record a change to these documents of `entity` can alter."""
    from erp.document_links import orders_of

    return [str(entry) for entry in orders_of(connection=connection, entity=entity, doc_entries=keys)]
