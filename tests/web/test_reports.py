"""Finance's reconciliation report: mirror orders against what each destination holds."""
import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from exceptions.reasons import reason_for
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.reconciliation import finance_open_exceptions, orders_reconciliation
from tests.factories import EspAccountFactory, FlowFactory
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


def counts(row):
    return {name: (cell.count, cell.value) for name, cell in row.cells.items()}


def test_each_order_of_the_range_falls_in_exactly_one_column(orders_flow):
    (row,), total = orders_reconciliation(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))

    assert row.label == f"orders-dd → {orders_flow.destination.name}"
    assert (row.mirror.count, row.mirror.value) == (9, Decimal("404.00"))
    assert counts(row) == {
        "accepted": (2, Decimal("150.00")), "pending": (2, Decimal("25.00")), "waiting": (2, Decimal("70.00")),
        "exception": (2, Decimal("150.00")), "not_sent": (1, Decimal("9.00")),
    }
    assert sum(cell.count for cell in row.cells.values()) == row.mirror.count
    assert total.mirror.count == 9 and counts(total) == counts(row)


def test_a_second_destination_gets_its_own_row_and_the_total_adds_both(orders_flow):
    other = FlowFactory(name="orders-om", entity="orders", connection=orders_flow.connection,
                        destination=EspAccountFactory(name="ometria"))
    OutboxItem.objects.create(flow=other, record_key="1", status=OutboxStatus.ACCEPTED)

    rows, total = orders_reconciliation(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))

    assert [r.flow for r in rows] == [orders_flow, other]
    assert counts(rows[1])["accepted"] == (1, Decimal("100.00")) and rows[1].cells["not_sent"].count == 8
    assert total.mirror.count == 18 and total.cells["accepted"].count == 3


def test_without_dates_every_order_counts(orders_flow):
    (row,), _ = orders_reconciliation()
    assert row.mirror.count == 10 and row.cells["accepted"].count == 3


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
    assert "orders-dd" in html and "404.00" in html and "150.00" in html
    assert 'href="/exceptions/?owner_team=finance"' in html and "Total does not add up" in html
    assert 'href="/exceptions/?owner_team=finance&amp;reason=total_mismatch"' in html  # the dashboard's filters
    assert 'value="2026-03-01"' in html  # the date inputs keep the range, in the ISO form browsers read


def test_the_csv_download_has_a_row_per_flow_and_a_total(as_role, orders_flow):
    response = as_role("finance").get("/reports/", {"date_from": "2026-03-01", "date_to": "2026-03-31",
                                                     "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "reconciliation_2026-03-01_2026-03-31.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["flow"] for r in rows] == ["orders-dd", "TOTAL"]
    assert rows[0]["mirror_count"] == "9" and rows[0]["mirror_value"] == "404.00"
    assert rows[0]["waiting_count"] == "2" and rows[0]["not_sent_value"] == "9.00"


def test_a_start_after_the_end_is_refused_with_a_message(as_role, orders_flow):
    response = as_role("finance").get("/reports/", {"date_from": "2026-04-01", "date_to": "2026-03-01"})
    assert response.status_code == 200 and "The start date is after the end date." in response.content.decode()


@pytest.mark.parametrize(("role", "status"), [("finance", 200), ("admin", 200), ("marketing", 403)])
def test_reports_are_for_finance_and_admins(as_role, role, status):
    assert as_role(role).get("/reports/").status_code == status


def test_anonymous_users_are_sent_to_the_login_page(as_role):
    response = as_role("anonymous").get("/reports/?format=csv")
    assert response.status_code == 302 and response.url.startswith("/login/")
