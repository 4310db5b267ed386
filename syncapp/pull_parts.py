"""What one pull reads of its source: everything since the cursor, or the new changes alone
with the overlap re-read left owed in the cursor, or that owed re-read alone.

Why apart (issue 12): a deliveries pull read its new changes in a second or two, then re-read
its overlap window (about 2,000 unchanged deliveries, 5 s) while the dispatches it had planned
waited for a free worker process, and a dispatch's push started only as the pull ended. The
re-read is now a task of its own (syncapp.tasks.connection_pull_task), queued behind them.
A source without the two reads apart (SAP ECC's IDocs have no overlap) reads everything."""
from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from .adapters import SourceBatch


class PullPart(StrEnum):
    ALL = "all"
    NEW_CHANGES = "new_changes"
    OVERLAP = "overlap"


def reads_apart(adapter) -> bool:
    return hasattr(adapter, "read_new_changes") and hasattr(adapter, "read_overlap")


def pages_to_read(adapter, entity: str, cursor: dict[str, Any] | None, part: PullPart) -> Iterator[SourceBatch]:
    if part == PullPart.ALL or cursor is None or not reads_apart(adapter):
        # A full read (cursor None) has no overlap; nor has a source that reads everything.
        return iter(()) if part == PullPart.OVERLAP else adapter.read_changes(entity, cursor)
    if part == PullPart.NEW_CHANGES:
        return adapter.read_new_changes(entity, cursor)
    return adapter.read_overlap(entity, cursor)


def overlap_owed(adapter, entity: str, cursor: dict[str, Any] | None) -> bool:
    """Whether the cursor owes the overlap re-read a NEW_CHANGES read left."""
    return reads_apart(adapter) and adapter.overlap_due(entity, cursor)
