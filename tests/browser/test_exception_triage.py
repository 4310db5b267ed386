"""Marketing triages a morning's exceptions in the browser (issue 14, defect 5): the status
tabs with their counts, then five suppressed contacts ignored at once, after a
confirmation that says how many and asks why."""
import re

import pytest
from playwright.sync_api import expect

from exceptions.models import SyncException
from tests.browser.conftest import log_in, make_user
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def morning():
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(5, flow=flow, reason_code="contact_suppressed",
                                      message="The contact is suppressed at the destination.")
    SyncExceptionFactory.create_batch(2, flow=flow, reason_code="invalid_email")
    SyncExceptionFactory.create_batch(3, flow=flow, status=SyncException.Status.RESOLVED)
    return flow


def test_marketing_ignores_five_suppressed_contacts_at_once_after_confirming(page, morning):
    make_user("mia", "Marketing")
    log_in(page, "mia")
    page.get_by_role("link", name="Exceptions").click()

    tabs = page.get_by_role("navigation", name="Status")
    expect(tabs.get_by_role("link", name=re.compile(r"^Open \(7\)"))).to_be_visible()
    expect(tabs.get_by_role("link", name=re.compile(r"^Resolved \(3\)"))).to_be_visible()
    expect(tabs.get_by_role("link", name=re.compile(r"^Ignored \(0\)"))).to_be_visible()

    page.get_by_label("Reason").select_option(label="Contact is suppressed")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("button", name=re.compile(r"Ignore all matching \(5\)")).click()

    # The confirmation says how many, and nothing happened yet.
    expect(page.get_by_role("heading", name="Ignore matching exceptions")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Ignore 5 exceptions matching Reason: Contact is suppressed")
    assert SyncException.objects.filter(status="ignored").count() == 0
    confirm = page.get_by_role("button", name="Confirm: ignore 5 exceptions")
    confirm.click()
    assert page.get_by_label("Why ignore them?").evaluate("field => field.validity.valueMissing")
    assert SyncException.objects.filter(status="ignored").count() == 0

    page.get_by_label("Why ignore them?").fill("Unsubscribed contacts; nothing to send.")
    confirm.click()
    expect(page.locator("ul.messages")).to_contain_text("Ignored 5 exceptions")
    expect(tabs.get_by_role("link", name=re.compile(r"^Ignored \(5\)"))).to_be_visible()
    assert SyncException.objects.filter(status="ignored", reason_code="contact_suppressed").count() == 5

    tabs.get_by_role("link", name=re.compile(r"^Ignored")).click()
    expect(page).to_have_url(re.compile(r"status=ignored"))
    expect(page.locator("table.exceptions tbody tr")).to_have_count(5)
