"""Fixtures of finance's room: a month of orders reconciled against both kinds of destination."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from erp.documents import SalesOrderLine
from reports.destination_side import read_back_orders
from reports.periods import last_month
from syncapp.models import OutboxItem, OutboxStatus
from tests.api.conftest import api_as  # noqa: F401  (a token client per role)
from tests.factories import BusinessPartnerFactory, EspAccountFactory, FlowFactory
from tests.web.conftest import as_role  # noqa: F401  (a logged-in client per role)
from tests.web.factories import SalesOrderFactory, SyncExceptionFactory


class Month:
    """Last calendar month: four orders, a dotdigital flow (read back) and an Ometria flow
    (the ledger), both on one ERP connection.

    1001 GBP 120.00 (tax 20.00) and 1002 EUR 60.00 (tax 10.00) are at both destinations;
    1003 waits for its customer; 1004 (GBP 36.00, tax 6.00) was lost at both."""

    def __init__(self):
        self.period = last_month(timezone.localdate())
        day = self.period.date_from.replace(day=10)
        self.dd = FlowFactory(name="orders-dd", entity="orders", destination=EspAccountFactory(name="dd"))
        self.om = FlowFactory(name="orders-om", entity="orders", connection=self.dd.connection,
                              destination=EspAccountFactory(name="om", kind="ometria"))
        self.connection = self.dd.connection
        BusinessPartnerFactory(connection=self.connection, card_code="C1", email="c1@example.com")
        for flow in (self.dd, self.om):  # the customer is at both destinations
            customers = FlowFactory(name=f"customers-{flow.destination.name}", connection=self.connection,
                                    destination=flow.destination)
            OutboxItem.objects.create(flow=customers, record_key="C1", status=OutboxStatus.ACCEPTED, accepted_hash="h")
        figures = {1001: ("GBP", "120.00", "20.00"), 1002: ("EUR", "60.00", "10.00"), 1003: ("GBP", "18.00", "3.00"),
                   1004: ("GBP", "36.00", "6.00")}
        for entry, (currency, total, tax) in figures.items():
            order = SalesOrderFactory(connection=self.connection, doc_entry=entry, doc_num=entry - 1000 + 500,
                                      doc_date=day, currency=currency, doc_total=Decimal(total),
                                      vat_total=Decimal(tax), doc_total_local=Decimal(total))
            SalesOrderLine.objects.create(document=order, line_num=0, item_code="1001", description="Cushion",
                                          quantity=1, price=Decimal(total) - Decimal(tax),
                                          line_total=Decimal(total) - Decimal(tax))
        held = [("1001", "GBP", 100.0), ("1002", "EUR", 50.0)]
        read_back_orders(flow=self.dd, records=[
            {"key": key, "json": {"orderNumber": int(key) - 500, "currency": currency, "orderTotal": value,
                                  "purchaseDate": day.isoformat(), "orderStatus": "processing", "refundedTotal": 0.0}}
            for key, currency, value in held])
        for key, currency, value in held:
            OutboxItem.objects.create(flow=self.om, record_key=key, status=OutboxStatus.ACCEPTED, payload={
                "orderTotal": value, "currency": currency, "purchaseDate": day.isoformat(),
                "orderStatus": "complete", "refundedTotal": 0.0})
        for flow in (self.dd, self.om):
            OutboxItem.objects.create(flow=flow, record_key="1003", status=OutboxStatus.HELD)
            self.waiting = SyncExceptionFactory(flow=flow, connection=self.connection, entity="orders",
                                                record_key="1003", reason_code="waiting_for_customer",
                                                owner_team="marketing",
                                                message="Waiting for customer C9 to reach the destination first.")
        self.total_mismatch = SyncExceptionFactory(
            flow=self.dd, connection=self.connection, entity="orders", record_key="1001",
            reason_code="total_mismatch", owner_team="finance", message="Order 501 totals 120.00 GBP, but ...")

    def query_string(self) -> str:
        return self.period.query()

    def query(self, **extra) -> dict:
        return {"date_from": self.period.date_from.isoformat(), "date_to": self.period.date_to.isoformat()} | extra


@pytest.fixture
def month(db):
    return Month()
