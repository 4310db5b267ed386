"""Issue 14, defect 7: a warehouse-rule change says how many products it would re-send
before it is saved (and the preview saves nothing)."""
import pytest

from esp.models import WarehouseRule
from syncapp.models import OutboxItem
from syncapp.services import connection_pull
from tests.factories import FlowFactory
from tests.syncapp.fakes import FakeSource
from tests.syncapp.test_products import item, warehouses

pytestmark = pytest.mark.django_db


@pytest.fixture
def products_flow():
    flow = FlowFactory(entity="products")
    WarehouseRule.objects.create(destination=flow.destination, excluded_warehouses=["WHS-WHOLESALE"])
    connection_pull(connection=flow.connection, entity="warehouses", adapter=FakeSource([warehouses()]))
    connection_pull(connection=flow.connection, entity="items", adapter=FakeSource([[
        item("A1", ("01", 4, 1), ("WHS-WHOLESALE", 30, 0)),   # committed stock: moves if committed stops counting
        item("A2", ("01", 6, 0)),                               # nothing committed: unchanged
        item("A3", ("WHS-WHOLESALE", 9, 0)),                    # only ring-fenced stock: unchanged
    ]]))
    return flow


def test_previewing_a_rule_change_counts_the_products_it_would_re_send_and_saves_nothing(as_role, products_flow):
    rule = WarehouseRule.objects.get()
    pending_before = OutboxItem.objects.filter(status="pending").count()
    response = as_role("admin").post(f"/warehouse-rules/{rule.pk}/", {
        "channel": "", "excluded_warehouses": ["WHS-WHOLESALE"], "availability": "in_stock",
        "low_stock_threshold": "5", "action": "impact"})
    assert response.status_code == 200
    [impact] = response.context["impact"]
    assert (impact.items, impact.resend, impact.sample) == (3, 1, ["A1"])
    assert "1 of 3 products would be re-sent" in response.content.decode()
    rule.refresh_from_db()
    assert rule.availability == "in_stock_minus_committed"  # not saved
    assert OutboxItem.objects.filter(status="pending").count() == pending_before


def test_dropping_the_ring_fence_counts_the_products_whose_stock_it_frees(as_role, products_flow):
    rule = WarehouseRule.objects.get()
    response = as_role("admin").post(f"/warehouse-rules/{rule.pk}/", {
        "channel": "", "availability": "in_stock_minus_committed", "low_stock_threshold": "5", "action": "impact"})
    [impact] = response.context["impact"]
    assert impact.resend == 2 and sorted(impact.sample) == ["A1", "A3"]
