"""Before a warehouse rule is saved: how many products it would re-send.

A product's payload carries its availability (units and in stock or not) under the rule,
so a rule change re-sends exactly the products whose figure moves. Each products flow
the rule governs is checked item by item, old policy against the edited one, reading
the connection's stock levels once in item order; nothing is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from erp.models import StockLevel, Warehouse
from syncapp.models import Flow

from .models import WarehouseRule
from .stock import StockPolicy, availability


@dataclass
class FlowImpact:
    flow: Flow
    items: int = 0
    resend: int = 0
    sample: list[str] = field(default_factory=list)


def policy_of(rule: WarehouseRule) -> StockPolicy:
    """The policy an (edited, maybe unsaved) rule describes."""
    return StockPolicy(frozenset(rule.included_warehouses or ()), frozenset(rule.excluded_warehouses or ()),
                       rule.availability == WarehouseRule.Availability.IN_STOCK_MINUS_COMMITTED,
                       float(rule.low_stock_threshold))


def _governed(rule: WarehouseRule, flow: Flow) -> bool:
    """Whether `rule` is the one the flow's stock is counted under once saved: its own
    channel's rule, or the account's rule when the channel has none."""
    if flow.channel == rule.channel:
        return True
    if rule.channel:
        return False
    own = WarehouseRule.objects.filter(destination=rule.destination_id, channel=flow.channel)
    return not own.exclude(pk=rule.pk).exists()


def warehouse_rule_impact(*, rule: WarehouseRule) -> list[FlowImpact]:
    """Per products flow of the rule's destination that the rule governs: how many items
    would be re-sent (their available units or in-stock state change)."""
    impacts = []
    new = policy_of(rule)
    for flow in Flow.objects.filter(destination_id=rule.destination_id, entity="products").select_related(
            "destination").order_by("name"):
        if not _governed(rule, flow):
            continue
        old = StockPolicy.for_destination(flow.destination, flow.channel)
        impact = FlowImpact(flow)
        warehouses = dict(Warehouse.objects.filter(connection_id=flow.connection_id).values_list("code", "inactive"))
        inactive = {code for code, is_inactive in warehouses.items() if is_inactive}
        known = set(warehouses)
        levels = (StockLevel.objects.filter(connection_id=flow.connection_id).order_by("item_code")
                  .only("item_code", "warehouse_code", "in_stock", "committed").iterator(chunk_size=5000))
        for item_code, grouped in groupby(levels, key=lambda level: level.item_code):
            rows = list(grouped)
            impact.items += 1
            before, after = availability(rows, old, inactive, known), availability(rows, new, inactive, known)
            if (before.available, before.in_stock) != (after.available, after.in_stock):
                impact.resend += 1
                if len(impact.sample) < 10:
                    impact.sample.append(item_code)
        impacts.append(impact)
    return impacts
