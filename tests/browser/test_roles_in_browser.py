"""Each role sees the links of its job, and a page outside it is refused plainly."""
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import log_in, make_user
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db(transaction=True)

CONFIGURATION_LINKS = ("Mappings", "Warehouse rules", "Admin")


def nav(page):
    return page.get_by_role("navigation")


def test_finance_is_refused_the_mapping_editor_with_a_clear_message(page):
    make_user("fay", "Finance")
    log_in(page, "fay")
    expect(nav(page).get_by_role("link", name="Reports")).to_be_visible()
    expect(nav(page).get_by_role("link", name="Mappings")).to_have_count(0)

    response = page.goto("/mappings/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("Your role does not allow this (edit configuration).")).to_be_visible()
    # Still signed in, with the way back to the pages of the role.
    expect(nav(page).get_by_role("link", name="Reports")).to_be_visible()


def test_finance_opens_the_reports_and_follows_a_reason_to_its_exceptions(page):
    orders = FlowFactory(name="orders-to-dotdigital", entity="orders")
    SyncExceptionFactory(flow=orders, entity="orders", record_key="101", reason_code="total_mismatch",
                         owner_team="finance", message="Order 101 totals 20.00 GBP, but its lines add up to 18.00.")
    SyncExceptionFactory(flow=orders, entity="orders", record_key="102", reason_code="unknown_item",
                         owner_team="finance", message="Order 102 has lines for items the ERP did not list.")
    make_user("fay", "Finance")
    log_in(page, "fay")

    nav(page).get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reconciliation")).to_be_visible()
    expect(page.locator("section.destination")).to_contain_text("orders-to-dotdigital")
    expect(page.get_by_role("link", name="differences", exact=True)).to_be_visible()  # its CSV
    # The range shown is the one the figures cover: last calendar month by default (issue 13:
    # finance closes months; it was the last 30 days).
    last_day = timezone.localdate().replace(day=1) - timedelta(days=1)
    expect(page.get_by_label("From", exact=True)).to_have_value(last_day.replace(day=1).isoformat())
    expect(page.get_by_label("To", exact=True)).to_have_value(last_day.isoformat())

    page.get_by_role("link", name="Total does not add up").click()
    expect(page.get_by_role("heading", name="Exceptions", exact=True)).to_be_visible()
    listed = page.locator("table.exceptions")
    expect(listed.get_by_role("link", name="101")).to_be_visible()
    expect(listed.get_by_role("link", name="102")).to_have_count(0)
    # Finance reads exceptions; acting on them is marketing's and the admins' job.
    expect(page.get_by_role("button", name="Retry all matching")).to_have_count(0)


def test_marketing_sees_no_configuration_links_and_is_refused_configuration(page):
    make_user("mia", "Marketing")
    log_in(page, "mia")
    for name in ("Sync health", "Exceptions", "Conflicts"):
        expect(nav(page).get_by_role("link", name=name)).to_be_visible()
    for name in (*CONFIGURATION_LINKS, "Reports"):
        expect(nav(page).get_by_role("link", name=name)).to_have_count(0)
    for path in ("/mappings/", "/reports/"):
        assert page.goto(path).status == 403, path
        expect(page.get_by_text("Your role does not allow this")).to_be_visible()


def test_an_integration_admin_sees_every_link(page):
    make_user("ida", "Integration admin")
    log_in(page, "ida")
    for name in ("Sync health", "Exceptions", "Conflicts", *CONFIGURATION_LINKS, "Reports"):
        expect(nav(page).get_by_role("link", name=name)).to_be_visible()
    nav(page).get_by_role("link", name="Mappings").click()
    expect(page.get_by_role("heading", name="Field mappings")).to_be_visible()
