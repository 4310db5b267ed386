"""Bad records from SAP, end to end over real sockets: each one becomes its own exception,
and the rest of its page, the cursor and every later change go on."""
from __future__ import annotations

import pytest

from erp.documents import SalesOrder
from erp.models import BusinessPartner, Item
from exceptions.models import SyncException
from syncapp.models import Flow, SourceCursor
from syncapp.services import connection_pull, flow_push, records_retry
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db

LONG_CODE = "C" * 60
BAD_PARTNERS = {
    "B_NUL": partner("B_NUL", CardName="Jane\x00Doe"),
    "B_SURROGATE": partner("B_SURROGATE", CardName="Jos\udce9 Smith"),  # what invalid UTF-8 decodes to
    "B_LONGNAME": partner("B_LONGNAME", CardName="x" * 312),
    "B_LONGMAIL": partner("B_LONGMAIL", EmailAddress="a" * 250 + "@example.com"),
    LONG_CODE: partner(LONG_CODE),
    "B_HUGEUDF": partner("B_HUGEUDF", U_LoyaltyTier="x" * 10_000_000),
}
GOOD = [f"G{i}" for i in range(5)]


@pytest.fixture
def hub():
    hub = Hub()
    yield hub
    hub.close()


def _open_exception(key: str) -> SyncException:
    return SyncException.objects.get(record_key=key, status="open")


def test_a_page_of_bad_business_partners_does_not_stop_the_good_ones_or_the_cursor(hub):
    hub.sap.add_business_partners([partner(code) for code in GOOD[:2]])
    hub.sap.add_business_partners(BAD_PARTNERS.values())
    hub.sap.add_business_partners([partner(code) for code in GOOD[2:]])
    pulled, _ = hub.sync()

    assert pulled.status != "failed" and pulled.records_read == len(GOOD) + len(BAD_PARTNERS)
    assert SourceCursor.objects.get(entity="business_partners").value["updated_at"]
    assert {f"{code.lower()}@example.com" for code in GOOD} <= set(hub.dd.contacts)
    assert set(BusinessPartner.objects.values_list("card_code", flat=True)) == {*GOOD, "B_HUGEUDF"}

    nul = _open_exception("B_NUL")
    assert (nul.stage, nul.reason_code) == ("ingest", "invalid_characters")
    assert "CardName" in nul.message and "NUL" in nul.message
    assert nul.source_payload["CardName"] == "Jane\u2400Doe"  # the raw record, the NUL made visible
    surrogate = _open_exception("B_SURROGATE")
    assert surrogate.reason_code == "invalid_characters" and "not valid text" in surrogate.message
    long_name = _open_exception("B_LONGNAME")
    assert long_name.reason_code == "value_too_long" and "312 characters" in long_name.message
    assert _open_exception("B_LONGMAIL").reason_code == "value_too_long"
    assert "a" * 250 not in _open_exception("B_LONGMAIL").message  # no full address in the text
    assert _open_exception(LONG_CODE).reason_code == "value_too_long"
    huge = _open_exception("B_HUGEUDF")
    assert (huge.stage, huge.reason_code) == ("plan", "value_too_long_for_destination")
    assert "LOYALTYTIER" in huge.message and "10,000,000 characters" in huge.message
    assert "b_hugeudf@example.com" not in hub.dd.contacts


def test_later_changes_flow_after_a_bad_partner_and_a_fix_in_sap_goes_through_on_retry(hub):
    hub.sap.add_business_partners([BAD_PARTNERS["B_NUL"], partner("G0")])
    hub.sync()
    hub.sap_clock.advance(minutes=5)
    hub.sap.add_business_partners([partner("G1")])
    hub.sync()
    assert {"g0@example.com", "g1@example.com"} <= set(hub.dd.contacts)

    hub.patch_in_sap("B_NUL", CardName="Jane Doe")
    exception = _open_exception("B_NUL")
    records_retry(connection_id=hub.connection.pk, flow_id=None, entity="business_partners",
                  record_keys=["B_NUL"])
    flow_push(flow=hub.flow, adapter=hub.destination())
    exception.refresh_from_db()
    assert exception.status == "resolved"
    assert hub.dd.contacts["b_nul@example.com"]["dataFields"]["FULLNAME"] == "Jane Doe"


def test_bidi_override_characters_are_stripped_by_default(hub):
    hub.sap.add_business_partners([partner("B_BIDI", CardName="Jane \u202eeoD\u202c\x07")])
    hub.sync()
    assert hub.dd.contacts["b_bidi@example.com"]["dataFields"]["FULLNAME"] == "Jane eoD"
    assert not SyncException.objects.exists()


def test_bidi_override_characters_are_refused_with_a_reason_when_set_to_refuse(hub, settings):
    settings.SYNC_CONTROL_CHARACTERS = "refuse"
    hub.sap.add_business_partners([partner("B_BIDI", CardName="Jane \u202eeoD"), partner("G0")])
    hub.sync()
    exception = _open_exception("B_BIDI")
    assert exception.reason_code == "invalid_characters" and "U+202E" in exception.message
    assert "g0@example.com" in hub.dd.contacts and "b_bidi@example.com" not in hub.dd.contacts


def _order(card_code: str, **fields) -> dict:
    return {"CardCode": card_code, "DocDate": "2026-11-20", "DocDueDate": "2026-11-25", "DocCurrency": "GBP",
            "DocumentLines": [{"LineNum": 0, "ItemCode": "1001", "ItemDescription": "Mug", "Quantity": 1,
                               "Price": 10.0, "WarehouseCode": "01"}]} | fields


def test_bad_orders_become_exceptions_and_the_rest_of_their_page_is_stored(hub):
    Flow.objects.create(name="orders", connection=hub.connection, destination=hub.account, entity="orders")
    hub.sap.add_business_partners([partner("C1")])
    good = hub.sap.add_document("orders", _order("C1"))["DocEntry"]
    nul_line = hub.sap.add_document("orders", _order("C1"))
    nul_line["DocumentLines"][0]["ItemDescription"] = "Mug\x00"
    not_a_number = hub.sap.add_document("orders", _order("C1", DocTotal="12,99"))["DocEntry"]
    too_large = hub.sap.add_document("orders", _order("C1", DocTotal=1e15))["DocEntry"]
    later = hub.sap.add_document("orders", _order("C1"))["DocEntry"]
    connection_pull(connection=hub.connection)
    pulled = connection_pull(connection=hub.connection, entity="orders")

    assert pulled.status != "failed" and SourceCursor.objects.get(entity="orders").value["updated_at"]
    assert set(SalesOrder.objects.values_list("doc_entry", flat=True)) == {good, later}
    line = _open_exception(str(nul_line["DocEntry"]))
    assert line.reason_code == "invalid_characters" and "ItemDescription" in line.message
    assert _open_exception(str(not_a_number)).reason_code == "unreadable_record"
    assert "larger than the hub can store" in _open_exception(str(too_large)).message


def test_an_item_with_a_code_longer_than_the_mirror_holds_is_an_exception_and_the_others_are_stored(hub):
    hub.sap.add_items([{"ItemCode": "1001", "ItemName": "Mug"}, {"ItemCode": "I" * 60, "ItemName": "Long"},
                       {"ItemCode": "1002", "ItemName": "Cup"}])
    pulled = connection_pull(connection=hub.connection, entity="items")
    assert pulled.status != "failed"
    assert set(Item.objects.values_list("item_code", flat=True)) == {"1001", "1002"}
    exception = _open_exception("I" * 60)
    assert exception.reason_code == "value_too_long" and "60 characters" in exception.message
