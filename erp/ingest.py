"""Ingest: upsert canonical source records into the mirror, in bulk and idempotently.

A record is written only when its canonical content changed, so a re-read (the delta
overlap window, a full resync) costs one read query per page and nothing downstream.
The changed rows are handed to planning as they are, so it need not read them back.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from syncapp.adapters import SourceRecord
from syncapp.bulksql import json_text, upsert_changed

from .ingest_contacts import contact_persons_replace
from .models import BusinessPartner
from .record_screen import raw_json

_BP_FIELDS = [
    "card_name", "card_type", "email", "email_normalised", "phone1", "phone2", "cellular",
    "group_code", "currency", "valid", "frozen", "addresses", "udfs", "source_updated_at",
]
_TEXT_FIELDS = ("card_name", "email", "email_normalised", "phone1", "phone2", "cellular", "currency")
_BP_UPDATE_FIELDS = [*_BP_FIELDS, "source_version", "raw", "content_hash", "mirrored_at"]
_BP_COLUMNS = ["connection", "card_code", *_BP_UPDATE_FIELDS]


@dataclass
class IngestResult:
    """What one page did to the mirror. `changed` holds the changed rows (attributes
    named as the mirror model's fields) for planning."""

    changed: dict[str, SimpleNamespace] = field(default_factory=dict)
    unchanged: int = 0
    unreadable: list[SourceRecord] = field(default_factory=list)
    readable_keys: list[str] = field(default_factory=list)

    @property
    def changed_keys(self) -> list[str]:
        return list(self.changed)



def content_hash(data: dict, contact_persons: str = "") -> str:
    """Fingerprint of the canonical fields; the nested ones must already be JSON text
    (they are encoded once, for storage and for this). A source that reorders keys
    only costs a harmless extra write. Contact persons (JSON text) count when there are
    any; a partner without them keeps the fingerprint it always had."""
    values = [data[name] for name in _BP_FIELDS]
    if contact_persons:
        values.append(contact_persons)
    return hashlib.sha256(repr(values).encode()).hexdigest()


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(str(value))


def _canonical(data: dict) -> dict:
    values = {name: data.get(name) for name in _BP_FIELDS}
    values["source_updated_at"] = _as_datetime(values["source_updated_at"])
    for text_field in _TEXT_FIELDS:
        values[text_field] = values[text_field] or ""
    values["addresses"] = json_text(values["addresses"] or [])
    values["udfs"] = json_text(values["udfs"] or {})
    values["valid"] = values["valid"] is not False
    values["frozen"] = bool(values["frozen"])
    return values


def business_partners_upsert(*, connection, records: list[SourceRecord]) -> IngestResult:
    """Write changed Business Partners of one page; report changed and unreadable ones.

    Every readable record is staged; one INSERT ... ON CONFLICT ... WHERE the hash differs
    writes the new and changed ones and names them (the database compares, not Python)."""
    result = IngestResult()
    latest: dict[str, SourceRecord] = {}
    for record in records:
        if record.data is None:
            result.unreadable.append(record)
        else:
            latest[record.key] = record  # a page may repeat a key: the later read wins
    if not latest:
        return result
    result.readable_keys = list(latest)
    now = timezone.now()
    canonical: dict[str, dict] = {}

    def rows():
        # Made as the staging COPY takes them: the server reads each while the next is made.
        for key, record in latest.items():
            values = canonical[key] = _canonical(record.data)
            persons = record.data.get("contact_persons")
            yield (connection.pk, key, *(values[name] for name in _BP_FIELDS), record.version[:40],
                   raw_json(record.raw), content_hash(values, json_text(persons) if persons else ""), now)

    written = upsert_changed(BusinessPartner, _BP_COLUMNS, rows(), conflict=["connection", "card_code"],
                             update=_BP_UPDATE_FIELDS, hash_field="content_hash", returning=["card_code"])
    written_keys = {key for (key,) in written}
    # A source that reads contact persons (SAP B1) names them on every partner, none included.
    contact_persons_replace(connection=connection, persons_by_company={
        key: latest[key].data["contact_persons"] for key in written_keys if "contact_persons" in latest[key].data})
    for key in (key for key in latest if key in written_keys):  # in page order
        record, values = latest[key], canonical[key]
        row = SimpleNamespace(connection_id=connection.pk, card_code=key, source_version=record.version, **values)
        row.addresses, row.udfs = record.data.get("addresses") or [], record.data.get("udfs") or {}
        result.changed[key] = row
    result.unchanged = len(latest) - len(result.changed)
    return result


def _ingesters() -> dict:
    from .ingest_documents import DOCUMENT_INGESTERS
    from .ingest_guard import guarded
    from .ingest_items import item_groups_upsert, item_stock_upsert, items_upsert, warehouses_upsert

    upserts = {"business_partners": business_partners_upsert, "items": items_upsert,
               "item_stock": item_stock_upsert, "warehouses": warehouses_upsert, "item_groups": item_groups_upsert,
               **DOCUMENT_INGESTERS}
    # Each page is checked against the mirror's limits first, and a page whose bulk write
    # still fails is written record by record: one bad record never fails its page.
    return {entity: guarded(entity, upsert) for entity, upsert in upserts.items()}


# Entity name as source adapters report it -> upsert service.
INGESTERS = _ingesters()
