"""export_config / apply_config: a reviewable file, secrets by variable name only."""
import json

import pytest
import yaml
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from erp.models import ErpConnection
from esp.models import FieldMapping
from syncapp.models import Flow
from syncapp.schedules import schedules_install_defaults

pytestmark = pytest.mark.django_db


def test_exported_config_applies_to_an_empty_hub_and_round_trips(flow, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_SAP_B1_PASSWORD", "s3cret-value")
    schedules_install_defaults(every_minutes=5)
    exported = tmp_path / "hub.yaml"
    call_command("export_config", "-o", str(exported))
    text = exported.read_text()
    assert "s3cret-value" not in text and "TEST_SAP_B1_PASSWORD" in text
    before = yaml.safe_load(text)

    Flow.objects.all().delete()
    FieldMapping.objects.all().delete()
    ErpConnection.objects.all().delete()
    PeriodicTask.objects.filter(task="syncapp.connection_pull_task").delete()
    call_command("apply_config", str(exported))

    after = tmp_path / "again.json"
    call_command("export_config", "--format", "json", "-o", str(after))
    assert json.loads(after.read_text()) == json.loads(json.dumps(before, default=str))
    assert before["schedules"][0]["every_minutes"] == 5


def test_a_file_with_a_password_in_it_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "connections": [
        {"name": "x", "base_url": "https://sap/b1s/v1", "company_db": "DB", "username": "u",
         "password_env": "X", "password": "plain"}]}))
    with pytest.raises(CommandError, match="environment variable"):
        call_command("apply_config", str(path))
    assert not ErpConnection.objects.exists()


def test_a_flow_naming_an_unknown_destination_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "flows": [
        {"name": "f", "connection": "nope", "destination": "nope"}]}))
    with pytest.raises(CommandError, match="unknown connection or destination"):
        call_command("apply_config", str(path))
