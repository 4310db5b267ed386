"""The nightly import keeps the campaign report current without anyone pressing Import."""
import pytest
from django_celery_beat.models import PeriodicTask

from reports.campaigns import tasks
from reports.campaigns.dotdigital_import import ImportInProgress
from reports.campaigns.schedules import NIGHTLY_IMPORT_TASK
from syncapp.schedules import schedules_install_defaults
from tests.factories import EspAccountFactory

pytestmark = pytest.mark.django_db


def test_the_nightly_import_is_a_beat_entry_installed_with_the_defaults():
    schedules_install_defaults()
    task = PeriodicTask.objects.get(task=NIGHTLY_IMPORT_TASK)
    assert task.enabled and (task.crontab.hour, task.crontab.minute) == ("4", "30")


def test_it_imports_every_dotdigital_account_then_attributes_once(monkeypatch):
    busy = EspAccountFactory(name="dd-busy", kind="dotdigital")
    EspAccountFactory(name="dd-quiet", kind="dotdigital")
    EspAccountFactory(name="om", kind="ometria")
    imported, attributed = [], []

    def import_one(*, account):
        imported.append(account.name)
        if account == busy:
            raise ImportInProgress("an import of this account is running")

    monkeypatch.setattr("reports.campaigns.dotdigital_import.activity_import_dotdigital", import_one)
    monkeypatch.setattr("reports.campaigns.attribution.attribution_run", lambda: attributed.append(True))
    tasks.campaigns_nightly_import_task()
    assert imported == ["dd-busy", "dd-quiet"]  # a running import does not stop the others; Ometria has no API
    assert attributed == [True]
