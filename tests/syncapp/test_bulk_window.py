"""Latency first: time-sensitive rows are claimed ahead of backfill rows, and bulk work
held to a destination's off-peak window waits while a new order goes at once."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from syncapp.bulk_window import bulk_allowed, bulk_hours_parse
from syncapp.health import flow_lag_seconds
from syncapp.models import OutboxItem, OutboxStatus, Priority
from syncapp.outbox import outbox_claim
from syncapp.services import connection_pull, flow_push, records_replan
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record

pytestmark = pytest.mark.django_db


def window_around(now: datetime, *, inside: bool) -> str:
    """A two-hour window that holds `now` (inside) or starts an hour after it."""
    local = timezone.localtime(now)
    start = local - timedelta(hours=1) if inside else local + timedelta(hours=1)
    end = start + timedelta(hours=2)
    return f"{start:%H:%M}-{end:%H:%M}"


def load(flow, count: int, *, priority: int) -> list[str]:
    keys = [f"C{n:04d}" for n in range(count)]
    connection_pull(connection=flow.connection, adapter=FakeSource([[bp_record(key) for key in keys]]),
                    priority=priority)
    return keys


def test_time_sensitive_rows_are_claimed_ahead_of_backfill_rows(flow):
    load(flow, 30, priority=Priority.BACKFILL)
    records_replan(flow=flow, record_keys=["C0029"], force=True, priority=Priority.URGENT)
    claimed = outbox_claim(flow=flow, limit=5)
    assert claimed[0].record_key == "C0029" and claimed[0].priority == Priority.URGENT
    assert all(row.priority == Priority.BACKFILL for row in claimed[1:])


def test_bulk_outside_its_window_waits_and_a_new_order_does_not(flow):
    now = timezone.now()
    flow.destination.bulk_hours = window_around(now, inside=False)
    flow.destination.save()
    load(flow, 20, priority=Priority.BACKFILL)  # a backfill, or a mapping change re-sending everyone
    records_replan(flow=flow, record_keys=["C0007"], force=True, priority=Priority.URGENT)  # time-sensitive
    destination = FakeDestination()
    flow_push(flow=flow, adapter=destination)
    assert destination.pushed_keys == ["C0007"]
    waiting = OutboxItem.objects.filter(flow=flow, status=OutboxStatus.PENDING)
    assert waiting.count() == 19 and set(waiting.values_list("priority", flat=True)) == {Priority.BACKFILL}
    assert flow_lag_seconds(flow) is None  # bulk held by its window is not lag
    flow.destination.bulk_hours = window_around(now, inside=True)  # the window opens
    flow.destination.save()
    flow_push(flow=flow, adapter=destination)
    assert not OutboxItem.objects.filter(flow=flow, status=OutboxStatus.PENDING).exists()
    assert len(destination.pushed_keys) == 20


def test_a_mapping_change_re_sends_as_bulk_work(flow):
    from esp.models import FieldMapping
    from syncapp.services import flows_replan_all

    load(flow, 5, priority=Priority.ROUTINE)
    flow_push(flow=flow, adapter=FakeDestination())
    FieldMapping.objects.filter(destination=flow.destination, target_field="FULLNAME").update(transform="upper")
    flows_replan_all(flows=[flow])
    assert set(OutboxItem.objects.filter(flow=flow, status=OutboxStatus.PENDING)
               .values_list("priority", flat=True)) == {Priority.BACKFILL}


@pytest.mark.parametrize("hours,at,allowed", [
    ("", "12:00", True), ("22:00-06:00", "23:30", True), ("22:00-06:00", "05:59", True),
    ("22:00-06:00", "06:00", False), ("22:00-06:00", "12:00", False), ("01:00-04:00", "02:00", True),
    ("01:00-04:00", "04:30", False),
])
def test_windows_may_pass_midnight(hours, at, allowed):
    class Account:
        bulk_hours = hours

    hour, minute = map(int, at.split(":"))
    moment = timezone.make_aware(datetime(2026, 12, 4, hour, minute))
    assert bulk_allowed(Account, moment) is allowed


@pytest.mark.parametrize("text", ["22-06", "25:00-06:00", "10:00-10:00", "10:00 - 12:00"])
def test_a_badly_written_window_is_refused_with_an_example(text):
    with pytest.raises(ValidationError, match=r"22:00-06:00|same time"):
        bulk_hours_parse(text)


def test_a_configuration_file_with_a_bad_window_is_refused(flow):
    from syncapp.config import ConfigError, config_apply

    with pytest.raises(ConfigError, match="HH:MM-HH:MM"):
        config_apply({"version": 1, "destinations": [{"name": flow.destination.name, "bulk_hours": "night"}]})
    config_apply({"version": 1, "destinations": [{"name": flow.destination.name, "bulk_hours": "22:00-06:00"}]})
    flow.destination.refresh_from_db()
    assert flow.destination.bulk_hours == "22:00-06:00"
