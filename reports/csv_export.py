"""CSV of every reconciliation table, at document level where the table has documents.

Tables: `differences` (one row per differing document and destination), `documents`
(every ERP order of the period against each destination, matched ones too), `currencies`
(per destination and currency: ERP, destination, gap, listed), `erp_currency` and
`erp_day` (the ERP side). Amounts are plain decimals with a dot, two places; no row ever
adds destinations or currencies together.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.http import StreamingHttpResponse

from .destination_side import destination_side
from .erp_side import KINDS, erp_orders
from .periods import Period
from .reconcile import FlowReconciliation

TABLES = ("differences", "documents", "currencies", "erp_currency", "erp_day")


class _Echo:
    def write(self, value: str) -> str:
        return value


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _differences(results: Iterable[FlowReconciliation], differences_of) -> Iterator[list]:
    yield ["destination", "flow", "source", "class", "record_key", "order_number", "doc_date", "currency",
           "erp_value", "destination_value", "difference", "erp_state", "destination_state", "reason"]
    for result in results:
        for d in differences_of(result):
            yield [result.flow.destination.name, result.flow.name, result.side.source, d.kind, d.key,
                   d.order_number, d.doc_date or "", d.currency, money(d.erp_value), money(d.destination_value),
                   money(d.gap), d.erp_state, d.destination_state, d.reason]


def _documents(results: Iterable[FlowReconciliation], period: Period) -> Iterator[list]:
    yield ["destination", "flow", "source", "record_key", "order_number", "doc_date", "currency", "erp_gross",
           "erp_tax", "erp_refunded", "erp_value", "erp_state", "destination_value", "destination_state", "class"]
    orders_by_connection: dict[int, dict] = {}
    for result in results:
        connection = result.flow.connection
        if connection.pk not in orders_by_connection:
            orders_by_connection[connection.pk] = erp_orders(connection=connection, period=period)
        differences = {d.key: d for d in result.differences}
        orders = orders_by_connection[connection.pk]
        held = destination_side(flow=result.flow, period=period, erp_keys=set(orders)).orders
        for key, order in orders.items():
            there = held.get(key)
            found = differences.get(key)
            yield [result.flow.destination.name, result.flow.name, result.side.source, key, order.doc_num or "",
                   order.doc_date or "", order.currency, money(order.gross), money(order.tax),
                   money(order.refunded), money(order.value), order.state,
                   money(there.value) if there else "", there.state if there else "",
                   found.kind if found else "matched"]
        for d in result.differences:
            if d.kind == "extra":
                yield [result.flow.destination.name, result.flow.name, result.side.source, d.key, d.order_number,
                       d.doc_date or "", d.currency, "", "", "", "", "", money(d.destination_value),
                       d.destination_state, "extra"]


def _currencies(results: Iterable[FlowReconciliation]) -> Iterator[list]:
    yield ["destination", "flow", "source", "currency", "erp_documents", "erp_value", "destination_documents",
           "destination_value", "gap", "listed_differences", "explained"]
    for result in results:
        for line in result.currencies:
            yield [result.flow.destination.name, result.flow.name, result.side.source, line.currency,
                   line.erp_count, money(line.erp_value), line.destination_count, money(line.destination_value),
                   money(line.gap), money(line.listed), "yes" if line.explained else "no"]


def _erp(summaries: dict, by_day: bool) -> Iterator[list]:
    header = ["connection", "currency"] + (["day"] if by_day else [])
    for kind in KINDS:
        header += [f"{kind}_count", f"{kind}_gross", f"{kind}_tax"]
    yield [*header, "refunds", "net", "net_tax"]
    for connection_name, summary in summaries.items():
        for row in summary.by_day if by_day else summary.by_currency:
            line = [connection_name, row.currency] + ([row.day] if by_day else [])
            for kind in KINDS:
                figures = row.kinds[kind]
                line += [figures.count, money(figures.gross), money(figures.tax)]
            yield [*line, money(row.refunds), money(row.net), money(row.net_tax)]


def csv_response(*, table: str, period: Period, results: list[FlowReconciliation], summaries: dict,
                 differences_of) -> StreamingHttpResponse:
    """`differences_of(result)` applies the page's filters to a result's differences."""
    rows = {"differences": lambda: _differences(results, differences_of),
            "documents": lambda: _documents(results, period),
            "currencies": lambda: _currencies(results),
            "erp_currency": lambda: _erp(summaries, by_day=False),
            "erp_day": lambda: _erp(summaries, by_day=True)}[table]()
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reconciliation_{table}_{period.slug}.csv"'
    return response

