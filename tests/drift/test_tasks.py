"""The hourly sample task, the full pass task and the beat entry that schedules the sample."""
from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from syncapp.drift import tasks
from syncapp.drift.models import DriftPass
from syncapp.drift.schedules import SAMPLE_TASK, schedule_drift_sample
from syncapp.drift.services import drift_full_pass_start
from tests.drift.support import EchoDestination, no_wait_guard, sent_rows
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def echo(monkeypatch):
    destination = EchoDestination()
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: destination)
    monkeypatch.setattr("syncapp.drift.services.PushFirst", lambda account, **kw: no_wait_guard(account))
    return destination


def test_the_sample_is_scheduled_hourly_in_the_database_once():
    schedule_drift_sample()
    schedule_drift_sample()
    (task,) = PeriodicTask.objects.filter(task=SAMPLE_TASK)
    assert task.enabled and task.interval.every == 60 and task.interval.period == "minutes"


def test_the_sample_task_reads_back_each_enabled_flow(echo):
    on, off = FlowFactory(), FlowFactory(enabled=False)
    sent_rows(on, 30)
    sent_rows(off, 30, start=100)

    tasks.drift_sample_task()

    assert DriftPass.objects.filter(flow=on, kind="sample").exists()
    assert not DriftPass.objects.filter(flow=off).exists()
    assert echo.read_keys and all(int(key[1:]) < 100 for key in echo.read_keys)


def test_a_full_pass_paused_for_pushes_is_tried_again_a_minute_later(monkeypatch, echo):
    flow = FlowFactory()
    sent_rows(flow, 5)
    drift_pass, _ = drift_full_pass_start(flow=flow)
    later: list[tuple] = []
    monkeypatch.setattr(tasks.drift_pass_task, "apply_async", lambda args, countdown: later.append((args, countdown)))
    monkeypatch.setattr("syncapp.drift.services._run_chunk", _pushes_waiting)

    tasks.drift_pass_task(drift_pass.pk)

    assert later == [((drift_pass.pk,), tasks.PAUSE_SECONDS)]


def _pushes_waiting(*args, **kwargs):
    from syncapp.drift.push_first import PushesWaiting

    raise PushesWaiting("a push waits")


def test_a_flow_its_destination_cannot_read_back_is_asked_once_a_day_not_every_hour(monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    class PushOnly:
        limits = EchoDestination().limits

    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: PushOnly())
    monkeypatch.setattr("syncapp.drift.services.PushFirst", lambda account, **kw: no_wait_guard(account))
    flow = FlowFactory()
    sent_rows(flow, 5)

    tasks.drift_sample_task()
    tasks.drift_sample_task()
    assert list(DriftPass.objects.values_list("status", flat=True)) == ["unsupported"]
    DriftPass.objects.update(created_at=timezone.now() - timedelta(days=1, minutes=1))
    tasks.drift_sample_task()
    assert DriftPass.objects.count() == 2


def test_old_finished_passes_are_pruned_and_a_failing_flow_does_not_stop_the_others(monkeypatch, echo):
    from datetime import timedelta

    from django.utils import timezone

    broken, fine = FlowFactory(), FlowFactory()
    sent_rows(broken, 3)
    sent_rows(fine, 3, start=10)
    old = DriftPass.objects.create(flow=fine, kind="sample", status="done")
    DriftPass.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    from syncapp.drift import services

    original = services.drift_sample_start

    def start(*, flow, now=None):
        if flow.pk == broken.pk:
            raise RuntimeError("boom")
        return original(flow=flow, now=now)

    monkeypatch.setattr(services, "drift_sample_start", start)

    tasks.drift_sample_task()

    assert not DriftPass.objects.filter(pk=old.pk).exists()
    assert DriftPass.objects.filter(flow=fine, status="done").exists()
