"""Drift detection's Celery tasks: thin, each loads and calls one service."""
from __future__ import annotations

import logging

from celery import shared_task

from syncapp.incidents import task_enqueue

# A full pass runs this long per task, then goes on in a new one (well inside the task
# time limit); paused for pushes, it tries again after PAUSE_SECONDS.
PASS_BUDGET_SECONDS = 300
logger = logging.getLogger(__name__)
PAUSE_SECONDS = 60


@shared_task(name="drift.drift_sample_task", ignore_result=True)
def drift_sample_task() -> None:
    """Hourly: each enabled flow's share of its daily sample, read back and compared."""
    from syncapp.models import Flow

    from .services import drift_pass_run, drift_passes_prune, drift_sample_start

    for flow in Flow.objects.filter(enabled=True).select_related("connection", "destination").order_by("pk"):
        try:
            started = drift_sample_start(flow=flow)
            if started is not None:
                drift_pass_run(drift_pass=started, budget_seconds=PASS_BUDGET_SECONDS)
        except Exception:  # one flow's failure must not cost the others their sample
            logger.exception("Drift sample of flow %s failed", flow.pk)
    drift_passes_prune()


@shared_task(name="drift.drift_pass_task", ignore_result=True)
def drift_pass_task(pass_id: int) -> None:
    """Run (or go on with) one full pass for a while; re-enqueue itself until it is done."""
    from .models import DriftPass
    from .services import BUDGET_NOTE, drift_pass_run

    drift_pass = drift_pass_run(drift_pass=DriftPass.objects.get(pk=pass_id), budget_seconds=PASS_BUDGET_SECONDS)
    if drift_pass.status == DriftPass.Status.PAUSED:
        # Cut by its budget: on at once. Paused for pushes or by a passing failure: a minute later.
        budget_used = drift_pass.note.startswith(BUDGET_NOTE)
        drift_pass_task.apply_async((pass_id,), countdown=0 if budget_used else PAUSE_SECONDS)


def drift_pass_enqueue(pass_id: int) -> bool:
    return task_enqueue(drift_pass_task, pass_id)
