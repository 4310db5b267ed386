"""A pull's next page read and screened while this one is stored.

Storing a page is Python and database statements in turn; reading one is a wait on the
ERP (an HTTP round trip at SAP B1) and screening it (`erp.record_checks.records_check`:
every value checked against the mirror's limits, the raw payload encoded) is pure Python,
a fifth to a third of a record's cost. A source whose next page does not depend on the
previous one being stored (`pages_read_ahead = True` on the adapter: it reads over HTTP,
not from the hub's own tables) is read in a helper thread one page ahead: page n+1 is
fetched and screened while page n is stored, in the time the store waits for the database.

Nothing else changes: pages are stored one at a time, in order, each in its own
transaction. The helper touches no database. A failure reading page n+1 is raised after
page n was stored, as without the look-ahead, and a page read ahead of a failed store is
read again next time, as its cursor never moved.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from erp.record_checks import records_check

from .adapters import SourceBatch

# The helper gives the interpreter lock back this often (records, about 0.1 ms of screening),
# so the thread storing a page, whose statement has answered, goes on at once instead of
# after Python's 5 ms switch interval (25 records measured no better, and steadier at 5).
_YIELD_EVERY = 5


def pages_read_ahead(pages: Iterator[SourceBatch], *, entity: str) -> Iterator[SourceBatch]:
    """`pages`, each screened; page n+1 is read and screened while page n is stored."""
    pages = iter(pages)

    def next_screened() -> SourceBatch | None:
        batch = next(pages, None)
        if batch is None:
            return None
        checked = records_check(entity=entity, records=_cooperative(batch.records))
        return replace(batch, records=checked, screened=True)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-read-ahead") as helper:
        upcoming = helper.submit(next_screened)
        try:
            while (batch := upcoming.result()) is not None:  # a read error is raised here, in order
                upcoming = helper.submit(next_screened)
                yield batch
        finally:
            upcoming.cancel()
            helper.shutdown(wait=True)  # the helper is out of the source before it is closed
            close = getattr(pages, "close", None)
            if close:
                close()  # a source's read ends now (its session is closed), not when collected


def _cooperative(records):
    for number, record in enumerate(records, 1):
        if number % _YIELD_EVERY == 0:
            time.sleep(0)
        yield record
