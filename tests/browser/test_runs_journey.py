"""Marketing opens a run and finds why a record failed (issue 14, part 1): from the nav to
the Runs page, into the push run that sent this morning's contacts, to the record
dotdigital refused, its reason, and on to its exception."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, make_user, screenshot
from tests.hub import partner

pytestmark = pytest.mark.django_db(transaction=True)


def test_marketing_opens_a_run_and_finds_why_a_record_failed(page, hub):
    hub.dd.suppress("c002@example.com")
    hub.sap.add_business_partners([partner("C001", CardName="Jane Doe"), partner("C002", CardName="Sam Lee"),
                                   partner("C003"), partner("C004", EmailAddress="not-an-email")])
    _, pushed = hub.sync()
    make_user("mia", "Marketing")
    log_in(page, "mia")

    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page.get_by_role("heading", name="Runs")).to_be_visible()
    push_row = page.locator("table.runs tbody tr").first  # newest first: the push
    expect(push_row).to_contain_text("Push to destination: customers")
    expect(push_row).to_contain_text("Succeeded with exceptions")
    screenshot(page, "runs")

    push_row.get_by_role("link", name=f"Run {pushed.pk}").click()
    expect(page.get_by_role("heading", name=re.compile(rf"Run {pushed.pk}: Push"))).to_be_visible()
    tabs = page.get_by_role("navigation", name="Outcome")
    expect(tabs.get_by_role("link", name="Refused (1)")).to_have_attribute("aria-current", "page")
    refused = page.locator("table.outcomes tbody tr")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("C002 · Sam Lee")
    expect(refused).to_contain_text("Contact is suppressed")
    screenshot(page, "run-detail")

    tabs.get_by_role("link", name="Accepted (2)").click()
    expect(page.locator("table.outcomes")).to_contain_text("C001 · Jane Doe")
    page.locator("table.outcomes summary", has_text="c001@example.com").click()  # the payload sent
    expect(page.locator("table.outcomes pre").first).to_contain_text("FULLNAME: Jane Doe")

    tabs.get_by_role("link", name="Refused (1)").click()
    page.get_by_role("link", name=re.compile("Open the exception")).click()
    expect(page.get_by_role("heading", name=re.compile("Contact is suppressed"))).to_be_visible()
