"""The nightly reconciliation: scheduled in beat, mailed to finance with the differences attached."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django_celery_beat.models import PeriodicTask

from reports.nightly import nightly_reconciliation_send
from reports.schedules import NIGHTLY_TASK
from reports.tasks import nightly_reconciliation_task
from syncapp.schedules import schedules_install_defaults

pytestmark = pytest.mark.django_db


def test_the_nightly_run_is_a_beat_entry_installed_with_the_defaults(db):
    schedules_install_defaults()
    task = PeriodicTask.objects.get(task=NIGHTLY_TASK)
    assert task.enabled and (task.crontab.hour, task.crontab.minute) == ("5", "30")


def test_finance_gets_yesterday_and_the_month_to_date_with_the_differences_attached(month, settings, monkeypatch):
    settings.SYNC_ALERT_EMAILS = {**settings.SYNC_ALERT_EMAILS, "finance": ["finance@example.com"]}
    monkeypatch.setattr("reports.nightly.read_back_orders", lambda flow: None)  # the snapshot is the fixture's
    # The day after the month's last day: yesterday is its last day, the month to date all of it.
    today = month.period.date_to + timedelta(days=1)
    nightly_reconciliation_send(today=today)

    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["finance@example.com"]
    message = mail.outbox[0]
    assert message.subject == f"Reconciliation {month.period.date_to:%Y-%m-%d}: 4 difference(s)"
    assert "== Month to date: " in message.body and "== Yesterday: " in message.body
    assert "Missing at the destination: order 504 (GBP) 30.00" in message.body
    (day_name, day_csv, _), (_, month_csv, _) = message.attachments
    assert day_name == f"differences_{month.period.date_to:%Y-%m-%d}_{month.period.date_to:%Y-%m-%d}.csv"
    rows = list(csv.DictReader(io.StringIO(month_csv)))
    assert {(r["destination"], r["record_key"], r["class"]) for r in rows} == {
        ("dd", "1004", "missing"), ("om", "1004", "missing"), ("dd", "1003", "waiting"), ("om", "1003", "waiting")}
    assert list(csv.DictReader(io.StringIO(day_csv))) == []  # nothing dated on the last day


def test_without_a_finance_address_nothing_is_mailed(month, settings, monkeypatch):
    settings.SYNC_ALERT_EMAILS = {**settings.SYNC_ALERT_EMAILS, "finance": []}
    monkeypatch.setattr("reports.nightly.read_back_orders", lambda flow: None)
    nightly_reconciliation_task()
    assert mail.outbox == []
