"""Bulk Ignore: every open or retrying exception a filter matches, with one note.

Like the bulk retry, the person first sees how many it will touch and confirms that
number; the action goes ahead only while the filter still matches about as many."""
from __future__ import annotations

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from .filters import ACTIVE_STATUSES
from .models import SyncException
from .views_actions import BULK_SLICE, _log


def exceptions_bulk_ignore(*, queryset: QuerySet[SyncException], user, note: str) -> int:
    """Ignore the open or retrying exceptions of `queryset` with `note`; returns how many.
    Each stays ignored while the same reason recurs, and its history names the person."""
    note = note.strip()[:1000]
    if not note:
        raise ValueError("Say why these exceptions are ignored.")
    ids = list(queryset.filter(status__in=ACTIVE_STATUSES).order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    with transaction.atomic():
        for start in range(0, len(ids), BULK_SLICE):
            pks = ids[start:start + BULK_SLICE]
            chunk = list(SyncException.objects.filter(pk__in=pks, status__in=ACTIVE_STATUSES)
                         .only("id", "record_key", "reason_code"))
            SyncException.objects.filter(pk__in=[e.pk for e in chunk]).update(
                status=SyncException.Status.IGNORED, note=note, last_seen=now, retry_requested_at=None)
            _log(user=user, objects=chunk, message=f"Ignored (with {len(ids)} matching a filter): {note}")
    return len(ids)


def status_counts(queryset: QuerySet[SyncException]) -> dict[str, int]:
    """How many exceptions of each status a filter (without its status) matches: one GROUP BY."""
    counts = {status: 0 for status in SyncException.Status.values}
    for row in queryset.order_by().values("status").annotate(n=Count("*")):
        counts[row["status"]] = row["n"]
    return counts
