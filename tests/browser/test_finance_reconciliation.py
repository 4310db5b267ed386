"""Finance's month-end in a real browser: open last month, drill into a difference,
download the CSV, re-send, and see the difference gone. (Issue 13's reports tests live in
tests/reports/; this one is here because the browser fixtures are session-wide and one
Playwright per test session is all Playwright's sync API allows.)"""
from __future__ import annotations

import csv

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reports.destination_side import read_back_orders
from reports.periods import last_month
from syncapp.models import RunTrigger
from syncapp.tasks import push_task_args
from tests.browser.conftest import log_in, make_user
from tests.hub import partner
from tests.reports.test_reconciliation_dotdigital import MonthHub

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub():
    hub = MonthHub()
    yield hub
    hub.close()


def test_finance_finds_the_lost_order_downloads_it_resends_and_the_difference_is_gone(page, hub, workers, tmp_path):
    day = last_month(timezone.localdate()).date_from.replace(day=12).isoformat()
    hub.sap.add_business_partners([partner("C001")])
    kept = hub.order("C001", "WEB-1", ("1001", 2, 30.0), DocDate=day)
    lost = hub.order("C001", "WEB-2", ("1002", 3, 10.0), DocDate=day)
    hub.cycle()
    hub.delete_at_dotdigital(lost, "c001@example.com")
    hub.read_back()
    fay = make_user("fay", "Finance")
    log_in(page, "fay")

    page.get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Last month").click()
    row = page.locator(f'tr.difference[data-key="{lost}"]')
    expect(row).to_contain_text("Missing at the destination")
    expect(row).to_contain_text("30.00")
    expect(page.locator(f'tr.difference[data-key="{kept}"]')).to_have_count(0)

    row.get_by_role("link").click()  # drill into the document
    expect(page.get_by_role("heading", name="Sales order")).to_contain_text("Sales order")
    expect(page.locator("table.document-lines")).to_contain_text("1002")
    expect(page.locator("table.document-totals")).to_contain_text("36.00")
    page.go_back()

    with page.expect_download() as download:
        page.get_by_role("link", name="differences", exact=True).click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [(r["record_key"], r["class"], r["difference"]) for r in rows] == [(str(lost), "missing", "30.00")]

    page.get_by_role("button", name="Re-send the differing documents (1)").click()
    expect(page.locator("ul.messages")).to_contain_text("1 document(s) queued to dd")
    # The push run it starts says who asked (the Runs page: "Person", fay).
    assert workers.queued == [("push", push_task_args(hub.orders.pk, RunTrigger.PERSON, fay.pk))]
    workers.run(hub)  # the worker sends it...
    read_back_orders(flow=hub.orders, client=hub.destination().client)  # ...and the next read sees it
    page.reload()
    expect(page.locator(f'tr.difference[data-key="{lost}"]')).to_have_count(0)
    expect(page.locator("section.destination").first).to_contain_text("No differences")
