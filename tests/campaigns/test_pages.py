"""The attribution pages, CSV and API: who may read, who may act, and what they show."""
import csv
import io
import re
from decimal import Decimal

import pytest

from reports.campaigns.attribution import attribution_run
from reports.campaigns.models import ActivityImport, AttributionSettings, Touch
from syncapp.models import Flow, OutboxItem
from tests.campaigns.world import build_world

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "marketing", "finance", "admin")
READERS = {"finance", "admin"}
ACTORS = {"finance"}


@pytest.fixture
def world():
    world = build_world()
    # dotdigital heard of O1 and O4 (its orders flow had them accepted), not of O8.
    flow = Flow.objects.create(name="orders-dd", connection=world["connection"], entity="orders",
                               destination=world["account"])
    for order in ("O1", "O4"):
        OutboxItem.objects.create(flow=flow, record_key=str(world[order].doc_entry), status="accepted",
                                  accepted_at="2026-11-20T00:00:00Z")
    world["B"].claimed_revenue, world["B"].claimed_currency, world["B"].claimed_orders = Decimal("240.00"), "GBP", 2
    world["B"].save()
    attribution_run(settings=AttributionSettings.current())
    return world


def _pages(world):
    return ["/reports/campaigns/", f"/reports/campaigns/{world['B'].pk}/", "/reports/campaigns/attributed.csv",
            "/api/campaigns/report/", "/api/campaigns/attributed-orders/", "/api/campaigns/imports/",
            "/api/campaigns/settings/"]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_endpoint_by_role(as_role, world, role):
    client = as_role(role)
    for url in _pages(world):
        response = client.get(url)
        if role in READERS:
            assert response.status_code == 200, (role, url)
        elif role == "anonymous" and not url.startswith("/api/"):
            assert response.status_code == 302 and response.url.startswith("/login/"), url
        else:
            assert response.status_code in (401, 403), (role, url, response.status_code)


def _act(client, action):
    return {
        "settings": lambda: client.post("/reports/campaigns/settings/", {"model": "linear", "click_window_days": 3}),
        "rerun": lambda: client.post("/reports/campaigns/rerun/"),
        "upload": lambda: client.post("/reports/campaigns/import/ometria/", {}),
        "dotdigital": lambda: client.post("/reports/campaigns/import/dotdigital/", {}),
    }[action]()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["settings", "rerun", "upload", "dotdigital"])
def test_only_finance_acts(as_role, world, role, action):
    response = _act(as_role(role), action)
    if role in ACTORS:
        assert response.status_code == 302 and not response.url.startswith("/login/")
    elif role == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/login/")
    else:
        assert response.status_code == 403
    changed = AttributionSettings.current().model == "linear"
    assert changed == (role in ACTORS and action == "settings")


def test_the_page_shows_each_campaign_with_its_chart_and_the_actions_only_to_finance(as_role, world):
    page = as_role("admin").get("/reports/campaigns/").content.decode()
    assert "B Black Friday" in page and "220.56" in page and "185.53" in page and "<svg" in page
    assert "Finance&#x27;s actions" not in page and "Finance's actions" not in page
    assert "Finance's actions" in as_role("finance").get("/reports/campaigns/").content.decode()


def test_the_campaign_page_explains_the_difference_to_the_cent(as_role, world):
    page = as_role("finance").get(f"/reports/campaigns/{world['B'].pk}/").content.decode()
    # claimed 240.00 - net 185.53 = 54.47 = refunds of O1 and O4, which it received (0.03 + 10.00)
    # - the net of O8, which it never received (25.00 - 25.00 returned) + its own rules 44.44
    parts = re.findall(r"<tr><td>([^<]+)</td><td>(-?[0-9.]+)</td></tr>", page)
    assert parts == [("Returns and credit memos dotdigital ignores (on orders it received)", "10.03"),
                     ("Orders dotdigital never received (their net value)", "0.00"),
                     ("dotdigital&#x27;s own attribution (its window and model, orders it matched that we did "
                      "not, its figures in GBP)", "44.44")]
    assert "Why the figures differ by 54.47" in page


def test_the_api_report_matches_the_page(as_role, world):
    body = as_role("finance").get("/api/campaigns/report/").json()
    b = next(c for c in body["campaigns"] if c["external_id"] == "102")
    assert (b["gross"], b["refunds"], b["net"], b["claimed"], b["difference"]) == (
        "220.56", "35.03", "185.53", "240.00", "54.47")
    assert sum(Decimal(part["amount"]) for part in b["explanation"]) == Decimal(b["difference"])
    assert body["run"]["model"] == "last_touch"
    a = next(c for c in body["campaigns"] if c["external_id"] == "101")
    assert (a["contacts_sent"], a["contacts_clicked"], b["contacts_clicked"]) == (1, 2, 2)
    assert a["claimed"] is None and a["explanation"] == []


def test_the_csv_lists_every_attributed_order_without_emails(as_role, world):
    response = as_role("finance").get("/reports/campaigns/attributed.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted((r["campaign_id"], r["order_doc_entry"], r["gross_local"], r["net_local"],
                   r["destination_received_order"]) for r in rows) == [
        ("101", "2", "80.00", "50.00", "no"), ("102", "1", "100.01", "99.98", "yes"),
        ("102", "4", "95.55", "85.55", "yes"), ("102", "8", "25.00", "0.00", "no")]
    assert next(r for r in rows if r["order_doc_entry"] == "4")["order_currency"] == "USD"
    world["A"].name = '=HYPERLINK("http://evil.example","Click")'
    world["A"].save()
    again = b"".join(as_role("finance").get("/reports/campaigns/attributed.csv").streaming_content).decode()
    assert "'=HYPERLINK" in again  # a spreadsheet shows it as text, never runs it
    assert "@" not in b"".join(as_role("finance").get("/reports/campaigns/attributed.csv").streaming_content).decode()


def test_finance_uploads_an_ometria_file_and_sees_the_refused_rows(as_role, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import EspAccountFactory

    ometria = EspAccountFactory(name="om", kind="ometria")
    upload = SimpleUploadedFile("events.csv", b"event_type,timestamp,campaign_id,email\n"
                                              b"click,2026-11-05T10:00:00Z,om-1,dan@example.com\n"
                                              b"click,yesterday,om-1,dan@example.com\n")
    client = as_role("finance")
    response = client.post("/reports/campaigns/import/ometria/", {"account": ometria.pk, "file": upload})
    job = ActivityImport.objects.get(account=ometria)
    assert response.status_code == 302 and response.url == f"/reports/campaigns/imports/{job.pk}/"
    assert Touch.objects.filter(campaign__account=ometria).count() == 1
    page = client.get(response.url).content.decode()
    assert "The timestamp &#x27;yesterday&#x27; is not an ISO 8601 date and time." in page


def test_the_schema_documents_the_endpoints(as_role, world):
    schema = as_role("finance").get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/campaigns/report/", "/api/campaigns/attributed-orders/", "/api/campaigns/imports/",
                 "/api/campaigns/settings/"):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/campaigns/report/"]["get"]["parameters"]}
    assert {"date_from", "date_to"} <= params


def test_a_change_of_the_rules_is_audited_with_who_made_it(as_role, world):
    from audit.models import AuditEntry

    as_role("finance").post("/reports/campaigns/settings/", {"model": "first_touch", "click_window_days": 5})
    entry = AuditEntry.objects.filter(content_type__app_label="campaigns").latest("at")
    assert entry.user.username == "finance"
    assert AttributionSettings.current().click_window_days == 5


def test_a_bad_window_is_refused_in_words(as_role, world):
    response = as_role("finance").post("/reports/campaigns/settings/", {"model": "linear",
                                                                       "click_window_days": 400}, follow=True)
    assert "Choose a click window between 0 and 90 days." in response.content.decode()
    assert AttributionSettings.current().model == "last_touch"


def test_an_order_the_destination_never_received_explains_its_net(as_role, world):
    world["A"].claimed_revenue = Decimal("30.00")
    world["A"].save()
    body = as_role("finance").get("/api/campaigns/report/").json()
    a = next(c for c in body["campaigns"] if c["external_id"] == "101")
    # O2 (80.00, 30.00 refunded) never reached dotdigital: its net 50.00 is missing from the claim.
    assert a["difference"] == "-20.00"
    assert [part["amount"] for part in a["explanation"]] == ["0.00", "-50.00", "30.00"]
