"""Products and stock: warehouse rules, SKU rules, and polls that cost nothing unchanged."""
import pytest

from esp.models import SkuRule, WarehouseRule
from exceptions.models import SyncException
from syncapp.adapters import SourceRecord
from syncapp.models import OutboxItem
from syncapp.services import connection_pull, flow_push
from tests.factories import FlowFactory
from tests.syncapp.fakes import FakeDestination, FakeSource

pytestmark = pytest.mark.django_db

WAREHOUSES = [("01", "Main", False), ("02", "Store", False), ("WHS-WHOLESALE", "Wholesale", False),
              ("99", "Old", True)]


def item(code: str, *stock: tuple[str, float, float], name: str = "", price: float = 10.0) -> SourceRecord:
    data = {"item_code": code, "item_name": name or f"Item {code}", "item_group": 100, "barcode": "",
            "active": True, "sales_item": True, "prices": [{"price_list": 1, "price": price, "currency": "GBP"}],
            "udfs": {}, "source_updated_at": "2026-11-01T10:00:00+00:00",
            "stock": [{"warehouse_code": w, "in_stock": s, "committed": c, "ordered": 0} for w, s, c in stock]}
    return SourceRecord(entity="items", key=code, version="1", data=data, raw={"ItemCode": code})


def stock(code: str, *levels: tuple[str, float, float]) -> SourceRecord:
    data = {"item_code": code,
            "stock": [{"warehouse_code": w, "in_stock": s, "committed": c, "ordered": 0} for w, s, c in levels]}
    return SourceRecord(entity="item_stock", key=code, version="", data=data, raw={"ItemCode": code})


def warehouses(rows=WAREHOUSES) -> list[SourceRecord]:
    return [SourceRecord(entity="warehouses", key=code, version="", raw={"WarehouseCode": code},
                         data={"warehouse_code": code, "warehouse_name": name, "inactive": inactive})
            for code, name, inactive in rows]


@pytest.fixture
def products_flow():
    flow = FlowFactory(entity="products")
    WarehouseRule.objects.create(destination=flow.destination, excluded_warehouses=["WHS-WHOLESALE"])
    connection_pull(connection=flow.connection, entity="warehouses", adapter=FakeSource([warehouses()]))
    return flow


def pull(flow, entity, *records):
    return connection_pull(connection=flow.connection, entity=entity, adapter=FakeSource([list(records)]))


def sent(destination):
    return {fields["sku"]: fields for fields in destination.contacts.values()}


def test_stock_only_in_a_ring_fenced_warehouse_is_out_of_stock(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", item("1001", ("WHS-WHOLESALE", 50, 0)), item("1002", ("01", 3, 1)))
    flow_push(flow=products_flow, adapter=destination)
    products = sent(destination)
    assert products["1001"]["in_stock"] is False and products["1001"]["available"] == 0
    assert products["1002"]["available"] == 2  # in stock minus committed, the default rule


def test_stock_returning_to_an_included_warehouse_makes_the_sku_available_again(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", item("1001", ("01", 0, 0), ("WHS-WHOLESALE", 9, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert sent(destination)["1001"]["in_stock"] is False
    pull(products_flow, "item_stock", stock("1001", ("01", 4, 0), ("WHS-WHOLESALE", 9, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert sent(destination)["1001"]["in_stock"] is True and sent(destination)["1001"]["available"] == 4


def test_an_erp_code_with_leading_zeros_is_the_shops_sku(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", item("000012345", ("01", 1, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert set(sent(destination)) == {"12345"}
    assert OutboxItem.objects.get().identifier == "12345"


def test_two_codes_that_become_one_sku_are_an_exception_not_a_merge(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", item("00012345", ("01", 1, 0)))
    pull(products_flow, "items", item("012345", ("01", 7, 0)))
    flow_push(flow=products_flow, adapter=destination)
    reasons = set(SyncException.objects.filter(status="open").values_list("record_key", "reason_code"))
    assert reasons == {("00012345", "sku_collision"), ("012345", "sku_collision")}
    assert destination.pushed_keys == []  # the first one, queued before the clash, is held too


def test_an_unchanged_stock_poll_makes_zero_calls(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", *[item(f"{n}", ("01", n % 7, 0)) for n in range(1, 200)])
    flow_push(flow=products_flow, adapter=destination)
    calls = destination.calls
    run = pull(products_flow, "item_stock", *[stock(f"{n}", ("01", n % 7, 0)) for n in range(1, 200)])
    flow_push(flow=products_flow, adapter=destination)
    assert run.records_changed == 0 and destination.calls == calls


def test_a_stock_change_that_does_not_move_availability_costs_nothing(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", item("1001", ("01", 5, 0), ("WHS-WHOLESALE", 10, 0)))
    flow_push(flow=products_flow, adapter=destination)
    calls = destination.calls
    run = pull(products_flow, "item_stock", stock("1001", ("01", 5, 0), ("WHS-WHOLESALE", 3, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert run.records_changed == 1 and run.records_unchanged == 1 and destination.calls == calls


def test_stock_in_an_unknown_warehouse_is_an_exception_and_not_counted(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", item("1001", ("01", 1, 0), ("07", 40, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert sent(destination)["1001"]["available"] == 1
    exception = SyncException.objects.get(reason_code="unknown_warehouse")
    assert (exception.entity, exception.record_key) == ("warehouses", "07")


def test_a_warehouse_turning_inactive_re_plans_every_product(products_flow):
    destination = FakeDestination()
    pull(products_flow, "items", item("1001", ("02", 5, 0)), item("1002", ("01", 5, 0)))
    flow_push(flow=products_flow, adapter=destination)
    rows = [(c, n, c == "02") for c, n, _ in WAREHOUSES]
    pull(products_flow, "warehouses", *warehouses(rows))
    flow_push(flow=products_flow, adapter=destination)
    assert sent(destination)["1001"]["in_stock"] is False and sent(destination)["1002"]["in_stock"] is True


def test_the_sku_rule_maps_prefixes_and_case(products_flow):
    SkuRule.objects.create(connection=products_flow.connection, prefix_map={"ERP-": ""}, case="upper")
    destination = FakeDestination()
    pull(products_flow, "items", item("ERP-a100", ("01", 1, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert set(sent(destination)) == {"A100"}


def test_the_warehouse_rule_page_previews_a_skus_figures(products_flow, client, django_user_model):
    from django.urls import reverse

    pull(products_flow, "items", item("000012345", ("01", 4, 1), ("WHS-WHOLESALE", 30, 0)))
    from syncapp.services import records_replan
    records_replan(flow=products_flow, record_keys=["000012345"])
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    rule = WarehouseRule.objects.get()
    page = client.get(reverse("admin:esp_warehouserule_change", args=[rule.pk]) + "?preview_sku=12345")
    html = page.content.decode()
    assert page.status_code == 200
    assert "no (ring-fenced)" in html and "available 3.0" in html and "in stock" in html


@pytest.fixture
def events_flow(products_flow):
    return FlowFactory(entity="stock_events", connection=products_flow.connection,
                       destination=products_flow.destination)


def events(destination):
    """Every event sent, in order, repeats included (pushed_keys keeps them all)."""
    return [key.split(":")[1:] for key in destination.pushed_keys]


def test_back_in_stock_fires_once_when_stock_returns_to_an_included_warehouse(events_flow):
    destination = FakeDestination()
    pull(events_flow, "items", item("1001", ("01", 0, 0), ("WHS-WHOLESALE", 20, 0)))
    flow_push(flow=events_flow, adapter=destination)
    assert events(destination) == []  # first sight only records the state
    pull(events_flow, "item_stock", stock("1001", ("01", 8, 0), ("WHS-WHOLESALE", 20, 0)))
    flow_push(flow=events_flow, adapter=destination)
    pull(events_flow, "item_stock", stock("1001", ("01", 9, 0), ("WHS-WHOLESALE", 20, 0)))  # still in stock
    flow_push(flow=events_flow, adapter=destination)
    assert events(destination) == [["back_in_stock", "1"]]
    assert OutboxItem.objects.filter(flow=events_flow).count() == 1


def test_stock_in_a_ring_fenced_warehouse_never_signals_back_in_stock(events_flow):
    destination = FakeDestination()
    pull(events_flow, "items", item("1001", ("01", 0, 0)))
    pull(events_flow, "item_stock", stock("1001", ("01", 0, 0), ("WHS-WHOLESALE", 50, 0)))
    flow_push(flow=events_flow, adapter=destination)
    assert events(destination) == []


def test_a_drop_below_the_threshold_signals_low_stock_once(events_flow):
    destination = FakeDestination()
    pull(events_flow, "items", item("1001", ("01", 20, 0)))
    pull(events_flow, "item_stock", stock("1001", ("01", 3, 0)))
    pull(events_flow, "item_stock", stock("1001", ("01", 2, 0)))
    flow_push(flow=events_flow, adapter=destination)
    assert events(destination) == [["low_stock", "1"]]


def test_a_back_in_stock_signal_not_yet_sent_is_withdrawn_when_the_item_sells_out_again(events_flow):
    destination = FakeDestination()
    pull(events_flow, "items", item("1001", ("01", 0, 0)))
    pull(events_flow, "item_stock", stock("1001", ("01", 5, 0)))  # back...
    pull(events_flow, "item_stock", stock("1001", ("01", 0, 0)))  # ...and sold out before the push
    flow_push(flow=events_flow, adapter=destination)
    assert events(destination) == []
    pull(events_flow, "item_stock", stock("1001", ("01", 3, 0)))  # back again: a new signal
    flow_push(flow=events_flow, adapter=destination)
    assert events(destination) == [["back_in_stock", "2"]]


def test_an_unknown_warehouse_exception_clears_once_the_erp_lists_it(products_flow):
    pull(products_flow, "items", item("1001", ("07", 4, 0)))
    assert SyncException.objects.get(reason_code="unknown_warehouse").status == "open"
    pull(products_flow, "warehouses", *warehouses([*WAREHOUSES, ("07", "Pop-up", False)]))
    assert SyncException.objects.get(reason_code="unknown_warehouse").status == "resolved"


def test_a_channel_counts_the_warehouses_of_its_own_rule(products_flow):
    shop = FlowFactory(entity="products", connection=products_flow.connection, destination=products_flow.destination,
                       channel="york-store")
    WarehouseRule.objects.create(destination=shop.destination, channel="york-store", included_warehouses=["02"])
    destination, store_destination = FakeDestination(), FakeDestination()
    pull(products_flow, "items", item("1001", ("01", 5, 0), ("02", 2, 0)))
    flow_push(flow=products_flow, adapter=destination)
    flow_push(flow=shop, adapter=store_destination)
    assert sent(destination)["1001"]["available"] == 7 and sent(store_destination)["1001"]["available"] == 2


def test_changing_the_warehouse_rule_re_plans_products_when_saved_in_the_admin(
        products_flow, client, django_user_model, django_capture_on_commit_callbacks, monkeypatch):
    from django.urls import reverse

    from syncapp import tasks
    from syncapp.celery import app as celery_app

    monkeypatch.setattr(tasks.flow_push_task, "delay", lambda *args: None)  # this test pushes itself

    destination = FakeDestination()
    pull(products_flow, "items", item("1001", ("02", 5, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert sent(destination)["1001"]["in_stock"] is True
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    rule = WarehouseRule.objects.get()
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("admin:esp_warehouserule_change", args=[rule.pk]), {
                "destination": rule.destination_id, "channel": "", "included_warehouses": "[]",
                "excluded_warehouses": '["WHS-WHOLESALE", "02"]', "availability": "in_stock_minus_committed",
                "low_stock_threshold": "5"})
    finally:
        celery_app.conf.task_always_eager = False
    assert response.status_code == 302
    flow_push(flow=products_flow, adapter=destination)
    assert sent(destination)["1001"]["in_stock"] is False


def test_a_new_sku_rule_retires_the_record_under_the_old_sku(products_flow):
    from syncapp.services import flows_replan_all

    destination = FakeDestination()
    pull(products_flow, "items", item("ERP-100", ("01", 5, 0)))
    flow_push(flow=products_flow, adapter=destination)
    assert sent(destination)["ERP-100"]["in_stock"] is True
    SkuRule.objects.create(connection=products_flow.connection, prefix_map={"ERP-": ""})
    flows_replan_all(flows=[products_flow])
    flow_push(flow=products_flow, adapter=destination)
    products = sent(destination)
    assert products["100"]["in_stock"] is True
    assert products["ERP-100"]["in_stock"] is False and products["ERP-100"]["active"] is False
