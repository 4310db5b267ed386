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
from collections.abc import Callable, Sequence

from django.db import DataError, IntegrityError, transaction

from syncapp.adapters import SourceRecord
from syncapp.logging import redact_text

from .ingest import IngestResult
from .read_fingerprint import readable_key, unchanged_set_aside
from .record_checks import UNREADABLE, records_check, storable, unreadable

log = logging.getLogger(__name__)

# What a record's own data can make a write raise (psycopg's DataError for NUL bytes or
# numeric overflow, UnicodeEncodeError for a lone surrogate, ValueError/TypeError/
# OverflowError from converting a value); OperationalError and the like are not here.
RECORD_FAULTS = (DataError, IntegrityError, ValueError, TypeError, OverflowError)

Upsert = Callable[..., IngestResult]


def guarded(entity: str, upsert: Upsert) -> Upsert:
    def ingest(*, connection, records: list[SourceRecord], screened: bool = False,
               held: Sequence[SourceRecord] | None = None) -> IngestResult:
        # `screened`: records_check already ran on this page (syncapp.page_lookahead). `held`:
        # the look-ahead asked the mirror, and held these unscreened as read. That answer is
        # from before the page ahead was stored, so it is asked again here; the others were
        # not held then, and a page stored since could only have made them equal to the mirror.
        if held is not None:
            changed_since, unchanged = unchanged_set_aside(connection=connection, entity=entity, records=held)
            to_write = [*records, *records_check(entity=entity, records=changed_since)] if changed_since else records
        else:
            to_write, unchanged = unchanged_set_aside(connection=connection, entity=entity, records=records)
            if not screened:
                to_write = records_check(entity=entity, records=to_write)
        return _with_unchanged(entity, _written_in_bulk(upsert, connection, entity, to_write), unchanged)

    ingest.__name__ = getattr(upsert, "__name__", "ingest")
    ingest.__doc__ = upsert.__doc__
    return ingest


def _written_in_bulk(upsert: Upsert, connection, entity: str, records: list[SourceRecord]) -> IngestResult:
    if not records:
        return IngestResult()
    try:
        with transaction.atomic():
            return upsert(connection=connection, records=records)
    except RECORD_FAULTS as error:
        log.warning("Bulk ingest of %d %s failed (%s); writing them in halves", len(records), entity,
                    type(error).__name__)
    return _halves(upsert, connection, records)


def _with_unchanged(entity: str, result: IngestResult, unchanged: list[SourceRecord]) -> IngestResult:
    """The page's result, counting the records the mirror already held as they were read."""
    if unchanged:
        keys = dict.fromkeys(readable_key(entity, record) for record in unchanged)
        result.unchanged += len(keys)
        seen = set(result.readable_keys)
        result.readable_keys.extend(key for key in keys if key not in seen)
    return result


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
