"""Thin Celery tasks: ids in, one service each."""
from __future__ import annotations

from celery import shared_task

WRITEBACK_ALL_TASK = "engagement.writeback_all_task"


@shared_task(name="engagement.writeback_task", ignore_result=True)
def engagement_writeback_task(connection_id: int) -> None:
    """One write-back run for one SAP B1 connection."""
    from erp.models import ErpConnection

    from .writeback import engagement_writeback

    engagement_writeback(connection=ErpConnection.objects.get(pk=connection_id))


@shared_task(name=WRITEBACK_ALL_TASK, ignore_result=True)
def engagement_writeback_all_task() -> None:
    """The schedule: a run for every SAP B1 connection whose write-back is enabled, then
    the runs older than the history kept are removed."""
    from .models import WriteBackSettings
    from .writeback import engagement_writeback, writeback_runs_prune

    for settings in (WriteBackSettings.objects.filter(enabled=True, connection__kind="sap_b1")
                     .select_related("connection").order_by("connection__name")):
        engagement_writeback(connection=settings.connection)
    writeback_runs_prune()
