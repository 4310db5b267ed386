"""The consent read-back runs on a schedule: a beat entry, and a task reading every
destination that can say (one that cannot is passed over)."""
from __future__ import annotations

import pytest

from consent import services
from consent.schedules import CONSENT_READ_BACK_NAME, schedule_consent_read_back
from consent.tasks import CONSENT_READ_BACK_TASK, consent_read_back_all_task
from syncapp.celery import app as celery_app
from syncapp.schedules import schedules_install_defaults
from tests.factories import EspAccountFactory

pytestmark = pytest.mark.django_db


def test_the_hubs_default_schedules_read_consent_back_every_quarter_hour():
    installed = {task.name: task for task in schedules_install_defaults()}

    entry = installed[CONSENT_READ_BACK_NAME]
    assert (entry.task, entry.interval.every, entry.interval.period) == (CONSENT_READ_BACK_TASK, 15, "minutes")
    assert CONSENT_READ_BACK_TASK in celery_app.tasks
    assert schedule_consent_read_back().pk == entry.pk  # created once, then the admin's


def test_the_task_reads_every_destination_and_passes_over_one_that_cannot_say(monkeypatch):
    first = EspAccountFactory(name="a-dd")
    EspAccountFactory(name="b-other")
    read = []

    def read_back(*, destination):
        read.append(destination.name)
        if destination == first:
            raise services.ConsentReadUnsupported("cannot say")

    monkeypatch.setattr(services, "consent_read_back", read_back)
    consent_read_back_all_task()

    assert read == ["a-dd", "b-other"]
