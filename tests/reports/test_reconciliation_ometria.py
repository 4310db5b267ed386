"""Reconciliation against Ometria, end to end: SAP B1 sandbox -> hub -> Ometria sandbox.

Ometria documents no way to list orders (contract 2.5), so its side is the hub's ledger
of the pushes Ometria accepted, and the report says so. The same month as for dotdigital;
the lost push is lost at Ometria and in the ledger (the one place the hub could learn of
it), and two ERP changes reach the mirror without ever being planned (the way a missed
plan would leave them): a value and a cancellation.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from erp.documents import SalesOrder
from reports.destination_side import destination_side
from reports.periods import Period
from reports.reconcile import EXTRA, MISSING, STATUS, VALUE, WAITING, flow_reconciliation
from reports.resend import differences_resend
from syncapp.models import OutboxItem, OutboxStatus
from tests.reports.november import NovemberDocuments
from tests.test_end_to_end_ometria import OmetriaHub

pytestmark = pytest.mark.django_db

NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


class MonthHub(NovemberDocuments, OmetriaHub):
    def order(self, card_code: str, web_ref: str, *lines, **header) -> int:
        return self.sl("POST", "Orders", {
            "CardCode": card_code, "NumAtCard": web_ref, "DocDate": "2026-11-20", "DocDueDate": "2026-11-25",
            "DocumentLines": [{"ItemCode": item, "ItemDescription": f"Item {item}", "Quantity": qty,
                               "Price": price, "WarehouseCode": "01"} for item, qty, price in lines]} | header)[
            "DocEntry"]

    def ledger_row(self, entry: int) -> OutboxItem:
        return OutboxItem.objects.get(flow=self.om_flows["orders"], record_key=str(entry))

    def report(self):
        return flow_reconciliation(flow=self.om_flows["orders"], period=NOVEMBER)


@pytest.fixture
def hub():
    hub = MonthHub()
    yield hub
    hub.close()


def test_the_ometria_report_says_its_figures_are_the_ledger_and_matches_a_synced_month(hub):
    entries = hub.build_month()
    report = hub.report()
    assert report.side.source == "ledger" and "offers no way to list its orders" in report.side.source_text
    assert [(d.kind, d.key) for d in report.differences] == [(WAITING, str(entries["waiting"]))]
    # The ledger holds Ometria's own names: cancelled, refunded, partial_refund.
    held = destination_side(flow=hub.om_flows["orders"], period=NOVEMBER, erp_keys=set()).orders
    states = {key: order.state for key, order in held.items()}
    assert (states[str(entries["cancelled"])], states[str(entries["full"])], states[str(entries["partial"])]) == (
        "cancelled", "refunded", "partially_refunded")
    assert all(line.explained for line in report.currencies)


def test_each_class_is_named_and_a_resend_through_the_engine_clears_what_the_erp_can_fix(hub):
    entries = hub.build_month()
    lost = hub.ledger_row(entries["lost"])
    with hub.om._lock:
        del hub.om.state.orders[lost.remote_id]  # lost at Ometria...
    lost.delete()  # ...and in the ledger
    SalesOrder.objects.filter(doc_entry=entries["foreign"]).update(doc_total=Decimal("119.99"))
    SalesOrder.objects.filter(doc_entry=entries["plain"]).update(cancelled=True)
    OutboxItem.objects.create(  # a web shop order Ometria accepted, which the ERP never received
        flow=hub.om_flows["orders"], record_key="web:WEB-99", status=OutboxStatus.ACCEPTED,
        payload={"purchaseDate": "2026-11-21", "orderTotal": 12.34, "currency": "GBP", "orderStatus": "pending"})

    report = hub.report()

    found = {(d.kind, d.key): d for d in report.differences}
    assert set(found) == {(MISSING, str(entries["lost"])), (VALUE, str(entries["foreign"])),
                          (STATUS, str(entries["plain"])), (EXTRA, "web:WEB-99"), (WAITING, str(entries["waiting"]))}
    assert found[(MISSING, str(entries["lost"]))].gap == Decimal("30.00")
    value = found[(VALUE, str(entries["foreign"]))]
    assert (value.erp_value, value.destination_value, value.gap) == (Decimal("99.99"), Decimal("100.00"),
                                                                      Decimal("-0.01"))
    status = found[(STATUS, str(entries["plain"]))]
    assert (status.erp_state, status.destination_state, status.gap) == ("cancelled", "live", Decimal("-60.00"))
    assert "web shop order" in found[(EXTRA, "web:WEB-99")].reason
    assert all(line.explained for line in report.currencies)

    differences_resend(flow=hub.om_flows["orders"], period=NOVEMBER, user=None)
    hub.push_ometria("orders")

    after = hub.report()
    assert {(d.kind, d.key) for d in after.differences} == {(EXTRA, "web:WEB-99"), (WAITING, str(entries["waiting"]))}
    assert hub.om_order("WEB-7")["grand_total"] == 36.0  # Ometria holds the lost order again
    assert hub.om_order("WEB-1")["status"] == "cancelled"
