"""The history of an exception: what the hub and people did to it (ExceptionEvent rows).

Every change of an exception writes its event in the same transaction. Bulk changes
select the ids they change (locked, in id order), update them in one statement and
write their events in one bulk insert: no query per row.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .models import ExceptionEvent, SyncException

Kind = ExceptionEvent.Kind
# Rows per bulk insert and per UPDATE ... WHERE id IN (...): within every database's limits.
SLICE = 500
_TEXT_LIMIT = 1_000
HISTORY_LIMIT = 500


def events_add(*, exception_ids: Iterable[int], kind: str, text: str, actor=None, at: datetime | None = None) -> None:
    """One event per exception, the same sentence for each, in bulk."""
    at = at or timezone.now()
    events_add_each(rows=((pk, text) for pk in exception_ids), kind=kind, actor=actor, at=at)


def events_add_each(*, rows: Iterable[tuple[int, str]], kind: str, actor=None, at: datetime | None = None) -> None:
    """One event per (exception id, sentence), in bulk."""
    at = at or timezone.now()
    actor_id = getattr(actor, "pk", None)
    ExceptionEvent.objects.bulk_create(
        [ExceptionEvent(exception_id=pk, kind=kind, actor_id=actor_id, at=at, text=text[:_TEXT_LIMIT])
         for pk, text in rows], batch_size=SLICE)


def exceptions_change(queryset: QuerySet[SyncException], *, kind: str, text: str, actor=None,
                      **changes: Any) -> list[int]:
    """Apply `changes` to the exceptions `queryset` matches and record one `kind` event for
    each; returns the ids changed. Selects the ids first (locked, in id order, so two bulk
    changes never deadlock) and then updates exactly those, in slices."""
    with transaction.atomic():
        ids = list(queryset.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), SLICE):
            SyncException.objects.filter(pk__in=ids[start:start + SLICE]).update(**changes)
        events_add(exception_ids=ids, kind=kind, text=text, actor=actor)
    return ids


@dataclass
class HistoryEntry:
    at: datetime
    who: str
    what: str
    kind: str = ""


def exception_history(exception: SyncException) -> list[HistoryEntry]:
    """What happened to the exception, oldest first (the first HISTORY_LIMIT events)."""
    events = exception.events.select_related("actor").order_by("at", "id")[:HISTORY_LIMIT]
    return [HistoryEntry(event.at, event.actor.get_username() if event.actor else "hub", event.text, event.kind)
            for event in events]
