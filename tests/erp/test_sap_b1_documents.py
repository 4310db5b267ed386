"""SapB1Source: the five sales-document entities (delta reads, lines, base links, errors)."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from erp.sap_b1.adapter import SapB1Source
from tests.erp.conftest import make_client

ENTITIES = {"orders": "Orders", "deliveries": "DeliveryNotes", "invoices": "Invoices",
            "credit_notes": "CreditNotes", "returns": "Returns"}


def document(entry: int, **fields) -> dict:
    """A well-formed two-line document as the Service Layer shows it."""
    return {
        "DocEntry": entry, "DocNum": 100000 + entry, "CardCode": "C00001",
        "CardName": "Ava Smith", "NumAtCard": f"WEB-{100233 + entry}", "DocDate": "2026-11-20",
        "DocDueDate": "2026-11-23", "DocCurrency": "GBP",
        "DocumentLines": [
            {"ItemCode": "000020001", "ItemDescription": "Linen Shirt - Navy - M",
             "Quantity": 2.0, "Price": 39.0, "WarehouseCode": "01"},
            {"ItemCode": "HW-104", "ItemDescription": "Stoneware Mug - Sage",
             "Quantity": 1.0, "Price": 12.0, "WarehouseCode": "02"},
        ],
    } | fields


def _read(source, entity, cursor=None):
    batches = list(source.read_changes(entity, cursor))
    return batches, [r for batch in batches for r in batch.records]


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_full_then_delta_read_of_each_document_entity(entity, sandbox, connection, clock):
    for entry in range(1, 13):
        sandbox.add_document(entity, document(entry))
        clock.advance(minutes=1)
    source = SapB1Source(connection)

    batches, records = _read(source, entity, None)

    assert len(batches) == 2 and [r.key for r in records] == [str(n) for n in range(1, 13)]
    assert {r.entity for r in records} == {entity} and all(r.data for r in records)
    assert batches[-1].cursor == {"updated_at": "2026-11-22T09:11:00+00:00"}
    json.dumps([b.cursor for b in batches])
    request = next(p for _, path, p in sandbox.request_log if path.endswith(ENTITIES[entity]))
    assert "DocumentLines" in request["$select"].split(",")
    assert request["$orderby"] == "UpdateDate asc,UpdateTime asc,DocEntry asc"
    assert "$filter" not in request

    clock.advance(minutes=30)
    sandbox.update_document(entity, 4, Comments="changed", TrackingNumber="RM123456789GB")
    _, delta = _read(source, entity, batches[-1].cursor)

    # 10 and 11 sit in the two-minute overlap window before the 09:11 cursor: re-read after
    # the changes from the cursor's minute on (12 there, and the edited 4).
    assert [r.key for r in delta] == ["12", "4", "10", "11"]
    assert delta[1].data["tracking_number"] == "RM123456789GB"
    assert delta[1].version == "2026-11-22T09:42:00+00:00"


def test_canonical_document_shape_with_base_links(sandbox, connection):
    sandbox.add_document("orders", document(7, DiscountPercent=10.0))
    sandbox.add_document("deliveries", {
        "DocEntry": 3, "DocNum": 200003, "CardCode": "C00001", "NumAtCard": "WEB-100240",
        "DocDate": "2026-11-21", "TrackingNumber": "RM987654321GB",
        "DocumentLines": [{"ItemCode": "000020001", "ItemDescription": "Linen Shirt - Navy - M",
                           "Quantity": 1.0, "Price": 39.0, "WarehouseCode": "01",
                           "BaseType": 17, "BaseEntry": 7, "BaseLine": 0}],
    })
    source = SapB1Source(connection)
    order = source.read_one("orders", "7")
    delivery = source.read_one("deliveries", "3")

    assert order.data == {
        "doc_entry": 7, "doc_num": 100007, "doc_type": "orders", "card_code": "C00001",
        "num_at_card": "WEB-100240", "doc_date": "2026-11-20", "doc_due_date": "2026-11-23",
        "currency": "GBP", "foreign_currency": False, "doc_total": 97.2, "vat_total": 16.2,
        "discount_percent": 10.0, "discount_total": 9.0, "freight_total": 0, "rounding_total": 0.0,
        "doc_total_local": 97.2, "vat_total_local": 16.2,
        "status": "open", "cancelled": False, "is_cancellation": False,
        "tracking_number": "", "contact_person_code": None,
        "source_updated_at": datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
        "lines": [
            {"line_num": 0, "item_code": "000020001", "description": "Linen Shirt - Navy - M",
             "quantity": 2.0, "price": 39.0, "line_total": 78.0, "warehouse_code": "01",
             "line_status": "open", "base_type": None, "base_entry": None, "base_line": None},
            {"line_num": 1, "item_code": "HW-104", "description": "Stoneware Mug - Sage",
             "quantity": 1.0, "price": 12.0, "line_total": 12.0, "warehouse_code": "02",
             "line_status": "open", "base_type": None, "base_entry": None, "base_line": None},
        ],
    }
    assert order.key == "7" and order.version == "2026-11-22T09:00:00+00:00"
    line = delivery.data["lines"][0]
    assert (line["base_type"], line["base_entry"], line["base_line"]) == (17, 7, 0)
    assert delivery.data["tracking_number"] == "RM987654321GB"
    assert delivery.data["doc_type"] == "deliveries"
    # SAP moved the order on: line 0 is half delivered, still open.
    assert sandbox.document("orders", 7)["DocumentLines"][0]["RemainingOpenQuantity"] == 1.0
    assert source.read_one("orders", "999") is None
    assert source.read_one("orders", "WEB-1") is None  # not a DocEntry at all


def test_cancellation_arrives_in_the_next_delta_on_the_same_document(sandbox, connection,
                                                                     clock, password):
    sandbox.add_document("orders", document(1))
    sandbox.add_document("orders", document(2))
    source = SapB1Source(connection)
    *_, last = source.read_changes("orders", None)
    clock.advance(hours=1)

    make_client(connection.base_url, password).post("Orders(2)/Cancel", {})
    _, delta = _read(source, "orders", last.cursor)

    assert [r.key for r in delta] == ["1", "2"]  # 1 is the cursor, in the overlap window
    assert delta[0].data["cancelled"] is False
    cancelled = delta[1].data
    assert (cancelled["cancelled"], cancelled["status"]) == (True, "closed")
    assert {line["line_status"] for line in cancelled["lines"]} == {"closed"}
    assert cancelled["source_updated_at"] == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_line_edit_arrives_in_the_next_delta(sandbox, connection, clock, password):
    sandbox.add_document("orders", document(1))
    source = SapB1Source(connection)
    *_, last = source.read_changes("orders", None)
    clock.advance(hours=2)
    make_client(connection.base_url, password).patch("Orders(1)", {"DocumentLines": [
        {"LineNum": 1, "Quantity": 3.0},
        {"ItemCode": "000020002", "ItemDescription": "Wool Throw", "Quantity": 1.0,
         "Price": 59.99, "WarehouseCode": "01"},
    ]})
    _, delta = _read(source, "orders", last.cursor)
    edited = delta[-1].data
    assert [(line["line_num"], line["quantity"]) for line in edited["lines"]] == [
        (0, 2.0), (1, 3.0), (2, 1.0)]
    assert edited["doc_total"] == round((78.0 + 36.0 + 59.99) * 1.2, 2)


def test_malformed_documents_become_error_records_and_the_page_goes_on(sandbox, connection):
    sandbox.add_document("orders", document(1))
    sandbox.add_document("orders", document(2, DocTotal="1.234,50"))
    sandbox.add_document("orders", document(3, DocumentLines=[{"ItemCode": "A", "Quantity": 1}]))
    sandbox.add_document("orders", document(4, DocumentStatus="bost_Archived"))
    sandbox.add_document("orders", document(5, CardCode=None))
    sandbox.add_document("orders", document(6, UpdateDate="22/11/2026"))
    broken_line = document(7)
    broken_line["DocumentLines"][1]["Quantity"] = "two"
    sandbox.add_document("orders", broken_line)
    sandbox.add_document("orders", document(8))

    _, records = _read(SapB1Source(connection), "orders")
    by_key = {r.key: r for r in records}

    assert set(by_key) == {str(n) for n in range(1, 9)}
    assert by_key["1"].data and by_key["8"].data
    errors = {key: r.error for key, r in by_key.items() if r.data is None}
    assert set(errors) == {"2", "4", "5", "6", "7"}
    assert "'1.234,50'" in errors["2"] and "document total" in errors["2"]
    assert errors["2"].startswith("Sales order 100002 (web order WEB-100235)")
    assert "status" in errors["4"] and "bost_Archived" in errors["4"]
    assert "customer code" in errors["5"]
    assert "last-changed date" in errors["6"]
    assert "line 2 quantity" in errors["7"] and "'two'" in errors["7"]
    # A line added without LineNum gets one from SAP (the sandbox numbers it): readable.
    assert by_key["3"].data["lines"][0]["line_num"] == 0


def test_unknown_items_and_totals_that_do_not_add_up_are_passed_on(sandbox, connection):
    sandbox.add_document("orders", document(1, DocTotal=999.0))
    odd = document(2)
    odd["DocumentLines"][0]["ItemCode"] = "ZZ-RETIRED-001"
    sandbox.add_document("orders", odd)
    _, records = _read(SapB1Source(connection), "orders")
    assert [r.data["doc_total"] for r in records] == [999.0, 108.0]
    assert records[1].data["lines"][0]["item_code"] == "ZZ-RETIRED-001"
