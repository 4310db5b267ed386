"""Documents pointing at nothing, end to end: SAP B1 sandbox -> hub -> dotdigital sandbox.

A delivery read before its order, a credit memo read before its invoice: each waits
visibly for its base document, becomes an exception after the grace, and flows (the
dispatch signal, the refund) once the base arrives (issue 10, item 6).
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from erp.dangling import documents_flag_overdue
from exceptions.models import SyncException, Team
from syncapp.services import connection_pull, flow_push
from tests.hub import partner
from tests.test_end_to_end_orders_lifecycle import LifecycleHub

pytestmark = pytest.mark.django_db


@pytest.fixture
def hub():
    hub = LifecycleHub()
    yield hub
    hub.close()


def pull(hub, *entities: str) -> None:
    for entity in entities:
        connection_pull(connection=hub.connection, entity=entity)


def push(hub) -> None:
    for flow in (hub.flow, hub.orders, hub.dispatches, hub.flow):
        flow_push(flow=flow, adapter=hub.destination())


def wait_of(entity: str, key: int) -> SyncException:
    return SyncException.objects.get(entity=entity, record_key=str(key), flow__isnull=True)


def test_a_delivery_read_before_its_order_waits_then_its_dispatch_goes_out_when_the_order_arrives(hub):
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-1", ("1001", 2, 10.0))
    delivery = hub.copy("DeliveryNotes", "C001", 17, entry, (0, 2), TrackingNumber="RM1GB")
    pull(hub, "business_partners", "deliveries")  # the order's page has not been read yet
    push(hub)

    waiting = wait_of("deliveries", delivery)
    assert (waiting.status, waiting.reason_code, waiting.owner_team) == (
        "open", "waiting_for_base_document", Team.MARKETING)
    assert waiting.message == (f"Delivery {delivery} refers to order {entry}, which the hub has not received "
                               "from SAP.")
    assert hub.dd_records("Dispatches") == {} and hub.dd_records("Orders") == {}  # nothing sent

    pull(hub, "orders")
    assert wait_of("deliveries", delivery).status == "resolved"
    push(hub)
    assert hub.dd_records("Dispatches")[f"{entry}:dispatched"]["trackingNumbers"] == ["RM1GB"]
    assert not SyncException.objects.filter(status="open").exists()


def test_a_credit_memo_whose_invoice_is_missing_waits_is_flagged_after_the_grace_and_refunds_when_it_arrives(
        hub, settings):
    settings.SYNC_BASE_DOCUMENT_GRACE_MINUTES = 60
    hub.sap.add_business_partners([partner("C001")])
    entry = hub.order("C001", "WEB-2", ("1001", 2, 50.0), ("1002", 1, 20.0))
    hub.cycle()
    invoice = hub.copy("Invoices", "C001", 17, entry, (0, 2), (1, 1))
    credit = hub.copy("CreditNotes", "C001", 13, invoice, (0, 1))
    pull(hub, "credit_notes")  # the invoice's page has not been read yet
    push(hub)

    waiting = wait_of("credit_notes", credit)
    assert (waiting.status, waiting.reason_code, waiting.owner_team) == (
        "open", "waiting_for_base_document", Team.FINANCE)
    assert hub.dd_order(entry)["refundedTotal"] == 0.0

    documents_flag_overdue(now=timezone.now() + timedelta(minutes=61))
    missing = wait_of("credit_notes", credit)
    assert (missing.status, missing.reason_code) == ("open", "base_document_missing")
    assert missing.message == (f"Credit memo {credit} refers to invoice {invoice}, which is not in SAP's data "
                               "the hub holds after 60 minutes.")

    pull(hub, "invoices")
    assert wait_of("credit_notes", credit).status == "resolved"
    push(hub)
    order = hub.dd_order(entry)
    assert (order["orderTotal"], order["refundedTotal"]) == (70.0, 50.0)
    assert not SyncException.objects.filter(status="open").exists()
