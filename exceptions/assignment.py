"""Who looks after an exception (a person, beside its owner team) and what people say
about it (its note thread). Every change is an event in its history.

Who may: whoever acts on exceptions (marketing, integration admin) on any exception;
finance on the exceptions its team owns, as it may retry them. Ignoring stays with the
roles that act on exceptions.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet

from syncapp.roles import ROLES, user_can

from .events import Kind, events_add, exceptions_change
from .filters import ACTIVE_STATUSES
from .models import ExceptionNote, SyncException, Team

NOTE_LIMIT = 2_000


class NotAllowed(Exception):
    """The person may not do this to this exception; the message says why."""


def exception_may_act(*, user, exception: SyncException) -> bool:
    """Retry, assign or add a note: any exception for the roles that act on exceptions,
    finance's own for finance."""
    if user_can(user, "act_on_exceptions"):
        return True
    return exception.owner_team == Team.FINANCE and user_can(user, "retry_finance_exceptions")


def may_act_on_some(user) -> bool:
    """Whether this person may act on any exception at all (the pages offer the actions)."""
    return user_can(user, "act_on_exceptions") or user_can(user, "retry_finance_exceptions")


def exceptions_actionable(queryset: QuerySet[SyncException], *, user) -> QuerySet[SyncException]:
    """The part of `queryset` this person may act on (see exception_may_act)."""
    if user_can(user, "act_on_exceptions"):
        return queryset
    if user_can(user, "retry_finance_exceptions"):
        return queryset.filter(owner_team=Team.FINANCE)
    return queryset.none()


def assignable_people() -> QuerySet:
    """People an exception can be given to: active users holding one of the roles."""
    return (get_user_model().objects.filter(is_active=True)
            .filter(Q(groups__name__in=ROLES) | Q(is_superuser=True)).distinct().order_by("username"))


def _assigned_text(assignee) -> str:
    return f"Assigned to {assignee.get_username()}." if assignee else "No longer assigned to anyone."


def exception_assign(*, exception: SyncException, assignee, actor) -> bool:
    """Give one exception (in any status) to `assignee` (None: to nobody). Returns whether
    anything changed; assigning to the person it already has is not an event."""
    if not exception_may_act(user=actor, exception=exception):
        raise NotAllowed("Your role may assign only the exceptions your team owns.")
    if exception.assignee_id == getattr(assignee, "pk", None):
        return False
    with transaction.atomic():
        SyncException.objects.filter(pk=exception.pk).update(assignee=assignee)
        events_add(exception_ids=[exception.pk], kind=Kind.ASSIGNED, text=_assigned_text(assignee), actor=actor)
    exception.assignee = assignee
    return True


def exceptions_bulk_assign(*, queryset: QuerySet[SyncException], assignee, actor) -> int:
    """Give every open or retrying exception of `queryset` this person may act on to
    `assignee` (None: to nobody); returns how many changed hands (one bulk update and
    one bulk insert of events per slice)."""
    mine = exceptions_actionable(queryset, user=actor).filter(status__in=ACTIVE_STATUSES)
    mine = mine.exclude(assignee=assignee) if assignee else mine.filter(assignee__isnull=False)
    return len(exceptions_change(mine, kind=Kind.ASSIGNED, text=_assigned_text(assignee), actor=actor,
                                 assignee=assignee))


def exception_note_add(*, exception: SyncException, author, text: str) -> ExceptionNote:
    """Add a note to the exception's thread (and a line to its history)."""
    text = text.strip()
    if not text:
        raise ValueError("Write the note first.")
    if not exception_may_act(user=author, exception=exception):
        raise NotAllowed("Your role may add notes only to the exceptions your team owns.")
    text = text[:NOTE_LIMIT]
    with transaction.atomic():
        note = ExceptionNote.objects.create(exception=exception, author=author, text=text)
        short = text if len(text) <= 200 else text[:199] + "…"
        events_add(exception_ids=[exception.pk], kind=Kind.NOTE_ADDED, text=f"Note: {short}", actor=author,
                   at=note.created_at)
    return note


def exception_notes(exception: SyncException) -> list[ExceptionNote]:
    """The thread, oldest first."""
    return list(exception.notes.select_related("author").order_by("created_at", "id"))
