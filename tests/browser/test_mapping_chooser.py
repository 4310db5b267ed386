"""An integration admin adds a mapping by choosing, not typing: the destination field from
the list dotdigital declares, the ERP field seeing an example of its value, a named
transform with its own input; then previews the impact and saves."""
import pytest
from playwright.sync_api import expect

from esp.models import FieldMapping
from tests.browser.conftest import log_in, make_user, screenshot
from tests.hub import partner

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced(hub):
    """Two customers accepted under the default mappings; dotdigital also has a Numeric field."""
    hub.dd.state.create_field({"name": "POINTS", "type": "Numeric"})
    hub.sap.add_business_partners([partner("C001", CardName="Ada Lovelace"), partner("C002", CardName="Alan Turing")])
    hub.sync()
    return hub


def test_admin_picks_fields_from_the_lists_previews_the_impact_and_saves(page, synced, workers):
    make_user("ida", "Integration admin")
    log_in(page, "ida")
    page.get_by_role("link", name="Mappings").click()
    page.get_by_role("link", name="Edit mappings of dd customers").click()

    row = page.locator("tr.mapping-row[data-target='']")  # the blank row at the end
    source = row.locator("select[name$='-source_field']")
    source.select_option("card_name")
    expect(row.locator("output.sample")).to_have_text("e.g. Ada Lovelace")  # a real record's value

    # A declared Numeric field sets the row's type; then the admin settles on FIRSTNAME.
    target = row.locator("select[name$='-target_field']")
    target.select_option("POINTS")
    expect(row.locator("select[name$='-target_type']")).to_have_value("Numeric")
    target.select_option("FIRSTNAME")
    expect(row.locator("select[name$='-target_type']")).to_have_value("String")
    expect(row.locator("span.new-target")).to_be_hidden()

    part = row.locator("select[name$='-arg_part']")
    expect(part).to_be_hidden()  # no argument until a transform takes one
    row.locator("select[name$='-transform']").select_option(label="First name / last name from CardName")
    expect(part).to_be_visible()
    part.select_option("first")

    page.get_by_role("button", name="Preview impact").click()
    impact = page.get_by_role("region", name="Impact")
    expect(impact).to_contain_text("2 records would be re-sent to dd")
    expect(impact.locator("table.impact tbody tr")).to_contain_text("customers")
    assert not FieldMapping.objects.filter(destination=synced.account, target_field="FIRSTNAME").exists()
    screenshot(page, "mapping-chooser")

    page.get_by_role("button", name="Save mappings").click()
    expect(page.locator("ul.messages")).to_contain_text("Mappings saved: 1 added, 0 changed, 0 deleted.")
    saved = FieldMapping.objects.get(destination=synced.account, target_field="FIRSTNAME")
    assert (saved.source_field, saved.transform, saved.transform_arg) == ("card_name", "name_part", "first")
    workers.run(synced)  # the re-plan the save queued, then the push
    assert synced.dd.contacts["c001@example.com"]["dataFields"]["FIRSTNAME"] == "Ada"


def test_save_without_a_preview_shows_the_impact_first(page, synced, workers):
    make_user("ida", "Integration admin")
    log_in(page, "ida")
    page.goto(f"/mappings/{synced.account.pk}/customers/")

    row = page.locator("tr.mapping-row[data-target='FULLNAME']")
    row.locator("select[name$='-transform']").select_option(label="Upper case")
    page.get_by_role("button", name="Save mappings").click()
    impact = page.get_by_role("region", name="Impact")
    expect(impact).to_contain_text("Nothing is saved yet")
    expect(impact).to_contain_text("2 records would be re-sent")
    assert FieldMapping.objects.get(destination=synced.account, target_field="FULLNAME").transform == "trim"

    page.get_by_role("button", name="Save mappings").click()
    expect(page.locator("ul.messages")).to_contain_text("Mappings saved: 0 added, 1 changed, 0 deleted.")
    assert FieldMapping.objects.get(destination=synced.account, target_field="FULLNAME").transform == "upper"
