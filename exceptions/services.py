"""Raising, resolving, ignoring and retrying sync exceptions.

Exceptions are written by the engine at each stage and resolve themselves when the
record later goes through. This room never moves data: a retry asks the engine.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from syncapp.bulksql import any_of
from syncapp.logging import redact_json, redact_text

from .events import Kind, events_add, exceptions_change
from .models import Stage, SyncException
from .reasons import reason_for

_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)
log = logging.getLogger(__name__)


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
    owner_team: str = "",
) -> SyncException:
    """Open (or re-open) the exception of one record at one destination.

    The owner is the reason's, unless `owner_team` names another (one reason may hold back
    different people's work). An ignored exception stays ignored when the same reason
    recurs: a person decided.
    The error texts (message, detail, the destination's answer) are stored redacted: no
    secret, no full email address. The record's own data (source payload, what the hub
    sent) is stored as it is, for the record page. Its history gets one event: raised,
    failed again, or reopened (it had been resolved, or ignored for another reason).
    """
    reason = reason_for(reason_code)
    fields = {
        "stage": stage,
        "reason_code": reason_code,
        "destination_code": destination_code[:100],
        "message": error_text_clean(message or reason.message),
        "detail": error_text_clean(detail),
        "source_payload": source_payload,
        "last_request": last_request,
        "last_response": redact_json(last_response),
        "owner_team": owner_team or reason.owner,
        "retry_requested_at": None,  # the retry ran: it is failing again
    }
    lookup = {"connection": connection, "flow": flow, "entity": entity, "record_key": record_key}
    with transaction.atomic():
        existing = SyncException.objects.select_for_update().filter(**lookup).first()
        if existing is None:
            created = SyncException.objects.create(**lookup, **fields)
            events_add(exception_ids=[created.pk], kind=Kind.RAISED, text=f"First failed: {reason.title}.")
            return created
        was = existing.status
        keep_ignored = was == SyncException.Status.IGNORED and existing.reason_code == reason_code
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.attempts += 1
        existing.resolved_at = None
        if not keep_ignored:
            existing.status = SyncException.Status.OPEN
        existing.save()
        kind, text = _failed_again(was=was, keep_ignored=keep_ignored, exception=existing, reason_title=reason.title)
        events_add(exception_ids=[existing.pk], kind=kind, text=text)
        return existing


def _failed_again(*, was: str, keep_ignored: bool, exception: SyncException, reason_title: str) -> tuple[str, str]:
    """The event of a record failing again, by what the exception was before."""
    said = exception.message[:300]
    if was in (SyncException.Status.RESOLVED, SyncException.Status.IGNORED) and not keep_ignored:
        before = "resolved" if was == SyncException.Status.RESOLVED else "ignored for another reason"
        return Kind.REOPENED, f"Open again: it had been {before} and failed ({reason_title}): {said}"
    suffix = "; it stays ignored" if keep_ignored else ""
    return Kind.SEEN_AGAIN, f"Failed again (attempt {exception.attempts}){suffix}: {said}"


def error_text_clean(text: str, *, limit: int = 10_000) -> str:
    """An error text as it may be stored: redacted, at most `limit` characters.

    Redacts a little more than is kept, so an address cut by the limit was masked whole
    (a bounded slice also keeps redaction cheap on a huge text)."""
    return redact_text(str(text)[:limit + 2_000])[:limit]


def _active_for(*, flow, entity: str, record_keys: Iterable[str], stages: Iterable[str] | None = None,
                connection=None) -> QuerySet[SyncException]:
    keys = list(record_keys)
    qs = SyncException.objects.filter(any_of("record_key", keys), entity=entity, status__in=_ACTIVE)
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
        total += exceptions_resolve_matching(queryset=_active_for(
            flow=flow, connection=connection, entity=entity, record_keys=keys[start:start + 500],
            stages=stages))
    return total


def exceptions_resolve_matching(*, queryset: QuerySet[SyncException],
                                text: str = "Resolved: the record went through.") -> int:
    """The engine found these records fine: close those of `queryset` still open or
    retrying, each with its history event (one bulk insert). Returns how many."""
    return len(exceptions_change(queryset.filter(status__in=_ACTIVE), kind=Kind.RESOLVED, text=text,
                                 status=SyncException.Status.RESOLVED, resolved_at=timezone.now()))


def _any_active(*, flow, connection, entity: str) -> bool:
    """One small indexed query that spares the per-key updates when nothing is open
    (the usual case for a page of thousands of healthy records)."""
    qs = SyncException.objects.filter(entity=entity, status__in=_ACTIVE)
    qs = qs.filter(flow=flow) if flow is not None else qs.filter(flow__isnull=True, connection=connection)
    return qs.exists()


def exceptions_reopen(*, connection, entity: str, reasons: dict[str, str], flow=None) -> int:
    """Exceptions whose retry could not even start: open again, saying why (one change
    per distinct reason, so a slice of records missing for the same reason is one)."""
    keys_by_why: dict[str, list[str]] = {}
    for key, why in reasons.items():
        keys_by_why.setdefault(why[:1000], []).append(key)
    total = 0
    for why, keys in keys_by_why.items():
        for start in range(0, len(keys), 500):
            qs = SyncException.objects.filter(connection=connection, entity=entity,
                                              record_key__in=keys[start:start + 500],
                                              status=SyncException.Status.RETRYING)
            qs = qs.filter(flow=flow) if flow is not None else qs.filter(flow__isnull=True)
            total += len(_reopen(qs, why=why))
    return total


def _reopen(queryset: QuerySet[SyncException], *, why: str) -> list[int]:
    """Retries that did not happen: open again, the note and the history saying why."""
    return exceptions_change(queryset, kind=Kind.REOPENED, text=f"Open again: {why}",
                             status=SyncException.Status.OPEN, note=why, retry_requested_at=None)


def exceptions_mark_retrying(*, flow, entity: str, record_keys: Iterable[str]) -> int:
    """The records passed planning and wait to be sent: not fixed yet, no longer stuck."""
    keys = list(record_keys)
    if not keys or not _any_active(flow=flow, connection=None, entity=entity):
        return 0
    total = 0
    for start in range(0, len(keys), 500):
        total += len(exceptions_change(
            _active_for(flow=flow, entity=entity, record_keys=keys[start:start + 500])
            .filter(status=SyncException.Status.OPEN),
            kind=Kind.REPLANNED, text="Planned again: waiting to be sent.",
            status=SyncException.Status.RETRYING, retry_requested_at=None))
    return total


def exception_ignore(*, exception: SyncException, note: str = "", actor=None) -> SyncException:
    """A person decided the record need not go; `note` says why (the history names them)."""
    with transaction.atomic():
        exception.status = SyncException.Status.IGNORED
        exception.note = note
        exception.retry_requested_at = None
        exception.save(update_fields=["status", "note", "retry_requested_at", "last_seen"])
        events_add(exception_ids=[exception.pk], kind=Kind.IGNORED, text=f"Ignored: {note}", actor=actor)
    return exception


# A person retrying a handful of records sees the result at once; a bulk retry of a
# whole filter goes to the workers instead of holding the web request.
RETRY_INLINE_LIMIT = 20

QUEUE_UNAVAILABLE = ("The retry could not be queued because the hub's task queue is unavailable, so nothing "
                     "was retried. Press Retry again once the hub is working (see the health page).")
RETRY_NOT_RUN = "The retry did not run; press Retry again."
RETRY_REQUESTED = "Retry requested: re-read from the ERP and re-planned."


def exceptions_retry(*, exceptions: QuerySet[SyncException] | Iterable[SyncException],
                     unqueued: list[int] | None = None, actor=None) -> int:
    """Ask the engine to re-read and re-plan each record from the ERP's current data.

    Returns how many exceptions were retried. Ingest exceptions are retried for every
    flow of their connection; the rest for their own flow.

    Up to RETRY_INLINE_LIMIT are retried here; more go to records_retry_task. Marking
    "retrying" and enqueueing cannot split: the tasks are enqueued on commit of the
    transaction that marked the rows, and when the broker refuses one (Redis down), the
    exceptions it carried go back to open with QUEUE_UNAVAILABLE as their note and their
    ids are added to `unqueued`, if given (filled when the outermost transaction commits).
    A task lost later (a worker dying before it starts) is caught by
    exceptions_return_orphaned. Each gets a "retry requested" event naming `actor`.
    """
    from syncapp.services import records_retry  # the engine owns moving data

    by_target: dict[tuple, tuple[list[str], list[int]]] = {}
    ids = []
    for exc in exceptions:
        ids.append(exc.pk)
        keys, target_ids = by_target.setdefault((exc.connection_id, exc.flow_id, exc.entity), ([], []))
        keys.append(exc.record_key)
        target_ids.append(exc.pk)
    opened = set(SyncException.objects.filter(pk__in=ids, status=SyncException.Status.OPEN)
                 .values_list("pk", flat=True))
    exceptions_change(SyncException.objects.filter(pk__in=ids, status__in=_ACTIVE), kind=Kind.RETRIED,
                      text=RETRY_REQUESTED, actor=actor,
                      status=SyncException.Status.RETRYING, retry_requested_at=timezone.now())
    inline = len(ids) <= RETRY_INLINE_LIMIT
    by_id = getattr(actor, "pk", None)  # the runs the retry starts name who asked
    for (connection_id, flow_id, entity), (keys, target_ids) in by_target.items():
        if inline:
            records_retry(connection_id=connection_id, flow_id=flow_id, entity=entity, record_keys=keys,
                          triggered_by_id=by_id)
        else:
            marked = [pk for pk in target_ids if pk in opened]
            transaction.on_commit(partial(_retry_enqueue, args=(connection_id, flow_id, entity, keys, by_id),
                                          marked=marked, unqueued=unqueued))
    return len(ids)


def _retry_enqueue(*, args: tuple, marked: list[int], unqueued: list[int] | None) -> None:
    """Runs after commit. Any failure to enqueue means no task will ever run for these
    rows, so they are put back at once (and the error logged), never left retrying."""
    from syncapp.tasks import records_retry_task

    try:
        records_retry_task.delay(*args)
    except (KombuOperationalError, OSError) as error:
        log.warning("Retry of %d record(s) not queued, the task queue is unavailable: %s", len(args[3]), error)
        note = QUEUE_UNAVAILABLE
    except Exception:  # a bug, not an outage: still no task behind the rows
        log.exception("Retry of %d record(s) could not be queued", len(args[3]))
        note = "The retry could not be queued because of an error in the hub; the integration admin has the log."
    else:
        return
    _reopen(SyncException.objects.filter(pk__in=marked, status=SyncException.Status.RETRYING), why=note)
    if unqueued is not None:
        unqueued.extend(marked)


def exceptions_return_orphaned(*, older_than: timedelta) -> int:
    """Exceptions a person retried more than `older_than` ago whose retry never ran (its
    task was lost: the broker dropped it, a worker died before starting it) go back to
    open saying so (RETRY_NOT_RUN). Returns how many. Called by the periodic sweep.

    A retry that ran has re-planned the record (its outbox row was written after the
    request) or re-opened or resolved the exception; a record still waiting in the
    outbox will be sent, so it is not an orphan either. Exceptions marked retrying by
    planning (no request time) are never touched here."""
    from syncapp.models import OutboxItem, OutboxStatus

    touched = OutboxItem.objects.filter(flow_id=OuterRef("flow_id"), record_key=OuterRef("record_key")).filter(
        Q(updated_at__gte=OuterRef("retry_requested_at"))
        | Q(status__in=[OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED]))
    return len(_reopen(SyncException.objects.filter(
        status=SyncException.Status.RETRYING, retry_requested_at__lt=timezone.now() - older_than,
    ).exclude(Exists(touched)), why=RETRY_NOT_RUN))


def open_exceptions() -> QuerySet[SyncException]:
    return SyncException.objects.filter(Q(status__in=_ACTIVE))


__all__ = [
    "Stage",
    "exception_ignore",
    "exception_raise",
    "exceptions_mark_retrying",
    "exceptions_resolve",
    "exceptions_resolve_matching",
    "exceptions_retry",
    "exceptions_return_orphaned",
    "open_exceptions",
]
