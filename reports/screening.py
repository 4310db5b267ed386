"""Set-based screening of a period's orders against one destination, in SQL.

A month may hold 100,000 orders, nearly all of them matching. Comparing each in Python
costs seconds; the database joins both sides in one pass instead and answers three
small things:

- per currency: the ERP's orders, and those that match for sure, with the destination's
  value of them (a sure match equals the ERP's value to the cent, so the ERP's total is
  these sums plus the exact Python figures of everything else);
- per currency: the destination's orders dated in the period and their counted value;
- the candidates: every other ERP order of the period (not there, another value from
  half a cent on, another state or currency, dated otherwise there) and every
  destination order of the period the ERP's period lacks.

The candidates then go through the exact Decimal comparison (reports.reconcile). A sure
match is an order whose value (DocTotal less tax less the credit memos traced to it in
Python, passed in as a row set) is less than half a cent from the destination's, in the
same currency, finance state and period: its value to the cent is the destination's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection as db

from erp.documents import SalesOrder
from reports.models import ReadBackOrder
from syncapp.models import Flow, OutboxItem, OutboxStatus

from .destination_side import DestinationSide
from .erp_side import ZERO, decimal
from .periods import Period


@dataclass
class Screening:
    erp_counts: dict[str, int] = field(default_factory=dict)
    matched_counts: dict[str, int] = field(default_factory=dict)
    matched_values: dict[str, Decimal] = field(default_factory=dict)
    destination_counts: dict[str, int] = field(default_factory=dict)
    destination_values: dict[str, Decimal] = field(default_factory=dict)
    erp_candidates: list[int] = field(default_factory=list)
    extra_keys: list[str] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return sum(self.matched_counts.values())


def _postgres() -> bool:
    return db.vendor == "postgresql"


def _json_text(column: str, name: str) -> str:
    return f"({column} ->> '{name}')" if _postgres() else f"json_extract({column}, '$.{name}')"


def _number(text: str) -> str:
    return f"CAST(NULLIF({text}, '') AS NUMERIC)" if _postgres() else f"CAST({text} AS REAL)"


def _destination_sql(flow: Flow, side: DestinationSide, statuses: dict[str, str],
                     period: Period) -> tuple[str, list]:
    """(SELECT k, currency, value, state ...) of the destination's orders dated in the period."""
    cancelled, refunded = str(statuses.get("cancelled", "")).lower(), str(statuses.get("refunded", "")).lower()
    if side.source == "read_back":
        table = ReadBackOrder._meta.db_table
        # A date column, compared as a date (its index on the snapshot and day applies).
        base = (f"SELECT record_key AS k, currency AS currency, order_total AS value, "
                f"refunded_total AS refunded, status AS status FROM {table} WHERE read_back_id = %s "
                f"AND purchase_date >= %s AND purchase_date <= %s")
        params: list = [side.read_back_id or 0, period.date_from, period.date_to]
    else:
        table = OutboxItem._meta.db_table
        day = f"SUBSTR({_json_text('payload', 'purchaseDate')}, 1, 10)"
        base = (f"SELECT record_key AS k, "
                f"COALESCE({_json_text('payload', 'currency')}, '') AS currency, "
                f"ROUND(COALESCE({_number(_json_text('payload', 'orderTotal'))}, 0), 2) AS value, "
                f"COALESCE({_number(_json_text('payload', 'refundedTotal'))}, 0) AS refunded, "
                f"COALESCE({_json_text('payload', 'orderStatus')}, '') AS status "
                f"FROM {table} WHERE flow_id = %s AND status = %s AND {day} >= %s AND {day} <= %s")
        params = [flow.pk, OutboxStatus.ACCEPTED, period.date_from.isoformat(), period.date_to.isoformat()]
    sql = (f"SELECT b.k, b.currency, b.value, CASE WHEN LOWER(b.status) = %s AND %s <> '' THEN 'cancelled' "
           f"WHEN LOWER(b.status) = %s AND %s <> '' THEN 'refunded' WHEN b.refunded > 0 THEN 'partially_refunded' "
           f"ELSE 'live' END AS state FROM ({base}) b")
    return sql, [cancelled, cancelled, refunded, refunded, *params]


def _refunds_sql(refunds: dict[int, Decimal]) -> tuple[str, list]:
    """(SELECT entry, amount) of the money credited per order, as a joinable row set."""
    if not refunds:
        return "SELECT CAST(NULL AS INTEGER) AS entry, CAST(NULL AS NUMERIC) AS amount WHERE 1 = 0", []
    entries = sorted(refunds)
    if _postgres():
        return ("SELECT * FROM unnest(%s::integer[], %s::numeric[]) AS r(entry, amount)",
                [entries, [refunds[entry] for entry in entries]])
    values = ", ".join(["(%s, %s)"] * len(entries))
    return (f"SELECT column1 AS entry, column2 AS amount FROM (VALUES {values})",
            [value for entry in entries for value in (entry, str(refunds[entry]))])


def _fetch(sql: str, params: list) -> list[tuple]:
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_SEPARATOR = "\x1f"


def _listed(value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in value.split(_SEPARATOR) if item]
    return [item for item in value if item is not None]


def flow_screening(*, flow: Flow, period: Period, side: DestinationSide, statuses: dict[str, str],
                   refunds: dict[int, Decimal]) -> Screening:
    """See the module docstring: one pass, the period's ERP orders FULL JOIN the
    destination's orders dated in the period. `refunds`: money credited per order."""
    result = Screening()
    pg = _postgres()
    if side.source == "read_back" and side.read_back_id is None:
        destination, destination_params = ("SELECT NULL AS k, '' AS currency, 0 AS value, "
                                           "'live' AS state WHERE 1 = 0"), []
    else:
        destination, destination_params = _destination_sql(flow, side, statuses, period)
    refunds_sql, refunds_params = _refunds_sql(refunds)
    amount = "COALESCE(r.amount, 0)"
    value = f"{'GREATEST' if pg else 'MAX'}(o.doc_total - o.vat_total - {amount}, 0)"
    goods = "(o.doc_total - o.freight_total - o.vat_total - o.rounding_total)"
    state = (f"CASE WHEN o.cancelled THEN 'cancelled' WHEN {amount} > 0 AND {amount} >= {goods} - 0.05 "
             f"THEN 'refunded' WHEN {amount} > 0 THEN 'partially_refunded' ELSE 'live' END")
    erp = (f"SELECT CAST(o.doc_entry AS VARCHAR(100)) AS k, o.doc_entry AS entry, o.currency AS currency, "
           f"{value} AS value, {state} AS state FROM {SalesOrder._meta.db_table} o "
           f"LEFT JOIN ({refunds_sql}) r ON r.entry = o.doc_entry "
           f"WHERE o.connection_id = %s AND o.is_cancellation = %s AND o.doc_date >= %s AND o.doc_date <= %s")
    erp_params = [*refunds_params, flow.connection_id, False, period.date_from, period.date_to]
    held, held_params = destination, destination_params
    sure = ("e.k IS NOT NULL AND d.k IS NOT NULL AND d.currency = e.currency AND ABS(e.value - d.value) < 0.005 "
            "AND e.state = d.state")
    joined = (f"SELECT e.k AS ek, e.entry AS entry, e.currency AS ecur, d.k AS dk, d.currency AS dcur, "
              f"d.value AS dvalue, d.state AS dstate, CASE WHEN {sure} THEN 1 ELSE 0 END AS sure "
              f"FROM ({erp}) e FULL OUTER JOIN ({held}) d ON d.k = e.k")
    if pg:
        candidates = "array_agg(j.entry) FILTER (WHERE j.ek IS NOT NULL AND j.sure = 0)"
        extras = "array_agg(j.dk) FILTER (WHERE j.ek IS NULL)"
    else:
        candidates = f"group_concat(CASE WHEN j.ek IS NOT NULL AND j.sure = 0 THEN j.entry END, '{_SEPARATOR}')"
        extras = f"group_concat(CASE WHEN j.ek IS NULL THEN j.dk END, '{_SEPARATOR}')"
    counted = "CASE WHEN j.dstate <> 'cancelled' THEN j.dvalue ELSE 0 END"
    rows = _fetch(
        f"SELECT j.ecur, j.dcur, COUNT(j.ek), SUM(j.sure), SUM(CASE WHEN j.sure = 1 THEN {counted} ELSE 0 END), "
        f"COUNT(j.dk), SUM(CASE WHEN j.dk IS NOT NULL THEN {counted} ELSE 0 END), {candidates}, {extras} "
        f"FROM ({joined}) j GROUP BY j.ecur, j.dcur", [*erp_params, *held_params])
    for ecur, dcur, erp_count, matched, matched_value, held_count, held_value, others, extra in rows:
        if erp_count:
            result.erp_counts[ecur] = result.erp_counts.get(ecur, 0) + erp_count
            result.matched_counts[ecur] = result.matched_counts.get(ecur, 0) + int(matched or 0)
            result.matched_values[ecur] = result.matched_values.get(ecur, ZERO) + decimal(matched_value)
        if held_count:
            currency = dcur or ""
            result.destination_counts[currency] = result.destination_counts.get(currency, 0) + held_count
            result.destination_values[currency] = result.destination_values.get(currency, ZERO) + decimal(held_value)
        result.erp_candidates += [int(entry) for entry in _listed(others)]
        result.extra_keys += [str(key) for key in _listed(extra)]
    return result
