"""Plan orders: one destination record per sales order, updated in place.

Edits overwrite the same record (keyed by the order's DocEntry); a cancellation sets
the destination's cancelled status; credit memos lower the order's value; the
dispatch state comes from deliveries, not from the order. An order whose customer the
destination does not have yet waits, visibly, and moves as soon as the customer does (at a
destination processing in order of receipt, Ometria, as soon as the customer is sent).
Cancellation documents are never orders: they are not sent.

The planned payload is vendor-neutral; each destination adapter picks and renames what
it sends (dotdigital keeps to the fields its own integrations send). Amounts are in the
order's currency (the foreign-currency figures for a foreign-currency order):

    id               what the order is known by at the destination (`order_ids`): where
                     orders merge on it (Ometria), the id it was accepted under, else the
                     web reference of the provisional order it confirmed, else DocNum;
                     elsewhere (dotdigital: a field only) NumAtCard, else DocNum
    orderNumber      DocNum
    webReference     NumAtCard or null
    customerId       CardCode
    purchaseDate     DocDate (ISO date)
    state            open | closed | partially_dispatched | dispatched | cancelled |
                     partially_refunded | refunded
    orderStatus      the destination's name for `state` (admin-editable table)
    currency         DocCurrency
    grandTotal       DocTotal: lines after discount + freight + tax
    taxTotal         VatSum (tax on lines and freight)
    shippingTotal    freight (additional expenses) before tax
    discountTotal    the header discount
    orderSubtotal    the lines before discount and tax
    orderTotal       grand total less tax and refunds (what the order is still worth)
    refundedTotal    credited back, before tax
    lastReturnDate   the last return's date or null
    products         [{lineNum, sku, name, qty, price, lineTotal, quantityRefunded, refunded,
                     category, categoryCode}]; a line's refunds are capped at its quantity and
                     total (a return and a credit memo against the same invoice line would
                     count it twice); its category is its item's (erp.categories), named now,
                     so a renamed item group re-plans its orders (`orders_touched`)

A web shop's provisional order (erp.ProvisionalOrder, posted at checkout) is planned under
the key "web:<reference>" with state "pending" and the same "id" its ERP order will carry,
so a destination that merges orders on "id" shows one order, enriched when the ERP order
arrives; from then on the provisional record is never sent again. A destination keyed by
the ERP key (dotdigital: the DocEntry) would hold two records, so it gets no provisional
orders: an adapter opts in with `merges_orders_by_id = True`.

A provisional record still on its way when its ERP order arrives (claimed by a worker
whose call has not been answered) could land after the ERP order and overwrite it with
"pending". Ometria has no conditional update, so the ERP order waits instead: not before
that claim's timeout (`SYNC_CLAIM_TIMEOUT_SECONDS`, the engine's own bound on one call,
after which it presumes the worker dead), recomputed at every plan so an edit meanwhile
cannot release it early. A provisional record already answered is ahead of the ERP order
in Ometria's queue, which is processed in order of receipt (an assumption; the sandbox
does so), and its row is stopped, so it is never sent again.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from erp.categories import Category, categories_of_codes, category_payload, orders_in_groups
from erp.contact_persons import company_of
from erp.document_links import LineRefund, OrderRefunds, delivered_quantities, order_refunds
from erp.document_rows import sales_orders_from_ingest, sales_orders_with_lines
from erp.documents import ProvisionalOrder, SalesOrder
from erp.models import BusinessPartner, Item
from erp.provisional import (
    erp_orders_by_reference,
    is_overdue,
    provisional_orders_confirm,
    provisional_orders_overdue,
    provisional_references_by_order,
    provisional_timeout,
)
from esp.order_status import status_map
from esp.registry import destination_does
from esp.sku import SkuPolicy, sku_normalise
from exceptions.models import Stage, SyncException
from exceptions.services import exception_raise, exceptions_mark_retrying, exceptions_resolve

from .bulksql import any_of, fetch, quote, select_by_keys, values_table, vendor
from .models import Flow, OutboxItem, OutboxStatus, Priority
from .outbox import PlannedRecord, in_order_of_receipt, outbox_enqueue, outbox_lock, outbox_rows_of, outbox_stop
from .page_reads import read_shared
from .planning import PlanResult
from .planning_contacts import order_buyers

TOTAL_TOLERANCE = Decimal("0.05")  # rounding SAP may do per line
CLAIM_MARGIN = timedelta(seconds=60)  # beyond the claim timeout, before a held ERP order goes


def customer_emails(*, connection_id: int, card_codes) -> dict[str, str]:
    """Card code -> email of the ERP's customers among `card_codes` (an indexed probe a key)."""
    return dict(select_by_keys(BusinessPartner, ["card_code", "email"], key="card_code", keys=list(card_codes),
                               where={"connection_id": connection_id}))


def customers_at_destination(flow, card_codes: set[str]) -> set[str]:
    """Customers the destination has accepted through a customers flow of this connection;
    at a destination that processes what it takes in order of receipt (Ometria), also those
    it has taken in at least once (awaiting its validation, or changed again since): an order
    sent now is processed after that customer.

    (Waiting for Ometria's verdict on a new customer held their first order 3 to 5 minutes
    in the peak run, while the welcome flow of the new contact could already start. Should
    the customer then be refused, Ometria still links the order by customer id and email, as
    for any order; the customer's refusal is an exception of its own.)"""
    sent_counts = in_order_of_receipt(flow)
    found: set[str] = set()
    for customer_flow in Flow.objects.filter(connection_id=flow.connection_id, destination_id=flow.destination_id,
                                             entity="customers").values_list("id", flat=True):
        found.update(key for key, accepted, taken_in in select_by_keys(
            OutboxItem, ["record_key", "accepted_hash", "submitted_at"], key="record_key", keys=list(card_codes),
            where={"flow_id": customer_flow}) if accepted or (sent_counts and taken_in is not None))
    return found


def _discount_share(order) -> Decimal:
    return 1 - order.discount_percent / 100


def _planned_states(flow, keys: list[str]) -> dict[str, str]:
    """The state in each order's last planned payload, for the keys the flow has a row for:
    one index probe per key (a correlated subquery), whatever the planner's statistics."""
    if not keys:
        return {}
    table = quote(OutboxItem._meta.db_table)
    state = "t.payload ->> 'state'" if vendor() == "postgresql" else "json_extract(t.payload, '$.state')"
    probe, params = values_table(keys)
    return {key: planned or "" for key, planned in fetch(
        f"SELECT k.value, (SELECT COALESCE({state}, '') FROM {table} t WHERE t.flow_id = %s "
        f"AND t.record_key = k.value) FROM {probe} k", [flow.pk, *params]) if planned is not None}


def _state(order, lines, ordered: dict, delivered: dict, refunded: Decimal) -> str:
    if order.cancelled:
        return "cancelled"
    if refunded > 0:
        # Refunds are after the credit memo's discount; the goods after the order's.
        goods = sum((line.line_total for line in lines), Decimal(0)) * _discount_share(order)
        return "refunded" if refunded >= goods - TOTAL_TOLERANCE else "partially_refunded"
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
    # SAP's DocTotal: lines after the header discount, plus freight, plus tax, plus rounding.
    expected = sum((line.line_total for line in lines), Decimal(0)) * _discount_share(order) \
        + order.freight_total + order.vat_total + order.rounding_total
    if abs(expected - order.doc_total) > TOTAL_TOLERANCE:
        parts = "lines, freight and tax" if order.freight_total else "lines and tax"
        problems.append(("total_mismatch", f"Order {order.doc_num} totals {order.doc_total:.2f} {order.currency}, "
                                           f"but its {parts} add up to {expected:.2f}."))
    return problems


def _sku(code: str, skus: SkuPolicy, memo: dict | None) -> str:
    if memo is None:
        return sku_normalise(code, skus)
    sku = memo.get(code)
    if sku is None:
        sku = memo[code] = sku_normalise(code, skus)
    return sku


def order_payload(order, lines, *, state: str, statuses: dict, skus, refunds: OrderRefunds,
                  order_id: str | None = None, sku_of: dict | None = None,
                  categories: dict[str, Category] | None = None) -> dict:
    """The vendor-neutral order record (see the module docstring); `order_id` from `order_ids`;
    `sku_of` remembers each item code's SKU across the orders of a page; `categories` each
    item code's category."""
    categories = categories or {}
    refunded = refunds.amount(order.doc_entry)
    value = order.doc_total - order.vat_total - refunded
    none = LineRefund()
    products = []
    for line in lines:
        refund = refunds.lines.get((order.doc_entry, line.line_num), none)
        # A return and a credit memo against the same invoice line both count: never more
        # than the line itself (a destination refuses a line refunded beyond its quantity).
        quantity_refunded = min(refund.quantity, max(line.quantity, Decimal(0)))
        amount_refunded = min(refund.amount, max(line.line_total, Decimal(0)))
        products.append({"lineNum": line.line_num, "sku": _sku(line.item_code, skus, sku_of),
                         "name": line.description, "qty": float(line.quantity), "price": float(line.price),
                         "lineTotal": float(line.line_total), "quantityRefunded": float(quantity_refunded),
                         "refunded": float(round(amount_refunded, 2)),
                         **category_payload(categories.get(line.item_code))})
    returned = refunds.returned.get(order.doc_entry)
    return {
        "id": order_id or order.num_at_card or str(order.doc_num), "orderNumber": order.doc_num,
        "webReference": order.num_at_card or None, "customerId": order.card_code,
        "purchaseDate": order.doc_date.isoformat() if order.doc_date else None,
        "state": state, "orderStatus": statuses[state], "currency": order.currency,
        "grandTotal": float(order.doc_total), "taxTotal": float(order.vat_total),
        "shippingTotal": float(order.freight_total), "discountTotal": float(order.discount_total),
        "orderSubtotal": float(sum((line.line_total for line in lines), Decimal(0))),
        "orderTotal": float(round(max(value, Decimal(0)), 2)),
        "refundedTotal": float(round(refunded, 2)),
        "lastReturnDate": returned.isoformat() if returned else None,
        "products": products,
    }


def _merges_orders_by_id(flow) -> bool:
    return destination_does(flow.destination.kind, "merges_orders_by_id")


def order_ids(*, flow, orders) -> dict[int, str]:
    """DocEntry -> the id each ERP order is known by at `flow`'s destination: the order
    payload's "id", and the "orderId" of its dispatch signals (one rule for both).

    Where orders merge on this id (Ometria) two orders must never share it and one order
    must never change it. NumAtCard is free text (two customers' "PO-1001"; edited at
    will), so it is never the id by itself. There: the id the destination accepted the
    order under (the orders outbox row's remote_id), or the one on the wire (a row in
    flight or submitted); else the web reference of the provisional order this ERP order
    confirmed (so the shop's pending order and the ERP order are one); else the DocNum
    (as before for orders without a web reference). Elsewhere (dotdigital keys orders by
    DocEntry) "id" is only a field and keeps its meaning: NumAtCard, else DocNum.
    """
    if not _merges_orders_by_id(flow):
        return {order.doc_entry: order.num_at_card or str(order.doc_num) for order in orders}
    entries = [order.doc_entry for order in orders]
    web = provisional_references_by_order(connection=flow.connection, doc_entries=entries)
    sent = _ids_sent(flow, entries)
    return {order.doc_entry: sent.get(str(order.doc_entry)) or web.get(order.doc_entry) or str(order.doc_num)
            for order in orders}


def _ids_sent(flow, entries: list[int]) -> dict[str, str]:
    """Order key -> the id its orders row at this destination was accepted under, or is
    being sent under."""
    flows = Flow.objects.filter(connection_id=flow.connection_id, destination_id=flow.destination_id,
                                entity="orders").values_list("pk", flat=True)
    rows = outbox_rows_of(flows=list(flows), keys=[str(entry) for entry in entries])
    on_wire = {key: str(value) for key, value in rows.filter(
        remote_id="", status__in=[OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED]).values_list(
        "record_key", "payload__id") if value}
    return on_wire | dict(rows.exclude(remote_id="").values_list("record_key", "remote_id"))


def _held_behind_provisional(flow, entries: list[int]) -> dict[str, object]:
    """ERP order key -> the earliest it may go, for orders whose provisional record was
    claimed by a worker whose call has not been answered (see the module docstring)."""
    web = provisional_references_by_order(connection=flow.connection, doc_entries=entries)
    if not web:
        return {}
    order_of = {f"{ProvisionalOrder.KEY_PREFIX}{reference}": str(entry) for entry, reference in web.items()}
    timeout = timedelta(seconds=settings.SYNC_CLAIM_TIMEOUT_SECONDS)
    now = timezone.now()
    holds = {}
    for key, claimed, submitted, accepted in outbox_rows_of(flows=flow, keys=list(order_of)).filter(
            claimed_at__gt=now - timeout - CLAIM_MARGIN).values_list(
            "record_key", "claimed_at", "submitted_at", "accepted_at"):
        if not any(answered and answered >= claimed for answered in (submitted, accepted)):
            holds[order_of[key]] = claimed + timeout + CLAIM_MARGIN
    return holds


def _hold(flow, holds: dict[str, object]) -> None:
    for key, until in holds.items():
        OutboxItem.objects.filter(flow=flow, record_key=key, status=OutboxStatus.PENDING).filter(
            Q(not_before__isnull=True) | Q(not_before__lt=until)).update(not_before=until)


def provisional_payload(order: ProvisionalOrder, *, statuses: dict) -> dict:
    """A provisional order in the shape of `order_payload`, state "pending"."""
    grand, tax = order.grand_total, order.tax_total
    return {
        "id": order.web_reference, "orderNumber": None, "webReference": order.web_reference,
        "customerId": order.customer_id or None, "purchaseDate": order.received_at.date().isoformat(),
        "state": "pending", "orderStatus": statuses.get("pending", "pending"), "currency": order.currency,
        "grandTotal": float(grand), "taxTotal": float(tax), "shippingTotal": float(order.shipping_total),
        "discountTotal": float(order.discount_total), "orderSubtotal": float(order.subtotal),
        "orderTotal": float(grand - tax), "refundedTotal": 0.0, "lastReturnDate": None,
        "products": [{"lineNum": n, "sku": line["sku"], "name": line.get("name", ""), "qty": float(line["qty"]),
                      "price": float(line["price"]), "lineTotal": round(float(line["qty"]) * float(line["price"]), 2),
                      "quantityRefunded": 0.0, "refunded": 0.0} for n, line in enumerate(order.lines)],
    }


def _provisional_plan(flow, keys: list[str], statuses: dict) -> tuple[list[PlannedRecord], list[str], list[str],
                                                                        list[str]]:
    """(records to send, keys not sent, keys confirmed by their ERP order, keys overdue)."""
    prefix = ProvisionalOrder.KEY_PREFIX
    rows = list(ProvisionalOrder.objects.filter(any_of("web_reference", [key[len(prefix):] for key in keys]),
                                                connection_id=flow.connection_id))
    arrived = erp_orders_by_reference(connection=flow.connection, references=[row.web_reference for row in rows])
    provisional_orders_confirm(connection=flow.connection, found=arrived)
    sendable = _merges_orders_by_id(flow)
    records, confirmed, overdue = [], [], []
    for row in rows:
        if row.status == ProvisionalOrder.Status.CONFIRMED or row.web_reference in arrived:
            confirmed.append(row.record_key)
            continue
        if is_overdue(row):
            overdue.append(row.record_key)
        if sendable:
            records.append(PlannedRecord(key=row.record_key, identifier=row.customer_email,
                                         payload=provisional_payload(row, statuses=statuses)))
    planned = {record.key for record in records}
    skipped = [key for key in keys if key not in planned and key not in confirmed]
    return records, skipped, confirmed, overdue


def _confirm_arrived(flow, orders) -> list[str]:
    """ERP orders carrying a provisional order's web reference replace it: the
    provisional record is never sent again and its exceptions close."""
    references = {order.num_at_card: order.doc_entry for order in orders if order.num_at_card}
    if not references:
        return []
    known = list(ProvisionalOrder.objects.filter(any_of("web_reference", references), connection_id=flow.connection_id)
                 .values_list("web_reference", flat=True))
    provisional_orders_confirm(connection=flow.connection, found={ref: references[ref] for ref in known})
    return [f"{ProvisionalOrder.KEY_PREFIX}{ref}" for ref in known]


def orders_plan(*, flow, record_keys: list[str], force: bool = False, priority: int = Priority.ROUTINE,
                rows: dict | None = None) -> PlanResult:
    """Plan the given orders (DocEntry keys, or "web:<reference>" for provisional orders)
    of one orders flow."""
    result = PlanResult()
    web_keys = [key for key in record_keys if key.startswith(ProvisionalOrder.KEY_PREFIX)]
    entries = [int(key) for key in record_keys if key.isdigit()]
    # The orders ingest just wrote come with the page; any other plan (a retry) reads the mirror.
    orders = (read_shared(sales_orders_from_ingest, changed=rows) if rows is not None
              else read_shared(sales_orders_with_lines, connection_id=flow.connection_id, doc_entries=entries))
    # A cancellation document reverses an order; it is never an order itself.
    result.skipped = [str(order.doc_entry) for order in orders if order.is_cancellation]
    orders = [order for order in orders if not order.is_cancellation]
    card_codes = {order.card_code for order in orders}
    emails = customer_emails(connection_id=flow.connection_id, card_codes=card_codes)
    buyers = order_buyers(flow=flow, orders=orders)  # orders placed by a contact person go to them
    at_destination = customers_at_destination(flow, card_codes | {key for key, _ in buyers.values()})
    line_items = list({line.item_code for order in orders for line in order.lines if line.item_code})
    # One read gives both: which items the ERP listed, and their categories.
    item_groups = (dict(select_by_keys(Item, ["item_code", "category_code"], key="item_code", keys=line_items,
                                       where={"connection_id": flow.connection_id}))
                   if Item.objects.filter(connection_id=flow.connection_id).exists() else None)
    known_items = set(item_groups) if item_groups is not None else None
    categories = categories_of_codes(connection_id=flow.connection_id, item_codes=item_groups or {})
    skus = SkuPolicy.for_connection(flow.connection)
    statuses = status_map(flow.destination)
    delivered = read_shared(delivered_quantities, connection=flow.connection, orders=[o.doc_entry for o in orders])
    refunds = read_shared(order_refunds, connection=flow.connection, orders=[o.doc_entry for o in orders])
    delivered_by_order: dict[int, dict[int, Decimal]] = {}
    for (entry, line_num), quantity in delivered.items():
        delivered_by_order.setdefault(entry, {})[line_num] = quantity
    planned_states = _planned_states(flow, record_keys)  # what each order's last payload said it was
    confirmed = _confirm_arrived(flow, orders)  # first: an order's id depends on the provisional it confirms
    ids = order_ids(flow=flow, orders=orders)
    urgent, routine, problems, waiting = [], [], [], []
    sku_of: dict[str, str] = {}  # a page's lines share a few thousand item codes at most
    for order in orders:
        key, lines = str(order.doc_entry), order.lines
        email = emails.get(order.card_code)
        if email is None:
            problems.append((key, "unknown_customer", f"Order {order.doc_num} is for customer {order.card_code}, "
                                                      "whom the ERP did not list."))
            continue
        found = _problems(order, lines, known_items)
        if found:
            problems.extend((key, reason, message) for reason, message in found)
            continue
        customer_key, email = buyers.get(order.doc_entry) or (order.card_code, email)
        if customer_key not in at_destination:
            waiting.append((key, customer_key))
            continue
        ordered = {line.line_num: line.quantity for line in lines if line.line_status != "closed" or
                   delivered_by_order.get(order.doc_entry, {}).get(line.line_num)}
        order_delivered = delivered_by_order.get(order.doc_entry, {})
        state = _state(order, lines, ordered, order_delivered, refunds.amount(order.doc_entry))
        payload = order_payload(order, lines, state=state, statuses=statuses, skus=skus, refunds=refunds,
                                order_id=ids[order.doc_entry], sku_of=sku_of, categories=categories)
        payload["customerId"] = customer_key
        record = PlannedRecord(key=key, identifier=email.strip(), payload=payload)
        # New orders and a change of state (cancelled, dispatched, refunded) go before routine edits:
        # a dispatch email waits on it. The same state edited again is routine.
        (urgent if key not in planned_states or planned_states[key] != state else routine).append(record)
    provisional, not_sent, arrived, overdue = _provisional_plan(flow, web_keys, statuses) if web_keys else (
        [], [], [], [])
    urgent += provisional  # a checkout happened just now: it goes first
    confirmed += arrived

    # During a backfill nothing is urgent: history must never overtake today's orders.
    new_priority = priority if priority == Priority.BACKFILL else min(priority, Priority.URGENT)
    with transaction.atomic():
        # Every row this plan writes or stops, locked first in one key order (in a pull's
        # transaction, the stops below come before it ends); every order of the page is in one
        # of these, so the holds' rows too.
        outbox_lock(flow=flow, passes=[confirmed, [r.key for r in urgent], [r.key for r in routine],
                                       [key for key, *_ in problems], [key for key, _ in waiting],
                                       result.skipped + not_sent])
        # Superseded provisional rows stop first (a worker claiming one now waits for this
        # transaction); an ERP order whose provisional record may still be on its way waits.
        outbox_stop(flow=flow, record_keys=confirmed, status=OutboxStatus.SKIPPED)
        holds = _held_behind_provisional(flow, [order.doc_entry for order in orders])
        queued_urgent = outbox_enqueue(flow=flow, records=urgent, priority=new_priority, force=force)
        queued_routine = outbox_enqueue(flow=flow, records=routine, priority=priority, force=force)
        _hold(flow, holds)
    result.queued = queued_urgent.queued + queued_routine.queued
    result.unchanged = queued_urgent.unchanged + queued_routine.unchanged
    result.failed = [key for key, *_ in problems] + queued_urgent.still_failed + queued_routine.still_failed
    result.held = [key for key, _ in waiting]
    result.skipped += not_sent + confirmed
    # An overdue provisional order stays an exception, sent or not, until its ERP order comes.
    exceptions_resolve(flow=flow, entity=flow.entity,
                       record_keys=[key for key in result.unchanged + confirmed if key not in overdue])
    exceptions_mark_retrying(flow=flow, entity=flow.entity,
                             record_keys=[key for key in result.queued if key not in overdue])
    outbox_stop(flow=flow, record_keys=[key for key, *_ in problems], status=OutboxStatus.FAILED)
    outbox_stop(flow=flow, record_keys=result.held, status=OutboxStatus.HELD)
    outbox_stop(flow=flow, record_keys=result.skipped, status=OutboxStatus.SKIPPED)
    for key in overdue:
        _raise_overdue(flow, key)
    for key, reason, message in problems:
        exception_raise(connection=flow.connection, flow=flow, entity=flow.entity, record_key=key,
                        stage=Stage.PLAN, reason_code=reason, message=message)
    for key, card_code in waiting:
        exception_raise(connection=flow.connection, flow=flow, entity=flow.entity, record_key=key,
                        stage=Stage.PLAN, reason_code="waiting_for_customer",
                        message=f"Waiting for customer {card_code} to reach the destination first.")
    return result


def _raise_overdue(flow, key: str) -> None:
    reference = key[len(ProvisionalOrder.KEY_PREFIX):]
    minutes = int(provisional_timeout().total_seconds() // 60)
    exception_raise(connection=flow.connection, flow=flow, entity=flow.entity, record_key=key, stage=Stage.PLAN,
                    reason_code="provisional_order_not_in_erp",
                    message=f"Web order {reference} was placed more than {minutes} minutes ago, but no order in the "
                            "ERP carries its reference yet.")


def provisional_orders_flag_overdue(*, now=None) -> int:
    """Periodic: each provisional order still without its ERP order after the timeout
    becomes an exception on every orders flow of its connection, once (it clears when
    the ERP order arrives). Returns how many exceptions were raised."""
    raised = 0
    overdue = list(provisional_orders_overdue(now=now))
    flows: dict[int, list] = {}
    for order in overdue:
        if order.connection_id not in flows:
            flows[order.connection_id] = list(Flow.objects.filter(
                connection_id=order.connection_id, entity="orders", enabled=True).select_related("connection"))
    known = set(SyncException.objects.filter(reason_code="provisional_order_not_in_erp",
                                             record_key__in=[order.record_key for order in overdue])
                .values_list("flow_id", "record_key"))
    for order in overdue:
        for flow in flows[order.connection_id]:
            if (flow.pk, order.record_key) not in known:
                _raise_overdue(flow, order.record_key)
                raised += 1
    return raised


def provisional_orders_held(*, connection, keys: list[str]) -> list[str]:
    """Which of these keys are provisional orders the hub holds."""
    prefix = ProvisionalOrder.KEY_PREFIX
    references = [key[len(prefix):] for key in keys if key.startswith(prefix)]
    if not references:
        return []
    return [f"{prefix}{ref}" for ref in ProvisionalOrder.objects.filter(
        connection=connection, web_reference__in=references).values_list("web_reference", flat=True)]


def orders_waiting_for(*, flow, customer_keys: list[str]) -> list[str]:
    """Orders of this flow held for any of these customers, now worth planning again: those
    still held (open, or a person's retry not yet run). One planning marked retrying is on its
    way already: where the destination processes in order of receipt it went when its customer
    was sent, and must not go again when the customer is accepted."""
    held = Q(status=SyncException.Status.OPEN) | Q(status=SyncException.Status.RETRYING,
                                                   retry_requested_at__isnull=False)
    waiting = SyncException.objects.filter(held, flow=flow,
                                           reason_code__in=["waiting_for_customer", "unknown_customer"])
    # Keys are orders ("12") or, for signals refused at the destination, "12:dispatched".
    keys = {int(k.split(":")[0]) for k in waiting.values_list("record_key", flat=True) if k.split(":")[0].isdigit()}
    return [str(entry) for entry in SalesOrder.objects.filter(
        connection_id=flow.connection_id, doc_entry__in=keys,
        card_code__in={company_of(key) for key in customer_keys})  # a buyer's key names its company
        .values_list("doc_entry", flat=True)]


def orders_touched(*, connection, entity: str, keys: list[str]) -> list[str]:
    """Orders whose record a change to these documents of `entity` can alter (a renamed
    item group: the orders with a line in it)."""
    from erp.document_links import orders_of

    if entity == "item_groups":
        return [str(entry) for entry in orders_in_groups(connection=connection, codes=keys)]
    return [str(entry) for entry in orders_of(connection=connection, entity=entity, doc_entries=keys)]
