"""Products and stock end to end: SAP B1 sandbox -> engine -> dotdigital sandbox."""
from __future__ import annotations

import pytest

from erp.sap_b1.sandbox.demo_items import demo_warehouses
from esp.models import WarehouseRule
from syncapp.models import Flow
from syncapp.services import connection_pull, flow_push
from tests.hub import Hub

pytestmark = pytest.mark.django_db


def sap_item(code: str, stock: dict[str, float], price: float = 19.99) -> dict:
    return {"ItemCode": code, "ItemName": f"Linen cushion {code}", "ItemsGroupCode": 100,
            "ItemPrices": [{"PriceList": 1, "Price": price, "Currency": "GBP"}],
            "ItemWarehouseInfoCollection": [
                {"ItemCode": code, "WarehouseCode": w, "InStock": q, "Committed": 0.0, "Ordered": 0.0}
                for w, q in stock.items()]}


class ProductsHub(Hub):
    def __init__(self):
        super().__init__()
        self.sap.add_warehouses(demo_warehouses())
        WarehouseRule.objects.create(destination=self.account, excluded_warehouses=["WHS-WHOLESALE"])
        self.products = Flow.objects.create(name="products", connection=self.connection, destination=self.account,
                                            entity="products")
        self.signals = Flow.objects.create(name="stock-signals", connection=self.connection,
                                           destination=self.account, entity="stock_events")
        self.pull("warehouses")

    def pull(self, entity: str):
        return connection_pull(connection=self.connection, entity=entity)

    def push(self):
        for flow in (self.products, self.signals):
            flow_push(flow=flow, adapter=self.destination())

    def catalog(self) -> dict:
        collection = self.dd.insight_collections.get("Catalog_Default") or {"records": {}}
        return collection["records"]

    def signals_sent(self) -> list:
        collection = self.dd.insight_collections.get("StockEvents") or {"records": {}}
        return sorted((r["event"], r["sku"]) for r in collection["records"].values())


@pytest.fixture
def hub():
    hub = ProductsHub()
    yield hub
    hub.close()


def test_a_sku_whose_only_stock_is_ring_fenced_is_out_of_stock_in_dotdigital(hub):
    hub.sap.add_items([sap_item("A-100", {"WHS-WHOLESALE": 40.0}), sap_item("A-200", {"01": 6.0})])
    hub.pull("items")
    hub.push()
    assert hub.catalog()["A-100"]["in_stock"] is False
    assert hub.catalog()["A-200"]["available"] == 6.0


def test_stock_back_in_an_included_warehouse_emits_one_back_in_stock_signal(hub):
    hub.sap.add_items([sap_item("A-100", {"01": 0.0, "WHS-WHOLESALE": 40.0})])
    hub.pull("items")
    hub.push()
    hub.sap.set_stock("A-100", "01", in_stock=12.0)  # a goods receipt: UpdateDate does not move
    assert hub.pull("item_stock").records_changed == 1  # the scheduled stock poll finds it
    hub.push()
    hub.sap.set_stock("A-100", "01", in_stock=11.0)  # sold one: still in stock, no new signal
    hub.pull("item_stock")
    hub.push()
    assert hub.signals_sent() == [("back_in_stock", "A-100")]
    assert hub.catalog()["A-100"]["in_stock"] is True


def test_the_erp_code_with_leading_zeros_is_the_catalog_sku(hub):
    hub.sap.add_items([sap_item("000012345", {"01": 3.0})])
    hub.pull("items")
    hub.push()
    assert set(hub.catalog()) == {"12345"}


def test_an_unchanged_stock_poll_makes_zero_dotdigital_calls(hub):
    hub.sap.add_items([sap_item(f"{n:09d}", {"01": float(n % 5), "02": 1.0}) for n in range(1, 150)])
    hub.pull("items")
    hub.push()
    calls = len(hub.dd.call_log)
    run = hub.pull("item_stock")
    hub.push()
    assert run.records_read == 149 and run.records_changed == 0
    assert len(hub.dd.call_log) == calls
