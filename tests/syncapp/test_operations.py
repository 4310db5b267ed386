"""Running the hub: settings guards, compose file, logs, schedules, tasks, the sync command."""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from syncapp.celery import app as celery_app
from syncapp.logging import RedactSecretsFilter
from syncapp.models import SyncRun
from syncapp.schedules import schedules_install_defaults
from tests.hub import Hub, partner

ROOT = Path(__file__).resolve().parents[2]


def _settings_in_subprocess(**env) -> subprocess.CompletedProcess:
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='syncapp.settings'; django.setup()"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "DATABASE_URL": "sqlite:///:memory:", **env})


def test_production_settings_refuse_to_start_with_sandboxes_on():
    result = _settings_in_subprocess(SYNC_ENVIRONMENT="production", SANDBOXES_ENABLED="true",
                                     SECRET_KEY="k3Y-q" * 10, ALLOWED_HOSTS="sync.example.com")
    assert result.returncode != 0 and "SANDBOXES_ENABLED must be false in production" in result.stderr


def test_production_settings_start_with_sandboxes_off():
    result = _settings_in_subprocess(SYNC_ENVIRONMENT="production", SANDBOXES_ENABLED="false",
                                     SECRET_KEY="k3Y-q" * 10, ALLOWED_HOSTS="sync.example.com")
    assert result.returncode == 0, result.stderr


def test_the_compose_file_runs_every_part_on_postgres_and_redis_without_sandboxes():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("web", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://") and "@postgres:" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["SANDBOXES_ENABLED"] == "false"
        assert set(services[name]["depends_on"]) == {"postgres", "redis"}
    assert "celery -A syncapp worker" in services["worker"]["command"]
    assert "celery -A syncapp beat" in services["beat"]["command"]


def test_log_lines_carry_neither_secrets_nor_whole_email_addresses():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login password=%s for %s cookie B1SESSION=%s",
                               ("hunter2", "jane.doe@example.com", "abc-123"), None)
    RedactSecretsFilter().filter(record)
    message = record.getMessage()
    assert "hunter2" not in message and "abc-123" not in message
    assert "jane.doe@example.com" not in message and "j***@example.com" in message


@pytest.mark.django_db
def test_default_schedules_live_in_the_database(flow):
    schedules_install_defaults(every_minutes=3)
    tasks = PeriodicTask.objects.filter(task="syncapp.connection_pull_task")
    pulls = {json.loads(task.args)[1]: task for task in tasks}
    assert pulls["business_partners"].interval.every == 3 and pulls["business_partners"].enabled
    assert "orders" in pulls  # customer figures come from orders
    assert PeriodicTask.objects.filter(task="syncapp.outbox_sweep_task").exists()


@pytest.fixture
def hub(db):
    hub = Hub()
    hub.account.calls_per_minute = 6000
    hub.account.save()
    yield hub
    hub.close()


@pytest.fixture
def eager_celery():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_the_scheduled_pull_task_pulls_then_wakes_the_pusher(hub, eager_celery):
    from syncapp.tasks import connection_pull_task

    hub.sap.add_business_partners([partner("C001"), partner("C002"), partner("C003")])
    hub.dd.import_delay_seconds = 0.0
    connection_pull_task.delay(hub.connection.pk)
    assert set(hub.dd.contacts) == {"c001@example.com", "c002@example.com", "c003@example.com"}
    assert SyncRun.objects.filter(kind="push", records_accepted=3).exists()


def test_the_sync_command_drains_the_outbox_and_prints_a_summary(hub, capsys):
    hub.sap.add_business_partners([partner("C001"), partner("C002", EmailAddress="")])
    call_command("sync", "--once", "--no-progress", "--flow", hub.flow.name)
    output = capsys.readouterr().out
    assert "read 2" in output and "accepted 1" in output and "1 open exceptions" in output
    assert "c001@example.com" in hub.dd.contacts


def test_the_sync_command_names_an_unknown_flow(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="Unknown flow"):
        call_command("sync", "--once", "--flow", "nope")


def test_workers_log_through_the_redacting_handler():
    import io

    from celery.signals import setup_logging

    from syncapp.celery import use_django_logging

    assert any(receiver() is use_django_logging for _, receiver in setup_logging.receivers)
    use_django_logging()
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter)
                                                                   for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        logging.getLogger("syncapp.pushing").warning("push for jane.doe@example.com with token=abc123")
    finally:
        handler.setStream(previous)
    assert "j***@example.com" in stream.getvalue() and "abc123" not in stream.getvalue()


@pytest.mark.django_db
def test_sync_once_waits_out_records_backing_off_until_the_outbox_is_drained(flow, settings, monkeypatch, capsys):
    from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record

    settings.SYNC_BACKOFF_BASE_SECONDS = 0.05
    destination = FakeDestination()
    destination.transient.add("C001")

    def flaky_then_fine(*args, **kwargs):
        if destination.calls >= 1:
            destination.transient.clear()
        return FakeDestination.push(destination, *args, **kwargs)

    destination.push = flaky_then_fine
    monkeypatch.setattr("syncapp.services.source_adapter_for",
                        lambda connection: FakeSource([[bp_record("C001"), bp_record("C002")]],
                                                      entity="business_partners"))
    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: destination)
    call_command("sync", "--once", "--no-progress")
    output = capsys.readouterr().out
    assert "waiting" in output and "2 accepted, 0 waiting to retry" in output
    assert sorted(destination.pushed_keys) == ["C001", "C002"]
