"""The write-back's beat entry (created once, then the admin's)."""
from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from .tasks import WRITEBACK_ALL_TASK

WRITEBACK_NAME = "engagement write-back"
WRITEBACK_MINUTES = 15


def schedule_engagement_writeback() -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=WRITEBACK_MINUTES, period=IntervalSchedule.MINUTES)
    task, _ = PeriodicTask.objects.get_or_create(name=WRITEBACK_NAME,
                                                 defaults={"task": WRITEBACK_ALL_TASK, "interval": every})
    return task
