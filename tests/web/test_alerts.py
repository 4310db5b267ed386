"""Alerts: once per condition per period, a recovery when it clears, a daily digest per team."""
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from exceptions.alerts import alerts_check, alerts_digest_send
from exceptions.models import AlertState, SyncException
from syncapp.models import OutboxItem
from syncapp.schedules import schedules_install_defaults
from syncapp.tasks import alerts_check_task, alerts_digest_task
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
MARKETING, FINANCE, ADMIN = ["crm@shop.example"], ["ledger@shop.example"], ["ops@shop.example", "it@shop.example"]


@pytest.fixture(autouse=True)
def alert_settings(settings):
    settings.SYNC_ALERT_EMAILS = {"marketing": MARKETING, "finance": FINANCE, "integration": ADMIN}
    settings.SYNC_ALERT_EXCEPTION_THRESHOLD = 2
    settings.SYNC_ALERT_EXCEPTION_THRESHOLDS = {"total_mismatch": 0}
    settings.SYNC_ALERT_PERIOD_MINUTES = 60
    return settings


def invalid_emails(flow, count):
    return [SyncExceptionFactory(flow=flow, reason_code="invalid_email") for _ in range(count)]


def test_open_exceptions_over_the_threshold_alert_their_owner_team_once():
    flow = FlowFactory()
    invalid_emails(flow, 3)

    first = alerts_check(now=NOW)
    again = alerts_check(now=NOW + timedelta(minutes=5))

    assert first.raised == ["exceptions:invalid_email"] and again.raised == []
    (message,) = mail.outbox
    assert message.to == MARKETING
    assert message.subject == "[Sync hub] 3 open exceptions: Invalid email address"
    assert "threshold is 2" in message.body and "/exceptions/?reason=invalid_email&status=open" in message.body


def test_at_or_under_the_threshold_nothing_is_sent():
    invalid_emails(FlowFactory(), 2)
    assert alerts_check(now=NOW).active == []
    assert mail.outbox == []


def test_a_per_reason_threshold_of_zero_alerts_finance_on_the_first_one():
    SyncExceptionFactory(entity="orders", reason_code="total_mismatch", owner_team="finance")
    alerts_check(now=NOW)
    (message,) = mail.outbox
    assert message.to == FINANCE and "Total does not add up" in message.subject


def test_a_lasting_condition_is_repeated_once_a_period_later():
    invalid_emails(FlowFactory(), 3)
    alerts_check(now=NOW)
    alerts_check(now=NOW + timedelta(minutes=59))
    alerts_check(now=NOW + timedelta(minutes=61))
    alerts_check(now=NOW + timedelta(minutes=90))
    assert [m.subject for m in mail.outbox] == ["[Sync hub] 3 open exceptions: Invalid email address",
                                                "[Sync hub] Still: 3 open exceptions: Invalid email address"]


def test_a_recovery_message_follows_when_the_condition_clears_and_only_once():
    flow = FlowFactory()
    exceptions = invalid_emails(flow, 3)
    alerts_check(now=NOW)
    SyncException.objects.filter(pk=exceptions[0].pk).update(status="resolved")

    cleared = alerts_check(now=NOW + timedelta(minutes=5))
    alerts_check(now=NOW + timedelta(minutes=10))

    assert cleared.recovered == ["exceptions:invalid_email"]
    assert [m.subject for m in mail.outbox] == ["[Sync hub] 3 open exceptions: Invalid email address",
                                                "[Sync hub] Recovered: 3 open exceptions: Invalid email address"]
    assert mail.outbox[1].to == MARKETING
    state = AlertState.objects.get(key="exceptions:invalid_email")
    assert not state.active and state.cleared_at == NOW + timedelta(minutes=5)


def test_a_condition_that_flaps_within_the_period_is_not_alerted_again():
    flow = FlowFactory()
    extra = invalid_emails(flow, 3)[0]
    alerts_check(now=NOW)  # alert
    SyncException.objects.filter(pk=extra.pk).update(status="resolved")
    alerts_check(now=NOW + timedelta(minutes=5))  # recovery
    SyncException.objects.filter(pk=extra.pk).update(status="open")
    alerts_check(now=NOW + timedelta(minutes=10))  # back, inside the period: quiet
    SyncException.objects.filter(pk=extra.pk).update(status="resolved")
    alerts_check(now=NOW + timedelta(minutes=15))  # nothing was said, so no recovery either
    assert len(mail.outbox) == 2


def test_a_flow_lagging_past_its_limit_alerts_the_admins_and_recovers():
    flow = FlowFactory(name="orders-to-dd", lag_alert_minutes=30)
    row = OutboxItem.objects.create(flow=flow, record_key="1", planned_at=NOW - timedelta(minutes=45))

    alerts_check(now=NOW)
    row.status = "accepted"
    row.save()
    alerts_check(now=NOW + timedelta(minutes=5))

    alert, recovery = mail.outbox
    assert alert.to == ADMIN and alert.subject == "[Sync hub] Flow orders-to-dd is 45 min behind"
    assert "limit is 30 minutes" in alert.body
    assert recovery.subject.startswith("[Sync hub] Recovered: Flow orders-to-dd")


def test_refused_credentials_alert_the_admins_at_once():
    flow = FlowFactory()
    SyncExceptionFactory(flow=None, connection=flow.connection, entity="business_partners",
                         record_key="(connection)", stage="ingest", reason_code="authentication_failed",
                         owner_team="integration")
    SyncExceptionFactory(flow=flow, reason_code="authentication_failed", stage="push", owner_team="integration")

    result = alerts_check(now=NOW)

    assert result.raised == [f"auth:connection:{flow.connection_id}", f"auth:destination:{flow.destination_id}"]
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects == [f"[Sync hub] The ERP refused the hub's credentials ({flow.connection.name})",
                        f"[Sync hub] The destination refused the hub's credentials ({flow.destination.name})"]
    assert all(m.to == ADMIN for m in mail.outbox)


def test_a_team_without_an_address_gets_nothing_and_no_recovery_later(settings):
    settings.SYNC_ALERT_EMAILS = {"marketing": [], "finance": FINANCE, "integration": ADMIN}
    flow = FlowFactory()
    exceptions = invalid_emails(flow, 3)
    assert alerts_check(now=NOW).active == ["exceptions:invalid_email"]
    SyncException.objects.filter(pk=exceptions[0].pk).update(status="resolved")
    alerts_check(now=NOW + timedelta(minutes=5))
    assert mail.outbox == []


def test_the_daily_digest_goes_to_each_team_once_a_day():
    flow = FlowFactory(name="contacts")
    invalid_emails(flow, 2)
    SyncExceptionFactory(flow=flow, entity="orders", reason_code="unknown_item", owner_team="finance")

    sent = alerts_digest_send(now=NOW)
    same_day = alerts_digest_send(now=NOW + timedelta(minutes=1))
    next_day = alerts_digest_send(now=NOW + timedelta(days=1))

    assert sent == ["marketing", "finance", "integration"] and same_day == [] and len(next_day) == 3
    by_team = {tuple(m.to): m for m in mail.outbox[:3]}
    marketing = by_team[tuple(MARKETING)].body
    assert "Open exceptions you own: 2 (2 new in the last 24 hours)" in marketing
    assert "Invalid email address" in marketing and "/exceptions/?owner_team=marketing" in marketing
    assert "Unknown item on a line" in by_team[tuple(FINANCE)].body
    assert "No open exceptions you own." in by_team[tuple(ADMIN)].body
    assert "Flows: 1 of 1 healthy." in by_team[tuple(ADMIN)].body


def test_the_digest_names_what_is_alerting_and_unwell_flows_for_admins():
    flow = FlowFactory(name="late", lag_alert_minutes=10)
    OutboxItem.objects.create(flow=flow, record_key="1", planned_at=NOW - timedelta(minutes=15))
    alerts_check(now=NOW)
    mail.outbox.clear()
    alerts_digest_send(now=NOW)
    admin = next(m for m in mail.outbox if m.to == ADMIN).body
    assert "Flow late is 15 min behind" in admin
    assert "amber  late: lag 15 min over the 10 min limit" in admin


def test_tasks_run_the_checks_and_beat_schedules_them(flow):
    invalid_emails(flow, 3)
    alerts_check_task()
    alerts_digest_task()
    assert len(mail.outbox) == 1 + 3  # the alert, then the three digests

    schedules_install_defaults()
    tasks = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"syncapp.alerts_check_task", "syncapp.alerts_digest_task", "syncapp.health_sample_task"} <= tasks
    digest = PeriodicTask.objects.get(task="syncapp.alerts_digest_task")
    assert digest.crontab.hour == "7" and digest.crontab.minute == "0"
