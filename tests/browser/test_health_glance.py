"""Health at a glance, in a real browser, on the demo: the connections' statuses, the period
switch of the chosen flow's chart (24 h, 7 d, 30 d) and the incident timeline. Pictured as
docs/screenshots/health.png and health-incidents.png."""
import math
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from erp.models import ErpConnection
from esp.models import EspAccount
from syncapp.connection_incidents import connection_incident_open
from syncapp.models import ConnectionIncident, Flow, HealthSample
from tests.browser.conftest import log_in, make_user, screenshot
from tests.browser.demo import Demo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(monkeypatch):
    demo = Demo(monkeypatch, customers=30)
    demo.sync()
    yield demo
    demo.close()


def a_month_of_samples(flows) -> None:
    """What the sampler would have written over 30 days (folded by the hour past a week):
    a daily rhythm of accepted records, a few failures, a backlog and lag that rise with it."""
    now = timezone.now()
    samples = []
    for index, flow in enumerate(flows):
        for hours in range(1, 30 * 24, 2):
            at = now - timedelta(hours=hours)
            day = hours // 24
            busy = max(0.0, math.sin((at.hour - 6) / 24 * 2 * math.pi)) * (0.5 + (day * 37 % 11) / 20)
            samples.append(HealthSample(flow=flow, taken_at=at, accepted=int(40 * busy * (index + 1)) + 2,
                                        failed=int(busy * 3) if hours % 7 == 0 else 0, backlog=int(120 * busy),
                                        lag_seconds=int(600 * busy) if busy else None))
    HealthSample.objects.bulk_create(samples)


def incidents_of_the_month(sap: ErpConnection, dotdigital: EspAccount, ometria: EspAccount) -> None:
    """Past incidents as the engine closed them, and a 429 storm at Ometria going on now
    (opened as a push that gave up waiting opens it)."""
    now = timezone.now()
    for kind, side, days, minutes, detail in [
            ("unreachable", {"erp_connection": sap}, 3, 25, "Connection refused (the Service Layer was restarting)"),
            ("credentials", {"destination": dotdigital}, 9, 40, "dotdigital refused the API user or password (401)"),
            ("rate_limited", {"destination": ometria}, 16, 12, "Ometria answered 429 (queue full) nine times")]:
        opened = now - timedelta(days=days)
        ConnectionIncident.objects.create(kind=kind, opened_at=opened, last_seen_at=opened,
                                          closed_at=opened + timedelta(minutes=minutes), detail=detail, **side)
    connection_incident_open(kind="rate_limited", destination=ometria,
                             detail="Ometria answered 429 eight times; records wait and go again")


def test_health_reads_at_a_glance_and_switches_its_period(page, demo):
    flows = list(Flow.objects.order_by("name"))
    a_month_of_samples(flows)
    sap = ErpConnection.objects.get()
    dotdigital, ometria = EspAccount.objects.get(kind="dotdigital"), EspAccount.objects.get(kind="ometria")
    incidents_of_the_month(sap, dotdigital, ometria)
    make_user("marketing", "Marketing")

    log_in(page, "marketing")
    page.goto("/health/")
    expect(page.locator(f"#connection-erp-{sap.pk} td.reachable")).to_contain_text("answered")
    expect(page.locator(f"#connection-erp-{sap.pk} td.credentials")).to_contain_text("accepted")
    expect(page.locator(f"#connection-destination-{ometria.pk} td.rate")).to_contain_text("429 storm since")
    expect(page.locator(f"#connection-destination-{ometria.pk}")).to_have_attribute("data-light", "amber")
    expect(page.locator("table.health svg.sparkline")).to_have_count(len(flows))

    customers = Flow.objects.get(name="demo-customers")
    page.locator(f"#flow-{customers.pk} a[href*='flow={customers.pk}']").click()
    expect(page.locator("#chart")).to_have_text("demo-customers: last 24 hours")
    for period, words in (("7d", "7 days"), ("30d", "30 days")):
        page.get_by_role("navigation", name="Period").get_by_role("link", name=period).click()
        expect(page.locator("#chart")).to_have_text(f"demo-customers: last {words}")
        expect(page.locator("svg.chart text.lag-peak")).to_contain_text("lag: highest")
    expect(page.locator("#incidents")).to_have_text("Incidents, last 30 days")
    rows = page.locator("table.timeline tr.incident-row")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("429 storm")
    expect(rows.first.locator("td.to")).to_have_text("going on")
    expect(page.locator("table.timeline")).to_contain_text("ERP unreachable")
    screenshot(page, "health")

    page.locator("#incidents").scroll_into_view_if_needed()
    screenshot(page, "health-incidents", full_page=False)
