"""What a warehouse rule would send for one SKU: each warehouse's figures and the total."""
from __future__ import annotations

from dataclasses import dataclass

from erp.models import Item, StockLevel, Warehouse

from .sku import SkuPolicy, sku_normalise
from .stock import Availability, StockPolicy, availability


@dataclass(frozen=True)
class StockPreview:
    sku: str
    item_code: str | None
    result: Availability | None
    message: str = ""


def stock_preview(*, rule, sku: str) -> StockPreview:
    """Find the item by SKU (or ERP code) on any connection flowing to the rule's
    destination, and compute its availability under the rule."""
    from syncapp.models import Flow

    connections = Flow.objects.filter(destination=rule.destination).values_list("connection", flat=True)
    for connection_id in connections:
        from erp.models import ErpConnection

        typed = sku_normalise(sku, SkuPolicy.for_connection(ErpConnection(pk=connection_id)))
        item = (Item.objects.filter(connection_id=connection_id, sku=typed).first()
                or Item.objects.filter(connection_id=connection_id, item_code=sku).first())
        if item is None:
            continue
        warehouses = dict(Warehouse.objects.filter(connection_id=connection_id).values_list("code", "inactive"))
        levels = StockLevel.objects.filter(connection_id=connection_id, item_code=item.item_code)
        policy = StockPolicy.for_destination(rule.destination, rule.channel)
        inactive = {code for code, is_inactive in warehouses.items() if is_inactive}
        normalised = sku_normalise(item.item_code, SkuPolicy.for_connection(item.connection))
        return StockPreview(normalised, item.item_code, availability(levels, policy, inactive, set(warehouses)))
    return StockPreview(sku, None, None, f"No item with SKU or code {sku!r} flows to this destination.")
