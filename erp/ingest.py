"""Ingest: upsert canonical source records into the mirror, in bulk and idempotently.

A record is written only when its canonical content changed, so a re-read (the delta
overlap window, a full resync) costs one read query per page and nothing downstream.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.utils.dateparse import parse_datetime

from syncapp.adapters import SourceRecord

from .models import BusinessPartner

_BP_FIELDS = [
    "card_name", "card_type", "email", "email_normalised", "phone1", "phone2", "cellular",
    "group_code", "currency", "valid", "frozen", "addresses", "udfs", "source_updated_at",
]
_BP_UPDATE_FIELDS = [*_BP_FIELDS, "source_version", "raw", "content_hash", "mirrored_at"]


@dataclass
class IngestResult:
    """Keys whose mirror row changed, and records that could not be understood."""

    changed_keys: list[str] = field(default_factory=list)
    unchanged: int = 0
    unreadable: list[SourceRecord] = field(default_factory=list)
    readable_keys: list[str] = field(default_factory=list)


def content_hash(data: dict) -> str:
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(str(value))


def business_partners_upsert(*, connection, records: list[SourceRecord]) -> IngestResult:
    """Write changed Business Partners of one page; report changed and unreadable keys."""
    from django.utils import timezone

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

    known = dict(
        BusinessPartner.objects.filter(connection=connection, card_code__in=list(latest))
        .values_list("card_code", "content_hash")
    )
    now = timezone.now()
    rows = []
    for key, record in latest.items():
        values = {name: record.data.get(name) for name in _BP_FIELDS}
        values["source_updated_at"] = _as_datetime(values["source_updated_at"])
        for text_field in ("card_name", "email", "email_normalised", "phone1", "phone2",
                           "cellular", "currency"):
            values[text_field] = values[text_field] or ""
        values["addresses"] = values["addresses"] or []
        values["udfs"] = values["udfs"] or {}
        values["valid"] = values["valid"] is not False
        values["frozen"] = bool(values["frozen"])
        digest = content_hash(values)
        if known.get(key) == digest:
            result.unchanged += 1
            continue
        rows.append(BusinessPartner(
            connection=connection, card_code=key, source_version=record.version, raw=record.raw,
            content_hash=digest, mirrored_at=now, **values,
        ))
        result.changed_keys.append(key)
    if rows:
        BusinessPartner.objects.bulk_create(
            rows, batch_size=1000, update_conflicts=True,
            unique_fields=["connection", "card_code"], update_fields=_BP_UPDATE_FIELDS,
        )
    return result


# Entity name as source adapters report it -> upsert service.
INGESTERS = {"business_partners": business_partners_upsert}
