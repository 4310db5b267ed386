"""Bulk writes without the ORM's per-value overhead, for the hot path (ingest, outbox).

The ORM's bulk_create spends most of its time preparing each value of each row; at
thousands of records a second that is the whole budget. These helpers adapt values
once per column kind and hand the driver one `executemany`. They work on SQLite and
PostgreSQL (both understand INSERT ... ON CONFLICT ... DO UPDATE).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection as default_connection
from django.db import models


class JsonText(str):
    """A value already serialised to JSON text (so it is not serialised twice)."""


_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode


def json_text(value: Any) -> JsonText:
    """Compact JSON in the value's own key order (callers build dicts in a stable order)."""
    return JsonText(_encode(value))


def _sqlite_datetime() -> Callable[[Any], Any]:
    adapt = default_connection.ops.adapt_datetimefield_value
    last: list = [None, None]

    def adapt_cached(value):
        # A batch stamps most rows with the same `now`: adapt it once.
        if value is not last[0]:
            last[0], last[1] = value, adapt(value)
        return last[1]

    return adapt_cached


def _adapter(field: models.Field, vendor: str) -> Callable[[Any], Any] | None:
    if isinstance(field, models.JSONField):
        return lambda v: v if isinstance(v, JsonText) else _encode(v)
    if isinstance(field, models.DateTimeField) and vendor == "sqlite":
        return _sqlite_datetime()
    return None


def _placeholder(field: models.Field, vendor: str) -> str:
    return "%s::jsonb" if vendor == "postgresql" and isinstance(field, models.JSONField) else "%s"


def _prepare(model, names: Sequence[str]):
    vendor = default_connection.vendor
    fields = [model._meta.get_field(name) for name in names]
    adapters = [_adapter(field, vendor) for field in fields]
    return fields, adapters, vendor


def _params(rows: Iterable[Sequence[Any]], adapters) -> list:
    adapted = [(index, adapt) for index, adapt in enumerate(adapters) if adapt is not None]
    if not adapted:
        return list(rows)
    out = []
    for row in rows:
        values = list(row)
        for index, adapt in adapted:
            if values[index] is not None:
                values[index] = adapt(values[index])
        out.append(values)
    return out


# Rows per statement: one statement per few hundred rows instead of one per row (the
# server's per-statement cost dominated), under SQLite's 32,766 parameter limit.
MAX_PARAMS = 30_000


def bulk_insert(model, names: Sequence[str], rows: Sequence[Sequence[Any]], *,
                conflict: Sequence[str] = (), update: Sequence[str] = ()) -> None:
    """INSERT rows (tuples in `names` order); with `conflict`, update `update` columns instead."""
    if not rows:
        return
    fields, adapters, vendor = _prepare(model, names)
    quote = default_connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    row_sql = "(" + ", ".join(_placeholder(f, vendor) for f in fields) + ")"
    tail = ""
    if conflict:
        target = ", ".join(quote(model._meta.get_field(n).column) for n in conflict)
        sets = ", ".join(f"{col} = EXCLUDED.{col}" for col in (quote(model._meta.get_field(n).column) for n in update))
        tail = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
    params = _params(rows, adapters)
    if vendor == "postgresql":
        _copy_then_insert(model, fields, params, tail)
        return
    per_statement = max(1, min(500, MAX_PARAMS // len(fields)))
    with default_connection.cursor() as cursor:
        for start in range(0, len(params), per_statement):
            chunk = params[start:start + per_statement]
            sql = (f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
                   + ", ".join([row_sql] * len(chunk)) + tail)
            cursor.execute(sql, [value for row in chunk for value in row])


def bulk_update_by_id(model, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE each row by primary key; each row is (*values in `names` order, id)."""
    if not rows:
        return
    fields, adapters, vendor = _prepare(model, names)
    quote = default_connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = {_placeholder(f, vendor)}" for f in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote(model._meta.pk.column)} = %s"
    with default_connection.cursor() as cursor:
        cursor.executemany(sql, [(*p, row[-1]) for p, row in zip(_params([r[:-1] for r in rows], adapters), rows,
                                                                   strict=True)])


def _copy_then_insert(model, fields, params: list[tuple], tail: str) -> None:
    """PostgreSQL: COPY the rows into a session temp table, then one INSERT ... SELECT.

    COPY streams rows without parsing a statement per row (or one huge statement),
    which is where the time went with parameterised inserts.
    """
    quote = default_connection.ops.quote_name
    table = quote(model._meta.db_table)
    staging = quote(f"_staging_{model._meta.db_table}")
    columns = ", ".join(quote(f.column) for f in fields)
    with default_connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT {columns} FROM {table} WITH NO DATA")
        cursor.execute(f"TRUNCATE {staging}")
        with cursor.cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}{tail}")
