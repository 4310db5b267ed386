"""Ometria end to end, with errors whose paths index the pushed array (`root[0] > currency`).

SAP B1 sandbox -> engine -> Ometria sandbox over sockets (the setup of
test_end_to_end_ometria.py), the Ometria sandbox listing each error by the record's
position in its call, as Ometria was seen to (issue 10, item 2). A refused order must end
as an open exception, never accepted.
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exceptions.models import SyncException
from syncapp.models import OutboxStatus
from syncapp.services import flow_push
from tests.hub import partner
from tests.test_end_to_end_ometria import GRACE, OmetriaHub

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub(monkeypatch):
    hub = OmetriaHub(error_paths="index")
    # The engine's clock is the Ometria side's: a submission's time and the wait for its
    # verdict are then measured alike, as on one machine (the grace passes without sleeping).
    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime.fromtimestamp(hub.om_clock(), UTC))
    yield hub
    hub.close()


def test_an_order_refused_with_a_root_index_path_ends_as_an_open_exception_not_accepted(hub):
    hub.sap.add_business_partners([partner("C001")])
    good = hub.order("C001", "WEB-1", ("1001", 1, 10.0))
    hub.cycle()
    assert hub.outbox("orders", str(good)).status == OutboxStatus.ACCEPTED

    entry = hub.sl("POST", "Orders", {  # a currency Ometria does not take (not ISO 4217)
        "CardCode": "C001", "NumAtCard": "WEB-2", "DocDate": "2026-11-20", "DocDueDate": "2026-11-25",
        "DocCurrency": "Pounds", "DocRate": 1.0,
        "DocumentLines": [{"ItemCode": "1001", "ItemDescription": "Item 1001", "Quantity": 1, "Price": 10.0,
                           "WarehouseCode": "01"}]})["DocEntry"]
    hub.pull()
    flow = hub.om_flows["orders"]
    flow_push(flow=flow, adapter=hub.ometria())
    assert hub.outbox("orders", str(entry)).status == OutboxStatus.SUBMITTED  # Ometria said 200
    hub.om_clock.advance(3)  # Ometria validates, and lists the error by the record's place in the call
    assert hub.om.errors == [{"error_message": "not a valid value", "error_path": "root[0] > currency"}]
    for _ in range(3):  # the grace passes, more than once: silence never follows this error
        hub.om_clock.advance(GRACE + 5)
        flow_push(flow=flow, adapter=hub.ometria())

    row = hub.outbox("orders", str(entry))
    assert row.status == OutboxStatus.FAILED and row.accepted_hash == ""
    problem = SyncException.objects.get(flow=flow, record_key=str(entry))
    assert problem.status == "open" and problem.destination_code == "validation_error"
    assert "not a valid value" in problem.message and "currency" in problem.message
    assert [order["web_id"] for order in hub.om.records("order").values()] == ["WEB-1"]
    assert hub.outbox("orders", str(good)).status == OutboxStatus.ACCEPTED
