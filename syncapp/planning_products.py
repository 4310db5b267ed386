"""Plan products: items with their sellable stock, keyed by the normalised SKU.

The payload carries the aggregated availability under the destination's warehouse
rule, so a stock change that does not move that figure (or its in-stock state) leaves
the payload hash as it was and costs no call. It carries the item's category too
(`category`, `categoryCode`; `productHierarchy` where the ERP has one): a renamed item
group re-plans its items (`products_touched`), and only their payloads change.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count

from erp.categories import categories_of_codes, category_payload, items_in_groups
from erp.models import Item, StockLevel, Warehouse
from esp.sku import SkuPolicy, sku_normalise
from esp.stock import Availability, StockPolicy, availability
from exceptions.models import Stage, SyncException
from exceptions.services import exception_raise, exceptions_mark_retrying, exceptions_resolve
from syncapp.bulksql import bulk_update_by_id

from .models import OutboxStatus, Priority
from .outbox import PlannedRecord, outbox_enqueue, outbox_lock, outbox_rows_of, outbox_stop
from .planning import PlanResult

PRICE_LIST = 1  # the ERP price list sent as the product price


def _price(prices) -> tuple[float | None, str]:
    chosen = next((p for p in prices or [] if p.get("price_list") == PRICE_LIST), None)
    chosen = chosen or next((p for p in prices or [] if p.get("price") is not None), None)
    return (chosen.get("price"), chosen.get("currency") or "") if chosen else (None, "")


def _assign_skus(flow, items: list[Item], policy: SkuPolicy) -> dict[str, list[str]]:
    """Store each item's SKU; return SKUs shared by more than one item code."""
    updates = []
    for item in items:
        sku = sku_normalise(item.item_code, policy)
        if sku != item.sku:
            item.sku = sku
            updates.append((sku, item.id))
    bulk_update_by_id(Item, ["sku"], updates)
    skus = [item.sku for item in items if item.sku]
    shared: dict[str, list[str]] = defaultdict(list)
    mirror = Item.objects.filter(connection_id=flow.connection_id)
    for start in range(0, len(skus), 500):
        clashing = (mirror.filter(sku__in=skus[start:start + 500]).values("sku").annotate(n=Count("id"))
                    .filter(n__gt=1).values_list("sku", flat=True))
        for code, sku in mirror.filter(sku__in=list(clashing)).values_list("item_code", "sku"):
            shared[sku].append(code)
    return shared


@dataclass
class StockView:
    """Items of one flow with their availability under its destination's rule, and the
    items that cannot be sent (problems: key, reason, message)."""

    sellable: list[tuple[Item, Availability]] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    unknown_warehouses: set[str] = field(default_factory=set)
    known_warehouses: set[str] = field(default_factory=set)
    released: list[str] = field(default_factory=list)
    policy: StockPolicy = field(default_factory=StockPolicy)


def stock_view(*, flow, record_keys: list[str]) -> StockView:
    view = StockView(policy=StockPolicy.for_destination(flow.destination, flow.channel))
    keys = list(record_keys)
    items = [item for start in range(0, len(keys), 1000) for item in Item.objects.filter(
        connection_id=flow.connection_id, item_code__in=keys[start:start + 1000]).defer("raw")]
    shared = _assign_skus(flow, items, SkuPolicy.for_connection(flow.connection))
    batch = {item.item_code for item in items}
    view.released = [code for codes in shared.values() for code in codes if code not in batch]
    warehouses = dict(Warehouse.objects.filter(connection_id=flow.connection_id).values_list("code", "inactive"))
    view.known_warehouses = set(warehouses)
    inactive = {code for code, is_inactive in warehouses.items() if is_inactive}
    levels = defaultdict(list)
    codes = [item.item_code for item in items]
    for start in range(0, len(codes), 1000):
        chunk = codes[start:start + 1000]
        for level in StockLevel.objects.filter(connection_id=flow.connection_id, item_code__in=chunk):
            levels[level.item_code].append(level)
    for item in items:
        if not item.sku:
            view.problems.append((item.item_code, "missing_sku",
                                  f"Item {item.item_code!r} has no SKU under the SKU rule."))
            continue
        if item.sku in shared:
            others = ", ".join(c for c in shared[item.sku] if c != item.item_code)
            view.problems.append((item.item_code, "sku_collision",
                                  f"Items {item.item_code} and {others} both become SKU {item.sku}."))
            continue
        stock = availability(levels[item.item_code], view.policy, inactive, known=set(warehouses))
        view.unknown_warehouses.update(f.code for f in stock.per_warehouse if f.why_not == "unknown warehouse")
        view.sellable.append((item, stock))
    return view


def record_view_problems(flow, view: StockView) -> None:
    """Exceptions for items that cannot be sent and for stock in unknown warehouses."""
    outbox_stop(flow=flow, record_keys=[key for key, *_ in view.problems], status=OutboxStatus.HELD)
    for key, reason, message in view.problems:
        exception_raise(connection=flow.connection, flow=flow, entity=flow.entity, record_key=key,
                        stage=Stage.PLAN, reason_code=reason, message=message)
    # Warehouses the ERP lists now, or that hold no stock any more, are no longer a problem.
    open_codes = set(SyncException.objects.filter(flow=flow, entity="warehouses", reason_code="unknown_warehouse",
                                                  status__in=["open", "retrying"]).values_list("record_key", flat=True))
    emptied = {code for code in open_codes - view.known_warehouses - view.unknown_warehouses
               if not StockLevel.objects.filter(connection_id=flow.connection_id, warehouse_code=code,
                                                in_stock__gt=0).exists()}
    cleared = (open_codes & view.known_warehouses) | emptied
    exceptions_resolve(flow=flow, entity="warehouses", record_keys=sorted(cleared))
    for code in sorted(view.unknown_warehouses):
        exception_raise(connection=flow.connection, flow=flow, entity="warehouses", record_key=code,
                        stage=Stage.PLAN, reason_code="unknown_warehouse",
                        message=f"Stock is held in warehouse {code}, which the ERP did not list; it is not counted.")


def _retirements(flow, view: StockView) -> list[PlannedRecord]:
    """A product whose SKU changed (a new SKU rule) is a new destination record; the
    record under its old SKU is sent once more as unavailable, so it cannot go on
    advertising stock."""
    current = {item.item_code: item for item, _ in view.sellable}
    codes = list(current)
    retired = []
    for start in range(0, len(codes), 1000):
        for code, old_sku, payload in outbox_rows_of(flows=flow, keys=codes[start:start + 1000]).exclude(
                accepted_hash="").values_list(
                "record_key", "identifier", "payload"):
            if old_sku and old_sku != current[code].sku:
                retired.append(PlannedRecord(key=f"{code}:retired:{old_sku}", identifier=old_sku, payload={
                    **payload, "sku": old_sku, "available": 0, "in_stock": False, "active": False}))
    return retired


def products_plan(*, flow, record_keys: list[str], force: bool = False, priority: int = Priority.ROUTINE,
                  rows: dict | None = None, follow_collisions: bool = True) -> PlanResult:
    """Plan the given item codes of one products flow (`rows` is accepted for the
    planner interface; items are read with their stock from the mirror)."""
    result = PlanResult()
    view = stock_view(flow=flow, record_keys=record_keys)
    categories = categories_of_codes(connection_id=flow.connection_id,
                                     item_codes={item.item_code: item.category_code for item, _ in view.sellable})
    planned = []
    for item, stock in view.sellable:
        price, currency = _price(item.prices)
        payload = {"sku": item.sku, "name": item.item_name, "price": price, "currency": currency,
                   "available": stock.available, "in_stock": stock.in_stock,
                   "active": item.active and item.sales_item, **category_payload(categories.get(item.item_code))}
        if item.product_hierarchy:
            payload["productHierarchy"] = item.product_hierarchy
        planned.append(PlannedRecord(key=item.item_code, identifier=item.sku, payload=payload))

    planned += _retirements(flow, view)
    outbox_lock(flow=flow, passes=[[record.key for record in planned], [key for key, *_ in view.problems]])
    enqueued = outbox_enqueue(flow=flow, records=planned, priority=priority, force=force)
    result.queued, result.unchanged = enqueued.queued, enqueued.unchanged
    result.failed = [key for key, *_ in view.problems] + enqueued.still_failed
    exceptions_resolve(flow=flow, entity=flow.entity, record_keys=result.unchanged)
    exceptions_mark_retrying(flow=flow, entity=flow.entity, record_keys=result.queued)
    record_view_problems(flow, view)
    if view.released and follow_collisions:  # the other side of a collision found just now
        other = products_plan(flow=flow, record_keys=view.released, force=force, priority=priority,
                              follow_collisions=False)
        result.failed += other.failed
    return result


def products_touched(*, connection, entity: str, keys: list[str]) -> list[str]:
    """Items whose product record a change to these records of `entity` can alter: a
    renamed item group's items; any other trigger is keyed by item already."""
    if entity == "item_groups":
        return items_in_groups(connection=connection, codes=keys)
    return keys
