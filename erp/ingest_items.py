"""Ingest of items, their stock per warehouse, and warehouses.

Stock is fingerprinted per item (`Item.stock_hash`): a stock poll that finds nothing
changed writes nothing and plans nothing, which is what makes a 15-minute poll of
every item affordable.
"""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

from django.db import connection as db_connection
from django.utils import timezone

from syncapp.adapters import SourceRecord
from syncapp.bulksql import bulk_insert, json_text

from .ingest import IngestResult, _as_datetime
from .models import Item, ItemGroup, StockLevel, Warehouse
from .record_screen import raw_json

_ITEM_FIELDS = ["item_name", "item_group", "category_code", "product_hierarchy", "barcode", "active", "sales_item",
                "prices", "udfs", "source_updated_at"]
_ITEM_UPDATE = [*_ITEM_FIELDS, "source_version", "raw", "content_hash", "stock_hash", "mirrored_at"]
# `sku` is set by planning (it depends on the SKU rule); a new row starts without one.
_ITEM_COLUMNS = ["connection", "item_code", *_ITEM_UPDATE, "sku"]
_STOCK_COLUMNS = ["connection", "item_code", "warehouse_code", "in_stock", "committed", "ordered", "mirrored_at"]


def _digest(values) -> str:
    return hashlib.sha256(repr(values).encode()).hexdigest()


def _stock_rows(stock) -> list[tuple[str, float, float, float]]:
    rows = [(str(s.get("warehouse_code") or ""), float(s.get("in_stock") or 0), float(s.get("committed") or 0),
             float(s.get("ordered") or 0)) for s in stock or []]
    return sorted(rows)


def _split(records: list[SourceRecord], result: IngestResult) -> dict[str, SourceRecord]:
    latest: dict[str, SourceRecord] = {}
    for record in records:
        if record.data is None:
            result.unreadable.append(record)
        else:
            latest[record.key] = record
    result.readable_keys = list(latest)
    return latest


def _replace_stock(connection, stock_by_item: dict[str, list[tuple]], now) -> None:
    """Replace the stock rows of the given items (warehouses can disappear from an item)."""
    codes = list(stock_by_item)
    for start in range(0, len(codes), 1000):
        StockLevel.objects.filter(connection=connection, item_code__in=codes[start:start + 1000]).delete()
    bulk_insert(StockLevel, _STOCK_COLUMNS, [
        (connection.pk, code, *level, now) for code, levels in stock_by_item.items() for level in levels])


def _set_stock_hashes(connection, hashes: dict[str, str]) -> None:
    if not hashes:
        return
    table = Item._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET stock_hash = %s WHERE connection_id = %s AND item_code = %s",
                           [(digest, connection.pk, code) for code, digest in hashes.items()])


def _stock_changes(known_hashes: dict[str, str], latest: dict[str, SourceRecord]):
    """(levels by item, new hash by item) for items whose stock differs from the mirror's."""
    levels_by_item, hashes = {}, {}
    for key, record in latest.items():
        levels = _stock_rows(record.data.get("stock"))
        digest = _digest(levels)
        if known_hashes.get(key) != digest:
            levels_by_item[key], hashes[key] = levels, digest
    return levels_by_item, hashes


def items_upsert(*, connection, records: list[SourceRecord]) -> IngestResult:
    """Items with their stock; `changed` holds items whose data or stock changed."""
    result = IngestResult()
    latest = _split(records, result)
    if not latest:
        return result
    known = {code: (content, stock) for code, content, stock in Item.objects.filter(
        connection=connection, item_code__in=list(latest)).values_list("item_code", "content_hash", "stock_hash")}
    stock, stock_hashes = _stock_changes({k: v[1] for k, v in known.items()}, latest)
    now = timezone.now()
    rows = []
    for key, record in latest.items():
        data = record.data
        values = {name: data.get(name) for name in _ITEM_FIELDS}
        values["source_updated_at"] = _as_datetime(values["source_updated_at"])
        for text in ("item_name", "barcode", "category_code", "product_hierarchy"):
            values[text] = values[text] or ""
        values["active"], values["sales_item"] = values["active"] is not False, values["sales_item"] is not False
        values["prices"], values["udfs"] = json_text(values["prices"] or []), json_text(values["udfs"] or {})
        digest = _digest([values[name] for name in _ITEM_FIELDS])
        content_changed = key not in known or known[key][0] != digest
        if content_changed:
            stock_digest = stock_hashes.pop(key, known.get(key, ("", ""))[1])
            rows.append((connection.pk, key, *(values[n] for n in _ITEM_FIELDS), record.version[:40],
                         raw_json(record.raw), digest, stock_digest, now, ""))
        if content_changed or key in stock:
            result.changed[key] = SimpleNamespace(item_code=key, **values)
        else:
            result.unchanged += 1
    bulk_insert(Item, _ITEM_COLUMNS, rows, conflict=["connection", "item_code"], update=_ITEM_UPDATE)
    _set_stock_hashes(connection, stock_hashes)  # stock changed, item itself did not
    _replace_stock(connection, stock, now)
    return result


def item_stock_upsert(*, connection, records: list[SourceRecord]) -> IngestResult:
    """A stock-only poll: items whose stock changed; items unknown to the mirror wait for
    the item read (stock without the item's name and price cannot be sent)."""
    result = IngestResult()
    latest = _split(records, result)
    if not latest:
        return result
    known = dict(Item.objects.filter(connection=connection, item_code__in=list(latest))
                 .values_list("item_code", "stock_hash"))
    latest = {key: record for key, record in latest.items() if key in known}
    stock, stock_hashes = _stock_changes(known, latest)
    _set_stock_hashes(connection, stock_hashes)
    _replace_stock(connection, stock, timezone.now())
    result.changed = {key: SimpleNamespace(item_code=key) for key in stock}
    result.unchanged = len(latest) - len(stock)
    return result


def warehouses_upsert(*, connection, records: list[SourceRecord]) -> IngestResult:
    result = IngestResult()
    latest = _split(records, result)
    known = dict(Warehouse.objects.filter(connection=connection, code__in=list(latest))
                 .values_list("code", "content_hash"))
    for key, record in latest.items():
        values = {"name": record.data.get("warehouse_name") or "", "inactive": bool(record.data.get("inactive"))}
        digest = _digest(sorted(values.items()))
        if known.get(key) == digest:
            result.unchanged += 1
            continue
        Warehouse.objects.update_or_create(connection=connection, code=key,
                                           defaults={**values, "raw": record.raw, "content_hash": digest})
        result.changed[key] = SimpleNamespace(code=key, **values)
    return result


_GROUP_COLUMNS = ["connection", "code", "name", "raw", "content_hash", "mirrored_at"]


def item_groups_upsert(*, connection, records: list[SourceRecord]) -> IngestResult:
    """Item groups (product categories) of one page; `changed` holds the new and renamed
    ones, whose items, orders and customers planning then re-plans (syncapp.entities)."""
    result = IngestResult()
    latest = _split(records, result)
    known = dict(ItemGroup.objects.filter(connection=connection, code__in=list(latest))
                 .values_list("code", "content_hash"))
    now, rows = timezone.now(), []
    for key, record in latest.items():
        name = record.data.get("name") or ""
        digest = _digest(["name", name])
        if known.get(key) == digest:
            result.unchanged += 1
            continue
        rows.append((connection.pk, key, name, raw_json(record.raw), digest, now))
        result.changed[key] = SimpleNamespace(code=key, name=name)
    bulk_insert(ItemGroup, _GROUP_COLUMNS, rows, conflict=["connection", "code"],
                update=["name", "raw", "content_hash", "mirrored_at"])
    return result
