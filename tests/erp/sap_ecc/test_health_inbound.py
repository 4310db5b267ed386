"""Health shows what ECC sent and the hub has not applied: amber after a minute, red
past the connection's alert time, green once applied."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from erp.sap_ecc.apply import idocs_apply
from erp.sap_ecc.models import Idoc
from syncapp.health import flows_health
from syncapp.models import Flow
from tests.factories import EspAccountFactory
from tests.web.factories import UserFactory

from .conftest import post_idocs

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(connection):
    return Flow.objects.create(name="ecc-customers", connection=connection, destination=EspAccountFactory(),
                               entity="customers")


def received_minutes_ago(minutes: float) -> None:
    Idoc.objects.update(received_at=timezone.now() - timedelta(minutes=minutes))


def test_unapplied_idocs_turn_the_flow_amber_then_red_and_green_once_applied(http, connection, writer, flow):
    post_idocs(http, writer.packet([writer.debmas("1", "Ann"), writer.adrmas("1", "ann@example.com")]))
    assert flows_health()[0].light == "green"  # just received: the worker is on it
    received_minutes_ago(2)
    row = flows_health()[0]
    assert row.light == "amber"
    assert "2 IDocs received from the ERP and not applied yet (oldest 2 min)" in row.problems
    received_minutes_ago(connection.unreachable_alert_minutes + 1)
    assert flows_health()[0].light == "red"
    idocs_apply(connection)
    assert flows_health()[0].light == "green"


def test_the_health_page_lists_the_backlog_of_each_pushing_connection(http, connection, writer, flow):
    post_idocs(http, writer.packet([writer.debmas("1", "Ann")]))
    received_minutes_ago(3)
    http.force_login(UserFactory(username="mia", role="Marketing"))
    page = http.get("/health/").content.decode()
    assert "Received from ERPs that push" in page
    assert '<td class="inbound-backlog">1</td>' in page and "3 min" in page
