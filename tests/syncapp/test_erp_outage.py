"""An ERP that cannot be reached is a visible, owned, alerted, self-resolving problem."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from erp.models import BusinessPartner
from erp.sap_b1.client import ServiceLayerClient
from exceptions.alerts import alerts_check
from exceptions.models import SyncException
from syncapp.health import flows_health
from syncapp.models import SyncRun
from syncapp.services import connection_pull
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    hub = Hub()
    yield hub
    hub.close()


def test_an_unreachable_erp_turns_health_amber_then_red_alerts_the_admins_and_clears_itself(hub, settings,
                                                                                            monkeypatch):
    monkeypatch.setattr(ServiceLayerClient, "_delay", lambda self, attempt, retry_after: 0.0)  # no waiting here
    settings.SYNC_ALERT_EMAILS = {"integration": ["admins@shop.example"], "marketing": [], "finance": []}
    hub.sap.add_business_partners([partner("C001")])
    live_url = hub.connection.base_url
    hub.connection.base_url = "http://127.0.0.1:1/b1s/v1"  # the Service Layer is down
    hub.connection.save()

    run = connection_pull(connection=hub.connection)
    assert run.status == SyncRun.Status.FAILED
    problem = SyncException.objects.get(reason_code="erp_unreachable", status="open")
    assert problem.owner_team == "integration" and problem.flow is None
    (row,) = flows_health()
    assert row.light == "amber" and "ERP unreachable" in "; ".join(row.problems)
    alerts_check()
    assert mail.outbox == []  # within the connection's 5 minutes: on health, no mail yet

    # Still down six minutes later: red, and the integration admins hear of it.
    SyncException.objects.filter(pk=problem.pk).update(first_seen=timezone.now() - timedelta(minutes=6))
    connection_pull(connection=hub.connection)
    (row,) = flows_health()
    assert row.light == "red"
    alerts_check()
    assert [message.to for message in mail.outbox] == [["admins@shop.example"]]
    assert "ERP unreachable" in mail.outbox[0].subject

    # The ERP answers again: the exception resolves itself and what it held back arrives.
    hub.connection.base_url = live_url
    hub.connection.save()
    connection_pull(connection=hub.connection)
    problem.refresh_from_db()
    assert problem.status == "resolved"
    (row,) = flows_health()
    assert row.light == "green"
    assert BusinessPartner.objects.filter(connection=hub.connection, card_code="C001").exists()
    alerts_check()
    assert "Recovered" in mail.outbox[-1].subject
