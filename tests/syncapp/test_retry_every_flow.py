"""Retry on one destination re-reads the record for every destination reading it."""
from __future__ import annotations

import pytest

from exceptions.models import SyncException
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import flow_push, records_retry
from tests.hub import partner
from tests.test_end_to_end_ometria import OmetriaHub

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    hub = OmetriaHub()
    yield hub
    hub.close()


def test_retry_on_the_dotdigital_exception_also_sends_the_fix_to_ometria(hub):
    hub.sap.add_business_partners([partner("C001"), partner("C002", EmailAddress="not an email")])
    hub.pull()
    flow_push(flow=hub.flow, adapter=hub.destination())
    hub.push_ometria("customers")
    dd_problem = SyncException.objects.get(flow=hub.flow, record_key="C002", status="open")
    om_problem = SyncException.objects.get(flow=hub.om_flows["customers"], record_key="C002", status="open")

    # Marketing fixes the address in SAP and presses Retry on the dotdigital exception only.
    hub.patch_in_sap("C002", EmailAddress="c002@example.com")
    records_retry(connection_id=hub.connection.pk, flow_id=hub.flow.pk, entity="customers",
                  record_keys=["C002"], source_adapter=None)
    # Ometria's row is queued by the same re-read (the mirror holds the fix now, so no
    # later pull would see a change to plan).
    assert hub.outbox("customers", "C002").status == OutboxStatus.PENDING

    hub.pull()
    flow_push(flow=hub.flow, adapter=hub.destination())
    hub.push_ometria("customers")
    dd_problem.refresh_from_db()
    om_problem.refresh_from_db()
    assert (dd_problem.status, om_problem.status) == ("resolved", "resolved")
    assert hub.contact("C002")["email"] == "c002@example.com"
    assert OutboxItem.objects.get(flow=hub.flow, record_key="C002").status == OutboxStatus.ACCEPTED
