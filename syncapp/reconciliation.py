"""Finance's reconciliation: do the orders in the ERP mirror match what each destination holds?

For each orders flow, every order of the date range falls into exactly one column, so
the columns add up to the mirror's count and value:

- accepted: the destination holds the order's current version;
- pending: queued, being sent, or sent and awaiting the destination's validation;
- waiting: held until its customer reaches the destination;
- in exception: refused, or failed a check (unknown customer or item, totals);
- not sent: no record queued and no open exception (never planned, skipped by policy,
  or an exception a person ignored).

Values are DocTotal in the company's local currency, so orders in several currencies
add up. Cancellation documents (which reverse another document) are left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Count

from erp.models import SalesOrder
from exceptions.models import SyncException, Team
from exceptions.reasons import reason_for

from .models import Flow, OutboxItem, OutboxStatus

COLUMNS = ("accepted", "pending", "waiting", "exception", "not_sent")
COLUMN_TITLES = {"accepted": "Accepted at the destination", "pending": "Pending", "waiting": "Waiting for customer",
                 "exception": "In exception", "not_sent": "Not sent"}
_PENDING = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED)
_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)
FINANCE_REASONS = ("total_mismatch", "unknown_customer", "unknown_item")
_PLACES = Decimal("0.000001")


@dataclass
class Cell:
    count: int = 0
    value: Decimal = Decimal(0)

    def add(self, count: int, value: Decimal | None) -> None:
        self.count += count
        self.value += value or Decimal(0)


@dataclass
class ReconciliationRow:
    label: str
    flow: Flow | None
    mirror: Cell = field(default_factory=Cell)
    cells: dict[str, Cell] = field(default_factory=lambda: {name: Cell() for name in COLUMNS})

    @property
    def cell_list(self) -> list[Cell]:
        return [self.cells[name] for name in COLUMNS]

    def add(self, other: ReconciliationRow) -> None:
        self.mirror.add(other.mirror.count, other.mirror.value)
        for name in COLUMNS:
            self.cells[name].add(other.cells[name].count, other.cells[name].value)


def _column(outbox_status: str | None, exception_reason: str | None) -> str:
    if outbox_status == OutboxStatus.ACCEPTED:
        return "accepted"
    if outbox_status in _PENDING:
        return "pending"
    if exception_reason == "waiting_for_customer":
        return "waiting"
    if exception_reason or outbox_status in (OutboxStatus.FAILED, OutboxStatus.HELD):
        return "exception"
    return "not_sent"


def _grouped_orders(*, flow: Flow, date_from: date | None, date_to: date | None) -> list[tuple]:
    """(outbox status, open exception reason, orders, value) for the flow's orders of the range.

    Plain SQL with two LEFT JOINs on the record key (the order's DocEntry as text): the
    ORM can only say this as two subqueries per order, which PostgreSQL runs 100,000
    times each; joined, it hashes both sides once. Each join finds at most one row (the
    outbox and the exceptions are unique per flow and record), so nothing is counted twice.
    """
    orders, outbox, problems = (model._meta.db_table for model in (SalesOrder, OutboxItem, SyncException))
    key = "CAST(so.doc_entry AS VARCHAR(100))"
    sql = [f"SELECT o.status, e.reason_code, COUNT(*), SUM(so.doc_total_local) FROM {orders} so "
           f"LEFT JOIN {outbox} o ON o.flow_id = %s AND o.record_key = {key} "
           f"LEFT JOIN {problems} e ON e.flow_id = %s AND e.entity = %s AND e.record_key = {key} "
           f"AND e.status IN (%s, %s) "
           f"WHERE so.connection_id = %s AND NOT so.is_cancellation"]
    params: list = [flow.pk, flow.pk, flow.entity, *_ACTIVE, flow.connection_id]
    if date_from:
        sql.append("AND so.doc_date >= %s")
        params.append(date_from)
    if date_to:
        sql.append("AND so.doc_date <= %s")
        params.append(date_to)
    sql.append("GROUP BY o.status, e.reason_code")
    with connection.cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return cursor.fetchall()


def _decimal(value) -> Decimal:
    # SQLite sums decimals as floats: back to the field's six places.
    return Decimal(0) if value is None else Decimal(str(value)).quantize(_PLACES)


def flow_reconciliation(*, flow: Flow, date_from: date | None, date_to: date | None) -> ReconciliationRow:
    """One orders flow's row: the mirror's orders of the range, split by where each is."""
    row = ReconciliationRow(label=f"{flow.name} → {flow.destination.name}", flow=flow)
    for outbox_status, reason, count, value in _grouped_orders(flow=flow, date_from=date_from, date_to=date_to):
        row.mirror.add(count, _decimal(value))
        row.cells[_column(outbox_status, reason)].add(count, _decimal(value))
    return row


def orders_reconciliation(*, date_from: date | None = None,
                          date_to: date | None = None) -> tuple[list[ReconciliationRow], ReconciliationRow]:
    """A row per orders flow and destination, and their total."""
    flows = Flow.objects.filter(entity=Flow.Entity.ORDERS).select_related("destination").order_by("name")
    rows = [flow_reconciliation(flow=flow, date_from=date_from, date_to=date_to) for flow in flows]
    total = ReconciliationRow(label="Total", flow=None)
    for row in rows:
        total.add(row)
    return rows, total


def finance_open_exceptions() -> list[tuple[str, str, int]]:
    """Open exceptions finance owns: (reason code, title, count), the three order checks first."""
    grouped = (SyncException.objects.filter(owner_team=Team.FINANCE, status=SyncException.Status.OPEN)
               .values("reason_code").order_by().annotate(n=Count("id")))
    counts = {group["reason_code"]: group["n"] for group in grouped}
    ordered = [(reason, counts.pop(reason, 0)) for reason in FINANCE_REASONS] + sorted(counts.items())
    return [(reason, reason_for(reason).title, count) for reason, count in ordered]
