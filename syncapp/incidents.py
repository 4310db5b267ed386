"""The hub's own incidents: Redis (task broker and token buckets) unreachable.

Opened by the process that meets the fault (a push whose bucket cannot be read, the
health page's probe) and closed by the first one that finds Redis answering again. The
alert goes out from the process that opens it, at once: the periodic alert check is
itself a task that needs the broker that is down.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import HubIncident

log = logging.getLogger(__name__)


def incident_open(*, kind: str = HubIncident.Kind.REDIS, detail: str = "") -> HubIncident:
    """Open the incident of this kind (or note it is still going on)."""
    from .logging import redact_text

    now = timezone.now()
    detail = redact_text(detail)[:2000]
    current = HubIncident.objects.filter(kind=kind, closed_at__isnull=True).first()
    if current is not None:
        HubIncident.objects.filter(pk=current.pk).update(last_seen_at=now, detail=detail or current.detail)
        return current
    try:
        with transaction.atomic():
            incident = HubIncident.objects.create(kind=kind, detail=detail, opened_at=now, last_seen_at=now)
    except IntegrityError:  # another process opened it first
        return HubIncident.objects.get(kind=kind, closed_at__isnull=True)
    log.error("Hub incident opened: %s (%s)", incident.get_kind_display(), detail)
    alerts_now()
    return incident


def incident_close(*, kind: str = HubIncident.Kind.REDIS) -> int:
    """Close the open incident of this kind, if any; the recovery is announced."""
    closed = HubIncident.objects.filter(kind=kind, closed_at__isnull=True).update(closed_at=timezone.now())
    if closed:
        log.warning("Hub incident closed: %s", HubIncident.Kind(kind).label)
        alerts_now()
    return closed


def incidents_open() -> list[HubIncident]:
    return list(HubIncident.objects.filter(closed_at__isnull=True).order_by("opened_at"))


def redis_probe() -> bool | None:
    """Ask Redis (broker and buckets) whether it answers; open or close the incident.
    None when the hub runs without Redis (the embedded defaults)."""
    if not settings.REDIS_URL:
        return None
    import redis

    from .ratelimit import redis_client

    try:
        redis_client().ping()
    except redis.RedisError as error:
        incident_open(detail=f"Redis does not answer: {error}")
        return False
    incident_close()
    return True


def task_enqueue(task, *args, countdown: float | None = None, priority: int | None = None) -> bool:
    """Wake a worker (`countdown` seconds from now; at message `priority` instead of the
    task's own); with the broker away, say so as the hub's incident and go on: the outbox
    is the queue of record, and the sweep wakes the workers once it is back."""
    try:
        options = {"countdown": countdown} if countdown else {}
        if priority is not None:
            options["priority"] = priority
        if options:
            task.apply_async(args=args, **options)
        else:
            task.delay(*args)
    except Exception as error:  # noqa: BLE001 - kombu/redis raise several types for one fault
        log.warning("Could not enqueue %s: %s", task.name, error)
        if settings.REDIS_URL:
            incident_open(detail=f"The task broker does not answer: {error}")
        return False
    return True


def alerts_now() -> None:
    """Run the alert check now, from the process that met the change (the periodic one may need the broker)."""
    from exceptions.alerts import alerts_check

    try:
        alerts_check()
    except Exception as error:  # noqa: BLE001 - the periodic check says it later
        log.warning("Alert check after an incident change failed: %s", error)
