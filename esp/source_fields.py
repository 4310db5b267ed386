"""The ERP fields a customer mapping can read, each with a sample from a real record.

The fields are those `esp.mapping` can read (mirror columns, customer figures, address
parts) plus the user-defined fields of the connections involved: those each connection
is told to read (`ErpConnection.user_fields`) and those present in mirrored records.
A sample is the first non-empty value in CardCode order, read from a window of records
and, for fields empty there, by one query each over the first DEEP partners, so a
mirror of 100,000 partners costs a few bounded reads. User-defined fields beyond the
connection's list are found in those same first DEEP partners. Emails are masked: the editor shows what a
field holds, not whose it is. Cached for a minute per set of connections.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Q

from erp.models import BusinessPartner, ErpConnection
from esp.mapping import ADDRESS_FIELDS, UDF_PATTERN, mirror_fields, source_label

WINDOW = 300
DEEP = 20_000  # how far a field empty in the window is looked for
SAMPLE_MAX = 40
CACHE_SECONDS = 60
UDF_GROUP = "User-defined fields"
_EMAIL = re.compile(r"([^\s@]+)@([^\s@]+\.[^\s@]+)")


@dataclass(frozen=True)
class SourceField:
    name: str
    label: str
    group: str
    sample: str = ""  # '' when no record has a value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def sample_text(value: Any) -> str:
    """A value as the editor shows it: short, one line, emails masked."""
    text = " ".join(str(value).split())
    text = _EMAIL.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", text)
    return text if len(text) <= SAMPLE_MAX else text[: SAMPLE_MAX - 1] + "…"


def _groups() -> dict[str, str]:
    from erp.customer_figures import FIGURES

    groups = {name: "Business Partner" for name in mirror_fields() if name not in FIGURES}
    groups.update({name: "Customer figures (from orders)" for name in FIGURES})
    groups.update({name: f"{source_label(name).split(' ')[0]} address" for name in ADDRESS_FIELDS})
    return groups


def _address_value(record: BusinessPartner, name: str) -> Any:
    address_type, key, _ = ADDRESS_FIELDS[name]
    for address in record.addresses if isinstance(record.addresses, list) else []:
        if isinstance(address, dict) and address.get("address_type") == address_type and not _empty(address.get(key)):
            return address.get(key)
    return None


def _first_from_window(partners: list[BusinessPartner], name: str) -> Any:
    for partner in partners:
        if name in ADDRESS_FIELDS:
            value = _address_value(partner, name)
        elif UDF_PATTERN.fullmatch(name):
            value = (partner.udfs or {}).get(name) if isinstance(partner.udfs, dict) else None
        else:
            value = getattr(partner, name, None)
        if not _empty(value):
            return value
    return None


def _deeper(connection: ErpConnection):
    """The first DEEP partners of a connection in CardCode order (a range of the unique
    index): where a field empty in the window is looked for, so a field empty everywhere
    costs a bounded read, not a scan of the whole mirror."""
    first = BusinessPartner.objects.filter(connection=connection).order_by("card_code").values("pk")[:DEEP]
    return BusinessPartner.objects.filter(pk__in=first)


def _first_from_mirror(records, name: str) -> Any:
    """One read for a field the window had no value for (mirror columns and UDFs)."""
    if UDF_PATTERN.fullmatch(name):
        for udfs in records.filter(**{f"udfs__{name}__isnull": False}).values_list("udfs", flat=True)[:20]:
            if isinstance(udfs, dict) and not _empty(udfs.get(name)):
                return udfs[name]
        return None
    column = BusinessPartner._meta.get_field(name)
    found = records.exclude(**{f"{name}__isnull": True})
    if column.get_internal_type() in ("CharField", "TextField"):
        found = found.exclude(Q(**{name: ""}))
    return found.values_list(name, flat=True).first()


def _udf_names_in_mirror(connection: ErpConnection) -> set[str]:
    """The user-defined field names the first DEEP partners of a connection hold: one
    pass over their JSON keys in the database (no rows come back to Python)."""
    from django.db import connection as db

    table = db.ops.quote_name(BusinessPartner._meta.db_table)
    first = f"SELECT udfs FROM {table} WHERE connection_id = %s ORDER BY card_code LIMIT %s"
    if db.vendor == "postgresql":
        sql = (f"SELECT DISTINCT jsonb_object_keys(udfs) FROM ({first}) AS first "
               "WHERE jsonb_typeof(udfs) = 'object' LIMIT 1000")
    elif db.vendor == "sqlite":
        sql = (f"SELECT DISTINCT j.key FROM ({first}) AS first, json_each(first.udfs) AS j "
               "WHERE json_type(first.udfs) = 'object' LIMIT 1000")
    else:
        return set()
    with db.cursor() as cursor:
        cursor.execute(sql, [connection.pk, DEEP])
        return {row[0] for row in cursor.fetchall() if UDF_PATTERN.fullmatch(str(row[0]))}


def _figure_samples(connection: ErpConnection, partners: list[BusinessPartner]) -> dict[str, Any]:
    from erp.customer_figures import customer_figures

    samples: dict[str, Any] = {}
    figures = customer_figures(connection=connection, card_codes=[p.card_code for p in partners])
    for code in (p.card_code for p in partners):
        for name, value in figures.get(code, {}).items():
            if name not in samples and not _empty(value) and value != 0:
                samples[name] = value
    return samples


def source_catalog(*, connections: Iterable[ErpConnection], refresh: bool = False) -> list[SourceField]:
    """Every readable source field, grouped, with a sample where a record has a value
    (from a one-minute cache unless `refresh`)."""
    connections = sorted(connections, key=lambda c: c.pk)
    key = "esp:source-catalog:" + ",".join(f"{c.pk}.{c.updated_at.timestamp() if c.updated_at else 0}"
                                           for c in connections)
    cached = None if refresh else cache.get(key)
    if cached is None:
        cached = _source_catalog(connections)
        cache.set(key, cached, CACHE_SECONDS)
    return cached


def _source_catalog(connections: list[ErpConnection]) -> list[SourceField]:
    from erp.customer_figures import FIGURES

    groups = _groups()
    udfs = {name for c in connections for name in (c.user_fields or []) if UDF_PATTERN.fullmatch(str(name))}
    windows: dict[ErpConnection, list[BusinessPartner]] = {}
    figure_samples: dict[str, Any] = {}
    for connection in connections:
        window = list(BusinessPartner.objects.filter(connection=connection).order_by("card_code").defer("raw")[:WINDOW])
        windows[connection] = window
        udfs |= {name for p in window if isinstance(p.udfs, dict) for name in p.udfs if UDF_PATTERN.fullmatch(name)}
        if len(window) == WINDOW:  # more partners than the window: their keys are read in the database
            udfs |= _udf_names_in_mirror(connection)
        if window:
            figure_samples = _figure_samples(connection, window) | figure_samples
    fields = []
    for name in [*groups, *sorted(udfs)]:
        value = figure_samples.get(name) if name in FIGURES else _first_in(windows, name)
        fields.append(SourceField(name, source_label(name), groups.get(name, UDF_GROUP),
                                  "" if value is None else sample_text(value)))
    return fields


def _first_in(windows: dict[ErpConnection, list[BusinessPartner]], name: str) -> Any:
    for window in windows.values():
        value = _first_from_window(window, name)
        if value is not None:
            return value
    if name in ADDRESS_FIELDS:
        return None
    for connection, window in windows.items():
        if len(window) == WINDOW:  # a smaller window already was the whole mirror
            value = _first_from_mirror(_deeper(connection), name)
            if value is not None:
                return value
    return None
