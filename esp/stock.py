"""Availability of one item under a destination's warehouse rule."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StockPolicy:
    """A WarehouseRule as a plain value; the default counts every active warehouse."""

    included: frozenset = frozenset()
    excluded: frozenset = frozenset()
    subtract_committed: bool = True
    low_stock_threshold: float = 5.0

    @classmethod
    def for_destination(cls, destination, channel: str = "") -> StockPolicy:
        from .models import WarehouseRule

        # A channel without a rule of its own falls back to the account's rule.
        rule = (WarehouseRule.objects.filter(destination=destination, channel=channel).first()
                or WarehouseRule.objects.filter(destination=destination, channel="").first())
        if rule is None:
            return cls()
        return cls(frozenset(rule.included_warehouses or ()), frozenset(rule.excluded_warehouses or ()),
                   rule.availability == WarehouseRule.Availability.IN_STOCK_MINUS_COMMITTED,
                   float(rule.low_stock_threshold))


@dataclass(frozen=True)
class WarehouseFigure:
    code: str
    in_stock: float
    committed: float
    counted: bool
    why_not: str = ""


@dataclass(frozen=True)
class Availability:
    available: float
    per_warehouse: list[WarehouseFigure] = field(default_factory=list)

    @property
    def in_stock(self) -> bool:
        return self.available > 0


def availability(levels: Iterable, policy: StockPolicy, inactive: set[str],
                 known: set[str] | None = None) -> Availability:
    """Sum what may be sold: `levels` have warehouse_code, in_stock, committed."""
    total, figures = 0.0, []
    for level in levels:
        code = level.warehouse_code
        why_not = ""
        if code in policy.excluded:
            why_not = "ring-fenced"
        elif policy.included and code not in policy.included:
            why_not = "not included"
        elif code in inactive:
            why_not = "inactive warehouse"
        elif known is not None and code not in known:
            why_not = "unknown warehouse"
        sellable = level.in_stock - (level.committed if policy.subtract_committed else 0)
        if not why_not:
            total += max(0.0, sellable)
        figures.append(WarehouseFigure(code, level.in_stock, level.committed, not why_not, why_not))
    return Availability(total, figures)
