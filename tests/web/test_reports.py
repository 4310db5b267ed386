"""Finance's reconciliation report: mirror orders against what each destination holds."""
import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from exceptions.reasons import reason_for
from reports.finance_exceptions import finance_open_exceptions
from syncapp.models import OutboxItem, OutboxStatus
from tests.factories import FlowFactory
from tests.web.factories import SalesOrderFactory, SyncExceptionFactory

pytestmark = pytest.mark.django_db

IN_RANGE = date(2026, 3, 10)


@pytest.fixture
def orders_flow():
    """One orders flow with an order in each place, plus orders outside the range."""
    flow = FlowFactory(name="orders-dd", entity="orders")

    def order(entry, total, *, status=None, reason=None, doc_date=IN_RANGE, **extra):
        SalesOrderFactory(connection=flow.connection, doc_entry=entry, doc_date=doc_date,
                          doc_total=Decimal(total), doc_total_local=Decimal(total), **extra)
        if status:
            OutboxItem.objects.create(flow=flow, record_key=str(entry), status=status)
        if reason:
            SyncExceptionFactory(flow=flow, connection=flow.connection, entity="orders", record_key=str(entry),
                                 reason_code=reason, owner_team=reason_for(reason).owner)

    order(1, "100.00", status=OutboxStatus.ACCEPTED)
    order(2, "50.00", status=OutboxStatus.ACCEPTED)
    order(3, "20.00", status=OutboxStatus.PENDING)
    order(4, "5.00", status=OutboxStatus.SUBMITTED)
    order(5, "30.00", status=OutboxStatus.HELD, reason="waiting_for_customer")
    order(6, "40.00", reason="waiting_for_customer")  # waiting before it ever had a record
    order(7, "70.00", status=OutboxStatus.FAILED, reason="total_mismatch")
    order(8, "80.00", reason="unknown_customer")
    order(9, "9.00")  # not planned
    order(10, "1000.00", status=OutboxStatus.ACCEPTED, doc_date=date(2026, 2, 1))  # before the range
    order(11, "11.00", is_cancellation=True)  # a cancellation document is never counted
    return flow


def test_finance_exceptions_are_counted_by_reason(orders_flow):
    SyncExceptionFactory(reason_code="invalid_email", owner_team="marketing")
    SyncExceptionFactory(entity="orders", reason_code="unknown_item", owner_team="finance", status="ignored")
    assert finance_open_exceptions() == [
        ("total_mismatch", "Total does not add up", 1), ("unknown_customer", "Unknown customer", 1),
        ("unknown_item", "Unknown item on a line", 0),
    ]


def test_the_page_shows_the_table_and_the_finance_exceptions(as_role, orders_flow):
    response = as_role("finance").get("/reports/", {"date_from": "2026-03-01", "date_to": "2026-03-31"})
    assert response.status_code == 200
    html = response.content.decode()
    # Changed on purpose (issue 13): the columns of the hub's own records ("150.00" accepted) gave
    # way to the ERP's value against the destination's, with every differing document listed.
    assert "orders-dd" in html and "404.00" in html and 'data-key="9"' in html
    assert 'href="/exceptions/?owner_team=finance"' in html and "Total does not add up" in html
    assert 'href="/exceptions/?owner_team=finance&amp;reason=total_mismatch"' in html  # the dashboard's filters
    assert 'value="2026-03-01"' in html  # the date inputs keep the range, in the ISO form browsers read


def test_the_csv_download_lists_each_differing_order_of_the_destination(as_role, orders_flow):
    """Changed on purpose (issue 13): the CSV was a row per flow plus a TOTAL over every
    destination; finance's reconciliation (reports/) downloads one row per differing
    document and destination, and never adds destinations together. Its destination
    (dotdigital) has not been read back yet, so it holds nothing the hub has seen."""
    response = as_role("finance").get("/reports/", {"date_from": "2026-03-01", "date_to": "2026-03-31",
                                                     "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "reconciliation_differences_2026-03-01_2026-03-31.csv" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert "TOTAL" not in text and {r["destination"] for r in rows} == {orders_flow.destination.name}
    assert {(r["record_key"], r["class"]) for r in rows} == {
        ("1", "missing"), ("2", "missing"), ("9", "missing"),  # accepted or never planned, not listed there
        ("3", "waiting"), ("4", "waiting"), ("5", "waiting"), ("6", "waiting"), ("7", "waiting"), ("8", "waiting")}
    assert next(r for r in rows if r["record_key"] == "1")["erp_value"] == "100.00"


def test_a_start_after_the_end_is_refused_with_a_message(as_role, orders_flow):
    response = as_role("finance").get("/reports/", {"date_from": "2026-04-01", "date_to": "2026-03-01"})
    assert response.status_code == 200 and "The start date is after the end date." in response.content.decode()


@pytest.mark.parametrize(("role", "status"), [("finance", 200), ("admin", 200), ("marketing", 403)])
def test_reports_are_for_finance_and_admins(as_role, role, status):
    assert as_role(role).get("/reports/").status_code == status


def test_anonymous_users_are_sent_to_the_login_page(as_role):
    response = as_role("anonymous").get("/reports/?format=csv")
    assert response.status_code == 302 and response.url.startswith("/login/")
