"""ERP order state -> the destination's order status, through the admin-editable table."""
from __future__ import annotations

# Names dotdigital's own e-commerce integrations use for order_status.
DEFAULT_STATUS = {
    "open": "processing",
    "partially_dispatched": "processing",
    "dispatched": "complete",
    "closed": "complete",
    "cancelled": "canceled",
    "partially_refunded": "complete",
    "refunded": "closed",
}


def status_map(destination) -> dict[str, str]:
    from .models import OrderStatusMapping

    return DEFAULT_STATUS | dict(OrderStatusMapping.objects.filter(destination=destination)
                                 .values_list("erp_status", "destination_status"))
