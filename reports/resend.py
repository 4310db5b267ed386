"""Re-send the documents a reconciliation found differing, through the normal engine."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from syncapp.models import Flow, OutboxItem, OutboxStatus, Priority
from syncapp.services import records_replan

from .models import Resend
from .periods import Period
from .reconcile import flow_reconciliation


def differences_resend(*, flow: Flow, period: Period, user, keys: Iterable[str] | None = None) -> Resend:
    """Re-plan the period's missing, value-differing and status-differing orders of `flow`
    (all of them, or those of `keys` among them) with force, at routine priority, so each
    goes out again through the outbox, its rate limit and its checks, even when its payload
    equals the one the destination once accepted (which it has since lost or changed).

    Orders waiting or in exception here are not forced past their reason; extra orders at
    the destination are not the ERP's to send. The request is kept as a Resend row, which
    the audit trail records with who asked. The pushers are woken when it commits."""
    wanted = None if keys is None else {str(key) for key in keys}
    differing = [d.key for d in flow_reconciliation(flow=flow, period=period).resendable
                 if wanted is None or d.key in wanted]
    with transaction.atomic():
        if differing:
            records_replan(flow=flow, record_keys=differing, force=True, priority=Priority.ROUTINE)
        queued = set(OutboxItem.objects.filter(flow=flow, record_key__in=differing, status=OutboxStatus.PENDING)
                     .values_list("record_key", flat=True))
        resend = Resend.objects.create(
            flow=flow, requested_by=user if getattr(user, "pk", None) else None, date_from=period.date_from,
            date_to=period.date_to, record_keys=differing, queued=len(queued),
            not_queued=[key for key in differing if key not in queued])
        if queued:
            _wake_pusher(flow, resend.requested_by)
    return resend


def _wake_pusher(flow: Flow, user) -> None:
    """The push run it starts says who asked for it (the Runs page: "Person", with the name)."""
    from syncapp.incidents import task_enqueue
    from syncapp.models import RunTrigger
    from syncapp.tasks import flow_push_task, push_task_args

    args = push_task_args(flow.pk, RunTrigger.PERSON, user.pk) if user else (flow.pk,)
    transaction.on_commit(lambda: task_enqueue(flow_push_task, *args))
