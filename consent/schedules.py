"""The consent read-back's beat entry (created once, then the admin's)."""
from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from .tasks import CONSENT_READ_BACK_TASK

CONSENT_READ_BACK_NAME = "consent read-back"
EVERY_MINUTES = 15  # an unsubscribe is honoured by the next push within a quarter of an hour


def schedule_consent_read_back() -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=EVERY_MINUTES, period=IntervalSchedule.MINUTES)
    task, _ = PeriodicTask.objects.get_or_create(name=CONSENT_READ_BACK_NAME,
                                                 defaults={"task": CONSENT_READ_BACK_TASK, "interval": every})
    return task
