"""One bad record never fails its page: the guard around every ingester.

`guarded(entity, upsert)` is the ingester the engine calls. It first turns every record
the mirror cannot store into an unreadable one (`erp.record_checks`), then writes the
page in bulk inside a savepoint. Should the bulk write still fail on the data (a limit
the checks do not know, a database's own rule), the page is written again in halves, each
in its own savepoint, and a half that fails is halved again down to single records: only
the records that fail on their own become unreadable, with the database's complaint as
their detail. One bad record in a page of 1,000 costs about twenty smaller bulk writes
(halving), not a thousand single ones. Faults of the database itself (a lost connection,
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
    def ingest(*, connection, records: list[SourceRecord], screened: bool = False) -> IngestResult:
        # `screened`: records_check already ran on this page (syncapp.page_lookahead).
        checked = records if screened else records_check(entity=entity, records=records)
        try:
            with transaction.atomic():
                return upsert(connection=connection, records=checked)
        except RECORD_FAULTS as error:
            log.warning("Bulk ingest of %d %s failed (%s); writing them in halves", len(checked), entity,
                        type(error).__name__)
        return _halves(upsert, connection, checked)

    ingest.__name__ = getattr(upsert, "__name__", "ingest")
    ingest.__doc__ = upsert.__doc__
    return ingest


def _halves(upsert: Upsert, connection, records: list[SourceRecord]) -> IngestResult:
    """Write `records` (whose bulk write failed) as two halves, halving a failing half again;
    a single record that fails is unreadable. The later half is written after the earlier
    one, so a key read twice keeps its later read, as in a bulk write."""
    result = IngestResult()
    middle = len(records) // 2
    for part in (records[:middle], records[middle:]):
        if part:
            _merge(result, _written(upsert, connection, part))
    return result


def _written(upsert: Upsert, connection, records: list[SourceRecord]) -> IngestResult:
    try:
        with transaction.atomic():
            return upsert(connection=connection, records=records)
    except RECORD_FAULTS as error:
        if len(records) > 1:
            return _halves(upsert, connection, records)
        return IngestResult(unreadable=[unreadable(
            records[0], f"The hub could not store this record: {type(error).__name__}: "
                        f"{redact_text(storable(str(error)))[:300]}", UNREADABLE)])


def _merge(result: IngestResult, part: IngestResult) -> None:
    result.changed.update(part.changed)
    result.unchanged += part.unchanged
    result.unreadable.extend(part.unreadable)
    seen = set(result.readable_keys)
    result.readable_keys.extend(key for key in part.readable_keys if key not in seen)
