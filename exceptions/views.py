"""The exception dashboard and record page, for marketing (and finance, read-only).

Everything here is a plain page over the room's selectors and actions; nothing needs
the Django admin. Actions are POST forms with their CSRF token.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from syncapp.roles import capability_required

from .bulk import exceptions_bulk_ignore, status_counts
from .filters import ACTIVE_STATUSES, ENTITY_LABELS, SyncExceptionFilter
from .forms import BulkIgnoreConfirmForm, BulkRetryConfirmForm, IgnoreForm
from .models import SyncException
from .reasons import reason_for
from .record_names import record_labels
from .record_page import for_viewer, related_exceptions, source_rows
from .services import QUEUE_UNAVAILABLE
from .views_actions import (
    ActionRefused,
    BulkRetry,
    exception_ignore_now,
    exception_retry_now,
    exceptions_bulk_retry,
)
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
    valid = filterset.is_valid()
    status = filterset.form.cleaned_data.get("status") if valid else ""
    for group in groups:
        group.query = _filter_query(request.GET, reason=group.reason_code, entity=group.entity)
    labels = record_labels(page.rows)
    for row in page.rows:
        row.reason = reason_for(row.reason_code)
        row.entity_label = ENTITY_LABELS.get(row.entity, row.entity)
        row.label = labels.get(row.pk, row.record_key)
    return render(request, "exceptions/dashboard.html", {
        "tabs": _status_tabs(request, status),
        "filter": filterset,
        "groups": groups,
        "total": sum(group.exceptions for group in groups),
        "page": page,
        "query": _filter_query(request.GET),
        # The bulk retry asks for confirmation by a GET carrying the same filter.
        "query_params": [(name, value) for name, values in QueryDict(_filter_query(request.GET)).lists()
                         for value in values],
        "bulk_retry_allowed": valid and status in ("", "active", *ACTIVE_STATUSES),
    })


@dataclass
class StatusTab:
    value: str
    label: str
    count: int
    query: str
    current: bool


# The dashboard's tabs: what still needs someone first, then each status.
_TABS = (("active", "Needs attention"), ("open", "Open"), ("retrying", "Retrying"), ("resolved", "Resolved"),
         ("ignored", "Ignored"))


def _status_tabs(request: HttpRequest, status: str) -> list[StatusTab]:
    """One tab per status with how many the other filters match (one GROUP BY)."""
    params = request.GET.copy()
    params["status"] = "all"
    for name in _PAGING:
        params.pop(name, None)
    filterset = SyncExceptionFilter(data=params, queryset=SyncException.objects.all())
    counts = status_counts(filterset.qs) if filterset.is_valid() else dict.fromkeys(SyncException.Status.values, 0)
    counts["active"] = sum(counts[s] for s in ACTIVE_STATUSES)
    current = status or "active"
    return [StatusTab(value, label, counts[value], _filter_query(request.GET, status=value), value == current)
            for value, label in _TABS]


@require_GET
@capability_required("view_exceptions")
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(SyncException.objects.select_related("flow__destination", "connection"), pk=pk)
    outbox = outbox_row_for(exception)
    source_record = source_record_for(exception)
    return render(request, "exceptions/detail.html", {
        "exception": exception,
        "record_label": record_labels([exception]).get(exception.pk, exception.record_key),
        "reason": reason_for(exception.reason_code),
        "entity_label": ENTITY_LABELS.get(exception.entity, exception.entity),
        "source_record": source_record,
        "source_rows": source_rows(source_record.fields, reason_code=exception.reason_code, user=request.user)
        if source_record else [],
        "related": related_exceptions(exception),
        "outbox": outbox,
        "payloads": _payloads(exception, outbox, user=request.user),
        "history": exception_history(exception),
        "conflict": conflict_for(exception),
        "active": exception.status in ACTIVE_STATUSES,
        "ignore_form": IgnoreForm(),
    })


def _payloads(exception: SyncException, outbox, *, user) -> list[tuple[str, str]]:
    shown = [
        ("The record as the ERP sent it", exception.source_payload),
        ("What the hub sent", exception.last_request),
        ("The destination's answer", exception.last_response),
        ("What the hub would send now", outbox.payload if outbox else None),
    ]
    return [(title, json.dumps(for_viewer(value, user), indent=2, sort_keys=True, default=str, ensure_ascii=False))
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


# A confirmed count this far from the current one is asked again rather than acted on:
# the filter now means something else than what the person agreed to.
def _changed_a_lot(*, expected: int, now: int) -> bool:
    return abs(now - expected) > max(5, expected // 10)


def _filter_description(filterset: SyncExceptionFilter) -> str:
    """The chosen filters as the person reads them: "Reason: Invalid email address, Age: ..."."""
    parts = []
    for name, field in filterset.form.fields.items():
        value = filterset.form.cleaned_data.get(name)
        if value in (None, ""):
            continue
        shown = dict(getattr(field, "choices", ())).get(value, value)
        parts.append(f"{field.label}: {shown}")
    return ", ".join(parts) or "no filter (every open or retrying exception)"


def _filter_errors(filterset: SyncExceptionFilter) -> str:
    return " ".join(error for errors in filterset.form.errors.values() for error in errors)


@require_http_methods(["GET", "POST"])
@capability_required("act_on_exceptions")
def exceptions_retry_matching(request: HttpRequest) -> HttpResponse:
    """Bulk retry of everything the dashboard's filter (in the query string) shows.

    GET asks for confirmation with the number of exceptions it will touch; the POST
    carries that number and acts only if the filter still matches about as many. A
    filter with an unknown or invalid parameter acts on nothing and says why."""
    filterset = _filtered(request)
    back = reverse("exceptions:dashboard") + "?" + _filter_query(request.GET)
    if not filterset.is_valid():
        messages.error(request, f"The filter is not valid, so nothing was retried. {_filter_errors(filterset)}")
        return redirect(back)
    count = filterset.qs.filter(status__in=ACTIVE_STATUSES).count()
    if not count:
        messages.error(request, "No open exception matches this filter; nothing to retry.")
        return redirect(back)
    form = BulkRetryConfirmForm(request.POST if request.method == "POST" else None, initial={"expected": count})
    changed_from = None
    if form.is_bound and form.is_valid():
        expected = form.cleaned_data["expected"]
        if not _changed_a_lot(expected=expected, now=count):
            _say_bulk_retry(request, exceptions_bulk_retry(queryset=filterset.qs, user=request.user))
            return redirect(back)
        changed_from = expected
    form = BulkRetryConfirmForm(initial={"expected": count})
    return render(request, "exceptions/retry_confirm.html", {
        "count": count,
        "description": _filter_description(filterset),
        "changed_from": changed_from,
        "form": form,
        "query": _filter_query(request.GET),
    })


def _say_bulk_retry(request: HttpRequest, result: BulkRetry) -> None:
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


@require_http_methods(["GET", "POST"])
@capability_required("act_on_exceptions")
def exceptions_ignore_matching(request: HttpRequest) -> HttpResponse:
    """Bulk Ignore of the open or retrying exceptions the dashboard's filter shows.

    GET asks for confirmation with the number it will touch and a note; the POST acts
    only if the filter still matches about as many (as the bulk retry does)."""
    filterset = _filtered(request)
    back = reverse("exceptions:dashboard") + "?" + _filter_query(request.GET)
    if not filterset.is_valid():
        messages.error(request, f"The filter is not valid, so nothing was ignored. {_filter_errors(filterset)}")
        return redirect(back)
    count = filterset.qs.filter(status__in=ACTIVE_STATUSES).count()
    if not count:
        messages.error(request, "No open exception matches this filter; nothing to ignore.")
        return redirect(back)
    form = BulkIgnoreConfirmForm(request.POST if request.method == "POST" else None, initial={"expected": count})
    changed_from = None
    if form.is_bound and form.is_valid():
        expected = form.cleaned_data["expected"]
        if not _changed_a_lot(expected=expected, now=count):
            ignored = exceptions_bulk_ignore(queryset=filterset.qs, user=request.user, note=form.cleaned_data["note"])
            messages.success(request, f"Ignored {ignored} exception{'s' if ignored != 1 else ''}. Each stays "
                                      "ignored while the same reason recurs.")
            return redirect(back)
        changed_from = expected
    if changed_from is not None:  # asked again with the new count, the note kept
        form = BulkIgnoreConfirmForm(initial={"expected": count, "note": form.cleaned_data["note"]})
    return render(request, "exceptions/ignore_confirm.html", {
        "count": count,
        "description": _filter_description(filterset),
        "changed_from": changed_from,
        "form": form,
        "query": _filter_query(request.GET),
    })
