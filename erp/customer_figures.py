"""Customer figures derived from the document mirror, for marketing segments.

What really happened, per customer: orders placed (cancelled ones left out), first and
last order date, lifetime value net of credit memos, average order value, last
dispatch and last return date, and the product-category figures (`category_figures`).
Credit memos carry the customer themselves, so no document chain has to be followed for
the value. Values are before tax and in the
company's local currency (a customer may buy in several currencies); cancelled
documents and cancellation documents are never counted.
"""
from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, F, Max, Min, Sum

from syncapp.bulksql import any_of, select_by_keys

from .buyer_figures import BUYER_FIGURES
from .category_figures import CATEGORY_FIGURES, category_figures
from .documents import CreditMemo, Delivery, Return, SalesOrder

FIGURES = {
    "order_count": "Number of orders",
    "first_order_date": "First order date",
    "last_order_date": "Last order date",
    "lifetime_value": "Lifetime value (net of credit memos)",
    "average_order_value": "Average order value",
    "last_dispatch_date": "Last dispatch date",
    "last_return_date": "Last return date",
    **CATEGORY_FIGURES,
    **BUYER_FIGURES,  # per contact (erp.buyer_figures); planning attaches them where a company has contact persons
}


def _counted(model, connection, card_codes):
    return model.objects.filter(any_of("card_code", card_codes), connection=connection, cancelled=False,
                                is_cancellation=False)


def _net_value() -> Sum:
    """A customer's documents' value as the figures count it: before tax, in local currency."""
    return Sum(F("doc_total_local") - F("vat_total_local"))


def _net(model, connection, card_codes) -> dict[str, Decimal]:
    return dict(_counted(model, connection, card_codes)
                .values("card_code").annotate(net=_net_value()).values_list("card_code", "net"))


def _latest(model, connection, card_codes) -> dict[str, object]:
    return dict(_counted(model, connection, card_codes)
                .values("card_code").annotate(latest=Max("doc_date")).values_list("card_code", "latest"))


def customer_figures(*, connection, card_codes) -> dict[str, dict]:
    """Figures for each given customer (customers without orders get zeros and None)."""
    codes = list(card_codes)
    figures = {code: {"order_count": 0, "first_order_date": None, "last_order_date": None,
                      "lifetime_value": 0.0, "average_order_value": 0.0, "last_dispatch_date": None,
                      "last_return_date": None, **dict.fromkeys(CATEGORY_FIGURES)} for code in codes}
    if not codes or not SalesOrder.objects.filter(connection=connection).exists():
        return figures
    # One pass over the customers' orders gives their count, dates and value.
    orders = (_counted(SalesOrder, connection, codes)
              .values("card_code").annotate(n=Count("id"), first=Min("doc_date"), last=Max("doc_date"),
                                            net=_net_value())
              .values_list("card_code", "n", "first", "last", "net"))
    refunded = _net(CreditMemo, connection, codes)
    dispatched, returned = _latest(Delivery, connection, codes), _latest(Return, connection, codes)
    for code, count, first, last, spent in orders:
        value = (spent or Decimal(0)) - (refunded.get(code) or Decimal(0))
        figures[code].update(order_count=count, first_order_date=first, last_order_date=last,
                             lifetime_value=float(round(value, 2)),
                             average_order_value=float(round(value / count, 2)) if count else 0.0)
    for code in codes:
        figures[code]["last_dispatch_date"] = dispatched.get(code)
        figures[code]["last_return_date"] = returned.get(code)
    for code, found in category_figures(connection=connection, card_codes=codes).items():
        figures[code].update(found)
    return figures


def customers_of(*, connection, entity: str, keys) -> list[str]:
    """The customers whose figures these changed documents can move."""
    from .categories import customers_in_groups
    from .documents import DOCUMENT_MODELS

    if entity == "item_groups":  # a renamed category: the customers whose figures can name it
        return customers_in_groups(connection=connection, codes=keys)
    model = DOCUMENT_MODELS[entity][0]
    found = select_by_keys(model, ["card_code"], key="doc_entry", keys=[int(k) for k in keys],
                           where={"connection_id": connection.pk})
    return sorted({code for (code,) in found})
