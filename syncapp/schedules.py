"""Schedules live in the database (django-celery-beat) so admins edit them in the admin."""
from __future__ import annotations

import json

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

PULL_TASK = "syncapp.connection_pull_task"
SWEEP_TASK = "syncapp.outbox_sweep_task"
HEALTH_SAMPLE_TASK = "syncapp.health_sample_task"
ALERTS_CHECK_TASK = "syncapp.alerts_check_task"
ALERTS_DIGEST_TASK = "syncapp.alerts_digest_task"
ALERTS_CHECK_MINUTES = 5
CONNECTIONS_PROBE_TASK = "syncapp.connections_probe_task"
PROVISIONAL_CHECK_TASK = "syncapp.provisional_orders_check_task"
PROVISIONAL_CHECK_MINUTES = 5


def _interval(minutes: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=minutes, period=IntervalSchedule.MINUTES)
    return schedule


def pull_schedule_name(connection, entity: str) -> str:
    return f"pull {connection.name} {entity}"


def schedule_pull(*, connection, entity: str = "business_partners", every_minutes: int = 2) -> PeriodicTask:
    """Create or update the periodic pull of one connection's entity. A pull still waiting
    for a worker when the next one is due is dropped (it expires): the next reads the same
    changes, and under load pulls would otherwise pile up in the queue ahead of the pushes."""
    task, _ = PeriodicTask.objects.update_or_create(
        name=pull_schedule_name(connection, entity),
        defaults={"task": PULL_TASK, "interval": _interval(every_minutes),
                  "args": json.dumps([connection.pk, entity]), "enabled": True,
                  "expire_seconds": every_minutes * 60},
    )
    return task


# Stock is polled in full (movements may not touch an item's UpdateDate), so less often;
# warehouses and item groups are read in full too (no change stamp).
DEFAULT_MINUTES = {"item_stock": 15, "warehouses": 15, "item_groups": 15}


def schedules_install_defaults(*, every_minutes: int = 2) -> list[PeriodicTask]:
    """A pull of every source entity the connection's flows read, every few minutes
    (stock every 15), an outbox sweep every minute, and the monitoring tasks."""
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
    from consent.schedules import schedule_consent_read_back  # consent read back from the destinations
    from engagement.schedules import schedule_engagement_writeback  # engagement back to SAP B1
    from reports.campaigns.schedules import schedule_nightly_campaign_import  # finance's rooms, their own entries
    from reports.schedules import schedule_nightly_reconciliation

    from .drift.schedules import schedule_drift_sample  # the drift app's own entry

    return [*tasks, sweep, *schedules_install_monitoring(), schedule_provisional_check(),
            schedule_nightly_reconciliation(), schedule_nightly_campaign_import(), schedule_drift_sample(),
            schedule_run_outcomes_prune(), schedule_consent_read_back(), schedule_engagement_writeback()]


def schedules_install_monitoring() -> list[PeriodicTask]:
    """Health samples and alert checks every few minutes, the connection probe every
    minute (an outage shows within one), the digest once a day.
    Created once; an admin's later edits to them are kept."""
    digest_at, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour=str(settings.SYNC_ALERT_DIGEST_HOUR), day_of_week="*", day_of_month="*",
        month_of_year="*", timezone=settings.TIME_ZONE)
    wanted = [("health samples", HEALTH_SAMPLE_TASK, {"interval": _interval(settings.SYNC_HEALTH_SAMPLE_MINUTES)}),
              ("alerts check", ALERTS_CHECK_TASK, {"interval": _interval(ALERTS_CHECK_MINUTES)}),
              # A probe still queued when the next is due is dropped: the next asks the same.
              ("connection probe", CONNECTIONS_PROBE_TASK, {"interval": _interval(1), "expire_seconds": 60}),
              ("alerts daily digest", ALERTS_DIGEST_TASK, {"crontab": digest_at})]
    return [PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, **schedule})[0]
            for name, task, schedule in wanted]


def schedule_provisional_check() -> PeriodicTask:
    """The check for web shop orders the ERP never received (created once, then the admin's)."""
    task, _ = PeriodicTask.objects.get_or_create(
        name="provisional orders check",
        defaults={"task": PROVISIONAL_CHECK_TASK, "interval": _interval(PROVISIONAL_CHECK_MINUTES)})
    return task


RUN_OUTCOMES_PRUNE_TASK = "syncapp.run_outcomes_prune_task"


def schedule_run_outcomes_prune() -> PeriodicTask:
    """Nightly, runs past SYNC_RUN_OUTCOME_DAYS lose their row-level outcomes (created once, then the admin's)."""
    at, _ = CrontabSchedule.objects.get_or_create(minute="15", hour="3", day_of_week="*", day_of_month="*",
                                                  month_of_year="*", timezone=settings.TIME_ZONE)
    task, _ = PeriodicTask.objects.get_or_create(name="run outcomes prune",
                                                 defaults={"task": RUN_OUTCOMES_PRUNE_TASK, "crontab": at})
    return task
