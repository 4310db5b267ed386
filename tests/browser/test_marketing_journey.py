"""Marketing's daily job in the browser: find the bad records, fix one in the ERP, retry it."""
import re

import pytest
from playwright.sync_api import expect

from exceptions.models import SyncException
from syncapp.models import RunTrigger
from syncapp.tasks import push_task_args
from tests.browser.conftest import log_in, make_user
from tests.hub import partner

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced_with_problems(hub):
    """One good customer, one with an invalid email and one with none, after a sync."""
    hub.sap.add_business_partners([
        partner("C001"),
        partner("C002", CardName="Jane Doe", EmailAddress="jane.doe@"),
        partner("C003", EmailAddress=""),
    ])
    hub.sync()
    assert set(SyncException.objects.values_list("record_key", "reason_code")) == {
        ("C002", "invalid_email"), ("C003", "missing_email")}
    return hub


def test_marketing_filters_fixes_the_record_in_the_erp_retries_and_sees_it_resolved(
        page, synced_with_problems, workers):
    hub = synced_with_problems
    mia = make_user("mia", "Marketing")
    log_in(page, "mia")

    page.get_by_role("link", name="Exceptions").click()
    expect(page.get_by_role("heading", name="Exceptions", exact=True)).to_be_visible()
    exceptions = page.locator("table.exceptions")
    expect(exceptions.get_by_role("link", name="C002")).to_be_visible()
    expect(exceptions.get_by_role("link", name="C003")).to_be_visible()

    page.get_by_label("Reason").select_option(label="Invalid email address")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"reason=invalid_email"))
    expect(page.locator("table.groups tbody tr")).to_have_count(1)
    expect(page.locator("table.groups")).to_contain_text("Invalid email address")
    expect(exceptions.get_by_role("link", name="C003")).to_have_count(0)

    exceptions.get_by_role("link", name="C002").click()
    expect(page.get_by_role("heading", name="C002: Invalid email address")).to_be_visible()
    expect(page.locator("td.status")).to_have_text("Open")
    expect(page.locator("p.what-to-do")).to_contain_text("Correct the email address")
    expect(page.locator("table.source")).to_contain_text("jane.doe@")

    # Someone corrects the Business Partner in SAP, through the Service Layer.
    hub.patch_in_sap("C002", EmailAddress="jane.doe@example.com")

    page.get_by_role("button", name="Retry", exact=True).click()
    expect(page.locator("ul.messages")).to_contain_text("re-read from the ERP")
    expect(page.locator("td.status")).to_have_text("Retrying")
    expect(page.locator("table.source")).to_contain_text("jane.doe@example.com")
    # The push it woke says who asked for it (the run page shows "Retry by mia").
    assert workers.queued == [("push", push_task_args(hub.flow.pk, RunTrigger.RETRY, mia.pk))]

    workers.run(hub)  # the worker the page woke sends the record
    page.reload()
    expect(page.locator("td.status")).to_have_text("Resolved")
    expect(page.get_by_role("button", name="Retry", exact=True)).to_have_count(0)
    expect(page.locator("table.history")).to_contain_text("mia")
    expect(page.locator("table.history")).to_contain_text("Retry requested")
    assert hub.dd.contacts["jane.doe@example.com"]["dataFields"]["FULLNAME"] == "Jane Doe"

    page.get_by_role("link", name="All exceptions").click()
    expect(page.locator("table.exceptions").get_by_role("link", name="C002")).to_have_count(0)
    expect(page.locator("table.exceptions").get_by_role("link", name="C003")).to_be_visible()


def test_marketing_ignores_a_record_with_a_note(page, synced_with_problems):
    make_user("mia", "Marketing")
    log_in(page, "mia")
    page.goto(f"/exceptions/{SyncException.objects.get(record_key='C003').pk}/")

    note = page.get_by_label("Why ignore it?")
    page.get_by_role("button", name="Ignore", exact=True).click()
    assert note.evaluate("field => field.validity.valueMissing")  # the browser asks for the note first
    expect(page.locator("td.status")).to_have_text("Open")

    note.fill("A shop account with no customer behind it.")
    page.get_by_role("button", name="Ignore", exact=True).click()
    expect(page.locator("td.status")).to_have_text("Ignored")
    expect(page.locator("table.facts")).to_contain_text("A shop account with no customer behind it.")
    expect(page.get_by_role("button", name="Retry", exact=True)).to_have_count(0)
