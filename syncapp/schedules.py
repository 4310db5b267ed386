"""Schedules live in the database (django-celery-beat) so admins edit them in the admin."""
from __future__ import annotations

import json

from django_celery_beat.models import IntervalSchedule, PeriodicTask

PULL_TASK = "syncapp.connection_pull_task"
SWEEP_TASK = "syncapp.outbox_sweep_task"


def _interval(minutes: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=minutes, period=IntervalSchedule.MINUTES)
    return schedule


def pull_schedule_name(connection, entity: str) -> str:
    return f"pull {connection.name} {entity}"


def schedule_pull(*, connection, entity: str = "business_partners", every_minutes: int = 2) -> PeriodicTask:
    """Create or update the periodic pull of one connection's entity."""
    task, _ = PeriodicTask.objects.update_or_create(
        name=pull_schedule_name(connection, entity),
        defaults={"task": PULL_TASK, "interval": _interval(every_minutes),
                  "args": json.dumps([connection.pk, entity]), "enabled": True},
    )
    return task


def schedules_install_defaults(*, every_minutes: int = 2) -> list[PeriodicTask]:
    """A pull per connection every few minutes and an outbox sweep every minute."""
    from erp.models import ErpConnection

    tasks = [schedule_pull(connection=c, every_minutes=every_minutes) for c in ErpConnection.objects.all()]
    sweep, _ = PeriodicTask.objects.get_or_create(
        name="outbox sweep", defaults={"task": SWEEP_TASK, "interval": _interval(1)})
    return [*tasks, sweep]
