"""SAP B1 sessions: one login serves a whole run and is closed at its end (/Logout), and a
session SAP has surely dropped is replaced before a request is spent on its 401."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from syncapp.celery import app as celery_app
from syncapp.entities import flow_entity
from syncapp.models import Flow, SyncRun
from tests.hub import Hub, partner

from .conftest import make_client

ENTITY_FLOWS = ("products", "orders")  # beside the hub's customers flow: nine source entities in all


def sap_calls(hub: Hub) -> list[tuple[str, str]]:
    return [(method, path.rsplit("/", 1)[-1]) for method, path, _ in hub.sap.request_log]


@pytest.fixture
def hub(db):
    hub = Hub()
    hub.account.calls_per_minute = 6000
    hub.account.save()
    for entity in ENTITY_FLOWS:
        Flow.objects.create(name=entity, connection=hub.connection, destination=hub.account, entity=entity)
    yield hub
    hub.close()


def test_one_sync_logs_in_to_sap_once_and_logs_out_at_its_end(hub, capsys):
    hub.sap.add_business_partners([partner("C001"), partner("C002")])
    entities = {entity for flow in Flow.objects.all() for entity in flow_entity(flow.entity).triggers}
    assert len(entities) == 10

    call_command("sync", "--once", "--no-progress")

    assert SyncRun.objects.filter(kind="pull", status="succeeded").count() == 10
    assert set(hub.dd.contacts) == {"c001@example.com", "c002@example.com"}
    calls = sap_calls(hub)
    assert hub.sap.login_count == 1 and calls[0] == ("POST", "Login")
    assert calls.count(("POST", "Logout")) == 1 and calls[-1] == ("POST", "Logout")
    assert hub.sap.sessions == {}  # nothing left open on SAP's side


def test_a_scheduled_pull_logs_in_once_and_logs_out(hub):
    from syncapp.tasks import connection_pull_task

    hub.sap.add_business_partners([partner("C001")])
    hub.dd.import_delay_seconds = 0.0
    celery_app.conf.task_always_eager = True
    try:
        connection_pull_task.delay(hub.connection.pk, "business_partners")
    finally:
        celery_app.conf.task_always_eager = False

    assert "c001@example.com" in hub.dd.contacts
    assert hub.sap.login_count == 1
    assert sap_calls(hub) == [("POST", "Login"), ("GET", "BusinessPartners"), ("POST", "Logout")]
    assert hub.sap.sessions == {}


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_session_idle_past_its_timeout_is_replaced_without_a_refused_call(sandbox, server, base_url, password,
                                                                             clock):
    sandbox.add_business_partners([{"CardCode": "C001", "CardType": "cCustomer"}])
    ours = Monotonic()
    client = make_client(base_url, password, clock=ours)
    client.get_page("BusinessPartners")
    clock.advance(minutes=31)  # SAP's idle timeout is 30 minutes
    ours.now += 31 * 60
    client.get_page("BusinessPartners")
    paths = [path.rsplit("/", 1)[-1] for _, path, _ in sandbox.request_log]
    assert paths == ["Login", "BusinessPartners", "Login", "BusinessPartners"]  # no request refused with 401

    ours.now += 31 * 60
    clock.advance(minutes=31)
    client.logout()  # SAP has dropped it already: no call
    assert len(sandbox.request_log) == 4 and not client.logged_in


def test_a_backfill_logs_in_to_sap_once_and_logs_out(hub):
    hub.sap.add_business_partners([partner("C001"), partner("C002")])

    call_command("backfill", "--entity", "customers", "--no-progress")

    assert SyncRun.objects.filter(kind="pull", status="succeeded").count() == 1
    calls = sap_calls(hub)
    assert hub.sap.login_count == 1 and calls[0] == ("POST", "Login")
    assert calls.count(("POST", "Logout")) == 1 and calls[-1] == ("POST", "Logout")
    assert hub.sap.sessions == {}  # nothing left open on SAP's side
