"""Bulk Ignore: every open or retrying exception a filter matches, with one note.

Like the bulk retry, the person first sees how many it will touch and confirms that
number (exceptions/views_bulk.py); the action goes ahead only while the filter still
matches about as many."""
from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils import timezone

from .events import Kind, exceptions_change
from .filters import ACTIVE_STATUSES
from .models import SyncException


def exceptions_bulk_ignore(*, queryset: QuerySet[SyncException], user, note: str) -> int:
    """Ignore the open or retrying exceptions of `queryset` with `note`; returns how many.
    Each stays ignored while the same reason recurs, and its history names the person."""
    note = note.strip()[:1000]
    if not note:
        raise ValueError("Say why these exceptions are ignored.")
    return len(exceptions_change(queryset.filter(status__in=ACTIVE_STATUSES), kind=Kind.IGNORED,
                                 text=f"Ignored: {note}", actor=user, status=SyncException.Status.IGNORED,
                                 note=note, last_seen=timezone.now(), retry_requested_at=None))


def status_counts(queryset: QuerySet[SyncException]) -> dict[str, int]:
    """How many exceptions of each status a filter (without its status) matches: one GROUP BY."""
    counts = {status: 0 for status in SyncException.Status.values}
    for row in queryset.order_by().values("status").annotate(n=Count("*")):
        counts[row["status"]] = row["n"]
    return counts
