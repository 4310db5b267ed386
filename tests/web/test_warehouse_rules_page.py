"""The warehouse rules editor: listing, editing, the per-SKU preview, re-planning and roles."""
import pytest

from audit.models import AuditEntry
from esp.models import WarehouseRule
from syncapp.celery import app as celery_app
from syncapp.services import connection_pull, flow_push
from tests.factories import FlowFactory
from tests.syncapp.fakes import FakeDestination, FakeSource
from tests.syncapp.test_products import item, warehouses

pytestmark = pytest.mark.django_db


@pytest.fixture
def products_flow():
    """Products of one connection with four warehouses (one inactive); the account's
    rule ring-fences wholesale stock."""
    flow = FlowFactory(entity="products")
    WarehouseRule.objects.create(destination=flow.destination, excluded_warehouses=["WHS-WHOLESALE"])
    connection_pull(connection=flow.connection, entity="warehouses", adapter=FakeSource([warehouses()]))
    connection_pull(connection=flow.connection, entity="items",
                    adapter=FakeSource([[item("000012345", ("01", 4, 1), ("WHS-WHOLESALE", 30, 0))]]))
    return flow


def rule_url(rule) -> str:
    return f"/warehouse-rules/{rule.pk}/"


def rule_data(**overrides) -> dict:
    data = {"channel": "", "excluded_warehouses": ["WHS-WHOLESALE"], "availability": "in_stock_minus_committed",
            "low_stock_threshold": "5"}
    data.update(overrides)
    return data


@pytest.mark.parametrize("role", ["marketing", "finance", "admin"])
def test_every_role_reads_the_rules(as_role, products_flow, role):
    client = as_role(role)
    rule = WarehouseRule.objects.get()
    listing = client.get("/warehouse-rules/")
    assert listing.status_code == 200 and "WHS-WHOLESALE" in listing.content.decode()
    assert client.get(rule_url(rule)).status_code == 200


@pytest.mark.parametrize("role", ["marketing", "finance"])
def test_only_integration_admins_change_or_add_rules(as_role, products_flow, role):
    client = as_role(role)
    rule = WarehouseRule.objects.get()
    assert client.post(rule_url(rule), rule_data(excluded_warehouses=[])).status_code == 403
    assert client.get(f"/warehouse-rules/new/{rule.destination_id}/").status_code == 403
    assert WarehouseRule.objects.get().excluded_warehouses == ["WHS-WHOLESALE"]
    assert "Save rule" not in client.get(rule_url(rule)).content.decode()


def test_anonymous_users_are_sent_to_the_login_page(as_role, products_flow):
    response = as_role("anonymous").get("/warehouse-rules/")
    assert response.status_code == 302 and response.url.startswith("/login/?next=")


def test_the_rule_page_offers_the_warehouses_the_erp_knows(as_role, products_flow):
    html = as_role("admin").get(rule_url(WarehouseRule.objects.get())).content.decode()
    assert "01 · Main" in html and "99 · Old (inactive)" in html and "Ring-fenced warehouses" in html


def test_the_rule_page_previews_one_skus_figures_with_the_admins_include(as_role, products_flow):
    html = as_role("finance").get(rule_url(WarehouseRule.objects.get()) + "?preview_sku=12345").content.decode()
    assert "no (ring-fenced)" in html and "available 3.0" in html and "in stock" in html


def test_an_unknown_sku_is_said_plainly(as_role, products_flow):
    html = as_role("admin").get(rule_url(WarehouseRule.objects.get()) + "?preview_sku=NOPE").content.decode()
    assert "No item with SKU or code" in html


def test_a_warehouse_both_counted_and_ring_fenced_is_refused(as_role, products_flow):
    response = as_role("admin").post(rule_url(WarehouseRule.objects.get()),
                                     rule_data(included_warehouses=["01", "WHS-WHOLESALE"]))
    assert response.status_code == 200
    assert "cannot be counted and ring-fenced at once" in response.content.decode()
    assert WarehouseRule.objects.get().included_warehouses == []


def test_a_second_rule_for_the_same_channel_is_refused(as_role, products_flow):
    rule = WarehouseRule.objects.get()
    response = as_role("admin").post(f"/warehouse-rules/new/{rule.destination_id}/", rule_data())
    assert response.status_code == 200 and "already has a rule" in response.content.decode()
    assert WarehouseRule.objects.count() == 1


def test_a_channel_rule_can_be_added(as_role, products_flow):
    rule = WarehouseRule.objects.get()
    response = as_role("admin").post(f"/warehouse-rules/new/{rule.destination_id}/",
                                     rule_data(channel="york-store", included_warehouses=["02"],
                                               excluded_warehouses=[]))
    added = WarehouseRule.objects.get(channel="york-store")
    assert response.status_code == 302 and response.url == rule_url(added)
    assert added.included_warehouses == ["02"] and added.destination_id == rule.destination_id


def test_saving_a_rule_re_plans_products_and_is_in_its_history(as_role, products_flow, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    from syncapp import tasks

    monkeypatch.setattr(tasks.flow_push_task, "delay", lambda *args: None)  # the test pushes itself
    destination = FakeDestination()
    flow_push(flow=products_flow, adapter=destination)
    assert destination.contacts and next(iter(destination.contacts.values()))["available"] == 3
    client = as_role("admin")
    rule = WarehouseRule.objects.get()
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(rule_url(rule), rule_data(availability="in_stock"))
    finally:
        celery_app.conf.task_always_eager = False
    assert response.status_code == 302
    flow_push(flow=products_flow, adapter=destination)
    assert next(iter(destination.contacts.values()))["available"] == 4  # committed no longer subtracted
    entry = AuditEntry.objects.get(content_type__model="warehouserule", action="update")
    assert entry.actor == "admin"
    assert (entry.before["availability"], entry.after["availability"]) == ("in_stock_minus_committed", "in_stock")
    html = client.get(rule_url(rule)).content.decode()
    assert "History of this rule" in html and "in_stock_minus_committed → in_stock" in html
