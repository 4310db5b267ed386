"""The SAP B1 sandbox serves Items and Warehouses in the Service Layer's shapes."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import requests
from defusedxml import ElementTree

from erp.sap_b1.sandbox import ITEM_USER_FIELDS
from erp.sap_b1.sandbox.demo import (
    COLLIDING_CODES,
    MALFORMED_PRICE_CODE,
    WAREHOUSE_WHOLESALE,
    build_demo_sandbox,
    bulk_items,
    demo_items,
    demo_warehouses,
)
from tests.contracts import CONTRACTS
from tests.erp.conftest import COMPANY, USER

METADATA = CONTRACTS / "sap-b1" / "service-layer-v1-metadata.xml"
EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"
SELLABLE = ("01", "02")


@pytest.fixture(scope="module")
def metadata() -> dict:
    schema = ElementTree.parse(METADATA).getroot().find(f".//{EDM}Schema")

    def properties(tag: str, name: str) -> dict[str, str]:
        node = schema.find(f"{EDM}{tag}[@Name='{name}']")
        return {p.get("Name"): p.get("Type") for p in node.findall(f"{EDM}Property")}

    enums = {node.get("Name"): {m.get("Name") for m in node.findall(f"{EDM}Member")}
             for node in schema.findall(f"{EDM}EnumType")}
    return {"Item": properties("EntityType", "Item"),
            "ItemWarehouseInfo": properties("ComplexType", "ItemWarehouseInfo"),
            "ItemPrice": properties("ComplexType", "ItemPrice"),
            "Warehouse": properties("EntityType", "Warehouse"), "enums": enums}


@pytest.fixture
def http(base_url, password):
    session = requests.Session()
    response = session.post(f"{base_url}/Login",
                            json={"CompanyDB": COMPANY, "UserName": USER, "Password": password})
    assert response.status_code == 200
    return session


def _check(kind: str, row: dict, metadata: dict, *, types: bool = True) -> None:
    for name, value in row.items():
        edm_type = metadata[kind].get(name) or (ITEM_USER_FIELDS.get(name) if kind == "Item"
                                                else None)
        assert edm_type, f"{name} is not a {kind} property"
        if value is None or edm_type.startswith("Collection(") or not types:
            continue
        if edm_type.startswith("SAPB1."):
            assert value in metadata["enums"][edm_type[6:]], (name, value)
        elif edm_type == "Edm.DateTime":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), (name, value)
        elif edm_type == "Edm.Time":
            assert re.fullmatch(r"\d{2}:\d{2}:\d{2}", value), (name, value)
        elif edm_type == "Edm.Int32":
            assert isinstance(value, int) and not isinstance(value, bool), (name, value)
        elif edm_type == "Edm.Double":
            assert isinstance(value, int | float) and not isinstance(value, bool), (name, value)
        elif edm_type == "Edm.String":
            assert isinstance(value, str), (name, value)


def test_item_and_warehouse_shapes_match_the_service_layer_metadata(metadata, clock, password):
    from syncapp.sandbox_server import serve_in_thread

    running = serve_in_thread(build_demo_sandbox(10, password=password, clock=clock))
    try:
        session = requests.Session()
        base = f"{running.url}/b1s/v1"
        session.post(f"{base}/Login",
                     json={"CompanyDB": COMPANY, "UserName": USER, "Password": password})
        every = {"Prefer": "odata.maxpagesize=0"}
        items = session.get(f"{base}/Items", headers=every).json()["value"]
        warehouses = session.get(f"{base}/Warehouses", headers=every).json()["value"]
    finally:
        running.stop()
    assert len(items) == 120 and len(warehouses) == 4
    for row in items:
        malformed = row["ItemCode"] == MALFORMED_PRICE_CODE  # a string price on purpose
        _check("Item", row, metadata)
        for price in row["ItemPrices"]:
            _check("ItemPrice", price, metadata, types=not malformed)
        for stock in row["ItemWarehouseInfoCollection"]:
            _check("ItemWarehouseInfo", stock, metadata)
    for row in warehouses:
        _check("Warehouse", row, metadata)


def test_items_filter_select_and_paging(base_url, http, sandbox, clock):
    sandbox.add_items({"ItemCode": f"{n:09d}", "ItemName": f"Mug {n}"} for n in range(25))
    clock.advance(minutes=5)
    sandbox.update_item("000000003", ItemName="Renamed")
    params = {"$select": "ItemCode,ItemWarehouseInfoCollection", "$orderby": "ItemCode asc"}
    body = http.get(f"{base_url}/Items", params=params).json()
    assert len(body["value"]) == 20 and body["odata.nextLink"].endswith("$skip=20")
    assert body["value"][0] == {"ItemCode": "000000000", "ItemWarehouseInfoCollection": []}

    def codes(expression: str) -> list[str]:
        response = http.get(f"{base_url}/Items", params={"$filter": expression})
        assert response.status_code == 200, response.text
        return [row["ItemCode"] for row in response.json()["value"]]

    assert codes("UpdateDate eq '2026-11-22' and UpdateTime ge '09:05'") == ["000000003"]
    assert codes("ItemCode eq '000000007'") == ["000000007"]
    assert codes("SalesItem eq 'Y' and startswith(ItemCode,'00000001')")[:2] == [
        "000000010", "000000011"]
    bad = http.get(f"{base_url}/Items", params={"$filter": "CardCode eq 'x'"})
    assert bad.status_code == 400


def test_item_get_patch_and_stock_hooks(base_url, http, sandbox, clock):
    sandbox.add_item({"ItemCode": "A-100", "ItemName": "Tote Bag",
                      "ItemPrices": [{"PriceList": 1, "Price": 20.0, "Currency": "GBP"}]})
    row = sandbox.set_stock("A-100", "01", in_stock=7, committed=2)
    assert row["ItemCode"] == "A-100"
    clock.advance(minutes=5)
    sandbox.set_stock("A-100", "01", in_stock=6)
    item = http.get(f"{base_url}/Items('A-100')").json()
    assert item["UpdateTime"] == "09:00:00"  # a stock move does not touch the item
    assert (item["QuantityOnStock"], item["QuantityOrderedByCustomers"]) == (6.0, 2.0)

    assert http.patch(f"{base_url}/Items('A-100')", json={
        "ItemPrices": [{"PriceList": 2, "Price": 10.0, "Currency": "GBP"}],
        "Frozen": "Y"}).status_code == 204
    item = http.get(f"{base_url}/Items(ItemCode='A-100')").json()
    assert item["UpdateTime"] == "09:05:00" and item["Frozen"] == "tYES"
    assert [p["PriceList"] for p in item["ItemPrices"]] == [1, 2]
    stock_patch = http.patch(f"{base_url}/Items('A-100')",
                             json={"ItemWarehouseInfoCollection": []})
    assert stock_patch.status_code == 400
    clock.advance(minutes=5)
    sandbox.set_stock("A-100", "02", in_stock=1, touch=True)
    assert http.get(f"{base_url}/Items('A-100')").json()["UpdateTime"] == "09:10:00"
    assert http.get(f"{base_url}/Items('NOPE')").json()["error"]["code"] == -2028


def test_warehouses_collection_and_single(base_url, http, sandbox):
    sandbox.add_warehouses(demo_warehouses())
    rows = http.get(f"{base_url}/Warehouses",
                    params={"$select": "WarehouseCode,WarehouseName,Inactive"}).json()["value"]
    assert [r["WarehouseCode"] for r in rows] == ["01", "02", "WHS-WHOLESALE", "99"]
    assert set(rows[0]) == {"WarehouseCode", "WarehouseName", "Inactive"}
    one = http.get(f"{base_url}/Warehouses('99')").json()
    assert one["Inactive"] == "tYES"
    assert http.get(f"{base_url}/Warehouses",
                    params={"$filter": "UpdateDate ge '2026-01-01'"}).status_code == 400
    assert http.patch(f"{base_url}/Warehouses('99')", json={}).status_code == 405


def test_demo_items_hold_the_mess_real_erps_hold():
    items = demo_items()
    by_code = {i["ItemCode"]: i for i in items}
    assert len(items) == 120 and len(by_code) == 120
    assert set(COLLIDING_CODES) <= set(by_code)
    assert sum(re.fullmatch(r"0\d{8}", code) is not None for code in by_code) > 80
    assert any(re.fullmatch(r"[A-Z]+-\d+", code) for code in by_code)
    stripped = [code.lstrip("0") for code in by_code if code.isdigit()]
    assert len(stripped) - len(set(stripped)) == 1  # exactly the one colliding pair
    assert isinstance(by_code[MALFORMED_PRICE_CODE]["ItemPrices"][0]["Price"], str)

    def on_hand(item, warehouses):
        return sum(r["InStock"] for r in item["ItemWarehouseInfoCollection"]
                   if r["WarehouseCode"] in warehouses)

    everywhere = (*SELLABLE, WAREHOUSE_WHOLESALE, "99")
    assert any(on_hand(i, SELLABLE) == 0 and on_hand(i, (WAREHOUSE_WHOLESALE,)) > 0
               for i in items)
    assert any(on_hand(i, everywhere) == 0 for i in items)
    assert any(0 < on_hand(i, SELLABLE) <= 3 for i in items)
    assert any(i["Frozen"] == "tYES" for i in items)
    assert any(i["SalesItem"] == "tNO" for i in items)
    assert {p["Currency"] for i in items for p in i["ItemPrices"]} == {"GBP"}
    assert all(len(i["BarCode"]) == 13 for i in items)
    moment = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert demo_items(now=moment) == demo_items(now=moment)  # same seed and now, same data
    assert next(w for w in demo_warehouses() if w["WarehouseCode"] == "99")["Inactive"] == "tYES"


def test_bulk_items_have_unique_codes_and_every_warehouse():
    # How fast they build is the benchmarks' business (bench/), not a test's.
    items = bulk_items(10_000, warehouses=5, seed=1)
    assert len(items) == 10_000 and len({i["ItemCode"] for i in items}) == 10_000
    assert all(len(i["ItemWarehouseInfoCollection"]) == 5 for i in items[:100])
