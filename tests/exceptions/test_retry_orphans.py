"""A retry whose task never ran does not leave its exception "retrying" for ever."""
from datetime import timedelta

import pytest
from django.utils import timezone

from exceptions.models import SyncException
from exceptions.services import RETRY_NOT_RUN, exceptions_retry, exceptions_return_orphaned
from syncapp.models import OutboxItem
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db

LIMIT = timedelta(minutes=15)


def _retried(flow, key: str, *, minutes_ago: int) -> SyncException:
    exception = SyncExceptionFactory(flow=flow, record_key=key, status="retrying")
    SyncException.objects.filter(pk=exception.pk).update(
        retry_requested_at=timezone.now() - timedelta(minutes=minutes_ago))
    return exception


def _outbox(flow, key: str, *, status: str, minutes_ago: int) -> None:
    row = OutboxItem.objects.create(flow=flow, record_key=key, status=status)
    OutboxItem.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_a_retry_that_never_ran_returns_to_open_after_the_limit():
    flow = FlowFactory()
    orphan = _retried(flow, "LOST", minutes_ago=20)
    ingest_orphan = SyncExceptionFactory(flow=None, connection=flow.connection, entity="business_partners",
                                         stage="ingest", record_key="LOST-READ", status="retrying")
    SyncException.objects.filter(pk=ingest_orphan.pk).update(retry_requested_at=timezone.now() - timedelta(hours=2))

    assert exceptions_return_orphaned(older_than=LIMIT) == 2
    for exception in (orphan, ingest_orphan):
        exception.refresh_from_db()
        assert exception.status == "open" and exception.note == RETRY_NOT_RUN
        assert exception.retry_requested_at is None


def test_retries_that_ran_or_are_recent_or_still_queued_stay_retrying():
    flow = FlowFactory()
    recent = _retried(flow, "RECENT", minutes_ago=5)
    ran = _retried(flow, "RAN", minutes_ago=30)
    _outbox(flow, "RAN", status="failed", minutes_ago=25)  # re-planned after the request
    waiting = _retried(flow, "WAITING", minutes_ago=30)
    _outbox(flow, "WAITING", status="pending", minutes_ago=60)  # will be sent anyway
    by_planning = SyncExceptionFactory(flow=flow, record_key="PLANNED", status="retrying")  # no request time
    SyncException.objects.filter(pk=by_planning.pk).update(last_seen=timezone.now() - timedelta(days=2))

    assert exceptions_return_orphaned(older_than=LIMIT) == 0
    assert set(SyncException.objects.filter(status="retrying").values_list("pk", flat=True)) == {
        recent.pk, ran.pk, waiting.pk, by_planning.pk}


def test_a_persons_retry_stamps_the_request_time(monkeypatch, django_capture_on_commit_callbacks):
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(25, flow=flow)
    monkeypatch.setattr("syncapp.tasks.records_retry_task.delay", lambda *args: None)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert exceptions_retry(exceptions=SyncException.objects.all()) == 25
    assert SyncException.objects.filter(status="retrying", retry_requested_at__gte=before).count() == 25
