"""The nightly campaign-activity import's beat entry (created once, then the admin's)."""
from __future__ import annotations

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, PeriodicTask

NIGHTLY_IMPORT_TASK = "campaigns.nightly_import_task"
NIGHTLY_IMPORT_NAME = "nightly campaign activity import"
NIGHTLY_IMPORT_HOUR = 4  # before the nightly reconciliation (05:30) and finance's day


def schedule_nightly_campaign_import() -> PeriodicTask:
    at, _ = CrontabSchedule.objects.get_or_create(minute="30", hour=str(NIGHTLY_IMPORT_HOUR), day_of_week="*",
                                                  day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE)
    task, _ = PeriodicTask.objects.get_or_create(name=NIGHTLY_IMPORT_NAME,
                                                 defaults={"task": NIGHTLY_IMPORT_TASK, "crontab": at})
    return task
