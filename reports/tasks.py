"""Finance's background work: read a destination's orders back, and the nightly run."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="reports.read_back_task", ignore_result=True)
def read_back_task(flow_id: int) -> None:
    """Read one orders flow's destination back into a new snapshot."""
    from syncapp.models import Flow

    from .destination_side import read_back_orders

    read_back_orders(flow=Flow.objects.select_related("destination").get(pk=flow_id))


@shared_task(name="reports.nightly_reconciliation_task", ignore_result=True)
def nightly_reconciliation_task() -> None:
    """Nightly: read every destination that can list its orders, then mail finance the
    reconciliation of the previous day and of the month to date, differences attached."""
    from .nightly import nightly_reconciliation_send

    nightly_reconciliation_send()
