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


# Stock is polled in full (movements may not touch an item's UpdateDate), so less often.
DEFAULT_MINUTES = {"item_stock": 15, "warehouses": 15}


def schedules_install_defaults(*, every_minutes: int = 2) -> list[PeriodicTask]:
    """A pull of every source entity the connection's flows read, every few minutes
    (stock every 15), and an outbox sweep every minute."""
    from erp.models import ErpConnection

    from .entities import flow_entity
    from .models import Flow

    tasks = []
    for connection in ErpConnection.objects.all():
        entities = {"business_partners"} | {source for flow in Flow.objects.filter(connection=connection)
                                            for source in flow_entity(flow.entity).triggers}
        tasks += [schedule_pull(connection=connection, entity=entity,
                                every_minutes=DEFAULT_MINUTES.get(entity, every_minutes))
                  for entity in sorted(entities)]
    sweep, _ = PeriodicTask.objects.get_or_create(
        name="outbox sweep", defaults={"task": SWEEP_TASK, "interval": _interval(1)})
    return [*tasks, sweep]
