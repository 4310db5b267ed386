"""Marketing triages a morning's exceptions in the browser (issue 14, defect 5 and "What to
build" 2): the status tabs with their counts, five suppressed contacts ignored at once, the bad
email addresses given to a colleague at once (each after a confirmation that says how
many), a note on one of them, and its history naming who did what."""
import re

import pytest
from playwright.sync_api import expect

from exceptions.models import ExceptionEvent, SyncException
from tests.browser.conftest import log_in, make_user, screenshot
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def morning():
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(5, flow=flow, reason_code="contact_suppressed",
                                      message="The contact is suppressed at the destination.")
    SyncExceptionFactory.create_batch(3, flow=flow, reason_code="invalid_email")
    SyncExceptionFactory.create_batch(2, flow=flow, status=SyncException.Status.RESOLVED)
    return flow


def test_marketing_triages_the_morning_ignoring_assigning_and_noting(page, morning):
    make_user("mia", "Marketing")
    make_user("noor", "Marketing")
    log_in(page, "mia")
    page.get_by_role("link", name="Exceptions").click()
    tabs = page.get_by_role("navigation", name="Status")
    expect(tabs.get_by_role("link", name=re.compile(r"^Open \(8\)"))).to_be_visible()
    expect(tabs.get_by_role("link", name=re.compile(r"^Resolved \(2\)"))).to_be_visible()

    # Five suppressed contacts, ignored at once.
    page.get_by_label("Reason").select_option(label="Contact is suppressed")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("button", name=re.compile(r"Ignore all matching \(5\)")).click()
    expect(page.locator("main")).to_contain_text("Ignore 5 exceptions matching Reason: Contact is suppressed")
    confirm = page.get_by_role("button", name="Confirm: ignore 5 exceptions")
    confirm.click()  # without a reason the browser refuses to send it
    assert page.get_by_label("Why ignore them?").evaluate("field => field.validity.valueMissing")
    assert SyncException.objects.filter(status="ignored").count() == 0
    page.get_by_label("Why ignore them?").fill("Unsubscribed contacts; nothing to send.")
    confirm.click()
    expect(page.locator("ul.messages")).to_contain_text("Ignored 5 exceptions")
    tabs.get_by_role("link", name=re.compile(r"^Ignored \(5\)")).click()
    expect(page).to_have_url(re.compile(r"status=ignored"))
    expect(page.locator("table.exceptions tbody tr")).to_have_count(5)
    page.get_by_role("link", name="Clear filters").click()
    expect(tabs.get_by_role("link", name=re.compile(r"^Needs attention \(3\)"))).to_be_visible()

    # The bad addresses, given to a colleague at once.
    page.get_by_label("Reason").select_option(label="Invalid email address")
    page.get_by_role("button", name="Apply filters").click()
    page.get_by_role("button", name=re.compile(r"Assign all matching \(3\)")).click()
    expect(page.locator("main")).to_contain_text("Assign 3 exceptions matching Reason: Invalid email address")
    assert not SyncException.objects.filter(assignee__isnull=False).exists()
    page.get_by_label("Assign them to").select_option(label="noor")
    page.get_by_role("button", name="Confirm: assign 3 exceptions").click()
    expect(page.locator("ul.messages")).to_contain_text("Assigned 3 exceptions to noor.")
    expect(page.locator("table.exceptions tbody tr")).to_have_count(3)
    expect(page.locator("table.exceptions")).to_contain_text("noor")
    screenshot(page, "exceptions-triage", full_page=False)
    assert SyncException.objects.filter(assignee__username="noor", reason_code="invalid_email").count() == 3

    # A note on one of them, then its history: the hub's and people's changes, by name.
    page.locator("table.exceptions tbody tr").first.get_by_role("link").click()
    expect(page.get_by_role("region", name="What is wrong")).to_contain_text("assigned to noor")
    page.get_by_label("Add a note").fill("Asked the web shop for the right address.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("ol.thread")).to_contain_text("Asked the web shop for the right address.")
    expect(page.locator("ol.thread")).to_contain_text("mia")
    history = page.get_by_role("table", name="History")
    expect(history).to_contain_text("Assigned to noor.")
    expect(history).to_contain_text("Note: Asked the web shop")
    screenshot(page, "exception-history")
    assert set(ExceptionEvent.objects.values_list("kind", flat=True)) == {"ignored", "assigned", "note_added"}
