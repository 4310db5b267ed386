"""ERP order state -> the destination's order status, through the admin-editable table.

Each adapter class names its vendor's defaults (`default_order_statuses`); the table
overrides them per account. An adapter that names none gets DEFAULT_STATUS.
"""
from __future__ import annotations

# The names dotdigital's own e-commerce integrations use for order_status: the default
# for adapters that do not declare their own.
DEFAULT_STATUS = {
    "open": "processing",
    "partially_dispatched": "processing",
    "dispatched": "complete",
    "closed": "complete",
    "cancelled": "canceled",
    "partially_refunded": "complete",
    "refunded": "closed",
    "pending": "pending",  # a web shop's provisional order, before the ERP has it
}


def default_statuses(kind: str) -> dict[str, str]:
    """The statuses an account of `kind` starts with, from its adapter class."""
    from .registry import destination_adapter_class

    try:
        adapter_class = destination_adapter_class(kind)
    except (ImportError, KeyError):
        return dict(DEFAULT_STATUS)
    return dict(getattr(adapter_class, "default_order_statuses", DEFAULT_STATUS))


def status_map(destination) -> dict[str, str]:
    from .models import OrderStatusMapping

    return default_statuses(destination.kind) | dict(OrderStatusMapping.objects.filter(destination=destination)
                                                     .values_list("erp_status", "destination_status"))
