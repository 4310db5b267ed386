"""What people do from the pages and the API: retry, ignore, bulk retry, resolve.

Each action calls the room's services (which ask the engine to move data). Who did
what to an exception is its history (ExceptionEvent, written by the services); a
conflict's or a flow's is an admin log entry. Pages and API call these, so both behave
the same.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import QuerySet

from syncapp.adapters import TransportError

from .conflicts import conflict_resolve
from .filters import ACTIVE_STATUSES
from .models import DuplicateEmailConflict, SyncException
from .services import RETRY_INLINE_LIMIT, exception_ignore, exceptions_retry

# A bulk retry asks the workers in slices this size (one task per flow and entity in a
# slice), so no statement carries more keys than a database accepts.
BULK_SLICE = 500
_RETRY_FIELDS = ("id", "connection_id", "flow_id", "entity", "record_key", "reason_code")


class ActionRefused(Exception):
    """The action does not apply to this object (already resolved, ...); the message says why."""


def _log(*, user, objects, message: str) -> None:
    """One admin log entry per object, written in bulk."""
    if not objects:
        return
    content_type_id = ContentType.objects.get_for_model(type(objects[0])).pk
    LogEntry.objects.bulk_create([
        LogEntry(user_id=user.pk, content_type_id=content_type_id, object_id=str(obj.pk),
                 object_repr=str(obj)[:200], action_flag=CHANGE, change_message=message)
        for obj in objects
    ], batch_size=BULK_SLICE)


@dataclass
class RetryOutcome:
    exception: SyncException
    message: str
    ok: bool = True


def exception_retry_now(*, exception: SyncException, user) -> RetryOutcome:
    """Re-read one record from the ERP, re-plan it at top priority, and say where it stands.

    A failure to reach the ERP rolls the request back: the exception stays as it was
    and the person reads why."""
    if exception.status not in ACTIVE_STATUSES:
        raise ActionRefused(f"This exception is {exception.get_status_display().lower()}; there is nothing to retry.")
    try:
        with transaction.atomic():
            exceptions_retry(exceptions=SyncException.objects.filter(pk=exception.pk).only(*_RETRY_FIELDS),
                             actor=user)
    except (TransportError, ImproperlyConfigured) as error:
        return RetryOutcome(exception, f"Could not retry now: {getattr(error, 'message', error)}", ok=False)
    exception.refresh_from_db()
    if exception.status == SyncException.Status.OPEN:
        message = f"Retried, but the record still fails: {exception.message}"
        return RetryOutcome(exception, message, ok=False)
    if exception.status == SyncException.Status.RESOLVED:
        return RetryOutcome(exception, "Retried: the record went through.")
    return RetryOutcome(exception, "Retry requested: the record was re-read from the ERP and is queued to be sent.")


def exception_may_retry(*, user, exception: SyncException) -> bool:
    """Who may press Retry on this exception: whoever acts on exceptions, and finance on the
    exceptions it owns (the order checks it is asked to fix in SAP, then retry)."""
    from .assignment import exception_may_act

    return exception_may_act(user=user, exception=exception)


def exception_ignore_now(*, exception: SyncException, user, note: str) -> SyncException:
    """A person decided the record need not go: it stays ignored while the same reason recurs."""
    note = note.strip()
    if not note:
        raise ActionRefused("Say why this exception is ignored.")
    if exception.status not in ACTIVE_STATUSES:
        raise ActionRefused(f"This exception is {exception.get_status_display().lower()}; it cannot be ignored.")
    return exception_ignore(exception=exception, note=note[:1000], actor=user)


@dataclass
class BulkRetry:
    exceptions: int
    queued: bool  # sent to the workers rather than done in the request
    unqueued: int = 0  # could not be sent to the workers (broker down): open again, nothing retried

    @property
    def queue_unavailable(self) -> bool:
        return self.unqueued > 0


def exceptions_bulk_retry(*, queryset: QuerySet[SyncException], user) -> BulkRetry:
    """Retry every open or retrying exception of a filtered set.

    A handful is retried in the request; more go to records_retry_task in slices, the
    exceptions marked retrying in the same transaction that enqueues their tasks (on
    commit). When the task queue refuses them, they are open again and `unqueued` says
    how many (counted once this, the outermost, transaction has committed)."""
    ids = list(queryset.filter(status__in=ACTIVE_STATUSES).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return BulkRetry(0, queued=False)
    slices = [ids[start:start + BULK_SLICE] for start in range(0, len(ids), BULK_SLICE)]
    if len(slices) > 1 and len(slices[-1]) <= RETRY_INLINE_LIMIT:
        slices[-2].extend(slices.pop())  # a small last slice would otherwise be retried in the request
    unqueued: list[int] = []
    with transaction.atomic():
        for pks in slices:
            chunk = list(SyncException.objects.filter(pk__in=pks).only(*_RETRY_FIELDS))
            exceptions_retry(exceptions=chunk, unqueued=unqueued, actor=user)
    return BulkRetry(len(ids), queued=len(ids) > RETRY_INLINE_LIMIT, unqueued=len(unqueued))


def conflict_resolve_now(*, conflict: DuplicateEmailConflict, resolution: str, winner_card_code: str = "",
                         user) -> DuplicateEmailConflict:
    """Resolve through the room's service, which re-plans (releases) the held partners."""
    try:
        conflict = conflict_resolve(conflict=conflict, resolution=resolution, winner_card_code=winner_card_code,
                                    user=user)
    except ValueError as error:
        raise ActionRefused(str(error)) from error
    label = DuplicateEmailConflict.Resolution(resolution).label
    _log(user=user, objects=[conflict],
         message=f"Resolved: {label}" + (f" ({winner_card_code})" if winner_card_code else "") + ".")
    return conflict


def duplicate_policy_set(*, flow, policy: str, user) -> bool:
    """Change a customers flow's duplicate-email policy, then re-plan the partners of its
    open conflicts so the new policy holds or releases them at once. Returns whether
    anything changed."""
    from syncapp.services import records_replan_for_connection

    before = flow.duplicate_policy
    if before == policy:
        return False
    with transaction.atomic():
        flow.duplicate_policy = policy
        flow.save(update_fields=["duplicate_policy", "updated_at"])
        _log(user=user, objects=[flow], message=f"Duplicate-email policy: {before} -> {policy}.")
        codes = sorted({code for codes in DuplicateEmailConflict.objects.filter(
            connection_id=flow.connection_id, status=DuplicateEmailConflict.Status.OPEN,
        ).values_list("card_codes", flat=True) for code in codes})
        if codes:
            records_replan_for_connection(connection=flow.connection, source_entity="business_partners",
                                          record_keys=codes)
    return True
