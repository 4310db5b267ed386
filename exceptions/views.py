"""The exception dashboard and record page, for marketing (and finance, read-only).

Everything here is a plain page over the room's selectors and actions; nothing needs
the Django admin. Actions are POST forms with their CSRF token.
"""
from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from syncapp.roles import capability_required

from .filters import ACTIVE_STATUSES, ENTITY_LABELS, SyncExceptionFilter
from .forms import IgnoreForm
from .models import SyncException
from .reasons import reason_for
from .views_actions import ActionRefused, exception_ignore_now, exception_retry_now, exceptions_bulk_retry
from .views_queries import (
    conflict_for,
    exception_groups,
    exception_history,
    exceptions_page,
    outbox_row_for,
    source_record_for,
)

_PAGING = ("after", "before")


def _filter_query(params: QueryDict, **changes: str) -> str:
    """The current filter as a query string, without paging, with `changes` applied."""
    query = params.copy()
    for name in _PAGING:
        query.pop(name, None)
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()


def _filtered(request: HttpRequest) -> SyncExceptionFilter:
    # Always bound (even to an empty query) so the default status applies.
    return SyncExceptionFilter(data=request.GET, queryset=SyncException.objects.all())


@require_GET
@capability_required("view_exceptions")
def exceptions_dashboard(request: HttpRequest) -> HttpResponse:
    filterset = _filtered(request)
    queryset = filterset.qs
    groups = exception_groups(queryset)
    page = exceptions_page(queryset, after=request.GET.get("after"), before=request.GET.get("before"))
    status = filterset.form.cleaned_data.get("status") if filterset.is_valid() else ""
    for group in groups:
        group.query = _filter_query(request.GET, reason=group.reason_code, entity=group.entity)
    for row in page.rows:
        row.reason = reason_for(row.reason_code)
        row.entity_label = ENTITY_LABELS.get(row.entity, row.entity)
    return render(request, "exceptions/dashboard.html", {
        "filter": filterset,
        "groups": groups,
        "total": sum(group.exceptions for group in groups),
        "page": page,
        "query": _filter_query(request.GET),
        "bulk_retry_allowed": status in ("", "active", *ACTIVE_STATUSES),
    })


@require_GET
@capability_required("view_exceptions")
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(SyncException.objects.select_related("flow__destination", "connection"), pk=pk)
    outbox = outbox_row_for(exception)
    return render(request, "exceptions/detail.html", {
        "exception": exception,
        "reason": reason_for(exception.reason_code),
        "entity_label": ENTITY_LABELS.get(exception.entity, exception.entity),
        "source_record": source_record_for(exception),
        "outbox": outbox,
        "payloads": _payloads(exception, outbox),
        "history": exception_history(exception),
        "conflict": conflict_for(exception),
        "active": exception.status in ACTIVE_STATUSES,
        "ignore_form": IgnoreForm(),
    })


def _payloads(exception: SyncException, outbox) -> list[tuple[str, str]]:
    shown = [
        ("The record as the ERP sent it", exception.source_payload),
        ("What the hub sent", exception.last_request),
        ("The destination's answer", exception.last_response),
        ("What the hub would send now", outbox.payload if outbox else None),
    ]
    return [(title, json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False))
            for title, value in shown if value not in (None, "", {}, [])]


@require_POST
@capability_required("act_on_exceptions")
def exception_retry(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(SyncException, pk=pk)
    try:
        outcome = exception_retry_now(exception=exception, user=request.user)
    except ActionRefused as refused:
        messages.error(request, str(refused))
    else:
        (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("exceptions:detail", pk=pk)


@require_POST
@capability_required("act_on_exceptions")
def exception_ignore(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(SyncException, pk=pk)
    form = IgnoreForm(request.POST)
    if form.is_valid():
        try:
            exception_ignore_now(exception=exception, user=request.user, note=form.cleaned_data["note"])
        except ActionRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, "Ignored. It stays ignored while the same reason recurs.")
    else:
        messages.error(request, "Say why this exception is ignored (the note is required).")
    return redirect("exceptions:detail", pk=pk)


@require_POST
@capability_required("act_on_exceptions")
def exceptions_retry_matching(request: HttpRequest) -> HttpResponse:
    """Bulk retry of everything the dashboard's filter (in the query string) shows."""
    filterset = _filtered(request)
    back = reverse("exceptions:dashboard") + "?" + _filter_query(request.GET)
    if not filterset.is_valid():
        messages.error(request, "The filter is not valid; nothing was retried.")
        return redirect(back)
    result = exceptions_bulk_retry(queryset=filterset.qs, user=request.user)
    if not result.exceptions:
        messages.error(request, "No open exception matches this filter; nothing to retry.")
    elif result.queued:
        messages.success(request, f"Retry requested for {result.exceptions} exception(s); "
                                  "the workers re-read them from the ERP in the background.")
    else:
        messages.success(request, f"Retried {result.exceptions} exception(s): re-read from the ERP and re-planned.")
    return redirect(back)
