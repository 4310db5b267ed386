"""The nightly reconciliation's beat entry, like syncapp.schedules' (created once, then the admin's)."""
from __future__ import annotations

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask

NIGHTLY_TASK = "reports.nightly_reconciliation_task"
NIGHTLY_NAME = "nightly reconciliation"
NIGHTLY_HOUR = 5  # after the night's pulls and pushes, before finance's day


def schedule_nightly_reconciliation() -> PeriodicTask:
    at, _ = CrontabSchedule.objects.get_or_create(minute="30", hour=str(NIGHTLY_HOUR), day_of_week="*",
                                                  day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE)
    task, _ = PeriodicTask.objects.get_or_create(name=NIGHTLY_NAME, defaults={"task": NIGHTLY_TASK, "crontab": at})
    return task
