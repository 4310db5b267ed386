"""Ingest of sales documents with their lines, in bulk and idempotently.

A document is rewritten only when its canonical content changed; its lines are then
replaced as a whole (SAP edits can add, remove or renumber lines). Cancellation documents
(`is_cancellation`) are stored like any other, flagged, so every reader can leave them out.
"""
from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace

from django.utils import timezone
from django.utils.dateparse import parse_date

from syncapp.adapters import SourceRecord
from syncapp.bulksql import bulk_insert, execute, in_values, quote, upsert_changed

from .dangling import documents_bases_check
from .documents import DOCUMENT_MODELS
from .ingest import IngestResult, _as_datetime
from .record_screen import raw_json

_HEADER = ["doc_num", "card_code", "num_at_card", "doc_date", "doc_due_date", "currency", "doc_total", "vat_total",
           "discount_percent", "discount_total", "freight_total", "rounding_total", "doc_total_local",
           "vat_total_local", "status", "cancelled", "is_cancellation", "tracking_number", "source_updated_at",
           "contact_person_code"]
_AMOUNTS = ("doc_total", "vat_total", "discount_percent", "discount_total", "freight_total", "rounding_total")
_UPDATE = [*_HEADER, "source_version", "raw", "content_hash", "mirrored_at"]
_LINE = ["line_num", "item_code", "description", "quantity", "price", "line_total", "warehouse_code", "line_status",
         "base_type", "base_entry", "base_line"]


def _amount(value) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _header(data: dict) -> dict:
    return {
        "doc_num": data.get("doc_num"), "card_code": data.get("card_code") or "",
        "num_at_card": data.get("num_at_card") or "", "doc_date": parse_date(str(data["doc_date"])[:10])
        if data.get("doc_date") else None,
        "doc_due_date": parse_date(str(data["doc_due_date"])[:10]) if data.get("doc_due_date") else None,
        "currency": data.get("currency") or "",
        **{name: _amount(data.get(name)) for name in _AMOUNTS},
        # A source that knows one currency only gives no separate local figures.
        "doc_total_local": _amount(data.get("doc_total_local", data.get("doc_total"))),
        "vat_total_local": _amount(data.get("vat_total_local", data.get("vat_total"))),
        "status": data.get("status") or "open", "cancelled": bool(data.get("cancelled")),
        "is_cancellation": bool(data.get("is_cancellation")),
        "tracking_number": data.get("tracking_number") or "",
        "contact_person_code": data.get("contact_person_code") or None,
        "source_updated_at": _as_datetime(data.get("source_updated_at")),
    }


def _lines(data: dict) -> list[tuple]:
    rows = []
    for line in data.get("lines") or []:
        rows.append((int(line.get("line_num") or 0), line.get("item_code") or "", (line.get("description") or "")[:200],
                     _amount(line.get("quantity")), _amount(line.get("price")), _amount(line.get("line_total")),
                     line.get("warehouse_code") or "", line.get("line_status") or "open", line.get("base_type"),
                     line.get("base_entry"), line.get("base_line")))
    return sorted(rows, key=lambda row: row[0])


def documents_upsert(*, connection, records: list[SourceRecord], entity: str) -> IngestResult:
    """Write changed documents of one page (and their lines); report changed keys.

    Headers are staged and written by one INSERT ... ON CONFLICT ... WHERE the hash
    differs, which names the documents written; their old lines go in one DELETE and their
    lines arrive by one COPY (a bulk INSERT on SQLite)."""
    model, line_model, _ = DOCUMENT_MODELS[entity]
    result = IngestResult()
    readable: dict[int, SourceRecord] = {}
    for record in records:
        if record.data is None:
            result.unreadable.append(record)
        else:
            readable[int(record.key)] = record  # a page may repeat a key: the later read wins
    result.readable_keys = [str(key) for key in readable]
    if not readable:
        return result
    now = timezone.now()
    latest: dict[int, tuple[SourceRecord, dict, list[tuple], str]] = {}

    def rows():
        # Made as the staging COPY takes them: the server reads each while the next is made.
        for key, record in readable.items():
            header, lines = _header(record.data), _lines(record.data)
            # A document naming no contact person keeps the fingerprint it had before they were read.
            hashed = [header[n] for n in _HEADER if n != "contact_person_code" or header[n] is not None]
            digest = hashlib.sha256(repr((hashed, lines)).encode()).hexdigest()
            latest[key] = (record, header, lines, digest)
            yield (connection.pk, key, *(header[n] for n in _HEADER), record.version[:40], raw_json(record.raw),
                   digest, now)

    ids_written = dict(upsert_changed(model, ["connection", "doc_entry", *_UPDATE], rows(),
                                      conflict=["connection", "doc_entry"], update=_UPDATE, hash_field="content_hash",
                                      returning=["doc_entry", "id"]))
    written = {key: ids_written[key] for key in latest if key in ids_written}  # in page order
    if written:
        ids = list(written.values())
        table, column = quote(line_model._meta.db_table), quote(line_model._meta.get_field("document").column)
        for start in range(0, len(ids), 1000):  # their old lines go: SAP edits add, drop and renumber lines
            condition, params = in_values(ids[start:start + 1000])
            execute(f"DELETE FROM {table} WHERE {column} {condition}", params)
        bulk_insert(line_model, ["document", *_LINE], [
            (written[key], *line) for key in written for line in latest[key][2]])
    result.unchanged = len(latest) - len(written)
    for key in written:
        _, header, lines, _ = latest[key]
        result.changed[str(key)] = SimpleNamespace(doc_entry=key, lines=lines, **header)
    documents_bases_check(connection=connection, entity=entity, doc_entries=result.readable_keys)  # erp/dangling.py
    return result


def _for(entity: str):
    def upsert(*, connection, records):
        return documents_upsert(connection=connection, records=records, entity=entity)

    return upsert


DOCUMENT_INGESTERS = {entity: _for(entity) for entity in DOCUMENT_MODELS}
