"""The sync health page: lights, lag, backlog, throughput, error rate and the charts."""
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from syncapp.health import (
    AMBER,
    GREEN,
    RED,
    flow_light,
    flows_health,
    flows_history,
    health_sample_record,
)
from syncapp.models import HealthSample, OutboxItem, OutboxStatus, SyncRun
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def outbox(flow, key, status=OutboxStatus.PENDING, minutes_ago=0, now=NOW):
    return OutboxItem.objects.create(flow=flow, record_key=key, status=status,
                                     planned_at=now - timedelta(minutes=minutes_ago))


def push_run(flow, *, accepted=0, failed=0, minutes_ago=10, status=SyncRun.Status.SUCCEEDED):
    run = SyncRun.objects.create(flow=flow, kind=SyncRun.Kind.PUSH, status=status, records_accepted=accepted,
                                 records_failed=failed, finished_at=NOW - timedelta(minutes=minutes_ago))
    return run


def health_of(flow):
    return next(row for row in flows_health(now=NOW) if row.flow == flow)


def test_backlog_counts_pending_records_and_lag_is_the_age_of_the_oldest():
    flow = FlowFactory()
    outbox(flow, "A", minutes_ago=10)
    outbox(flow, "B", minutes_ago=40)
    outbox(flow, "C", minutes_ago=20)
    outbox(flow, "D", status=OutboxStatus.ACCEPTED, minutes_ago=300)
    outbox(flow, "E", status=OutboxStatus.FAILED, minutes_ago=300)
    outbox(FlowFactory(), "X", minutes_ago=500)  # another flow's record

    row = health_of(flow)

    assert row.backlog == 3
    assert row.lag_seconds == 40 * 60


def test_a_flow_with_nothing_waiting_has_no_lag():
    flow = FlowFactory()
    outbox(flow, "A", status=OutboxStatus.ACCEPTED, minutes_ago=300)
    row = health_of(flow)
    assert row.backlog == 0 and row.lag_seconds is None and row.light == GREEN


def test_throughput_and_error_rate_come_from_the_last_hours_runs():
    flow = FlowFactory()
    push_run(flow, accepted=60, failed=5, minutes_ago=50)
    push_run(flow, accepted=30, failed=5, minutes_ago=5)
    push_run(flow, accepted=1000, failed=1000, minutes_ago=90)  # before the hour

    row = health_of(flow)

    assert (row.accepted_last_hour, row.failed_last_hour) == (90, 10)
    assert row.throughput_per_minute == pytest.approx(1.5)
    assert row.error_rate_percent == pytest.approx(10.0)


def test_last_push_is_the_latest_successful_run_and_last_pull_the_connections():
    flow = FlowFactory()
    push_run(flow, accepted=1, minutes_ago=30)
    SyncRun.objects.create(flow=flow, kind=SyncRun.Kind.PUSH, status=SyncRun.Status.FAILED, finished_at=NOW)
    pull = SyncRun.objects.create(connection=flow.connection, kind=SyncRun.Kind.PULL,
                                  status=SyncRun.Status.SUCCEEDED, finished_at=NOW - timedelta(minutes=2))

    row = health_of(flow)

    assert row.last_push_at == NOW - timedelta(minutes=30)
    assert row.last_pull_at == pull.finished_at


@pytest.mark.parametrize(("lag_minutes", "light"), [(None, GREEN), (29, GREEN), (31, AMBER), (61, RED)])
def test_lag_over_the_limit_is_amber_and_over_twice_the_limit_red(lag_minutes, light):
    flow = FlowFactory(lag_alert_minutes=30)
    if lag_minutes is not None:
        outbox(flow, "A", minutes_ago=lag_minutes)
    row = health_of(flow)
    assert row.light == light
    assert bool(row.problems) == (light != GREEN)


@pytest.mark.parametrize(("failed", "light"), [(0, GREEN), (5, GREEN), (8, AMBER), (11, RED)])
def test_error_rate_over_the_limit_is_amber_and_over_twice_the_limit_red(failed, light):
    flow = FlowFactory(error_rate_alert_percent=5)
    push_run(flow, accepted=100 - failed, failed=failed)
    assert health_of(flow).light == light


def test_a_limit_of_zero_never_turns_the_light():
    flow = FlowFactory(lag_alert_minutes=0, error_rate_alert_percent=0)
    outbox(flow, "A", minutes_ago=10_000)
    push_run(flow, failed=50)
    assert health_of(flow).light == GREEN


def test_refused_erp_credentials_turn_every_flow_of_the_connection_red():
    flow = FlowFactory()
    sibling = FlowFactory(connection=flow.connection, entity="orders")
    SyncExceptionFactory(flow=None, connection=flow.connection, entity="business_partners",
                         record_key="(connection)", stage="ingest", reason_code="authentication_failed",
                         owner_team="integration")
    for row in (health_of(flow), health_of(sibling)):
        assert row.light == RED and row.auth_failing and "credentials refused" in row.problems


def test_refused_destination_credentials_turn_that_flow_red_until_resolved():
    flow = FlowFactory()
    exception = SyncExceptionFactory(flow=flow, reason_code="authentication_failed", stage="push")
    assert health_of(flow).light == RED
    exception.status = "resolved"
    exception.save()
    assert health_of(flow).light == GREEN


def test_the_light_explains_itself():
    flow = FlowFactory(lag_alert_minutes=10, error_rate_alert_percent=5)
    light, problems = flow_light(flow=flow, lag_seconds=15 * 60, error_rate_percent=12.0, auth_failing=False)
    assert light == RED  # 12% is over twice 5%
    assert problems == ["lag 15 min over the 10 min limit", "12.0% failed, limit 5%"]


def test_health_queries_do_not_grow_with_the_outbox(django_assert_max_num_queries):
    flow = FlowFactory()
    OutboxItem.objects.bulk_create([OutboxItem(flow=flow, record_key=str(i), planned_at=NOW) for i in range(500)])
    # A fixed number per flow (pending and unsettled rows counted and aged apart, each on
    # its own partial index; dead workers' claims) and per page (hub incidents, ERP outages).
    with django_assert_max_num_queries(18):
        rows = flows_health(now=NOW)
    assert rows[0].backlog == 500


# ------------------------------------------------------------------ samples and charts


def test_a_sample_records_backlog_lag_and_what_runs_did_since_the_previous_sample():
    flow = FlowFactory()
    outbox(flow, "A", minutes_ago=20)
    HealthSample.objects.create(flow=flow, taken_at=NOW - timedelta(minutes=5), backlog=0)
    push_run(flow, accepted=7, failed=1, minutes_ago=3)
    push_run(flow, accepted=100, minutes_ago=6)  # counted by the previous sample

    (sample,) = health_sample_record(now=NOW)

    assert (sample.backlog, sample.lag_seconds, sample.accepted, sample.failed) == (1, 20 * 60, 7, 1)


def test_samples_older_than_the_longest_chart_are_removed():
    flow = FlowFactory()
    HealthSample.objects.create(flow=flow, taken_at=NOW - timedelta(days=32))  # the longest chart is 30 days
    HealthSample.objects.create(flow=flow, taken_at=NOW - timedelta(days=29))
    health_sample_record(now=NOW)
    assert HealthSample.objects.filter(flow=flow).count() == 2


def test_history_sums_records_per_bar_and_keeps_the_highest_backlog():
    flow = FlowFactory()
    now = datetime(2026, 5, 4, 12, 10, tzinfo=UTC)
    for at, accepted, failed, backlog in [("11:35", 10, 1, 40), ("11:50", 20, 2, 30), ("12:05", 3, 0, 7),
                                          ("09:00", 4, 4, 4)]:
        hour, minute = map(int, at.split(":"))
        HealthSample.objects.create(flow=flow, taken_at=now.replace(hour=hour, minute=minute), accepted=accepted,
                                    failed=failed, backlog=backlog)
    history = flows_history(flow_ids=[flow.pk], range_name="24h", now=now)[flow.pk]

    assert len(history.buckets) == 48  # half-hour bars, the last one holding now
    assert history.buckets[-1].start == now.replace(minute=0)
    last, before = history.buckets[-1], history.buckets[-2]
    assert (last.accepted, last.failed, last.backlog) == (3, 0, 7)
    assert (before.accepted, before.failed, before.backlog) == (30, 3, 40)
    assert [b.backlog for b in history.buckets].count(None) == 45


def test_the_week_sums_hours_into_four_hour_bars():
    flow = FlowFactory()
    now = datetime(2026, 5, 4, 12, 10, tzinfo=UTC)
    for hour, minute, backlog in [(8, 0, 5), (9, 55, 9), (11, 5, 2), (12, 5, 1), (3, 0, 50)]:
        HealthSample.objects.create(flow=flow, taken_at=now.replace(hour=hour, minute=minute), accepted=1,
                                    failed=1, backlog=backlog)
    buckets = flows_history(flow_ids=[flow.pk], range_name="7d", now=now)[flow.pk].buckets

    assert len(buckets) == 42 and buckets[-1].start == now.replace(hour=12, minute=0)
    assert [(b.accepted, b.failed, b.backlog) for b in buckets[-4:]] == [(1, 1, 50), (0, 0, None), (3, 3, 9),
                                                                          (1, 1, 1)]


# ------------------------------------------------------------------ the page


def test_the_page_shows_each_flow_with_its_light_figures_and_chart(as_role):
    calm = FlowFactory(name="calm-flow")
    late = FlowFactory(name="late-flow", lag_alert_minutes=30)
    outbox(late, "A", minutes_ago=45, now=timezone.now())  # the page reads the clock
    HealthSample.objects.create(flow=late, taken_at=timezone.now() - timedelta(hours=1), accepted=5, failed=1,
                                backlog=1)

    response = as_role("marketing").get("/health/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="flow-{calm.pk}"' in html and f'id="flow-{late.pk}"' in html
    late_row = html[html.index(f'id="flow-{late.pk}"'):]
    assert 'class="light amber"' in late_row.split("</tr>")[0]
    assert "45 min" in late_row.split("</tr>")[0]
    assert "<svg" in html and "<polyline" in html and 'class="failed"' in html
    assert as_role("marketing").get("/health/?range=7d").status_code == 200


@pytest.mark.parametrize("role", ["marketing", "finance", "admin"])
def test_every_role_may_view_health(as_role, role):
    assert as_role(role).get("/health/").status_code == 200


def test_anonymous_users_are_sent_to_the_login_page(as_role):
    response = as_role("anonymous").get("/health/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_a_user_without_a_role_is_refused(client):
    from tests.web.factories import UserFactory

    client.force_login(UserFactory(username="nobody", role=None))
    assert client.get("/health/").status_code == 403


def test_the_backlog_count_stops_at_its_cap_and_says_so(client, db, monkeypatch):
    from syncapp import health
    from syncapp.models import OutboxItem
    from tests.factories import FlowFactory
    from tests.web.factories import UserFactory

    flow = FlowFactory()
    OutboxItem.objects.bulk_create([OutboxItem(flow=flow, record_key=f"K{i}", status="pending") for i in range(5)])
    monkeypatch.setattr(health, "BACKLOG_COUNT_CAP", 3)
    assert health.flow_backlog(flow) == 4  # counting stopped after the cap
    monkeypatch.setattr("syncapp.views.BACKLOG_COUNT_CAP", 3)
    client.force_login(UserFactory(username="ops", role="Marketing"))
    assert '<td class="backlog">3+</td>' in client.get("/health/").content.decode()
