"""Provisional orders: what a web shop posts at checkout, until the ERP order arrives.

Services and selectors of the mirror side only; planning them for destinations is the
orders planner's job (`syncapp.planning_orders`). See `ProvisionalOrder`.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from syncapp.bulksql import any_of

from .documents import ProvisionalOrder, SalesOrder

DEFAULT_TIMEOUT_MINUTES = 120


class AlreadyConfirmed(Exception):
    """The ERP order with this web reference has arrived: the shop's copy is history."""

    def __init__(self, order: ProvisionalOrder) -> None:
        super().__init__(f"The ERP already holds web order {order.web_reference}; it is no longer provisional.")
        self.order = order


def provisional_timeout() -> timedelta:
    """How long a provisional order may wait for its ERP order before a person is told."""
    return timedelta(minutes=getattr(settings, "SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES", DEFAULT_TIMEOUT_MINUTES))


def erp_orders_by_reference(*, connection, references: Iterable[str]) -> dict[str, int]:
    """Web reference -> DocEntry of the ERP orders carrying it (cancellation documents left out)."""
    refs = [ref for ref in set(references) if ref]
    if not refs:
        return {}
    return dict(SalesOrder.objects.filter(any_of("num_at_card", refs), connection=connection, is_cancellation=False)
                .order_by("doc_entry").values_list("num_at_card", "doc_entry"))


def provisional_order_receive(*, connection, web_reference: str, customer_email: str, currency: str,
                              lines: list[dict], customer_id: str = "", subtotal: Decimal, tax_total: Decimal,
                              shipping_total: Decimal, discount_total: Decimal, grand_total: Decimal,
                              received_at: datetime | None = None) -> tuple[ProvisionalOrder, bool]:
    """Store a (validated) provisional order, or update it while it is still pending.

    Returns (order, created). An order whose ERP order is already mirrored is confirmed
    on arrival and not sent; one confirmed before refuses changes (AlreadyConfirmed).
    """
    fields = {"customer_email": customer_email.strip(), "customer_id": customer_id.strip(), "currency": currency,
              "lines": lines, "subtotal": subtotal, "tax_total": tax_total, "shipping_total": shipping_total,
              "discount_total": discount_total, "grand_total": grand_total,
              "received_at": received_at or timezone.now()}
    with transaction.atomic():
        order = (ProvisionalOrder.objects.select_for_update()
                 .filter(connection=connection, web_reference=web_reference).first())
        if order is not None and order.status == ProvisionalOrder.Status.CONFIRMED:
            raise AlreadyConfirmed(order)
        created = order is None
        if created:
            order = ProvisionalOrder(connection=connection, web_reference=web_reference)
        for name, value in fields.items():
            setattr(order, name, value)
        order.save()
        provisional_orders_confirm(connection=connection, found=erp_orders_by_reference(
            connection=connection, references=[web_reference]))
    order.refresh_from_db()
    return order, created


def provisional_orders_confirm(*, connection, found: dict[str, int]) -> list[str]:
    """The ERP orders in `found` (web reference -> DocEntry) have arrived: their pending
    provisional orders are confirmed. Returns the record keys of those confirmed now."""
    if not found:
        return []
    pending = list(ProvisionalOrder.objects.filter(connection=connection, web_reference__in=list(found),
                                                   status=ProvisionalOrder.Status.PENDING))
    now = timezone.now()
    for order in pending:
        order.status, order.erp_doc_entry, order.confirmed_at, order.updated_at = (
            ProvisionalOrder.Status.CONFIRMED, found[order.web_reference], now, now)
    ProvisionalOrder.objects.bulk_update(pending, ["status", "erp_doc_entry", "confirmed_at", "updated_at"])
    return [order.record_key for order in pending]


def provisional_orders_overdue(*, now: datetime | None = None):
    """Pending provisional orders older than the timeout, oldest first."""
    cutoff = (now or timezone.now()) - provisional_timeout()
    return (ProvisionalOrder.objects.filter(status=ProvisionalOrder.Status.PENDING, received_at__lt=cutoff)
            .select_related("connection").order_by("received_at"))


def is_overdue(order: ProvisionalOrder, *, now: datetime | None = None) -> bool:
    return order.status == ProvisionalOrder.Status.PENDING and \
        order.received_at < (now or timezone.now()) - provisional_timeout()


def provisional_references_by_order(*, connection, doc_entries: Iterable[int]) -> dict[int, str]:
    """DocEntry -> the web reference of the provisional order that ERP order confirmed."""
    entries = list(set(doc_entries))
    if not entries:
        return {}
    return dict(ProvisionalOrder.objects.filter(any_of("erp_doc_entry", entries), connection=connection)
                .values_list("erp_doc_entry", "web_reference"))
