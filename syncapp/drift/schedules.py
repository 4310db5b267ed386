"""The drift sample's beat entry, in the database like the engine's (syncapp/schedules.py)."""
from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

SAMPLE_TASK = "drift.drift_sample_task"
SAMPLE_SCHEDULE_NAME = "drift sample"
SAMPLE_EVERY_MINUTES = 60  # each run checks the day's sample due by then (sampling.py)


def schedule_drift_sample() -> PeriodicTask:
    """Create the hourly drift sample once; an admin's later edits to it are kept."""
    every, _ = IntervalSchedule.objects.get_or_create(every=SAMPLE_EVERY_MINUTES, period=IntervalSchedule.MINUTES)
    task, _ = PeriodicTask.objects.get_or_create(name=SAMPLE_SCHEDULE_NAME,
                                                 defaults={"task": SAMPLE_TASK, "interval": every})
    return task

