"""Plan stock signals: back-in-stock and low-stock, once per transition.

Availability is judged under the destination's warehouse rule, exactly as the products
flow sends it. The first sight of an item only records its state: an item that was
never known to be unavailable cannot be "back".
"""
from __future__ import annotations

from django.utils import timezone

from exceptions.services import exceptions_resolve

from .models import OutboxItem, OutboxStatus, Priority, StockSignalState
from .outbox import PlannedRecord, outbox_enqueue
from .planning import PlanResult
from .planning_products import record_view_problems, stock_view

BACK_IN_STOCK, LOW_STOCK = "back_in_stock", "low_stock"


def _signal(previous: StockSignalState, in_stock: bool, low: bool) -> str | None:
    if in_stock and not previous.in_stock:
        return BACK_IN_STOCK
    if in_stock and low and not previous.low:
        return LOW_STOCK
    return None


def _withdraw_back_in_stock(flow, item_codes: list[str]) -> None:
    """An item sold out again before its back-in-stock signal went out: never send it."""
    for code in item_codes:
        OutboxItem.objects.filter(flow=flow, record_key__startswith=f"{code}:{BACK_IN_STOCK}:",
                                  status__in=[OutboxStatus.PENDING, OutboxStatus.HELD]).update(
            status=OutboxStatus.SKIPPED)  # a held row's claim token says a send of it is out: it stays


def stock_events_plan(*, flow, record_keys: list[str], force: bool = False, priority: int = Priority.URGENT,
                      rows: dict | None = None) -> PlanResult:
    """Queue one event per availability transition of the given items."""
    result = PlanResult()
    view = stock_view(flow=flow, record_keys=record_keys)
    codes = [item.item_code for item, _ in view.sellable]
    states = {state.item_code: state for start in range(0, len(codes), 1000)
              for state in StockSignalState.objects.filter(flow=flow, item_code__in=codes[start:start + 1000])}
    now = timezone.now().isoformat(timespec="seconds")
    events, new_states, changed_states, sold_out = [], [], [], []
    for item, stock in view.sellable:
        low = stock.in_stock and stock.available < view.policy.low_stock_threshold
        previous = states.get(item.item_code)
        if previous is None:
            new_states.append(StockSignalState(flow=flow, item_code=item.item_code, available=stock.available,
                                               in_stock=stock.in_stock, low=low))
            continue
        kind = _signal(previous, stock.in_stock, low)
        if previous.in_stock and not stock.in_stock:
            sold_out.append(item.item_code)
        if kind:
            previous.signals += 1
            # Numbered per item: each transition is its own record, sent once.
            events.append(PlannedRecord(
                key=f"{item.item_code}:{kind}:{previous.signals}", identifier=item.sku,
                payload={"event": kind, "sku": item.sku, "name": item.item_name, "available": stock.available,
                         "in_stock": stock.in_stock, "at": now}))
        if kind or (previous.available, previous.in_stock, previous.low) != (stock.available, stock.in_stock, low):
            previous.available, previous.in_stock, previous.low = stock.available, stock.in_stock, low
            changed_states.append(previous)
    StockSignalState.objects.bulk_create(new_states, batch_size=1000)
    StockSignalState.objects.bulk_update(changed_states, ["available", "in_stock", "low", "signals"], batch_size=500)
    _withdraw_back_in_stock(flow, sold_out)
    enqueued = outbox_enqueue(flow=flow, records=events, priority=Priority.URGENT)
    result.queued = enqueued.queued
    signalled = {event.key.split(":")[0] for event in events}
    result.unchanged = [code for code in codes if code not in signalled]
    result.failed = [key for key, *_ in view.problems]
    # Items that can be judged again are no longer in exception on this flow.
    exceptions_resolve(flow=flow, entity=flow.entity, record_keys=codes)
    record_view_problems(flow, view)
    return result
