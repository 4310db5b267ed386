"""Documents whose base document the hub does not hold wait visibly, then become exceptions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from erp.dangling import documents_flag_overdue
from erp.ingest import INGESTERS
from exceptions.models import Stage, SyncException, Team
from exceptions.reasons import reason_for
from syncapp.tasks import provisional_orders_check_task
from tests.erp.test_document_ingest import document, line
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db

ORDER, DELIVERY, INVOICE, RETURN = 17, 15, 13, 16


def store(connection, entity: str, *records):
    return INGESTERS[entity](connection=connection, records=list(records))


def based(entry: int, entity: str, base_type: int, base_entry: int, **header):
    return document(entry, line(0, base_type=base_type, base_entry=base_entry, base_line=0), entity=entity, **header)


def exception_of(entity: str, key: int) -> SyncException:
    return SyncException.objects.get(entity=entity, record_key=str(key))


def test_a_delivery_whose_order_is_missing_waits_visibly_for_marketing():
    connection = ErpConnectionFactory()
    store(connection, "deliveries", based(5012, "deliveries", ORDER, 1044))
    waiting = exception_of("deliveries", 5012)
    assert (waiting.status, waiting.reason_code, waiting.stage, waiting.flow) == (
        "open", "waiting_for_base_document", Stage.PLAN, None)
    assert reason_for(waiting.reason_code).title == "Waiting for its base document"
    assert waiting.message == "Delivery 5012 refers to order 1044, which the hub has not received from SAP."
    assert waiting.owner_team == Team.MARKETING


def test_a_credit_memo_whose_invoice_is_missing_waits_for_finance():
    connection = ErpConnectionFactory()
    store(connection, "credit_notes", based(900, "credit_notes", INVOICE, 77))
    waiting = exception_of("credit_notes", 900)
    assert waiting.reason_code == "waiting_for_base_document" and waiting.owner_team == Team.FINANCE
    assert waiting.message == "Credit memo 900 refers to invoice 77, which the hub has not received from SAP."


def test_documents_whose_bases_are_held_wait_for_nothing():
    connection = ErpConnectionFactory()
    store(connection, "orders", document(1044, line(0)))
    store(connection, "deliveries", based(5012, "deliveries", ORDER, 1044))
    store(connection, "invoices", based(70, "invoices", DELIVERY, 5012))
    store(connection, "returns", based(30, "returns", INVOICE, 70))
    store(connection, "credit_notes", based(900, "credit_notes", RETURN, 30))
    assert not SyncException.objects.exists()


def test_the_base_arriving_resolves_the_wait():
    connection = ErpConnectionFactory()
    store(connection, "deliveries", based(5012, "deliveries", ORDER, 1044))
    store(connection, "orders", document(1044, line(0)))
    assert exception_of("deliveries", 5012).status == "resolved"


def test_a_base_that_arrives_waiting_itself_releases_its_document_and_waits_in_turn():
    connection = ErpConnectionFactory()
    store(connection, "credit_notes", based(900, "credit_notes", INVOICE, 77))
    store(connection, "invoices", based(77, "invoices", ORDER, 1044))  # the invoice's order is missing too
    assert exception_of("credit_notes", 900).status == "resolved"
    assert exception_of("invoices", 77).message == (
        "Invoice 77 refers to order 1044, which the hub has not received from SAP.")
    store(connection, "orders", document(1044, line(0)))
    assert exception_of("invoices", 77).status == "resolved"


def test_a_wait_longer_than_the_grace_becomes_base_document_missing_and_still_clears_when_the_base_arrives(settings):
    settings.SYNC_BASE_DOCUMENT_GRACE_MINUTES = 60
    connection = ErpConnectionFactory()
    store(connection, "credit_notes", based(900, "credit_notes", INVOICE, 77))
    assert documents_flag_overdue(now=timezone.now() + timedelta(minutes=59)) == 0
    assert exception_of("credit_notes", 900).reason_code == "waiting_for_base_document"

    assert documents_flag_overdue(now=timezone.now() + timedelta(minutes=61)) == 1
    missing = exception_of("credit_notes", 900)
    assert (missing.status, missing.reason_code, missing.owner_team) == ("open", "base_document_missing", Team.FINANCE)
    assert missing.message == ("Credit memo 900 refers to invoice 77, which is not in SAP's data the hub holds "
                               "after 60 minutes.")
    assert documents_flag_overdue(now=timezone.now() + timedelta(minutes=120)) == 0  # flagged once
    store(connection, "credit_notes", based(900, "credit_notes", INVOICE, 77, doc_total=61.0))  # read again
    assert exception_of("credit_notes", 900).reason_code == "base_document_missing"

    store(connection, "invoices", document(77, line(0)))
    assert exception_of("credit_notes", 900).status == "resolved"


def test_an_edit_that_drops_the_missing_link_ends_the_wait():
    connection = ErpConnectionFactory()
    store(connection, "deliveries", based(5012, "deliveries", ORDER, 1044))
    store(connection, "deliveries", document(5012, line(0), entity="deliveries"))
    assert exception_of("deliveries", 5012).status == "resolved"


def test_the_periodic_check_flags_overdue_waits(settings):
    settings.SYNC_BASE_DOCUMENT_GRACE_MINUTES = 0
    connection = ErpConnectionFactory()
    store(connection, "deliveries", based(5012, "deliveries", ORDER, 1044))
    provisional_orders_check_task()
    assert exception_of("deliveries", 5012).reason_code == "base_document_missing"
