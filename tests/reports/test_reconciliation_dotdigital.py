"""Reconciliation against dotdigital, end to end: SAP B1 sandbox -> hub -> dotdigital sandbox,
and dotdigital's Orders collection read back over its list API.

A month with plain orders, a cancellation, a partial and a full refund, a foreign-currency
order, an order waiting for its customer, and a push lost at the destination (deleted
there through dotdigital's API); then the destination is edited behind the hub's back.
The report names each differing document with its class and the cent difference; a
re-send through the engine makes the next report clean of everything the ERP can fix.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests

from esp.dotdigital.sandbox import DEMO_API_USER
from reports.destination_side import read_back_orders
from reports.erp_side import erp_summary
from reports.models import ReadBack, Resend
from reports.periods import Period
from reports.reconcile import EXTRA, MISSING, STATUS, VALUE, WAITING, flow_reconciliation
from reports.resend import differences_resend
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import flow_push
from tests.hub import DD_PASSWORD
from tests.reports.november import NovemberDocuments
from tests.test_end_to_end_orders_lifecycle import LifecycleHub

pytestmark = pytest.mark.django_db

NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


class MonthHub(NovemberDocuments, LifecycleHub):
    """November's documents in SAP, synced to dotdigital."""

    def record(self, entry: int) -> dict:
        return self.dd_records("Orders")[str(entry)]

    def delete_at_dotdigital(self, entry: int, email: str) -> None:
        """The lost push: the record deleted at dotdigital through its API."""
        response = requests.delete(
            f"{self.dd_server.url}/r1/insightData/v3/contacts/email/{email}/Orders/{entry}",
            auth=(DEMO_API_USER, DD_PASSWORD))
        assert response.status_code == 204, response.text

    def edit_at_dotdigital(self, key: str, **fields) -> None:
        """Someone (another integration) changes a record at dotdigital behind the hub's back."""
        with self.dd._lock:
            self.dd.insight.collections["Orders"]["records"][key]["json"].update(fields)

    def read_back(self) -> ReadBack:
        return read_back_orders(flow=self.orders, client=self.destination().client)

    def report(self):
        self.read_back()
        return flow_reconciliation(flow=self.orders, period=NOVEMBER)


@pytest.fixture
def hub():
    hub = MonthHub()
    yield hub
    hub.close()


def by_key(report) -> dict:
    return {d.key: d for d in report.differences}


def test_a_synced_month_matches_dotdigital_to_the_cent_but_for_the_order_waiting_for_its_customer(hub):
    entries = hub.build_month()
    report = hub.report()

    assert report.side.source == "read_back" and "Read back from dd" in report.side.source_text
    assert [(d.kind, d.key) for d in report.differences] == [(WAITING, str(entries["waiting"]))]
    waiting = report.differences[0]
    assert "Waiting for customer" in waiting.reason and waiting.exception_id
    assert (waiting.erp_value, waiting.destination_value, waiting.gap) == (Decimal("15.00"), None, Decimal("15.00"))
    gbp, eur = report.currencies[1], report.currencies[0]
    # GBP: 60 + 0 (cancelled) + 25 (75 less 50 credited) + 0 (80 credited) + 15 (waiting) + 30.
    assert (gbp.currency, gbp.erp_count, gbp.erp_value) == ("GBP", 6, Decimal("130.00"))
    assert (gbp.destination_count, gbp.destination_value, gbp.gap, gbp.listed) == (
        5, Decimal("115.00"), Decimal("15.00"), Decimal("15.00"))
    assert (eur.currency, eur.erp_value, eur.destination_value, eur.gap) == (
        "EUR", Decimal("100.00"), Decimal("100.00"), Decimal("0.00"))
    assert report.matched == 6


def test_the_erp_side_nets_cancellations_and_refunds_per_currency_and_day(hub):
    hub.build_month()
    summary = erp_summary(connection_id=hub.connection.pk, period=NOVEMBER)
    eur, gbp = summary.by_currency
    assert (eur.currency, eur.kinds["orders"].count, eur.kinds["orders"].gross) == ("EUR", 1, Decimal("120.00"))
    orders = gbp.kinds["orders"]
    # 72 + 48 + 90 + 96 + 18 + 36 gross (20 % tax); 48 cancelled; 60 + 96 credited with tax.
    assert (orders.count, orders.gross, orders.tax) == (6, Decimal("360.00"), Decimal("60.00"))
    assert gbp.kinds["cancellations"].count == 1 and gbp.kinds["cancellations"].gross == Decimal("48.00")
    assert (gbp.kinds["credit_memos"].count, gbp.refunds) == (2, Decimal("156.00"))
    assert gbp.net == Decimal("156.00") and gbp.net_tax == Decimal("26.00")
    # Orders on the 20th; the invoices and credit memos on the day they were made (SAP's today, the 22nd).
    days = {(row.currency, row.day): row for row in summary.by_day}
    assert sorted(days) == [("EUR", date(2026, 11, 20)), ("GBP", date(2026, 11, 20)), ("GBP", date(2026, 11, 22))]
    refund_day = days[("GBP", date(2026, 11, 22))]
    assert (refund_day.kinds["credit_memos"].count, refund_day.kinds["invoices"].count) == (2, 2)
    assert refund_day.net == Decimal("-156.00") and days[("GBP", date(2026, 11, 20))].net == Decimal("312.00")


def test_each_class_of_difference_is_named_with_its_cents_and_a_resend_makes_the_next_report_clean(hub):
    entries = hub.build_month()
    hub.delete_at_dotdigital(entries["lost"], "c001@example.com")
    hub.edit_at_dotdigital(str(entries["foreign"]), orderTotal=99.99)
    hub.edit_at_dotdigital(str(entries["full"]), orderStatus="complete", refundedTotal=0.0, orderTotal=80.0)
    with hub.dd._lock:  # an order another integration wrote, which SAP does not have
        hub.dd.insight.collections["Orders"]["records"]["777001"] = {
            "key": "777001", "json": {"id": "X-1", "currency": "GBP", "orderTotal": 12.34,
                                      "purchaseDate": "2026-11-21", "orderStatus": "complete"},
            "created": "2026-11-21T00:00:00Z", "updated": "2026-11-21T00:00:00Z", "ownerContactId": 1}

    report = hub.report()

    found = {(d.kind, d.key): d for d in report.differences}
    assert set(found) == {(MISSING, str(entries["lost"])), (VALUE, str(entries["foreign"])),
                          (STATUS, str(entries["full"])), (EXTRA, "777001"), (WAITING, str(entries["waiting"]))}
    lost = found[(MISSING, str(entries["lost"]))]
    assert (lost.erp_value, lost.destination_value, lost.gap, lost.currency) == (
        Decimal("30.00"), None, Decimal("30.00"), "GBP")
    value = found[(VALUE, str(entries["foreign"]))]
    assert (value.erp_value, value.destination_value, value.gap, value.currency) == (
        Decimal("100.00"), Decimal("99.99"), Decimal("0.01"), "EUR")
    status = found[(STATUS, str(entries["full"]))]
    assert (status.erp_state, status.destination_state, status.destination_value) == (
        "refunded", "live", Decimal("80.00"))
    assert "Refunded in the ERP, live at the destination (complete)" in status.reason
    assert found[(EXTRA, "777001")].gap == Decimal("-12.34")
    for line in report.currencies:  # the listed documents add up exactly to each currency's gap
        assert line.explained, line
    gbp = next(line for line in report.currencies if line.currency == "GBP")
    assert gbp.gap == Decimal("30.00") + Decimal("-80.00") + Decimal("-12.34") + Decimal("15.00")

    resend = differences_resend(flow=hub.orders, period=NOVEMBER, user=None)
    assert sorted(resend.record_keys) == sorted(str(entries[n]) for n in ("lost", "foreign", "full"))
    assert resend.queued == 3 and Resend.objects.count() == 1
    rows = OutboxItem.objects.filter(flow=hub.orders, record_key__in=resend.record_keys)
    assert {row.status for row in rows} == {OutboxStatus.PENDING}
    assert {row.priority for row in rows} == {50}  # routine: behind new orders and cancellations
    flow_push(flow=hub.orders, adapter=hub.destination())

    after = hub.report()
    assert {(d.kind, d.key) for d in after.differences} == {(EXTRA, "777001"), (WAITING, str(entries["waiting"]))}
    assert hub.record(entries["lost"])["orderTotal"] == 30.0

    # What the ERP cannot re-send: the customer is fixed in SAP, the stray record removed there.
    hub.patch_in_sap("C009", EmailAddress="pat@example.com")
    hub.cycle()
    with hub.dd._lock:
        del hub.dd.insight.collections["Orders"]["records"]["777001"]
    clean = hub.report()
    assert clean.clean and all(line.gap == 0 for line in clean.currencies)


def test_the_read_back_pages_through_the_list_with_limit_and_marker(hub):
    hub.build_month()
    with hub.dd._lock:
        records = hub.dd.insight.collections["Orders"]["records"]
        for n in range(2_500):
            records[f"9{n:05d}"] = {"key": f"9{n:05d}", "json": {"orderTotal": 1.0, "currency": "GBP",
                                                                 "purchaseDate": "2026-10-01"},
                                    "created": "x", "updated": "x", "ownerContactId": 1}
    calls = len(hub.dd.call_log)
    read = hub.read_back()
    assert read.records == 2_506
    lists = [c for c in hub.dd.call_log[calls:] if c[1] == "/insightData/v3/contacts/Orders"]
    assert len(lists) == 3  # pages of at most 1000, the last one without a next marker
    markers = [e.query for e in hub.dd.exchanges if e.path == "/insightData/v3/contacts/Orders"]
    assert markers[0] == "limit=1000" and "marker=" in markers[1]
