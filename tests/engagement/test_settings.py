"""The write-back's settings: validated names, and carried by the configuration file."""
from __future__ import annotations

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from engagement.models import WriteBackSettings
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db


def test_a_field_name_that_is_not_a_user_field_is_refused():
    settings = WriteBackSettings(connection=ErpConnectionFactory(), field_names={"last_click": "CardName"})
    with pytest.raises(ValidationError, match="must be a user field"):
        settings.full_clean()
    settings.field_names = {"last_click": "U_Same", "last_open": "U_same"}
    with pytest.raises(ValidationError, match="same user field"):
        settings.full_clean()


def test_the_configuration_file_carries_the_write_back_settings(tmp_path):
    connection = ErpConnectionFactory()
    WriteBackSettings.objects.create(connection=connection, field_names={"last_click": "U_LastClick"},
                                     patches_per_minute=120, batch_size=50)
    path = tmp_path / "hub.yaml"
    call_command("export_config", "-o", str(path))
    exported = yaml.safe_load(path.read_text())["connections"][0]["engagement_writeback"]
    assert exported == {"enabled": True, "field_names": {"last_click": "U_LastClick"}, "patches_per_minute": 120,
                        "batch_size": 50, "import_activity": True}
    WriteBackSettings.objects.all().delete()
    call_command("apply_config", str(path))
    assert WriteBackSettings.objects.get(connection=connection).field_names == {"last_click": "U_LastClick"}
    data = yaml.safe_load(path.read_text())
    data["connections"][0]["engagement_writeback"]["field_names"] = {"last_click": "LastClick"}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CommandError, match="must be a user field"):
        call_command("apply_config", str(path))


def test_runs_older_than_a_month_are_removed_by_the_schedule():
    from datetime import timedelta

    from django.utils import timezone

    from engagement.models import WriteBackRun
    from engagement.tasks import engagement_writeback_all_task

    connection = ErpConnectionFactory()
    old, recent = WriteBackRun.objects.create(connection=connection), WriteBackRun.objects.create(connection=connection)
    WriteBackRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=31))
    engagement_writeback_all_task()  # no connection has the write-back enabled: only the pruning runs
    assert list(WriteBackRun.objects.values_list("pk", flat=True)) == [recent.pk]
