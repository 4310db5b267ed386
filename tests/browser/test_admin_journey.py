"""An integration admin changes a mapping in the browser: preview, impact, save, audit."""
import pytest
from playwright.sync_api import expect

from esp.models import FieldMapping
from tests.browser.conftest import log_in, make_user
from tests.hub import partner

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced(hub):
    """Two customers the destination has accepted under the default mappings."""
    hub.sap.add_business_partners([partner("C001", CardName="Ada Lovelace"), partner("C002", CardName="Alan Turing")])
    hub.sync()
    assert set(hub.dd.contacts) == {"c001@example.com", "c002@example.com"}
    return hub


def fullname_row(page):
    return page.locator("tr.mapping-row[data-target='FULLNAME']")


def test_admin_edits_previews_dry_runs_and_saves_a_mapping_then_sees_the_audit_entry(page, synced, workers):
    make_user("ida", "Integration admin")
    log_in(page, "ida")

    page.get_by_role("link", name="Mappings").click()
    page.get_by_role("link", name="Edit mappings of dd customers").click()
    expect(page.get_by_role("heading", name="Field mappings: dd · Customers")).to_be_visible()

    fullname_row(page).locator("select[name$='-transform']").select_option(label="Upper case")
    page.get_by_label("Record to preview").fill("C001")
    page.get_by_role("button", name="Preview", exact=True).click()

    preview = page.get_by_role("region", name="Preview")
    expect(preview.get_by_role("heading", name="Preview of C001")).to_be_visible()
    expect(preview).to_contain_text("c001@example.com")
    expect(preview).to_contain_text("Would be sent")
    expect(preview).to_contain_text("0 added, 1 changed, 0 removed")
    changed = preview.locator("table.diff tr.changed")
    expect(changed).to_have_count(1)
    expect(changed).to_contain_text("FULLNAME")
    expect(changed).to_contain_text("Ada Lovelace")
    expect(changed).to_contain_text("ADA LOVELACE")
    # The edit survives the preview: the page still shows the unsaved choice.
    expect(fullname_row(page).locator("select[name$='-transform']")).to_have_value("upper")
    assert FieldMapping.objects.get(destination=synced.account, target_field="FULLNAME").transform == "trim"

    page.get_by_role("button", name="Preview impact").click()
    impact = page.get_by_role("region", name="Impact")
    expect(impact).to_contain_text("2 records would be re-sent")

    page.get_by_role("button", name="Save mappings").click()
    expect(page.locator("ul.messages")).to_contain_text("Mappings saved: 0 added, 1 changed, 0 deleted.")
    expect(fullname_row(page).locator("select[name$='-transform']")).to_have_value("upper")
    assert FieldMapping.objects.get(destination=synced.account, target_field="FULLNAME").transform == "upper"
    workers.run(synced)  # the re-plan the save queued, then the push
    assert synced.dd.contacts["c001@example.com"]["dataFields"]["FULLNAME"] == "ADA LOVELACE"

    history = page.get_by_role("region", name="History of these mappings")
    entry = history.locator("table.audit tbody tr").first
    expect(entry).to_contain_text("ida")
    expect(entry).to_contain_text("Changed")
    expect(entry).to_contain_text("card_name -> FULLNAME")
    expect(entry.locator("ul.changes")).to_contain_text("transform: trim → upper")


def test_a_mapping_the_destination_would_refuse_is_not_saved(page, synced, workers):
    make_user("ida", "Integration admin")
    log_in(page, "ida")
    page.goto(f"/mappings/{synced.account.pk}/customers/")

    # Names are chosen from dotdigital's list; a new one is added on purpose and checked.
    fullname_row(page).locator("select[name$='-target_field']").select_option("__new__")
    fullname_row(page).locator("input[name$='-target_new']").fill("FULL NAME WITH SPACES AND FAR TOO LONG")
    page.get_by_role("button", name="Save mappings").click()

    expect(page.get_by_role("alert").first).to_contain_text("Nothing was saved")
    expect(page.locator("table.mappings .errorlist").first).to_be_visible()
    assert FieldMapping.objects.filter(destination=synced.account, target_field="FULLNAME").exists()
    assert workers.queued == []
