"""Celery tasks of the ECC source: thin, by id."""
from __future__ import annotations

from celery import shared_task

from erp.models import ErpConnection


@shared_task(name="sap_ecc.idocs_apply_task", ignore_result=True)
def idocs_apply_task(connection_id: int) -> None:
    """Apply the connection's stored IDocs, then wake the pushers of flows with work."""
    from syncapp.incidents import task_enqueue
    from syncapp.models import Flow
    from syncapp.outbox import flows_with_ready_work
    from syncapp.tasks import flow_push_task

    from .apply import idocs_apply

    connection = ErpConnection.objects.get(pk=connection_id)
    idocs_apply(connection)
    flows = list(Flow.objects.filter(connection=connection, enabled=True).select_related("connection", "destination"))
    for flow_id in flows_with_ready_work(flows):
        task_enqueue(flow_push_task, flow_id)
