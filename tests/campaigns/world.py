"""A small month of ERP documents and campaign touches whose attribution is worked out by hand.

Customers: anna, ben, cara, dan. Campaign A (dotdigital 101) and B (102). All in UTC.

  touch                         | order (doc_date, local total) and what happens to it
  A click anna 2026-11-02 10:00 | O1 anna 2026-11-06 100.01 GBP, credit memo 0.03 straight on the order
  B click anna 2026-11-05 09:00 | O5 anna 2026-11-01 20.00 (before every click: nobody's)
  A click ben  2026-11-01 12:00 | O6 anna 2026-11-06 60.00 cancelled (counts for nothing)
  B click cara 2026-11-10 08:00 | O2 ben  2026-11-08 80.00 (7th day: inside), invoiced, credit memo 30.00
  A open  cara 2026-11-10 07:00 | O3 ben  2026-11-09 40.00 (8th day: outside)
  A open  dan  2026-11-05 18:00 | O4 cara 2026-11-12 120.00 USD = 95.55 GBP; return 10.00 + its credit memo 10.00
  A send  anna 2026-11-02 08:00 | O8 cara 2026-11-11 25.00, fully returned (delivery -> return, no credit memo)
                                | O7 dan  2026-11-06 50.00 (only an open: credited only when opens count)
                                | credit memo 3010 (7.00) copied from nothing: traced to no order
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from erp.models import (
    BusinessPartner,
    CreditMemo,
    CreditMemoLine,
    Delivery,
    DeliveryLine,
    Invoice,
    InvoiceLine,
    Return,
    ReturnLine,
    SalesOrder,
    SalesOrderLine,
)
from reports.campaigns.models import Campaign, Touch
from reports.campaigns.touches import audience_refresh, day_number
from tests.factories import ErpConnectionFactory, EspAccountFactory

ORDER, INVOICE, DELIVERY, RETURN = 17, 13, 15, 16


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def document(model, line_model, connection, entry: int, card: str, day: int, local: str, *, currency: str = "GBP",
             total: str | None = None, base: tuple[int, int] | None = None, cancelled: bool = False):
    doc = model.objects.create(
        connection=connection, doc_entry=entry, doc_num=entry, card_code=card, doc_date=date(2026, 11, day),
        currency=currency, doc_total=Decimal(total or local), doc_total_local=Decimal(local), cancelled=cancelled,
        content_hash="x")
    line_model.objects.create(document=doc, line_num=0, item_code="ITEM", quantity=1,
                              price=Decimal(total or local), line_total=Decimal(total or local),
                              base_type=base[0] if base else None, base_entry=base[1] if base else None,
                              base_line=0 if base else None)
    return doc


def build_world():
    connection = ErpConnectionFactory()
    account = EspAccountFactory(name="dd-main")
    for card, email in (("C-ANNA", "Anna@Example.com"), ("C-BEN", "ben@example.com"),
                        ("C-CARA", "cara@example.com"), ("C-DAN", "dan@example.com")):
        BusinessPartner.objects.create(connection=connection, card_code=card, card_type="cCustomer", email=email,
                                       email_normalised=email.lower(), content_hash="x")
    a = Campaign.objects.create(account=account, external_id="101", name="A November sale")
    b = Campaign.objects.create(account=account, external_id="102", name="B Black Friday")
    for campaign, kind, email, moment in (
        (a, "click", "anna@example.com", at(2, 10)), (b, "click", "anna@example.com", at(5, 9)),
        (a, "click", "ben@example.com", at(1, 12)), (b, "click", "cara@example.com", at(10, 8)),
        (a, "open", "cara@example.com", at(10, 7)), (a, "open", "dan@example.com", at(5, 18)),
        (a, "send", "anna@example.com", at(2, 8)),
    ):
        Touch.objects.create(campaign=campaign, kind=kind, contact_key=email, occurred_at=moment,
                             day=day_number(moment))
    audience_refresh([a.pk, b.pk])  # as an import does after adding touches
    a.refresh_from_db()
    b.refresh_from_db()
    order = {}
    order["O1"] = document(SalesOrder, SalesOrderLine, connection, 1, "C-ANNA", 6, "100.01")
    order["O2"] = document(SalesOrder, SalesOrderLine, connection, 2, "C-BEN", 8, "80.00")
    order["O3"] = document(SalesOrder, SalesOrderLine, connection, 3, "C-BEN", 9, "40.00")
    order["O4"] = document(SalesOrder, SalesOrderLine, connection, 4, "C-CARA", 12, "95.55", currency="USD",
                           total="120.00")
    order["O5"] = document(SalesOrder, SalesOrderLine, connection, 5, "C-ANNA", 1, "20.00")
    order["O6"] = document(SalesOrder, SalesOrderLine, connection, 6, "C-ANNA", 6, "60.00", cancelled=True)
    order["O7"] = document(SalesOrder, SalesOrderLine, connection, 7, "C-DAN", 6, "50.00")
    order["O8"] = document(SalesOrder, SalesOrderLine, connection, 8, "C-CARA", 11, "25.00")
    # O1: a credit memo straight on the order.
    document(CreditMemo, CreditMemoLine, connection, 3003, "C-ANNA", 20, "0.03", base=(ORDER, 1))
    # O2: order -> invoice -> credit memo (its local total includes tax: 30.00 of a 25.00 line).
    document(Invoice, InvoiceLine, connection, 2001, "C-BEN", 9, "80.00", base=(ORDER, 2))
    memo = document(CreditMemo, CreditMemoLine, connection, 3001, "C-BEN", 15, "30.00", base=(INVOICE, 2001))
    CreditMemoLine.objects.filter(document=memo).update(line_total=Decimal("25.00"))
    # O4: a return and the credit memo that follows it count once.
    document(Return, ReturnLine, connection, 5002, "C-CARA", 20, "10.00", currency="USD", total="12.56",
             base=(ORDER, 4))
    document(CreditMemo, CreditMemoLine, connection, 3002, "C-CARA", 21, "10.00", currency="USD", total="12.56",
             base=(RETURN, 5002))
    # O8: delivered, then all of it returned; no credit memo yet.
    document(Delivery, DeliveryLine, connection, 4001, "C-CARA", 11, "25.00", base=(ORDER, 8))
    document(Return, ReturnLine, connection, 5001, "C-CARA", 14, "25.00", base=(DELIVERY, 4001))
    # A credit memo copied from nothing: it cannot reduce any order, and is counted as such.
    document(CreditMemo, CreditMemoLine, connection, 3010, "C-DAN", 16, "7.00")
    # A cancelled credit memo on O3 refunds nothing.
    document(CreditMemo, CreditMemoLine, connection, 3009, "C-BEN", 15, "40.00", base=(ORDER, 3), cancelled=True)
    return {"connection": connection, "account": account, "A": a, "B": b, **order}
