"""Marketing opens the IDoc monitor, finds the IDoc that failed, and reprocesses it after
the fix; ECC's messages arrive over real HTTP at the live app's endpoint."""
from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from erp.sap_ecc.apply import idocs_apply
from erp.sap_ecc.models import Idoc
from tests.browser.conftest import log_in, make_user, screenshot
from tests.erp.sap_ecc.conftest import ECC_PASSWORD, SENDER, ecc_connection

pytestmark = pytest.mark.django_db(transaction=True)


def test_marketing_finds_a_failed_idoc_and_reprocesses_it_after_the_fix(page, live_server, settings):
    from erp.sap_ecc.sandbox.idocs import IdocWriter

    settings.SYNC_CONTROL_CHARACTERS = "refuse"
    connection = ecc_connection()
    writer = IdocWriter(sender_partner=SENDER)
    good = writer.packet([writer.debmas("99009", "Jane Example"), writer.adrmas("99009", "jane@example.com")])
    bad = writer.packet([writer.debmas("99010", "Bad \u202eName")])
    for body in (good, bad):
        answer = requests.post(f"{live_server.url}/ecc/{connection.name}/idocs", data=body, timeout=10,
                               auth=("ECC_PARTNER", ECC_PASSWORD), headers={"Content-Type": "application/xml"})
        assert answer.status_code == 200, answer.text
    idocs_apply(connection)
    failed = Idoc.objects.get(status=Idoc.Status.ERROR)

    make_user("mia", "Marketing")
    log_in(page, "mia")
    page.get_by_role("navigation").get_by_role("link", name="IDocs").click()
    expect(page.get_by_role("heading", name="IDoc monitor")).to_be_visible()
    page.get_by_label("Status").select_option("51")
    page.get_by_role("button", name="Apply filters").click()
    rows = page.locator("table.idocs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("99010")
    expect(rows.first).to_contain_text("invisible")  # the reason, in words
    screenshot(page, "idoc-monitor", full_page=False)

    settings.SYNC_CONTROL_CHARACTERS = "strip"  # the admin's fix
    page.get_by_label(f"Select IDoc {failed.display_number}").check()
    page.get_by_role("button", name="Reprocess selected").click()
    expect(page.get_by_text("1 IDoc reprocessed: 1 applied now")).to_be_visible()
    assert Idoc.objects.get(pk=failed.pk).status == Idoc.Status.APPLIED

    page.goto(f"/ecc/idocs/{failed.pk}/")
    expect(page.get_by_role("heading", name="Status history")).to_be_visible()
    expect(page.locator(".status-53").first).to_be_visible()
