"""Celery tasks of the ECC source: thin, by id."""
from __future__ import annotations

from celery import shared_task

from erp.models import ErpConnection


@shared_task(name="sap_ecc.idocs_apply_task", ignore_result=True)
def idocs_apply_task(connection_id: int) -> None:
    """Apply the connection's stored IDocs, then wake the pushers of flows with work."""
    from syncapp.models import Flow
    from syncapp.tasks import pushers_wake

    from .apply import idocs_apply

    connection = ErpConnection.objects.get(pk=connection_id)
    idocs_apply(connection)
    pushers_wake(Flow.objects.filter(connection=connection, enabled=True).select_related("connection", "destination"))
