"""Thin Celery tasks: the scheduled consent read-back of every destination."""
from __future__ import annotations

from celery import shared_task

CONSENT_READ_BACK_TASK = "consent.read_back_all_task"


@shared_task(name=CONSENT_READ_BACK_TASK, ignore_result=True)
def consent_read_back_all_task() -> None:
    """Read consent back from every destination that can say (each keeps its own failure)."""
    from esp.models import EspAccount

    from .services import ConsentReadUnsupported, consent_read_back

    for destination in EspAccount.objects.order_by("name"):
        try:
            consent_read_back(destination=destination)
        except ConsentReadUnsupported:
            continue
