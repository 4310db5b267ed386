"""Bulk writes without the ORM's per-value overhead, for the hot path (ingest, outbox).

The ORM's bulk_create spends most of its time preparing each value of each row; at
thousands of records a second that is the whole budget. These helpers adapt values
once per column kind and hand the driver one `executemany`. They work on SQLite and
PostgreSQL (both understand INSERT ... ON CONFLICT ... DO UPDATE).

Set statements (`stage` + SQL over the staging table, `update_from_rows`) carry a whole
page in a few statements: on PostgreSQL the page reaches a session temp table by COPY,
on SQLite by multi-row INSERTs, and the same SQL then runs on both.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from json.encoder import c_make_encoder, encode_basestring, encode_basestring_ascii
from typing import Any

from django.db import connection as default_connection
from django.db import models
from django.db.models import F, Lookup


class JsonText(str):
    """A value already serialised to JSON text (so it is not serialised twice)."""


def compact_encoder(*, ensure_ascii: bool = True, allow_nan: bool = True) -> Callable[[Any], str]:
    """`json.JSONEncoder(default=str, separators=(",", ":"), ...).encode`, the same text byte for
    byte, with its C encoder made once: the stdlib makes it again on every call, about 1 µs,
    paid several times a record on the hot path. Without the circular-reference check (values
    come from parsed JSON and mappings): a cycle ends in RecursionError instead of ValueError."""
    encoder = json.JSONEncoder(default=str, separators=(",", ":"), ensure_ascii=ensure_ascii,
                               allow_nan=allow_nan, check_circular=False)
    if c_make_encoder is None:  # a Python built without the C accelerator
        return encoder.encode
    encode_text = encode_basestring_ascii if ensure_ascii else encode_basestring
    chunks = c_make_encoder(None, encoder.default, encode_text, None, ":", ",", False, False, allow_nan)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encode_text(value)
        return "".join(chunks(value, 0))

    return encode


_encode = compact_encoder()


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
        if conflict:
            _copy_then_insert(model, fields, params, tail)
        else:  # nothing to reconcile: straight into the table
            with default_connection.cursor() as cursor, cursor.cursor.copy(
                    f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
        return
    per_statement = max(1, min(500, MAX_PARAMS // len(fields)))
    with default_connection.cursor() as cursor:
        for start in range(0, len(params), per_statement):
            chunk = params[start:start + per_statement]
            sql = (f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES "
                   + ", ".join([row_sql] * len(chunk)) + tail)
            cursor.execute(sql, [value for row in chunk for value in row])


def bulk_update_by_id(model, names: Sequence[str], rows: Sequence[Sequence[Any]], *, also: str = "",
                      unless_above: str = "") -> None:
    """UPDATE rows by primary key in set statements; each row is (*values in `names` order, id).

    One `WITH v AS (VALUES ...) UPDATE ... FROM v` per few hundred rows instead of one
    UPDATE per row. `also` adds SQL assignments the same for every row ("attempts = attempts + 1").
    `unless_above` (one of `names`): a row already holding a higher value there is left as it is.
    """
    if not rows:
        return
    fields, adapters, vendor_name = _prepare(model, names)
    table = quote(model._meta.db_table)
    pk = quote(model._meta.pk.column)
    aliases = [f"v{index}" for index in range(len(fields))]
    # PostgreSQL types a VALUES column from its parameters: cast each to its column's type.
    casts = [f"CAST(v.{alias} AS {field.db_type(default_connection)})" if vendor_name == "postgresql"
             else f"v.{alias}" for alias, field in zip(aliases, fields, strict=True)]
    sets = ", ".join(f"{quote(field.column)} = {value}" for field, value in zip(fields, casts, strict=True))
    kept = "".join(f" AND {table}.{quote(field.column)} <= {value}"
                   for name, field, value in zip(names, fields, casts, strict=True) if name == unless_above)
    if also:
        sets = f"{sets}, {also}"
    params = [(*values, row[-1]) for values, row in zip(_params([r[:-1] for r in rows], adapters), rows,
                                                         strict=True)]
    width = len(fields) + 1
    per_statement = max(1, min(1000, MAX_PARAMS // width))
    row_sql = "(" + ", ".join(["%s"] * width) + ")"
    with default_connection.cursor() as cursor:
        for start in range(0, len(params), per_statement):
            chunk = params[start:start + per_statement]
            cursor.execute(
                f"WITH v ({', '.join(aliases)}, id) AS (VALUES {', '.join([row_sql] * len(chunk))}) "
                f"UPDATE {table} SET {sets} FROM v WHERE {table}.{pk} = v.id{kept}",
                [value for row in chunk for value in row])


def db_datetime(value):
    """A datetime as a raw statement's parameter (SQLite keeps them as naive UTC text)."""
    if value is None or vendor() == "postgresql":
        return value
    return default_connection.ops.adapt_datetimefield_value(value)


def _copy_then_insert(model, fields, params: list[tuple], tail: str) -> None:
    """PostgreSQL: COPY the rows into a session temp table, then one INSERT ... SELECT.

    COPY streams rows without parsing a statement per row (or one huge statement),
    which is where the time went with parameterised inserts.
    """
    quote = default_connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    with default_connection.cursor() as cursor:
        staging = _empty_temp_table(cursor, f"_staging_{model._meta.db_table}", columns, table)
        with cursor.cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}{tail}")


# ---------------------------------------------------------------- set statements


def vendor() -> str:
    return default_connection.vendor


def is_distinct_from() -> str:
    """The null-safe "differs" operator (SQLite spells it IS NOT)."""
    return "IS DISTINCT FROM" if vendor() == "postgresql" else "IS NOT"


def quote(name: str) -> str:
    return default_connection.ops.quote_name(name)


def columns_of(model, names: Sequence[str]) -> list[str]:
    return [model._meta.get_field(name).column for name in names]


def stage(name: str, model, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Put `rows` into the session's temp table `_stage_<name>` and return its quoted name.

    Its columns are those of `model`'s fields `names`, with the model's column types (so a
    value the mirror cannot hold fails here, as it would in the table itself). Each call
    empties the table first. PostgreSQL receives the rows by COPY; SQLite by INSERTs.
    """
    fields = [model._meta.get_field(n) for n in names]
    columns = ", ".join(quote(field.column) for field in fields)
    with default_connection.cursor() as cursor:
        if vendor() == "postgresql":
            table = _empty_temp_table(cursor, f"_stage_{name}", columns, quote(model._meta.db_table))
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
            return table
        table = quote(f"_stage_{name}")
        # IF NOT EXISTS: a savepoint rolled back (the halving fallback) can take the table with it.
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} AS SELECT {columns} "
                       f"FROM {quote(model._meta.db_table)} WHERE 1 = 0")
        cursor.execute(f"DELETE FROM {table}")
        per_statement = max(1, min(500, MAX_PARAMS // len(fields)))
        params = _params(rows, [_adapter(field, "sqlite") for field in fields])
        row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
        for start in range(0, len(params), per_statement):
            chunk = params[start:start + per_statement]
            cursor.execute(f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row_sql] * len(chunk)),
                           [value for row in chunk for value in row])
    return table


def _empty_temp_table(cursor, name: str, columns: str, like: str) -> str:
    """PostgreSQL: the session's temp table `name` (`columns` of the table `like`), empty;
    its quoted name.

    In a transaction it is one that each commit empties in place (ON COMMIT DELETE ROWS),
    and a DELETE empties what an earlier use in the same transaction left: a TRUNCATE gives
    the table new files, 3 ms a page on the hot path for each staging table (PostgreSQL's
    statement log) where the commit's emptying costs next to nothing. Outside a transaction
    every statement commits, which would empty that table before its rows are read: there
    a table of its own, emptied by TRUNCATE. IF NOT EXISTS: a savepoint rolled back (the
    halving fallback) can take the table with it."""
    emptied_by_commit = default_connection.in_atomic_block
    table = quote(name if emptied_by_commit else f"{name}_autocommit")
    on_commit = "ON COMMIT DELETE ROWS " if emptied_by_commit else ""
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} {on_commit}AS SELECT {columns} FROM {like} WHERE 1 = 0")
    cursor.execute(f"DELETE FROM {table}" if emptied_by_commit else f"TRUNCATE {table}")
    return table


def commit_unawaited() -> None:
    """This transaction's commit does not wait for its WAL to reach the disk (PostgreSQL's
    synchronous_commit off, for this transaction only; nothing elsewhere).

    A crash of the database server may then lose the last commits made so (those of the
    last ~0.6 s, three times wal_writer_delay): each whole and in commit order, never a part
    of one, and never one whose later commit survived. Only for work that is redone when
    lost: a pulled page, whose cursor moves in the same transaction as its mirror rows,
    outbox rows and exceptions, so a lost page is simply read from the ERP again (an IDoc
    page: its IDocs are stored by their own, waited-for commit and applied again).
    """
    if vendor() == "postgresql":
        execute("SET LOCAL synchronous_commit TO OFF")


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    with default_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    with default_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def array_of(values: Iterable[Any]) -> Any:
    """A list of keys as one array parameter (PostgreSQL). Keys that are all whole numbers or
    all text go as the array's text form, made here in one pass: psycopg would inspect and
    adapt each element on its own (half a millisecond a thousand, several lists a page)."""
    values = list(values)
    kinds = {type(value) for value in values}
    if kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds == {str}:
        return "{" + ",".join('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
                              for value in values) + "}"
    return values


def values_table(values: Sequence[Any], sql_type: str = "text") -> tuple[str, list[Any]]:
    """A one-column table (`value`) of `values` to join or probe from, as one parameter:
    each value is then looked up on its own (one index probe), which keeps a query's cost
    in proportion to the page however big the table and whatever its statistics say."""
    if vendor() == "postgresql":
        return f"(SELECT unnest(%s::{sql_type}[]) AS value)", [array_of(values)]
    return "(SELECT value FROM json_each(%s))", [json.dumps(list(values), default=str)]


def select_by_keys(model, names: Sequence[str], *, key: str, keys: Sequence[Any],
                   where: dict[str, Any] | None = None) -> list[tuple]:
    """The `names` values of `model`'s rows whose `key` is one of `keys` (and whose fields
    equal `where`), as the ORM's values_list() gives them (JSON decoded, decimals as Decimal).

    PostgreSQL: one statement that probes the key's index once per key (LATERAL over the
    keys), so a page costs the same however large the table and whatever the planner's
    statistics say (right after a bulk load it has none, and an IN list then scans every
    row of the connection). SQLite: the ORM's IN lookup, in chunks.
    """
    where = where or {}
    if not keys:
        return []
    if vendor() != "postgresql":
        found = []
        for start in range(0, len(keys), 900):
            found.extend(model.objects.filter(**where, **{f"{key}__in": list(keys[start:start + 900])})
                         .values_list(*names))
        return found
    fields = [model._meta.get_field(name) for name in names]
    key_field = model._meta.get_field(key)
    kind = (key_field.target_field if key_field.is_relation else key_field).get_internal_type()
    whole = ("IntegerField", "BigIntegerField", "PositiveIntegerField", "SmallIntegerField", "AutoField",
             "BigAutoField")
    array_type = "bigint" if kind in whole else "text"
    filters = "".join(f" AND t.{quote(model._meta.get_field(name).column)} = %s" for name in where)
    columns = ", ".join(f"t.{quote(field.column)}" for field in fields)
    # OFFSET 0 keeps the planner from flattening the LATERAL subquery into a join, which without
    # statistics it would hash against every row of the connection.
    rows = fetch(f"SELECT x.* FROM unnest(%s::{array_type}[]) AS k(value), LATERAL (SELECT {columns} "
                 f"FROM {quote(model._meta.db_table)} t WHERE t.{quote(key_field.column)} = k.value{filters} "
                 "OFFSET 0) x",
                 [array_of(keys), *where.values()])
    decode = [index for index, field in enumerate(fields) if isinstance(field, models.JSONField)]
    if decode:
        rows = [tuple(json.loads(value) if index in decode and isinstance(value, str) else value
                      for index, value in enumerate(row)) for row in rows]
    return rows


def in_values(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """`IN (...)` for a list of values: one array parameter on PostgreSQL (any length, one
    plan), a placeholder each on SQLite (callers keep lists under its parameter limit)."""
    if vendor() == "postgresql":
        return "= ANY(%s)", [array_of(values)]
    return "IN (" + ", ".join(["%s"] * len(values)) + ")", list(values)


def upsert_changed(model, names: Sequence[str], rows: Iterable[Sequence[Any]], *, conflict: Sequence[str],
                   update: Sequence[str], hash_field: str, returning: Sequence[str]) -> list[tuple]:
    """Write a page of rows in one statement, changing only those whose `hash_field` differs.

    The rows are staged, then `INSERT ... SELECT ... ON CONFLICT (conflict) DO UPDATE SET
    update ... WHERE hash IS DISTINCT FROM the staged hash RETURNING returning`: the rows
    returned are exactly those inserted or rewritten (an unchanged row is neither).
    """
    staged = stage(model._meta.db_table, model, names, rows)
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(column) for column in columns_of(model, names))
    target = ", ".join(quote(column) for column in columns_of(model, conflict))
    sets = ", ".join(f"{column} = EXCLUDED.{column}" for column in (quote(c) for c in columns_of(model, update)))
    digest = quote(model._meta.get_field(hash_field).column)
    back = ", ".join(quote(column) for column in columns_of(model, returning))
    return fetch(f"INSERT INTO {table} AS t ({columns}) SELECT {columns} FROM {staged} WHERE 1 = 1 "
                 f"ON CONFLICT ({target}) DO UPDATE SET {sets} WHERE t.{digest} {is_distinct_from()} EXCLUDED.{digest} "
                 f"RETURNING {back}")


class AnyOf(Lookup):
    """`field = ANY(%s)` with the values as one array parameter (PostgreSQL); IN (...) elsewhere.

    The ORM's `__in` sends one parameter per value: for a page of a thousand keys the
    driver then rewrites a query with a thousand placeholders (slow in Python) and the
    server plans it value by value. Use it as an expression: `.filter(any_of("card_code", codes))`.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, array_of(values)]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def any_of(name: str, values: Iterable[Any]) -> AnyOf:
    """The filter "`name` is one of `values`" (see AnyOf)."""
    return AnyOf(F(name), list(values))
