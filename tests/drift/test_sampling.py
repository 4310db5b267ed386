"""The daily sample: 1% of a flow's sent records, at least 50 a day, spread over the
day's hourly runs, each day going on where the last stopped."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from syncapp.drift.models import DriftPass, DriftPolicy
from syncapp.drift.sampling import daily_sample_size, sample_due_now
from syncapp.drift.services import drift_sample_start
from tests.drift.support import END_OF_DAY, EchoDestination, run_sample, sent_rows
from tests.factories import FlowFactory


@pytest.mark.parametrize(("records", "expected"), [(10_000, 100), (5_001, 51), (1_000, 50), (20, 20), (0, 0)])
def test_the_daily_sample_is_one_percent_and_at_least_fifty(records, expected):
    assert daily_sample_size(records=records, percent=1.0, minimum=50) == expected


def test_the_sample_is_spread_over_the_day_and_a_missed_hour_is_made_up():
    day = datetime(2026, 12, 4)
    assert sample_due_now(daily=48, done_today=0, local_now=day.replace(hour=0)) == 2
    assert sample_due_now(daily=48, done_today=2, local_now=day.replace(hour=5)) == 10  # hours 1-4 missed
    assert sample_due_now(daily=48, done_today=40, local_now=day.replace(hour=23)) == 8
    assert sample_due_now(daily=48, done_today=48, local_now=day.replace(hour=23)) == 0


def _today_at(hour: int) -> datetime:
    return timezone.localtime().replace(hour=hour, minute=30, second=0, microsecond=0)


@pytest.mark.django_db
def test_hourly_runs_check_fifty_records_a_day_of_a_flow_of_two_thousand_then_go_on_the_next_day():
    flow = FlowFactory()
    sent_rows(flow, 2_000)
    destination = EchoDestination()

    for hour in range(24):
        run_sample(flow, destination, now=_today_at(hour))

    assert len(destination.read_keys) == 50 == len(set(destination.read_keys))
    assert destination.read_keys == [f"K{n:05d}" for n in range(50)]
    DriftPass.objects.update(created_at=timezone.now() - timedelta(days=1))  # that was yesterday
    run_sample(flow, destination, now=_today_at(23))
    assert destination.read_keys[50:] == [f"K{n:05d}" for n in range(50, 100)]


@pytest.mark.django_db
def test_a_flow_sets_its_own_share_and_a_small_flow_is_checked_whole_going_round():
    big, small = FlowFactory(), FlowFactory()
    DriftPolicy.objects.create(flow=big, sample_percent=5, minimum_per_day=10)
    sent_rows(big, 400)
    sent_rows(small, 30, start=1000)

    assert run_sample(big, EchoDestination()).checked == 20  # 5% of 400
    first = run_sample(small, EchoDestination())
    assert first.checked == 30
    yesterday = END_OF_DAY - timedelta(days=1)  # the day before the samples' own clock, whatever today is
    DriftPass.objects.filter(flow=small).update(created_at=yesterday, after_id=_fifteenth_row_id(small))
    again = EchoDestination()
    run_sample(small, again)
    assert len(again.read_keys) == 30 == len(set(again.read_keys))  # from the middle, round to the start


def _fifteenth_row_id(flow) -> int:
    from syncapp.models import OutboxItem

    return sorted(OutboxItem.objects.filter(flow=flow).values_list("id", flat=True))[14]


@pytest.mark.django_db
def test_a_disabled_sample_reads_nothing():
    flow = FlowFactory()
    DriftPolicy.objects.create(flow=flow, enabled=False)
    sent_rows(flow, 10)
    assert drift_sample_start(flow=flow, now=_today_at(23)) is None
