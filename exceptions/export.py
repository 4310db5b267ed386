"""CSV of any filtered exception view: the dashboard's filter, every matching exception
(not one page), newest first, streamed in slices so 100,000 rows never sit in memory.

Cells follow the page's email rule (exceptions/record_page.py): a role that sees email
addresses masked on the page gets them masked here too.
"""
from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet
from django.utils import timezone

from syncapp.csv_stream import spreadsheet_safe
from syncapp.logging import redact_text

from .filters import ENTITY_LABELS
from .models import SyncException
from .reasons import reason_for
from .record_names import record_labels
from .record_page import DATETIME_FORMAT, email_in_full
from .views_queries import LIST_FIELDS

COLUMNS = ["id", "record", "record_key", "entity", "reason_code", "reason", "what_happened", "status", "owner_team",
           "assigned_to", "destination", "flow", "stage", "attempts", "first_seen", "last_seen", "note"]
SLICE = 1_000


def _when(value) -> str:
    return timezone.localtime(value).strftime(DATETIME_FORMAT) if value else ""


def _slices(queryset: QuerySet[SyncException]) -> Iterator[list[SyncException]]:
    rows = (queryset.select_related("flow__destination", "assignee")
            .only(*LIST_FIELDS, "note", "flow__name", "flow__destination__name", "assignee__username")
            .order_by("-last_seen", "-id").iterator(chunk_size=SLICE))
    chunk: list[SyncException] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == SLICE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def exceptions_csv_rows(queryset: QuerySet[SyncException], *, user) -> Iterator[list[str]]:
    """The header, then one row per exception, each named as people know its record."""
    shown = (lambda text: text) if email_in_full(user) else redact_text
    yield COLUMNS
    for chunk in _slices(queryset):
        labels = record_labels(chunk)
        for row in chunk:
            cells = [row.pk, labels.get(row.pk, row.record_key), row.record_key,
                     ENTITY_LABELS.get(row.entity, row.entity), row.reason_code, reason_for(row.reason_code).title,
                     row.message, row.get_status_display(),
                     row.get_owner_team_display(), row.assignee.get_username() if row.assignee else "",
                     row.flow.destination.name if row.flow else "", row.flow.name if row.flow else "",
                     row.get_stage_display(), row.attempts, _when(row.first_seen), _when(row.last_seen), row.note]
            yield [cell if isinstance(cell, int) else spreadsheet_safe(shown(str(cell))) for cell in cells]
