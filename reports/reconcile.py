"""The reconciliation of one orders flow: the ERP's orders of a period against what its
destination holds, explained document by document.

Each order of the period either matches the destination to the cent and in finance
state, or is a difference of exactly one class:

- waiting: differs, and the hub knows why: an open exception (waiting for its customer,
  a total that does not add up, ...) or a send still on its way; the reason is shown;
- missing: the destination does not hold it;
- status: the destination holds another finance state (cancelled or refunded in the
  ERP, not there, or the reverse);
- value: same state, another value (both values shown);
- extra: the destination holds an order dated in the period that the ERP's period lacks.

Values are what an order adds to revenue, net of tax and credit memos (the planner's
`orderTotal`), nothing once cancelled, in the order's own currency. Per currency the ERP
total less the destination total is the gap, and the listed differences add up to it
exactly: a matched order contributes nothing to either. No total across destinations
or currencies is ever made.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from esp.order_status import status_map
from exceptions.models import SyncException
from exceptions.reasons import reason_for
from syncapp.bulksql import any_of
from syncapp.models import Flow, OutboxItem, OutboxStatus

from .destination_side import DestinationOrder, DestinationSide, side_header, side_orders
from .erp_side import STATE_TITLES, ZERO, ErpOrder, ErpSummary, erp_orders, erp_summary, refunded_orders
from .periods import Period
from .screening import flow_screening

WAITING, MISSING, STATUS, VALUE, EXTRA = "waiting", "missing", "status", "value", "extra"
CLASSES = (MISSING, VALUE, STATUS, EXTRA, WAITING)
CLASS_TITLES = {MISSING: "Missing at the destination", VALUE: "Value differs", STATUS: "Status differs",
                EXTRA: "Extra at the destination", WAITING: "Waiting or in exception here"}
_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)
_ON_ITS_WAY = {OutboxStatus.PENDING: "queued to be sent", OutboxStatus.IN_FLIGHT: "being sent now",
               OutboxStatus.SUBMITTED: "sent, awaiting the destination's validation"}
RESENDABLE = (MISSING, VALUE, STATUS)


@dataclass(frozen=True)
class Difference:
    kind: str
    key: str
    order_number: str
    doc_date: date | None
    currency: str
    erp_value: Decimal | None
    destination_value: Decimal | None
    erp_state: str = ""
    destination_state: str = ""
    reason: str = ""
    exception_id: int | None = None
    doc_entry: int | None = None  # the ERP order, for its document page

    @property
    def gap(self) -> Decimal:
        """ERP less destination, in revenue terms (a cancelled order counts nothing)."""
        return self.erp_counted - self.destination_counted

    @property
    def erp_counted(self) -> Decimal:
        return ZERO if self.erp_value is None or self.erp_state == "cancelled" else self.erp_value

    @property
    def destination_counted(self) -> Decimal:
        if self.destination_value is None or self.destination_state == "cancelled":
            return ZERO
        return self.destination_value

    @property
    def title(self) -> str:
        return CLASS_TITLES[self.kind]

    @property
    def erp_state_text(self) -> str:
        return STATE_TITLES.get(self.erp_state, self.erp_state)

    @property
    def destination_state_text(self) -> str:
        return STATE_TITLES.get(self.destination_state, self.destination_state)


@dataclass
class CurrencyLine:
    currency: str
    erp_count: int = 0
    erp_value: Decimal = ZERO
    destination_count: int = 0
    destination_value: Decimal = ZERO
    listed: Decimal = ZERO  # the differences' gaps added up

    @property
    def gap(self) -> Decimal:
        return self.erp_value - self.destination_value

    @property
    def explained(self) -> bool:
        return self.gap == self.listed


@dataclass
class FlowReconciliation:
    flow: Flow
    period: Period
    side: DestinationSide
    currencies: list[CurrencyLine]
    differences: list[Difference]
    matched: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.differences

    @property
    def resendable(self) -> list[Difference]:
        return [d for d in self.differences if d.kind in RESENDABLE]


def _here(flow: Flow, keys: set[str]) -> dict[str, tuple[str, int | None]]:
    """Why the hub has not (yet) got these records there: (reason, exception id) by key."""
    found: dict[str, tuple[str, int | None]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start:start + 5000]
        for key, status in (OutboxItem.objects.filter(any_of("record_key", chunk), flow=flow,
                                                      status__in=list(_ON_ITS_WAY))
                            .values_list("record_key", "status")):
            found[key] = (f"Not there yet: {_ON_ITS_WAY[status]}.", None)
        for pk, key, code, message in (SyncException.objects.filter(any_of("record_key", chunk), flow=flow,
                                                                     entity=flow.entity, status__in=_ACTIVE)
                                       .values_list("pk", "record_key", "reason_code", "message")):
            found[key] = (f"{reason_for(code).title}: {message}", pk)
    return found


def _compare(order: ErpOrder, there: DestinationOrder | None, here) -> Difference | None:
    if there is not None and there.value == order.value and there.state == order.state and (
            there.currency == order.currency):
        return None
    reason, exception_id = here.get(order.key, ("", None))
    if reason:
        kind = WAITING
    elif there is None:
        kind, reason = MISSING, "The destination does not hold this order."
    elif there.state != order.state:
        kind = STATUS
        reason = (f"{STATE_TITLES[order.state].capitalize()} in the ERP, "
                  f"{STATE_TITLES.get(there.state, there.state)} at the destination ({there.status or 'no status'}).")
    else:
        kind = VALUE
        reason = ("The destination holds another value." if there.value != order.value
                  else "The destination holds the same value in another currency.")
    if there is not None and there.currency and there.currency != order.currency:
        reason += f" The destination holds it in {there.currency}."
    return Difference(kind, order.key, str(order.doc_num or ""), order.doc_date, order.currency, order.value,
                      there.value if there else None, order.state, there.state if there else "", reason,
                      exception_id, order.doc_entry)


def _extra(there: DestinationOrder, erp_dates: dict[str, date | None]) -> Difference:
    if there.key.startswith("web:"):
        reason = "A web shop order the ERP does not hold yet."
    elif there.key in erp_dates:
        reason = f"The ERP dates this order {erp_dates[there.key]}, outside the period."
    else:
        reason = "No order of the ERP has this key."
    return Difference(EXTRA, there.key, there.order_number, there.purchase_date, there.currency, None, there.value,
                      "", there.state, reason, None, int(there.key) if there.key.isdigit() else None)


def _dated_elsewhere(flow: Flow, keys: list[str]) -> dict[str, date | None]:
    entries = [int(key) for key in keys if key.isdigit()]
    if not entries:
        return {}
    from erp.documents import SalesOrder

    return {str(entry): day for entry, day in SalesOrder.objects.filter(
        connection_id=flow.connection_id, doc_entry__in=entries).values_list("doc_entry", "doc_date")}


def flow_reconciliation(*, flow: Flow, period: Period, refunds: dict[int, Decimal] | None = None,
                        ) -> FlowReconciliation:
    """One orders flow, one period: see the module docstring. The database screens out the
    orders that match for sure (reports.screening); the rest are compared here, exactly.
    `refunds`: refunded_orders' answer when the caller has it already (one per connection)."""
    if refunds is None:
        refunds = refunded_orders(connection=flow.connection, since=period.date_from)
    side = side_header(flow)
    screening = flow_screening(flow=flow, period=period, side=side, statuses=status_map(flow.destination),
                               refunds=refunds)
    orders = erp_orders(connection=flow.connection, period=period, entries=screening.erp_candidates,
                        refunds=refunds)
    side.orders = side_orders(flow=flow, side=side, period=period, keys=set(orders) | set(screening.extra_keys),
                              only_keys=True)
    here = _here(flow, set(orders))
    differences, matched = [], screening.matched
    lines: dict[str, CurrencyLine] = {}

    def line(currency: str) -> CurrencyLine:
        return lines.setdefault(currency, CurrencyLine(currency))

    for currency, count in screening.erp_counts.items():
        line(currency).erp_count = count
        line(currency).erp_value = screening.matched_values.get(currency, ZERO)
    for currency, count in screening.destination_counts.items():
        line(currency).destination_count = count
        line(currency).destination_value = screening.destination_values.get(currency, ZERO)

    def in_period(there: DestinationOrder) -> bool:
        return there.purchase_date is not None and period.date_from <= there.purchase_date <= period.date_to

    for key, order in orders.items():
        line(order.currency).erp_value += order.counted
        there = side.orders.get(key)
        if there is not None and not in_period(there):
            # Held there under another date: not in the destination's figures for this period.
            difference = _compare(order, None, here)
            difference = replace(difference, reason=f"{difference.reason} The destination dates it "
                                                    f"{there.purchase_date or 'without a date'}, outside the period.")
        else:
            difference = _compare(order, there, here)
        if difference is None:
            matched += 1
            continue
        differences.append(difference)
        if there is not None and in_period(there) and there.currency != order.currency:
            line(order.currency).listed += difference.erp_counted
            line(there.currency).listed -= difference.destination_counted
        else:
            line(order.currency).listed += difference.gap
    dated = _dated_elsewhere(flow, screening.extra_keys)
    for key in screening.extra_keys:
        there = side.orders.get(key)
        if there is not None:
            extra = _extra(there, dated)
            differences.append(extra)
            line(there.currency).listed += extra.gap
    differences.sort(key=lambda d: (CLASSES.index(d.kind), d.currency, d.doc_date or date.min, d.key))
    counts = defaultdict(int)
    for difference in differences:
        counts[difference.kind] += 1
    return FlowReconciliation(flow, period, side, [lines[c] for c in sorted(lines)], differences, matched,
                              dict(counts))


def orders_flows() -> list[Flow]:
    return list(Flow.objects.filter(entity=Flow.Entity.ORDERS).select_related("destination", "connection")
                .order_by("destination__name", "name"))


def reconciliation(*, period: Period, flows: list[Flow] | None = None) -> list[FlowReconciliation]:
    """One reconciliation per orders flow (so per destination), never summed together."""
    refunds_by_connection: dict[int, dict[int, Decimal]] = {}
    results = []
    for flow in orders_flows() if flows is None else flows:
        if flow.connection_id not in refunds_by_connection:
            refunds_by_connection[flow.connection_id] = refunded_orders(connection=flow.connection,
                                                                        since=period.date_from)
        results.append(flow_reconciliation(flow=flow, period=period, refunds=refunds_by_connection[flow.connection_id]))
    return results


def summary_for(*, flow: Flow, period: Period) -> ErpSummary:
    return erp_summary(connection_id=flow.connection_id, period=period)
