"""Issue 14, defects 5 and 6: status tabs with counts, bulk Ignore with a confirmation,
and a record page that leads with the bad value, reads like a page (no Python dict text,
amounts as money, one date format), keeps one email rule per role on page and API, and
links an order waiting for its customer to the customer's exception."""
import re
from decimal import Decimal

import pytest

from exceptions.models import SyncException
from tests.factories import BusinessPartnerFactory, FlowFactory
from tests.web.factories import SalesOrderFactory, SyncExceptionFactory

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------ 5: tabs and bulk ignore

@pytest.fixture
def morning():
    flow = FlowFactory()
    suppressed = SyncExceptionFactory.create_batch(5, flow=flow, reason_code="contact_suppressed")
    SyncExceptionFactory.create_batch(2, flow=flow, reason_code="invalid_email")
    SyncExceptionFactory(flow=flow, status=SyncException.Status.RETRYING)
    SyncExceptionFactory.create_batch(3, flow=flow, status=SyncException.Status.RESOLVED)
    SyncExceptionFactory(flow=flow, status=SyncException.Status.IGNORED)
    return suppressed


def test_the_dashboard_has_status_tabs_with_counts(as_role, morning):
    response = as_role("marketing").get("/exceptions/")
    tabs = {tab.label: tab.count for tab in response.context["tabs"]}
    assert tabs == {"Needs attention": 8, "Open": 7, "Retrying": 1, "Resolved": 3, "Ignored": 1}
    html = response.content.decode()
    assert re.search(r"Resolved\s*<span class=\"count\">\(3\)</span>", html)
    # A tab keeps the other filters and counts under them.
    tabs = {t.label: t.count for t in as_role("marketing").get("/exceptions/", {"reason": "contact_suppressed"})
            .context["tabs"]}
    assert tabs["Open"] == 5 and tabs["Resolved"] == 0


def test_bulk_ignore_asks_for_confirmation_with_the_count_then_ignores_them_all(as_role, morning):
    client = as_role("marketing")
    url = "/exceptions/ignore-matching/?reason=contact_suppressed"
    confirm = client.get(url)
    assert confirm.status_code == 200 and confirm.context["count"] == 5
    assert "Confirm: ignore 5 exceptions" in confirm.content.decode()
    assert SyncException.objects.filter(status=SyncException.Status.IGNORED).count() == 1  # nothing yet
    # No note, no action.
    client.post(url, {"expected": 5})
    assert SyncException.objects.filter(status=SyncException.Status.IGNORED).count() == 1
    done = client.post(url, {"expected": 5, "note": "Unsubscribed; not for us to chase."}, follow=True)
    assert "Ignored 5 exceptions" in done.content.decode()
    ignored = SyncException.objects.filter(pk__in=[e.pk for e in morning])
    assert set(ignored.values_list("status", flat=True)) == {"ignored"}
    assert set(ignored.values_list("note", flat=True)) == {"Unsubscribed; not for us to chase."}
    assert SyncException.objects.filter(reason_code="invalid_email", status="open").count() == 2


def test_bulk_ignore_asks_again_when_the_count_moved(as_role, morning):
    client = as_role("marketing")
    SyncExceptionFactory.create_batch(10, flow=morning[0].flow, reason_code="contact_suppressed")
    again = client.post("/exceptions/ignore-matching/?reason=contact_suppressed", {"expected": 5, "note": "x"})
    assert again.status_code == 200 and again.context["changed_from"] == 5
    assert SyncException.objects.filter(status="ignored").count() == 1


def test_bulk_ignore_is_for_roles_that_act_on_exceptions(as_role, morning):
    assert as_role("finance").get("/exceptions/ignore-matching/").status_code == 403
    assert as_role("finance").post("/exceptions/ignore-matching/", {"expected": 7, "note": "x"}).status_code == 403
    assert SyncException.objects.filter(status="ignored").count() == 1


# ------------------------------------------------------------------ 6: the record page

@pytest.fixture
def bad_partner():
    flow = FlowFactory()
    BusinessPartnerFactory(
        connection=flow.connection, card_code="C00042", email="jane@", email_normalised="jane@",
        addresses=[{"type": "bill_to", "street": "1 High St", "city": "London", "zip_code": "SW1A 2AA"}],
        udfs={"U_LoyaltyTier": "Gold"})
    return SyncExceptionFactory(flow=flow, record_key="C00042", reason_code="invalid_email",
                                source_payload={"CardCode": "C00042", "EmailAddress": "jane.doe@example.com"})


def test_the_record_page_leads_with_the_bad_value_and_reads_like_a_page(as_role, bad_partner):
    html = as_role("marketing").get(f"/exceptions/{bad_partner.pk}/").content.decode()
    what_happened = html.index("What happened")
    assert html.index('<mark class="bad-value">jane@</mark>') < html.index("Source record")
    assert html.index("jane@") > what_happened
    assert "{'" not in html and "[{" not in html.split("<pre>")[0]  # no Python dict text outside the payloads
    assert "London" in html and "U_LoyaltyTier: Gold" in html


def test_amounts_and_dates_have_one_format():
    from datetime import UTC, datetime

    from exceptions.record_page import readable

    assert readable(Decimal("231.960000")) == "231.96"
    assert readable(Decimal("2.000000")) == "2"
    assert readable(Decimal("10.500000")) == "10.50"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", readable(datetime(2026, 12, 4, 10, 0, tzinfo=UTC)))


def test_an_order_page_shows_its_amount_as_money(as_role):
    flow = FlowFactory(entity="orders")
    SalesOrderFactory(connection=flow.connection, doc_entry=39, doc_num=100039, doc_total=Decimal("231.960000"))
    exception = SyncExceptionFactory(flow=flow, entity="orders", record_key="39", reason_code="total_mismatch")
    html = as_role("marketing").get(f"/exceptions/{exception.pk}/").content.decode()
    assert "231.96" in html and "231.960000" not in html
    dates = re.findall(r"\b\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?\b", html.split("<pre>")[0])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", found) for found in dates), dates


@pytest.mark.parametrize("role, full", [("marketing", True), ("admin", True), ("finance", False)])
def test_one_email_rule_per_role_on_the_page_and_in_the_api(as_role, bad_partner, role, full):
    client = as_role(role)
    html = client.get(f"/exceptions/{bad_partner.pk}/").content.decode()
    api = client.get(f"/api/exceptions/{bad_partner.pk}/").json()
    assert ("jane.doe@example.com" in html) is full
    assert (api["source_payload"]["EmailAddress"] == "jane.doe@example.com") is full
    if not full:
        assert "j***@example.com" in html and api["source_payload"]["EmailAddress"] == "j***@example.com"


def test_an_order_waiting_for_its_customer_links_to_the_customers_exception(as_role):
    orders = FlowFactory(entity="orders")
    customers = FlowFactory(connection=orders.connection, destination=orders.destination)
    SalesOrderFactory(connection=orders.connection, doc_entry=63, doc_num=100063, card_code="C00063")
    customer = SyncExceptionFactory(flow=customers, record_key="C00063", reason_code="invalid_email")
    order = SyncExceptionFactory(flow=orders, entity="orders", record_key="63", reason_code="waiting_for_customer",
                                 message="Order 100063 waits for customer C00063.")
    html = as_role("marketing").get(f"/exceptions/{order.pk}/").content.decode()
    assert f'href="/exceptions/{customer.pk}/"' in html
