"""The main pages on the demo data, each checked and pictured for the README
(docs/screenshots/<name>.png, refreshed on every run)."""
import pytest
from playwright.sync_api import expect

from erp.models import StockLevel
from esp.models import WarehouseRule
from exceptions.models import SyncException
from syncapp.models import Flow, OutboxItem
from tests.browser.conftest import log_in, make_user, screenshot
from tests.browser.demo import Demo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(monkeypatch):
    demo = Demo(monkeypatch)
    demo.sync()
    yield demo
    demo.close()


def test_screenshots_of_the_main_pages_on_the_demo(page, demo):
    make_user("marketing", "Marketing")
    make_user("finance", "Finance")
    make_user("integration", "Integration admin")

    log_in(page, "marketing")
    page.goto("/health/")
    expect(page.locator("table.health tbody tr")).to_have_count(Flow.objects.count())
    expect(page.locator("table.health")).to_contain_text("demo-customers")
    # health.png is taken by test_health_glance.py, with a month of history and incidents.

    page.goto("/exceptions/")
    expect(page.locator("table.groups")).to_contain_text("Invalid email address")
    expect(page.locator("table.groups")).to_contain_text("Contact is suppressed")  # dotdigital's refusal
    screenshot(page, "exceptions-dashboard", full_page=False)

    invalid = SyncException.objects.filter(reason_code="invalid_email", status="open").order_by("record_key").first()
    page.goto(f"/exceptions/{invalid.pk}/")
    expect(page.get_by_role("heading", name=f"{invalid.record_key}: Invalid email address")).to_be_visible()
    expect(page.get_by_role("button", name="Retry", exact=True)).to_be_visible()
    screenshot(page, "exception-record", full_page=False)

    page.goto("/conflicts/")
    expect(page.locator("section.conflict").first).to_be_visible()
    expect(page.get_by_role("button", name="Merge into one contact").first).to_be_visible()
    screenshot(page, "conflicts", full_page=False)

    log_in(page, "finance")
    page.goto("/reports/")
    # Issue 13: one section per destination, never a total across them.
    expect(page.locator("section.destination").first).to_contain_text("orders flow demo-orders")
    screenshot(page, "reports")

    log_in(page, "integration")
    customers = Flow.objects.get(name="demo-customers")
    accepted = (OutboxItem.objects.filter(flow=customers, status="accepted").exclude(accepted_hash="")
                .order_by("record_key").first())
    page.goto(f"/mappings/{customers.destination_id}/customers/")
    fullname = page.locator("tr.mapping-row[data-target='FULLNAME']")
    fullname.locator("select[name$='-transform']").select_option(label="Upper case")
    page.get_by_label("Record to preview").fill(accepted.record_key)
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("region", name="Preview")).to_contain_text("Would be sent")
    screenshot(page, "mapping-editor-preview")

    rule = WarehouseRule.objects.get(destination=customers.destination, channel="")
    sku = StockLevel.objects.filter(warehouse_code="WHS-WHOLESALE").order_by("item_code").first().item_code
    page.goto(f"/warehouse-rules/{rule.pk}/?preview_sku={sku}")
    expect(page.get_by_role("region", name="Stock preview")).to_contain_text("no (ring-fenced)")
    screenshot(page, "warehouse-rules")
