"""A scheduled pull reads the new changes and leaves its overlap re-read to a task of its
own (issue 12, part 3; syncapp.pull_parts). In a peak run a deliveries pull re-read about
2,000 unchanged deliveries for 5 s after planning its dispatches, and in four of nine pulls
the dispatches' push started only as the pull ended: it waited for the pull's process."""
from __future__ import annotations

from datetime import timedelta

import pytest

from syncapp import tasks
from syncapp.models import SourceCursor, SyncRun
from syncapp.services import connection_pull
from tests.hub import Hub, partner


@pytest.fixture
def hub(db):
    hub = Hub()
    yield hub
    hub.close()


@pytest.fixture
def enqueued(monkeypatch):
    """What the tasks hand the broker: (task name, args, message priority)."""
    sent = []

    def enqueue(task, *args, countdown=None, priority=None):
        sent.append((task.name, args, priority))
        return True

    monkeypatch.setattr(tasks, "task_enqueue", enqueue)
    return sent


def _cursor(hub: Hub) -> dict:
    return SourceCursor.objects.get(connection=hub.connection, entity="business_partners").value


def _one_read_before_and_a_new_customer(hub: Hub) -> None:
    """C001 stamped 08:59, C002 09:00 and read; then C003 at 09:01, new. The pull after reads
    C002 (its cursor's minute) and C003 as new changes, and C001 again in its overlap."""
    hub.sap_clock.now -= timedelta(minutes=1)
    hub.sap.add_business_partners([partner("C001")])
    hub.sap_clock.advance(minutes=1)
    hub.sap.add_business_partners([partner("C002")])
    connection_pull(connection=hub.connection)
    hub.sap_clock.advance(minutes=1)
    hub.sap.add_business_partners([partner("C003")])


def _last_pull() -> SyncRun:
    return SyncRun.objects.filter(kind=SyncRun.Kind.PULL).latest("id")


def test_a_scheduled_pull_reads_the_new_changes_and_queues_the_re_read_behind_what_it_woke(hub, enqueued, settings,
                                                                                          redis_url):
    settings.REDIS_URL = redis_url
    _one_read_before_and_a_new_customer(hub)

    tasks.connection_pull_task(hub.connection.pk, "business_partners")

    assert _last_pull().records_read == 2  # C002 and C003: the new changes alone
    assert "reread_base" in _cursor(hub)
    *woken, last = enqueued
    assert [name for name, *_ in woken] == ["syncapp.flow_push_task"]  # C003's push, queued as the pull read
    assert last == ("syncapp.connection_pull_task",
                    (hub.connection.pk, "business_partners", "schedule", None, "overlap"),
                    tasks.OVERLAP_READ_PRIORITY)

    tasks.connection_pull_task(*last[1])  # the worker takes it

    assert _last_pull().records_read == 1  # C001, the overlap re-read
    assert SyncRun.objects.filter(kind=SyncRun.Kind.PULL, status="succeeded").count() == 3
    assert _cursor(hub) == {"updated_at": "2026-11-22T09:01:00+00:00", "reread_to": "2026-11-22T09:00:00+00:00"}


def test_while_the_queued_re_read_waits_the_next_pull_reads_it_too(hub, enqueued, settings, redis_url):
    """A re-read starved of a worker waits one interval at most, and is read once."""
    settings.REDIS_URL = redis_url
    _one_read_before_and_a_new_customer(hub)
    tasks.connection_pull_task(hub.connection.pk, "business_partners")
    *_, (_, overlap_args, _) = enqueued
    enqueued.clear()

    tasks.connection_pull_task(hub.connection.pk, "business_partners")  # the next tick, the re-read still queued

    # C003 (its cursor's minute), C001 (the re-read owed) and C002 (its minute's overlap has passed too)
    assert _last_pull().records_read == 3
    assert "reread_base" not in _cursor(hub)
    assert [name for name, *_ in enqueued if name == "syncapp.connection_pull_task"] == []
    pulls = SyncRun.objects.filter(kind=SyncRun.Kind.PULL).count()

    tasks.connection_pull_task(*overlap_args)  # the queued re-read, at last: owed no longer

    assert SyncRun.objects.filter(kind=SyncRun.Kind.PULL).count() == pulls


def test_without_redis_the_re_read_is_queued_each_time_and_nothing_is_read_twice(hub, enqueued, settings):
    settings.REDIS_URL = ""
    _one_read_before_and_a_new_customer(hub)
    tasks.connection_pull_task(hub.connection.pk, "business_partners")
    *_, (name, overlap_args, _) = enqueued
    assert name == "syncapp.connection_pull_task" and overlap_args[-1] == "overlap"

    tasks.connection_pull_task(*overlap_args)
    tasks.connection_pull_task(*overlap_args)  # a twin: the cursor owes nothing by then

    assert [run.records_read for run in SyncRun.objects.filter(kind=SyncRun.Kind.PULL).order_by("id")] == [2, 2, 1]


def test_a_re_read_that_finds_a_pull_reading_leaves_the_owed_re_read_to_it(hub, enqueued, settings, redis_url,
                                                                           monkeypatch):
    """That pull reads what the cursor owes (or queues the re-read anew): asking it to read
    again as a skipped scheduled pull does would only read the same new changes twice."""
    from syncapp import services
    from syncapp.locks import PullInProgress

    settings.REDIS_URL = redis_url
    _one_read_before_and_a_new_customer(hub)
    tasks.connection_pull_task(hub.connection.pk, "business_partners")
    *_, (_, overlap_args, _) = enqueued

    def reading(*, connection, entity, **options):
        raise PullInProgress(connection, entity)

    monkeypatch.setattr(services, "connection_pull", reading)
    tasks.connection_pull_task(*overlap_args)
    assert tasks._pulls_asked_again(hub.connection, "business_partners") == []
    tasks.connection_pull_task(hub.connection.pk, "business_partners")  # a scheduled one is asked again
    assert tasks._pulls_asked_again(hub.connection, "business_partners") == ["business_partners"]
