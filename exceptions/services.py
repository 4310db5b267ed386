"""Raising, resolving, ignoring and retrying sync exceptions.

Exceptions are written by the engine at each stage and resolve themselves when the
record later goes through. This room never moves data: a retry asks the engine.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from syncapp.logging import redact

from .models import Stage, SyncException
from .reasons import reason_for

_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)


def exception_raise(
    *,
    connection,
    entity: str,
    record_key: str,
    stage: str,
    reason_code: str,
    flow=None,
    message: str = "",
    detail: str = "",
    destination_code: str = "",
    source_payload: Any = None,
    last_request: Any = None,
    last_response: Any = None,
) -> SyncException:
    """Open (or re-open) the exception of one record at one destination.

    An ignored exception stays ignored when the same reason recurs: a person decided.
    """
    reason = reason_for(reason_code)
    fields = {
        "stage": stage,
        "reason_code": reason_code,
        "destination_code": destination_code[:100],
        "message": message or reason.message,
        "detail": redact(detail)[:10_000],
        "source_payload": source_payload,
        "last_request": last_request,
        "last_response": last_response,
        "owner_team": reason.owner,
    }
    lookup = {"connection": connection, "flow": flow, "entity": entity, "record_key": record_key}
    with transaction.atomic():
        existing = SyncException.objects.select_for_update().filter(**lookup).first()
        if existing is None:
            return SyncException.objects.create(**lookup, **fields)
        keep_ignored = (
            existing.status == SyncException.Status.IGNORED and existing.reason_code == reason_code
        )
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.attempts += 1
        existing.resolved_at = None
        if not keep_ignored:
            existing.status = SyncException.Status.OPEN
        existing.save()
        return existing


def _active_for(*, flow, entity: str, record_keys: Iterable[str], stages: Iterable[str] | None = None,
                connection=None) -> QuerySet[SyncException]:
    keys = list(record_keys)
    qs = SyncException.objects.filter(entity=entity, record_key__in=keys, status__in=_ACTIVE)
    qs = qs.filter(flow=flow) if flow is not None else qs.filter(flow__isnull=True, connection=connection)
    if stages is not None:
        qs = qs.filter(stage__in=list(stages))
    return qs


def exceptions_resolve(*, entity: str, record_keys: Iterable[str], flow=None, connection=None,
                       stages: Iterable[str] | None = None) -> int:
    """The records went through (or were read fine): close their open exceptions."""
    keys = list(record_keys)
    if not keys or not _any_active(flow=flow, connection=connection, entity=entity):
        return 0
    total = 0
    for start in range(0, len(keys), 500):
        total += _active_for(
            flow=flow, connection=connection, entity=entity, record_keys=keys[start:start + 500],
            stages=stages,
        ).update(status=SyncException.Status.RESOLVED, resolved_at=timezone.now())
    return total


def _any_active(*, flow, connection, entity: str) -> bool:
    """One small indexed query that spares the per-key updates when nothing is open
    (the usual case for a page of thousands of healthy records)."""
    qs = SyncException.objects.filter(entity=entity, status__in=_ACTIVE)
    qs = qs.filter(flow=flow) if flow is not None else qs.filter(flow__isnull=True, connection=connection)
    return qs.exists()


def exceptions_reopen(*, connection, entity: str, reasons: dict[str, str], flow=None) -> int:
    """Exceptions whose retry could not even start: open again, saying why."""
    total = 0
    for key, why in reasons.items():
        qs = SyncException.objects.filter(connection=connection, entity=entity, record_key=key,
                                          status=SyncException.Status.RETRYING)
        qs = qs.filter(flow=flow) if flow is not None else qs.filter(flow__isnull=True)
        total += qs.update(status=SyncException.Status.OPEN, note=why[:1000])
    return total


def exceptions_mark_retrying(*, flow, entity: str, record_keys: Iterable[str]) -> int:
    """The records passed planning and wait to be sent: not fixed yet, no longer stuck."""
    keys = list(record_keys)
    if not keys or not _any_active(flow=flow, connection=None, entity=entity):
        return 0
    total = 0
    for start in range(0, len(keys), 500):
        total += _active_for(flow=flow, entity=entity, record_keys=keys[start:start + 500]).filter(
            status=SyncException.Status.OPEN
        ).update(status=SyncException.Status.RETRYING)
    return total


def exception_ignore(*, exception: SyncException, note: str = "") -> SyncException:
    exception.status = SyncException.Status.IGNORED
    exception.note = note
    exception.save(update_fields=["status", "note", "last_seen"])
    return exception


# A person retrying a handful of records sees the result at once; a bulk retry of a
# whole filter goes to the workers instead of holding the web request.
RETRY_INLINE_LIMIT = 20


def exceptions_retry(*, exceptions: QuerySet[SyncException] | Iterable[SyncException]) -> int:
    """Ask the engine to re-read and re-plan each record from the ERP's current data.

    Returns how many exceptions were retried. Ingest exceptions are retried for every
    flow of their connection; the rest for their own flow.
    """
    from syncapp.services import records_retry  # the engine owns moving data
    from syncapp.tasks import records_retry_task

    by_target: dict[tuple, list[str]] = {}
    ids = []
    for exc in exceptions:
        ids.append(exc.pk)
        by_target.setdefault((exc.connection_id, exc.flow_id, exc.entity), []).append(exc.record_key)
    SyncException.objects.filter(pk__in=ids, status=SyncException.Status.OPEN).update(
        status=SyncException.Status.RETRYING
    )
    inline = len(ids) <= RETRY_INLINE_LIMIT
    for (connection_id, flow_id, entity), keys in by_target.items():
        if inline:
            records_retry(connection_id=connection_id, flow_id=flow_id, entity=entity, record_keys=keys)
        else:
            transaction.on_commit(lambda args=(connection_id, flow_id, entity, keys): records_retry_task.delay(*args))
    return len(ids)


def open_exceptions() -> QuerySet[SyncException]:
    return SyncException.objects.filter(Q(status__in=_ACTIVE))


__all__ = [
    "Stage",
    "exception_ignore",
    "exception_raise",
    "exceptions_mark_retrying",
    "exceptions_resolve",
    "exceptions_retry",
    "open_exceptions",
]
