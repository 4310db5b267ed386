"""One bad record never fails its page: the guard around every ingester.

`guarded(entity, upsert)` is the ingester the engine calls. It first turns every record
the mirror cannot store into an unreadable one (`erp.record_checks`), then writes the
page in bulk inside a savepoint. Should the bulk write still fail on the data (a limit
the checks do not know, a database's own rule), the page is written again one record per
savepoint, and only the records that fail on their own become unreadable, with the
database's complaint as their detail. Faults of the database itself (a lost connection,
a deadlock) are not the record's fault: they are raised, and the page is read again.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DataError, IntegrityError, transaction

from syncapp.adapters import SourceRecord
from syncapp.logging import redact_text

from .ingest import IngestResult
from .record_checks import UNREADABLE, records_check, storable, unreadable

log = logging.getLogger(__name__)

# What a record's own data can make a write raise (psycopg's DataError for NUL bytes or
# numeric overflow, UnicodeEncodeError for a lone surrogate, ValueError/TypeError/
# OverflowError from converting a value); OperationalError and the like are not here.
RECORD_FAULTS = (DataError, IntegrityError, ValueError, TypeError, OverflowError)

Upsert = Callable[..., IngestResult]


def guarded(entity: str, upsert: Upsert) -> Upsert:
    def ingest(*, connection, records: list[SourceRecord]) -> IngestResult:
        checked = records_check(entity=entity, records=records)
        try:
            with transaction.atomic():
                return upsert(connection=connection, records=checked)
        except RECORD_FAULTS as error:
            log.warning("Bulk ingest of %d %s failed (%s); writing them one by one", len(checked), entity,
                        type(error).__name__)
        return _one_by_one(upsert, connection, checked)

    ingest.__name__ = getattr(upsert, "__name__", "ingest")
    ingest.__doc__ = upsert.__doc__
    return ingest


def _one_by_one(upsert: Upsert, connection, records: list[SourceRecord]) -> IngestResult:
    result = IngestResult()
    for record in records:
        try:
            with transaction.atomic():
                one = upsert(connection=connection, records=[record])
        except RECORD_FAULTS as error:
            result.unreadable.append(unreadable(
                record, f"The hub could not store this record: {type(error).__name__}: "
                        f"{redact_text(storable(str(error)))[:300]}", UNREADABLE))
            continue
        result.changed.update(one.changed)
        result.unchanged += one.unchanged
        result.unreadable.extend(one.unreadable)
        result.readable_keys.extend(key for key in one.readable_keys if key not in result.readable_keys)
    return result
