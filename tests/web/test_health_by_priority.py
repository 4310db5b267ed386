"""The health page's last minutes by priority (issue 12, part 4): lag from planned to
accepted per priority class, rows ready to send, and the calls the flow spent."""
from datetime import timedelta

import pytest
from django.utils import timezone

from syncapp.health import flows_by_priority
from syncapp.models import OutboxItem, OutboxStatus, Priority, SyncRun
from tests.factories import FlowFactory

pytestmark = pytest.mark.django_db


def accepted(flow, key, *, priority, lag_seconds, now):
    return OutboxItem.objects.create(flow=flow, record_key=key, status=OutboxStatus.ACCEPTED, priority=priority,
                                     planned_at=now - timedelta(seconds=lag_seconds + 60),
                                     accepted_at=now - timedelta(seconds=60))


def test_lag_and_ready_rows_per_priority_class_and_calls_per_flow():
    now = timezone.now()
    flow = FlowFactory(name="orders-flow")
    for n, lag in enumerate([2, 4, 6, 8, 100]):
        accepted(flow, f"U{n}", priority=Priority.URGENT, lag_seconds=lag, now=now)
    accepted(flow, "B0", priority=Priority.BACKFILL, lag_seconds=900, now=now)
    old = accepted(flow, "OLD", priority=Priority.URGENT, lag_seconds=5000, now=now)
    old.accepted_at = now - timedelta(hours=1)  # outside the window
    old.save()
    for n in range(3):
        OutboxItem.objects.create(flow=flow, record_key=f"P{n}", priority=Priority.BACKFILL, planned_at=now)
    OutboxItem.objects.create(flow=flow, record_key="LATER", priority=Priority.URGENT, planned_at=now,
                              not_before=now + timedelta(minutes=5))  # backing off: not ready
    SyncRun.objects.create(flow=flow, kind=SyncRun.Kind.PUSH, status=SyncRun.Status.SUCCEEDED, api_calls=3,
                           records_accepted=6, finished_at=now - timedelta(minutes=1))

    classes, calls = flows_by_priority(flows=[flow], now=now)

    by_label = {c.label: c for c in classes}
    assert set(by_label) == {"time-sensitive", "backfill"}
    urgent = by_label["time-sensitive"]
    assert (urgent.accepted, urgent.ready) == (5, 0)
    assert (round(urgent.p50), round(urgent.p95), round(urgent.max)) == (6, 100, 100)
    backfill = by_label["backfill"]
    assert (backfill.accepted, backfill.ready, round(backfill.max)) == (1, 3, 900)
    assert [(c.calls, c.accepted, c.records_per_call) for c in calls] == [(3, 6, 2.0)]


def test_the_page_shows_the_classes(as_role):
    now = timezone.now()
    flow = FlowFactory(name="orders-flow")
    accepted(flow, "U0", priority=Priority.URGENT, lag_seconds=12, now=now)

    html = as_role("marketing").get("/health/").content.decode()

    assert "by priority" in html
    row = html[html.index('class="class-time-sensitive"'):].split("</tr>")[0]
    assert "orders-flow" in row and "12 s" in row
