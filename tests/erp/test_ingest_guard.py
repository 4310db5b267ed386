"""The mirror's limits are checked before the bulk write, and a bulk write that still
fails is redone record by record: one bad record never fails its page."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from erp.ingest import INGESTERS
from erp.models import BusinessPartner, Item, StockLevel, Warehouse
from erp.record_checks import records_check
from syncapp.adapters import SourceRecord
from tests.factories import ErpConnectionFactory

pytestmark = pytest.mark.django_db


def partner(code: str, **fields) -> SourceRecord:
    data = {"card_code": code, "card_name": f"Customer {code}", "card_type": "customer",
            "email": f"{code.lower()}@example.com", "email_normalised": f"{code.lower()}@example.com",
            "source_updated_at": datetime(2026, 11, 22, tzinfo=UTC)} | fields
    return SourceRecord(entity="business_partners", key=code, version="v", data=data, raw={"CardCode": code})


def test_a_record_the_bulk_write_cannot_store_becomes_unreadable_and_the_rest_of_its_page_is_written(monkeypatch):
    monkeypatch.setattr("erp.ingest_guard.records_check", lambda *, entity, records: list(records))  # checks missed it
    connection = ErpConnectionFactory()
    result = INGESTERS["business_partners"](
        connection=connection, records=[partner("C1"), partner("C2", card_name="Jos\udce9"), partner("C3")])
    assert set(BusinessPartner.objects.values_list("card_code", flat=True)) == {"C1", "C3"}
    assert sorted(result.readable_keys) == ["C1", "C3"] and sorted(result.changed_keys) == ["C1", "C3"]
    [bad] = result.unreadable
    assert bad.key == "C2" and bad.error.startswith("The hub could not store this record")


def _one(entity: str, key: str, data: dict, raw: dict | None = None) -> SourceRecord:
    [checked] = records_check(entity=entity, records=[
        SourceRecord(entity=entity, key=key, version="", data=data, raw=raw or {"key": key})])
    return checked


@pytest.mark.parametrize(("entity", "key", "data", "reason", "words"), [
    ("orders", "7", {"doc_entry": 7, "doc_total": "12,99"}, "unreadable_record", "is not a number"),
    ("orders", "7", {"doc_entry": 7, "doc_date": "2026-13-45"}, "unreadable_record", "is not a date"),
    ("orders", "7", {"doc_entry": 7, "doc_num": 2 ** 40}, "unreadable_record", "larger than the hub can store"),
    ("orders", "7", {"doc_entry": 7, "lines": [{"line_num": 0, "quantity": float("nan")}]},
     "unreadable_record", "line 1: the quantity is not a number"),
    ("orders", "99999999999", {"doc_entry": 99999999999}, "unreadable_record", "larger than the hub can store"),
    ("items", "1001", {"item_code": "1001", "stock": [{"warehouse_code": "01", "in_stock": float("inf")}]},
     "unreadable_record", "not a number"),
    ("items", "1001", {"item_code": "1001", "udfs": {"U_Brand": "Acme\x00"}}, "invalid_characters", "NUL"),
    ("item_stock", "1001", {"item_code": "1001", "stock": [{"warehouse_code": "W" * 51}]}, "value_too_long",
     "51 characters"),
    ("warehouses", "01", {"warehouse_code": "01", "warehouse_name": "N" * 201}, "value_too_long", "201 characters"),
    ("business_partners", "C\u202e1", {"card_code": "C\u202e1"}, "invalid_characters", "control characters"),
    ("business_partners", "C1", {"card_code": "C1", "email": "a" * 255}, "value_too_long", "255 characters"),
])
def test_values_the_mirror_cannot_hold_make_the_record_unreadable_with_a_plain_reason(entity, key, data, reason,
                                                                                       words):
    checked = _one(entity, key, data)
    assert checked.data is None and checked.reason_code == reason and words in checked.error


def test_an_unreadable_record_keeps_a_storable_raw_payload_and_key():
    checked = _one("business_partners", "C\x00" + "x" * 200, {"card_code": "C"},
                   raw={"CardCode": "C\x00", "CardName": "Jos\udce9", "Figure": float("nan")})
    assert checked.raw == {"CardCode": "C\u2400", "CardName": "Jos\ufffd", "Figure": "nan"}
    assert len(checked.key) <= 100 and "\x00" not in checked.key


def test_control_characters_are_stripped_from_text_and_json_but_tabs_and_newlines_stay():
    checked = _one("business_partners", "C1", {"card_code": "C1", "card_name": "Jane\x07 \u2066Doe\u2069",
                                               "addresses": [{"street": "1 High St\nFlat\x1b 2"}]})
    assert checked.data["card_name"] == "Jane Doe"
    assert checked.data["addresses"] == [{"street": "1 High St\nFlat 2"}]


def test_items_stock_and_warehouses_with_bad_values_leave_the_good_ones_stored():
    connection = ErpConnectionFactory()
    INGESTERS["warehouses"](connection=connection, records=[
        SourceRecord("warehouses", "01", "", {"warehouse_code": "01", "warehouse_name": "Main"}, {}),
        SourceRecord("warehouses", "02", "", {"warehouse_code": "02", "warehouse_name": "\x00"}, {})])
    stock = {"warehouse_code": "01", "in_stock": 3.0, "committed": 0.0, "ordered": 0.0}
    result = INGESTERS["items"](connection=connection, records=[
        SourceRecord("items", "1001", "", {"item_code": "1001", "item_name": "Mug", "stock": [stock]}, {}),
        SourceRecord("items", "1002", "", {"item_code": "1002", "item_name": "Cup",
                                           "stock": [stock | {"in_stock": "lots"}]}, {})])
    assert list(Warehouse.objects.values_list("code", flat=True)) == ["01"]
    assert list(Item.objects.values_list("item_code", flat=True)) == ["1001"]
    assert list(StockLevel.objects.values_list("item_code", flat=True)) == ["1001"]
    assert [record.key for record in result.unreadable] == ["1002"]
