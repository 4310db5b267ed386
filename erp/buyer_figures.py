"""Figures per buyer: the orders each contact placed, beside the company's figures.

An order naming a contact person (SAP B1 ContactPersonCode) is that buyer's; one naming
nobody is the company's own (its main email's). Counted like the customer figures
(erp.customer_figures): cancelled and cancellation documents left out, values before tax
in local currency, net of the credit memos naming the same buyer.
"""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Max

from .documents import CreditMemo, SalesOrder

BUYER_FIGURES = {
    "buyer_order_count": "Orders this contact placed",
    "buyer_last_order_date": "Last order this contact placed",
    "buyer_lifetime_value": "Value of this contact's orders (net of credit memos)",
}
NO_ORDERS = {"buyer_order_count": 0, "buyer_last_order_date": None, "buyer_lifetime_value": 0.0}


def buyer_figures(*, connection, card_codes) -> dict[tuple[str, int | None], dict]:
    """(CardCode, contact person code or None for the company's own) -> figures, for the
    buyers of these companies who placed an order; any other buyer has NO_ORDERS."""
    from .customer_figures import _counted, _net_value  # the one definition of a counted document and its value

    codes = list(card_codes)
    if not codes:
        return {}
    value = _net_value()
    by_buyer = ("card_code", "contact_person_code")  # ingest stores "nobody named" as None
    refunded = {(code, person): net for code, person, net in _counted(CreditMemo, connection, codes)
                .values(*by_buyer).annotate(net=value).values_list(*by_buyer, "net")}
    found = {}
    for code, person, count, last, net in (_counted(SalesOrder, connection, codes).values(*by_buyer)
                                           .annotate(n=Count("id"), last=Max("doc_date"), net=value)
                                           .values_list(*by_buyer, "n", "last", "net")):
        total = (net or Decimal(0)) - (refunded.get((code, person)) or Decimal(0))
        found[(code, person)] = {"buyer_order_count": count, "buyer_last_order_date": last,
                                 "buyer_lifetime_value": float(round(total, 2))}
    return found
