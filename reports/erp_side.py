"""Selectors for the ERP side of the reconciliation, read from the mirror.

Two views of one period:
- `erp_summary`: the sales documents dated in the period, by currency and day: orders,
  cancellations (orders cancelled in the ERP), invoices, credit memos (refunds) and
  returns, with counts, gross (DocTotal, tax included), tax, and the net
  (orders - cancellations - credit memos). Cancelled documents other than orders and
  cancellation documents (which reverse another) never count. Amounts are in the
  document's currency; currencies are never added together.
- `erp_orders`: each order of the period with the figures a destination should hold
  now: its value (DocTotal less tax less every credit memo traced back to it, as the
  planner sends it in `orderTotal`) and its finance state (live, partially refunded,
  refunded, cancelled). A credit memo is dated on or after its order, so only credit
  memos from the period's start on are followed back.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Count, Sum

from erp.document_links import order_refunds, orders_of
from erp.documents import CreditMemo, Invoice, Return, SalesOrder
from syncapp.bulksql import any_of
from syncapp.planning_orders import TOTAL_TOLERANCE

from .periods import Period

CENT = Decimal("0.01")
_SIX = Decimal("0.000001")
ZERO = Decimal(0)
KINDS = ("orders", "cancellations", "invoices", "credit_memos", "returns")
KIND_TITLES = {"orders": "Orders", "cancellations": "Cancelled orders", "invoices": "Invoices",
               "credit_memos": "Credit memos (refunds)", "returns": "Returns"}
# Finance states: what matters for revenue, whatever a destination calls it.
LIVE, PARTIALLY_REFUNDED, REFUNDED, CANCELLED = "live", "partially_refunded", "refunded", "cancelled"
STATE_TITLES = {LIVE: "live", PARTIALLY_REFUNDED: "partially refunded", REFUNDED: "refunded",
                CANCELLED: "cancelled"}


def decimal(value) -> Decimal:
    """A summed amount back to Decimal (SQLite sums decimals as floats)."""
    return ZERO if value is None else Decimal(str(value)).quantize(_SIX)


def cents(value: Decimal) -> Decimal:
    # Decimal's round(x, 2) is half-even: the planner rounds this way before sending.
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


@dataclass
class Figures:
    count: int = 0
    gross: Decimal = ZERO
    tax: Decimal = ZERO

    def add(self, count: int, gross: Decimal, tax: Decimal) -> None:
        self.count += count
        self.gross += gross
        self.tax += tax


@dataclass
class SummaryRow:
    """One currency (and day, in the by-day table): figures per kind, and the net."""

    currency: str
    day: date | None = None
    kinds: dict[str, Figures] = field(default_factory=lambda: {kind: Figures() for kind in KINDS})

    @property
    def net(self) -> Decimal:
        return self.kinds["orders"].gross - self.kinds["cancellations"].gross - self.kinds["credit_memos"].gross

    @property
    def net_tax(self) -> Decimal:
        return self.kinds["orders"].tax - self.kinds["cancellations"].tax - self.kinds["credit_memos"].tax

    @property
    def refunds(self) -> Decimal:
        return self.kinds["credit_memos"].gross


@dataclass
class ErpSummary:
    by_currency: list[SummaryRow]
    by_day: list[SummaryRow]


def _grouped(queryset) -> list[tuple[str, date, int, Decimal, Decimal]]:
    rows = (queryset.values("currency", "doc_date").order_by()
            .annotate(n=Count("id"), gross=Sum("doc_total"), tax=Sum("vat_total")))
    return [(r["currency"], r["doc_date"], r["n"], decimal(r["gross"]), decimal(r["tax"])) for r in rows]


def erp_summary(*, connection_id: int, period: Period) -> ErpSummary:
    """Counts, gross and tax per kind, by currency and by (currency, day)."""
    dated = {"connection_id": connection_id, "doc_date__range": (period.date_from, period.date_to),
             "is_cancellation": False}
    sources = {
        "orders": SalesOrder.objects.filter(**dated),
        "cancellations": SalesOrder.objects.filter(**dated, cancelled=True),
        "invoices": Invoice.objects.filter(**dated, cancelled=False),
        "credit_memos": CreditMemo.objects.filter(**dated, cancelled=False),
        "returns": Return.objects.filter(**dated, cancelled=False),
    }
    currencies: dict[str, SummaryRow] = {}
    days: dict[tuple[str, date], SummaryRow] = {}
    for kind, queryset in sources.items():
        for currency, day, count, gross, tax in _grouped(queryset):
            currencies.setdefault(currency, SummaryRow(currency)).kinds[kind].add(count, gross, tax)
            days.setdefault((currency, day), SummaryRow(currency, day)).kinds[kind].add(count, gross, tax)
    return ErpSummary(by_currency=[currencies[c] for c in sorted(currencies)],
                      by_day=[days[k] for k in sorted(days, key=lambda k: (k[1], k[0]))])


@dataclass(frozen=True)
class ErpOrder:
    """An order as the mirror says a destination should hold it now."""

    key: str  # the outbox record key: DocEntry
    doc_entry: int
    doc_num: int | None
    doc_date: date | None
    currency: str
    gross: Decimal
    tax: Decimal
    refunded: Decimal
    value: Decimal  # to the cent, as sent in orderTotal
    state: str

    @property
    def counted(self) -> Decimal:
        """What the order adds to revenue: nothing once cancelled."""
        return ZERO if self.state == CANCELLED else self.value


def _state(*, cancelled: bool, refunded: Decimal, goods: Decimal) -> str:
    """The planner's rule (syncapp.planning_orders._state) for the states finance counts."""
    if cancelled:
        return CANCELLED
    if refunded > 0:
        return REFUNDED if refunded >= goods - TOTAL_TOLERANCE else PARTIALLY_REFUNDED
    return LIVE


def refunded_orders(*, connection, since: date) -> dict[int, Decimal]:
    """Money credited per order, for the orders any credit memo dated from `since` on reaches."""
    memos = list(CreditMemo.objects.filter(connection=connection, doc_date__gte=since, cancelled=False,
                                           is_cancellation=False).values_list("doc_entry", flat=True))
    if not memos:
        return {}
    orders = orders_of(connection=connection, entity="credit_notes", doc_entries=memos)
    return dict(order_refunds(connection=connection, orders=orders).amounts) if orders else {}


def erp_orders(*, connection, period: Period, entries: list[int] | None = None,
               refunds: dict[int, Decimal] | None = None) -> dict[str, ErpOrder]:
    """The period's orders (cancellation documents left out) by record key; only `entries`
    when given. `refunds`: refunded_orders' answer when the caller has it already."""
    if refunds is None:
        refunds = refunded_orders(connection=connection, since=period.date_from)
    orders = SalesOrder.objects.filter(connection=connection, is_cancellation=False,
                                       doc_date__range=(period.date_from, period.date_to))
    if entries is not None:
        found: dict[str, ErpOrder] = {}
        for start in range(0, len(entries), 5000):
            found |= _erp_rows(orders.filter(any_of("doc_entry", entries[start:start + 5000])), refunds)
        return found
    return _erp_rows(orders, refunds)


def _erp_rows(orders, refunds: dict[int, Decimal]) -> dict[str, ErpOrder]:
    rows = (orders
            .values_list("doc_entry", "doc_num", "doc_date", "currency", "doc_total", "vat_total", "freight_total",
                         "rounding_total", "cancelled"))
    found: dict[str, ErpOrder] = {}
    for entry, number, day, currency, doc_total, vat_total, freight, rounding, cancelled in rows.iterator(
            chunk_size=5000):
        total, tax = decimal(doc_total), decimal(vat_total)
        refunded = refunds.get(entry, ZERO)
        goods = total - decimal(freight) - tax - decimal(rounding)
        value = cents(max(total - tax - refunded, ZERO))
        found[str(entry)] = ErpOrder(str(entry), entry, number, day, currency, total, tax, refunded, value,
                                     _state(cancelled=cancelled, refunded=refunded, goods=goods))
    return found


def currency_totals(orders) -> dict[str, tuple[int, Decimal]]:
    """(documents, counted value) per currency."""
    totals: dict[str, list] = defaultdict(lambda: [0, ZERO])
    for order in orders:
        totals[order.currency][0] += 1
        totals[order.currency][1] += order.counted
    return {currency: (count, value) for currency, (count, value) in totals.items()}
