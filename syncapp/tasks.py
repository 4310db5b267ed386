"""Celery tasks: thin. Each takes ids, loads, calls one service. The outbox is the
queue of record, so a lost task message loses nothing: the sweep finds the rows."""
from __future__ import annotations

import logging

from celery import shared_task

from erp.models import ErpConnection

from .incidents import task_enqueue
from .models import Flow
from .outbox import flows_awaiting_confirmation, flows_with_ready_work, outbox_reclaim_stale

logger = logging.getLogger(__name__)


@shared_task(name="syncapp.connection_pull_task", ignore_result=True)
def connection_pull_task(connection_id: int, entity: str = "business_partners") -> None:
    """Pull one connection's changes, then wake the pushers of flows with work. The run
    uses one source adapter (SAP B1: one login) and closes it at the end (/Logout)."""
    from . import services
    from .locks import PullInProgress
    from .services import connection_pull, flows_reading

    connection = ErpConnection.objects.get(pk=connection_id)
    adapter = services.source_adapter_for(connection)  # the engine's seam for the registry
    try:
        connection_pull(connection=connection, entity=entity, adapter=adapter)
    except PullInProgress as busy:
        logger.info("%s", busy)
        return
    finally:
        close = getattr(adapter, "close", None)
        if close is not None:
            close()
    flows = flows_reading(connection=connection, source_entity=entity)
    for flow_id in flows_with_ready_work(flows):
        task_enqueue(flow_push_task, flow_id)


@shared_task(name="syncapp.flow_push_task", ignore_result=True)
def flow_push_task(flow_id: int, max_batches: int = 20) -> None:
    """Send a bounded number of batches; re-enqueue itself while work remains."""
    from .services import flow_push

    flow = Flow.objects.select_related("connection", "destination").get(pk=flow_id)
    if not flow.enabled:
        return
    flow_push(flow=flow, max_batches=max_batches, confirm=False)
    if flow_id in flows_with_ready_work([flow]):
        task_enqueue(flow_push_task, flow_id)
    # Rows sent but not validated yet are settled by flow_confirm_task, which the sweep
    # starts every minute (a task re-queuing itself would start a new chain each sweep).


@shared_task(name="syncapp.outbox_sweep_task", ignore_result=True)
def outbox_sweep_task() -> None:
    """Periodic safety net: reclaim rows and end runs of dead workers (their leases ran
    out), wake flows with ready rows (backoff expired, or a task message was lost) and
    flows with rows awaiting the destination's validation."""
    from datetime import timedelta

    from django.conf import settings

    from exceptions.services import exceptions_return_orphaned

    from .incidents import redis_probe
    from .leases import runs_abandon_stale

    redis_probe()  # this task ran, so the broker is back: close its incident
    outbox_reclaim_stale()
    runs_abandon_stale()
    exceptions_return_orphaned(older_than=timedelta(minutes=settings.SYNC_RETRY_ORPHAN_MINUTES))
    for flow_id in flows_with_ready_work():
        task_enqueue(flow_push_task, flow_id)
    for flow_id in flows_awaiting_confirmation():
        task_enqueue(flow_confirm_task, flow_id)


@shared_task(name="syncapp.flow_confirm_task", ignore_result=True)
def flow_confirm_task(flow_id: int) -> None:
    """Settle rows a destination took but had not validated (Ometria), beside the pushes."""
    from .services import flow_confirm_pass

    flow = Flow.objects.select_related("connection", "destination").get(pk=flow_id)
    if flow.enabled:
        flow_confirm_pass(flow=flow)


@shared_task(name="syncapp.records_retry_task", ignore_result=True)
def records_retry_task(connection_id: int, flow_id: int | None, entity: str, record_keys: list[str]) -> None:
    """A bulk Retry from the dashboard: re-read, re-plan at top priority, wake pushers."""
    from .services import records_retry

    records_retry(connection_id=connection_id, flow_id=flow_id, entity=entity, record_keys=record_keys)


@shared_task(name="syncapp.flows_replan_task", ignore_result=True)
def flows_replan_task(flow_ids: list[int]) -> None:
    """A warehouse or SKU rule changed: re-plan the flows it shapes."""
    from .services import flows_replan_all

    flows_replan_all(flows=Flow.objects.filter(pk__in=flow_ids).select_related("connection", "destination"))
    for flow_id in flows_with_ready_work(Flow.objects.filter(pk__in=flow_ids)):
        task_enqueue(flow_push_task, flow_id)


@shared_task(name="syncapp.health_sample_task", ignore_result=True)
def health_sample_task() -> None:
    """Every few minutes: one backlog/lag/throughput sample per flow for the health charts."""
    from .health import health_sample_record

    health_sample_record()


@shared_task(name="syncapp.alerts_check_task", ignore_result=True)
def alerts_check_task() -> None:
    """Every few minutes: mail new alerts and recoveries to the owner teams."""
    from exceptions.alerts import alerts_check

    alerts_check()


@shared_task(name="syncapp.alerts_digest_task", ignore_result=True)
def alerts_digest_task() -> None:
    """Daily: each team's digest (sent at most once a day, however often this runs)."""
    from exceptions.alerts import alerts_digest_send

    alerts_digest_send()


@shared_task(name="syncapp.provisional_orders_check_task", ignore_result=True)
def provisional_orders_check_task() -> None:
    """Every few minutes: web orders still missing from the ERP after the timeout become exceptions,
    and so do documents still waiting for their base document after its grace."""
    from erp.dangling import documents_flag_overdue

    from .planning_orders import provisional_orders_flag_overdue

    provisional_orders_flag_overdue()
    documents_flag_overdue()
