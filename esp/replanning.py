"""Re-plan the flows a configuration change shapes, once the change is committed."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

log = logging.getLogger(__name__)

# Warehouse and SKU rules shape products and stock signals.
RULE_ENTITIES = ("products", "stock_events")


def flows_replan_after_commit(flows: Iterable) -> list[int]:
    """Queue a re-plan of `flows` for when the current transaction commits; returns their ids.

    Unchanged payloads cost nothing, so re-planning every record is safe. If the broker
    cannot take the task, the re-plan runs here instead: a change that is never
    re-planned would leave the destination silently out of step with the rules.
    """
    flow_ids = [flow.pk for flow in flows]
    if flow_ids:
        transaction.on_commit(lambda: _replan(flow_ids))
    return flow_ids


def _replan(flow_ids: list[int]) -> None:
    from syncapp.models import Flow
    from syncapp.services import flows_replan_all
    from syncapp.tasks import flows_replan_task

    try:
        flows_replan_task.delay(flow_ids)
    except Exception as error:  # noqa: BLE001 - the broker is down: do the work in this process
        log.warning("Re-plan of flows %s could not be queued (%s); re-planning now", flow_ids, error)
        # The pushers are woken by the periodic sweep once the broker is back.
        flows_replan_all(flows=Flow.objects.filter(pk__in=flow_ids).select_related("connection", "destination"))
