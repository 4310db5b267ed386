"""SapB1Source: items (delta), item_stock (full poll) and warehouses through the sandbox."""
from __future__ import annotations

import json
from datetime import UTC, datetime

from erp.sap_b1.adapter import SapB1Source
from tests.erp.conftest import make_client


def item(code: str, **fields) -> dict:
    """A well-formed item as the Service Layer shows it, stocked in "01" and "02"."""
    return {
        "ItemCode": code, "ItemName": f"Item {code}", "ItemsGroupCode": 105,
        "BarCode": "5012345678900", "SalesItem": "tYES", "Valid": "tYES", "Frozen": "tNO",
        "ItemPrices": [{"PriceList": 1, "Price": 12.5, "Currency": "GBP"},
                       {"PriceList": 2, "Price": None, "Currency": ""}],
        "ItemWarehouseInfoCollection": [
            {"WarehouseCode": "01", "InStock": 10.0, "Committed": 2.0, "Ordered": 0.0},
            {"WarehouseCode": "02", "InStock": 0.0, "Committed": 0.0, "Ordered": 5.0},
        ],
        "U_Season": "AW26",
    } | fields


def _read(source, entity, cursor=None):
    batches = list(source.read_changes(entity, cursor))
    return batches, [r for batch in batches for r in batch.records]


def test_full_item_read_gives_canonical_items_on_every_page(sandbox, connection):
    connection.item_user_fields = ["U_Season"]
    sandbox.add_items(item(f"{n:09d}") for n in range(1, 24))
    sandbox.add_item(item("A-100", Frozen="tYES", SalesItem="tNO"))

    batches, records = _read(SapB1Source(connection), "items")

    assert len(batches) == 3 and len(records) == 24
    for batch in batches:
        json.dumps(batch.cursor)
    assert batches[-1].cursor == {"updated_at": "2026-11-22T09:00:00+00:00"}
    first = next(r for r in records if r.key == "000000001")
    assert first.data == {
        "item_code": "000000001", "item_name": "Item 000000001", "item_group": 105,
        "category_code": "105", "product_hierarchy": "", "barcode": "5012345678900", "active": True, "sales_item": True,
        "prices": [{"price_list": 1, "price": 12.5, "currency": "GBP"},
                   {"price_list": 2, "price": None, "currency": ""}],
        "udfs": {"U_Season": "AW26"},
        "stock": [
            {"warehouse_code": "01", "in_stock": 10.0, "committed": 2.0, "ordered": 0.0},
            {"warehouse_code": "02", "in_stock": 0.0, "committed": 0.0, "ordered": 5.0},
        ],
        "source_updated_at": datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
    }
    assert first.version == "2026-11-22T09:00:00+00:00"
    frozen = next(r for r in records if r.key == "A-100")
    assert (frozen.data["active"], frozen.data["sales_item"]) == (False, False)


def test_item_delta_reads_only_changes_and_misses_a_silent_stock_move(sandbox, connection,
                                                                      clock):
    for n in range(4):
        sandbox.add_item(item(f"00000000{n}"))
        clock.advance(minutes=10)
    source = SapB1Source(connection)
    *_, last = source.read_changes("items", None)
    clock.advance(minutes=30)
    sandbox.update_item("000000001", ItemName="Renamed")
    sandbox.set_stock("000000002", "01", in_stock=0)  # does not bump UpdateDate

    _, records = _read(source, "items", last.cursor)

    # 000000003 is the cursor (09:30) and sits in the overlap window.
    assert [r.key for r in records] == ["000000003", "000000001"]
    assert records[-1].data["item_name"] == "Renamed"


def test_stock_poll_sees_a_stock_change_that_did_not_bump_update_date(sandbox, connection,
                                                                      clock):
    sandbox.add_items(item(f"{n:09d}") for n in range(1, 16))
    clock.advance(hours=1)
    sandbox.add_item(item("000000099"))  # the newest item: the items cursor lands on it
    source = SapB1Source(connection)
    *_, items_cursor = source.read_changes("items", None)
    batches, before = _read(source, "item_stock", None)
    assert {json.dumps(b.cursor) for b in batches} == {'{"full": true}'}
    assert len(before) == 16
    clock.advance(hours=1)
    sandbox.set_stock("000000007", "02", in_stock=3, committed=1)
    sandbox.set_stock("000000009", "WHS-WHOLESALE", in_stock=40)  # a new warehouse row

    _, items_delta = _read(source, "items", items_cursor.cursor)
    _, after = _read(source, "item_stock", {"full": True})

    assert [r.key for r in items_delta] == ["000000099"]  # only the overlap window
    changed = {a.key for a, b in zip(after, before, strict=True) if a.version != b.version}
    assert changed == {"000000007", "000000009"}
    seven = next(r for r in after if r.key == "000000007").data
    assert seven == {"item_code": "000000007", "stock": [
        {"warehouse_code": "01", "in_stock": 10.0, "committed": 2.0, "ordered": 0.0},
        {"warehouse_code": "02", "in_stock": 3.0, "committed": 1.0, "ordered": 5.0},
    ]}
    stock_request = [p for m, path, p in sandbox.request_log if path.endswith("/Items")][-1]
    assert stock_request["$select"] == "ItemCode,ItemWarehouseInfoCollection"
    assert "$filter" not in stock_request


def test_touching_stock_makes_the_item_show_up_in_the_delta(sandbox, connection, clock):
    sandbox.add_items([item("000000001"), item("000000002")])
    source = SapB1Source(connection)
    *_, last = source.read_changes("items", None)
    clock.advance(hours=1)
    sandbox.set_stock("000000002", "01", in_stock=0, touch=True)
    _, records = _read(source, "items", last.cursor)
    assert records[-1].key == "000000002" and records[-1].data["stock"][0]["in_stock"] == 0.0


def test_stock_poll_pages_through_rows_added_mid_read(sandbox, connection):
    sandbox.add_items(item(f"{n:09d}") for n in range(10, 50))
    source = SapB1Source(connection)
    seen = []
    for index, batch in enumerate(source.read_changes("item_stock", None)):
        seen.extend(r.key for r in batch.records)
        if index == 0:  # a new item sorts before the rows still to come
            sandbox.add_item(item("000000005"))
    assert {f"{n:09d}" for n in range(10, 50)} <= set(seen)


def test_malformed_item_becomes_an_error_record_and_the_page_goes_on(sandbox, connection):
    sandbox.add_item(item("000000001"))
    sandbox.add_item(item("000000002", ItemPrices=[
        {"PriceList": 1, "Price": "12,99", "Currency": "GBP"}]))
    sandbox.add_item(item("000000003", ItemWarehouseInfoCollection=[
        {"WarehouseCode": "01", "InStock": "lots"}]))
    sandbox.add_item(item("000000004", UpdateDate="22/11/2026"))
    sandbox.add_item(item("000000005"))

    _, records = _read(SapB1Source(connection), "items")
    by_key = {r.key: r for r in records}

    assert set(by_key) == {f"00000000{n}" for n in range(1, 6)}
    assert by_key["000000002"].data is None
    assert "'12,99'" in by_key["000000002"].error and "price list 1" in by_key["000000002"].error
    assert by_key["000000003"].data is None and "warehouse 01" in by_key["000000003"].error
    assert "last-changed date" in by_key["000000004"].error
    assert by_key["000000004"].error.startswith("Item 000000004")
    assert by_key["000000001"].data and by_key["000000005"].data

    _, stock = _read(SapB1Source(connection), "item_stock")
    by_key = {r.key: r for r in stock}
    assert by_key["000000002"].data is not None  # the price does not matter for stock
    assert by_key["000000003"].data is None


def test_warehouses_full_read(sandbox, connection):
    sandbox.add_warehouses([
        {"WarehouseCode": "01", "WarehouseName": "Main"},
        {"WarehouseCode": "WHS-WHOLESALE", "WarehouseName": "Wholesale"},
        {"WarehouseCode": "99", "WarehouseName": "Closed", "Inactive": "tYES"},
    ])
    batches, records = _read(SapB1Source(connection), "warehouses", {"full": True})
    assert [b.cursor for b in batches] == [{"full": True}]
    assert [r.data for r in records] == [
        {"warehouse_code": "01", "warehouse_name": "Main", "inactive": False},
        {"warehouse_code": "99", "warehouse_name": "Closed", "inactive": True},
        {"warehouse_code": "WHS-WHOLESALE", "warehouse_name": "Wholesale", "inactive": False},
    ]


def test_read_one_item_and_warehouse(sandbox, connection):
    sandbox.add_item(item("A'1"))
    sandbox.add_warehouses([{"WarehouseCode": "02", "WarehouseName": "Store"}])
    source = SapB1Source(connection)
    assert source.read_one("items", "A'1").data["item_code"] == "A'1"
    assert source.read_one("items", "NOPE") is None
    assert source.read_one("item_stock", "A'1").data["stock"][0]["in_stock"] == 10.0
    assert source.read_one("warehouses", "02").data["warehouse_name"] == "Store"
    assert source.read_one("warehouses", "NOPE") is None


def test_item_patch_stamps_update_and_shows_in_the_next_delta(sandbox, connection, clock,
                                                              password):
    sandbox.add_items([item("000000001"), item("000000002")])
    source = SapB1Source(connection)
    *_, last = source.read_changes("items", None)
    clock.advance(hours=1)
    make_client(connection.base_url, password).patch(
        "Items('000000001')", {"ItemPrices": [{"PriceList": 1, "Price": 14.0}]})
    batches, records = _read(source, "items", last.cursor)
    assert records[-1].key == "000000001"
    assert records[-1].data["prices"][0] == {"price_list": 1, "price": 14.0, "currency": "GBP"}
    assert batches[-1].cursor == {"updated_at": "2026-11-22T10:00:00+00:00", "reread_to": "2026-11-22T09:00:00+00:00"}
