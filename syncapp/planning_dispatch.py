"""Plan dispatch signals, driven by deliveries, never by the sales order.

By default one "dispatched" signal per order, when every line has been delivered; a
flow setting sends one per shipment instead. Each signal is keyed by what it is about
(the order, or the delivery), so planning it again never sends it twice. A signal still
waiting to go out when it stops being true (the delivery was cancelled, the order too)
is withdrawn; one already sent stays sent.
"""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Q

from erp.document_links import delivered_quantities, shipments_of
from erp.document_rows import sales_orders_with_lines
from exceptions.models import Stage
from exceptions.services import exception_raise, exceptions_mark_retrying, exceptions_resolve

from .bulksql import any_of
from .models import OutboxStatus, Priority
from .outbox import PlannedRecord, outbox_enqueue, outbox_lock, outbox_rows_of, outbox_stop
from .page_reads import read_shared
from .planning import PlanResult
from .planning_contacts import order_buyers
from .planning_orders import customer_emails, customers_at_destination, order_ids


def dispatch_events_plan(*, flow, record_keys: list[str], force: bool = False, priority: int = Priority.URGENT,
                         rows: dict | None = None) -> PlanResult:
    """Queue the dispatch signals the given orders (DocEntry keys) are due."""
    result = PlanResult()
    # Plain rows, not model instances: a deliveries page plans hundreds of orders, and their
    # instances and related managers cost more than the plan. "web:<reference>" (a provisional
    # order) has no deliveries.
    every = [order for order in read_shared(
        sales_orders_with_lines, connection_id=flow.connection_id,
        doc_entries=[int(k) for k in record_keys if k.isdigit()]) if not order.is_cancellation]
    orders = [order for order in every if not order.cancelled]
    entries = [order.doc_entry for order in orders]
    # Asked of every order of the page, cancelled ones too, as the orders flows ask: one read serves all.
    delivered = read_shared(delivered_quantities, connection=flow.connection, orders=[o.doc_entry for o in every])
    shipments = read_shared(shipments_of, connection=flow.connection, orders=[o.doc_entry for o in every])
    emails = customer_emails(connection_id=flow.connection_id, card_codes={o.card_code for o in orders})
    buyers = order_buyers(flow=flow, orders=orders)  # an order placed by a contact person: their signal
    at_destination = customers_at_destination(flow, {o.card_code for o in orders} | {k for k, _ in buyers.values()})
    ids = order_ids(flow=flow, orders=orders)  # the id the order itself went out under
    signals, waiting = [], []
    for order in orders:
        sent = shipments.get(order.doc_entry, [])
        # A line closed in SAP without being delivered in full counts as done.
        complete = bool(sent) and all(
            line.line_status == "closed" or delivered.get((order.doc_entry, line.line_num), Decimal(0)) >= line.quantity
            for line in order.lines)
        due = []
        if flow.dispatch_per_shipment:
            due = [(f"{order.doc_entry}:shipment:{entry}", "shipped", day, [tracking]) for entry, day, tracking in sent]
        elif complete:
            due = [(f"{order.doc_entry}:dispatched", "dispatched", sent[-1][1], [t for _, _, t in sent if t])]
        customer_key, email = buyers.get(order.doc_entry) or (order.card_code, emails.get(order.card_code) or "")
        if due and customer_key not in at_destination:
            waiting.append(str(order.doc_entry))
            continue
        for key, kind, day, tracking in due:
            signals.append(PlannedRecord(key=key, identifier=email.strip(), payload={
                "event": kind, "orderId": ids[order.doc_entry],
                "date": day.isoformat() if day else None, "trackingNumbers": tracking}))
    # Signals not yet sent that are no longer due (a cancelled delivery or order) are withdrawn.
    due_keys = {signal.key for signal in signals}
    candidates = _signal_keys(flow, [order.doc_entry for order in every])
    withdrawn = [key for key in outbox_rows_of(flows=flow, keys=candidates).filter(
        status__in=[OutboxStatus.PENDING, OutboxStatus.HELD]).values_list("record_key", flat=True)
        if key not in due_keys]
    outbox_lock(flow=flow, passes=[withdrawn, [signal.key for signal in signals], waiting])
    outbox_stop(flow=flow, record_keys=withdrawn, status=OutboxStatus.SKIPPED)
    result.skipped = withdrawn
    # A signal sent (or being sent) is never sent again, whatever is edited later. One still
    # queued takes the newest facts: the order, closed by its last delivery, is often read
    # before that delivery, so the first plan may lack the delivery's tracking number.
    unsent = [OutboxStatus.PENDING, OutboxStatus.HELD, OutboxStatus.FAILED, OutboxStatus.SKIPPED]
    known = set(outbox_rows_of(flows=flow, keys=[s.key for s in signals])
                .filter(~Q(status__in=unsent) | ~Q(accepted_hash="")).values_list("record_key", flat=True))
    signals = [signal for signal in signals if signal.key not in known or force]
    # History found by a backfill must never overtake today's signals.
    signal_priority = priority if priority == Priority.BACKFILL else min(priority, Priority.URGENT)
    enqueued = outbox_enqueue(flow=flow, records=signals, priority=signal_priority, force=force)
    result.queued, result.unchanged, result.held = enqueued.queued, enqueued.unchanged, waiting
    exceptions_resolve(flow=flow, entity=flow.entity, record_keys=[str(e) for e in entries if str(e) not in waiting])
    exceptions_mark_retrying(flow=flow, entity=flow.entity, record_keys=enqueued.queued)
    outbox_stop(flow=flow, record_keys=waiting, status=OutboxStatus.HELD)
    for key in waiting:
        exception_raise(connection=flow.connection, flow=flow, entity=flow.entity, record_key=key, stage=Stage.PLAN,
                        reason_code="waiting_for_customer",
                        message="The dispatch signal waits for its customer to reach the destination first.")
    return result


def _signal_keys(flow, orders: list[int]) -> list[str]:
    """Every signal key these orders could have queued: the order's own, and one per
    delivery ever based on it (cancelled ones included), so the lookup stays indexed."""
    from erp.document_links import DOCUMENT_MODELS, ORDER

    _, line_model, _ = DOCUMENT_MODELS["deliveries"]
    deliveries = line_model.objects.filter(any_of("base_entry", orders), document__connection_id=flow.connection_id,
                                           base_type=ORDER).values_list("base_entry", "document__doc_entry")
    return [f"{entry}:dispatched" for entry in orders] + sorted(
        {f"{order}:shipment:{delivery}" for order, delivery in deliveries})
