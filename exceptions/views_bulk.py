"""Bulk Retry, Ignore and Assign of everything the dashboard's filter shows, through one
confirmation step.

GET shows how many open or retrying exceptions the action will touch (and asks for what
it needs: a note, a person); the POST carries that number and acts only while the
filter still matches about as many. A filter with an unknown or invalid parameter acts
on nothing and says why.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from syncapp.roles import capability_required

from .assignment import exceptions_actionable, exceptions_bulk_assign, may_act_on_some
from .bulk import exceptions_bulk_ignore
from .filters import ACTIVE_STATUSES
from .forms import BulkAssignConfirmForm, BulkConfirmForm, BulkIgnoreConfirmForm
from .models import SyncException
from .services import QUEUE_UNAVAILABLE
from .views_actions import BulkRetry, exceptions_bulk_retry
from .views_filtering import filter_description, filter_errors, filter_query, filtered


@dataclass(frozen=True)
class BulkAction:
    verb: str  # "retry": the button says "Confirm: retry 5 exceptions"
    done: str  # "retried": "nothing was retried"
    explain: str
    form_class: type[BulkConfirmForm]
    url_name: str
    # Does it to the filtered set (with the confirmed form's data) and tells the person.
    act: Callable[[HttpRequest, QuerySet[SyncException], dict], None]

    @property
    def title(self) -> str:
        return f"{self.verb.capitalize()} matching exceptions"


# A confirmed count this far from the current one is asked again rather than acted on:
# the filter now means something else than what the person agreed to.
def _changed_a_lot(*, expected: int, now: int) -> bool:
    return abs(now - expected) > max(5, expected // 10)


def bulk_confirm(request: HttpRequest, action: BulkAction) -> HttpResponse:
    """The confirmation step, then the action, for any BulkAction."""
    filterset = filtered(request)
    back = reverse("exceptions:dashboard") + "?" + filter_query(request.GET)
    if not filterset.is_valid():
        messages.error(request, f"The filter is not valid, so nothing was {action.done}. {filter_errors(filterset)}")
        return redirect(back)
    queryset = exceptions_actionable(filterset.qs, user=request.user)
    count = queryset.filter(status__in=ACTIVE_STATUSES).count()
    if not count:
        messages.error(request, f"No open exception you may act on matches this filter; nothing to {action.verb}.")
        return redirect(back)
    form = action.form_class(request.POST if request.method == "POST" else None, initial={"expected": count})
    changed_from = None
    if form.is_bound and form.is_valid():
        expected = form.cleaned_data["expected"]
        if not _changed_a_lot(expected=expected, now=count):
            action.act(request, queryset, form.cleaned_data)
            return redirect(back)
        changed_from = expected
        # Asked again with the new count; what the person chose is kept.
        form = action.form_class(initial={**form.cleaned_data, "expected": count})
    return render(request, "exceptions/bulk_confirm.html", {
        "action": action,
        "count": count,
        "description": filter_description(filterset),
        "changed_from": changed_from,
        "form": form,
        "query": filter_query(request.GET),
    })


def _retry(request: HttpRequest, queryset: QuerySet[SyncException], data: dict) -> None:
    result: BulkRetry = exceptions_bulk_retry(queryset=queryset, user=request.user)
    if result.unqueued >= result.exceptions:
        messages.error(request, f"{QUEUE_UNAVAILABLE} The {result.exceptions} exception(s) are open again.")
    elif result.unqueued:
        messages.warning(request, f"Retry requested for {result.exceptions - result.unqueued} exception(s); "
                                  f"{result.unqueued} could not be queued and are open again. {QUEUE_UNAVAILABLE}")
    elif result.queued:
        messages.success(request, f"Retry requested for {result.exceptions} exception(s); "
                                  "the workers re-read them from the ERP in the background.")
    else:
        messages.success(request, f"Retried {result.exceptions} exception(s): re-read from the ERP and re-planned.")


def _ignore(request: HttpRequest, queryset: QuerySet[SyncException], data: dict) -> None:
    ignored = exceptions_bulk_ignore(queryset=queryset, user=request.user, note=data["note"])
    messages.success(request, f"Ignored {ignored} exception{'s' if ignored != 1 else ''}. Each stays "
                              "ignored while the same reason recurs.")


def _assign(request: HttpRequest, queryset: QuerySet[SyncException], data: dict) -> None:
    person = data["assignee"]
    assigned = exceptions_bulk_assign(queryset=queryset, assignee=person, actor=request.user)
    messages.success(request, f"Assigned {assigned} exception{'s' if assigned != 1 else ''} to "
                              f"{person.get_username()}.")


RETRY = BulkAction(verb="retry", done="retried", form_class=BulkConfirmForm, url_name="exceptions:retry_matching",
                   explain="Each record is re-read from the ERP and planned again; large sets run in the background.",
                   act=_retry)
IGNORE = BulkAction(verb="ignore", done="ignored", form_class=BulkIgnoreConfirmForm,
                    url_name="exceptions:ignore_matching",
                    explain="Ignored records are not sent; each stays ignored while the same reason recurs, and its "
                            "history names you.", act=_ignore)
ASSIGN = BulkAction(verb="assign", done="assigned", form_class=BulkAssignConfirmForm,
                    url_name="exceptions:assign_matching",
                    explain="The person sees them under \"Assigned to me\"; each exception's history names you both.",
                    act=_assign)


@require_http_methods(["GET", "POST"])
@capability_required("act_on_exceptions")
def exceptions_retry_matching(request: HttpRequest) -> HttpResponse:
    return bulk_confirm(request, RETRY)


@require_http_methods(["GET", "POST"])
@capability_required("act_on_exceptions")
def exceptions_ignore_matching(request: HttpRequest) -> HttpResponse:
    return bulk_confirm(request, IGNORE)


@require_http_methods(["GET", "POST"])
@capability_required("view_exceptions")
def exceptions_assign_matching(request: HttpRequest) -> HttpResponse:
    """Finance assigns among the exceptions its team owns (the count says so); the rest
    of the roles that act on exceptions, any."""
    if not may_act_on_some(request.user):
        raise PermissionDenied("Your role does not allow assigning exceptions.")
    return bulk_confirm(request, ASSIGN)
