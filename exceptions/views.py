"""The exception dashboard and record page, for marketing (finance reads, and assigns,
notes and retries the exceptions its team owns).

Everything here is a plain page over the room's selectors and actions; nothing needs
the Django admin. Actions are POST forms with their CSRF token. The bulk actions are
in views_bulk.py, the CSV and saved filters in views_lists.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from syncapp.roles import capability_required

from .assignment import (
    NotAllowed,
    exception_assign,
    exception_may_act,
    exception_note_add,
    exception_notes,
    may_act_on_some,
)
from .bulk import status_counts
from .events import exception_history
from .filters import ACTIVE_STATUSES, ENTITY_LABELS
from .forms import AssignForm, IgnoreForm, NoteForm
from .models import SyncException
from .reasons import reason_for
from .record_names import record_labels
from .record_page import for_viewer, related_exceptions, source_rows
from .saved_filters import saved_filters_for
from .views_actions import ActionRefused, exception_ignore_now, exception_retry_now
from .views_filtering import PAGING, filter_query, filtered
from .views_queries import conflict_for, exception_groups, exceptions_page, outbox_row_for, source_record_for


@require_GET
@capability_required("view_exceptions")
def exceptions_dashboard(request: HttpRequest) -> HttpResponse:
    filterset = filtered(request)
    queryset = filterset.qs
    groups = exception_groups(queryset)
    page = exceptions_page(queryset, after=request.GET.get("after"), before=request.GET.get("before"))
    valid = filterset.is_valid()
    status = filterset.form.cleaned_data.get("status") if valid else ""
    for group in groups:
        group.query = filter_query(request.GET, reason=group.reason_code, entity=group.entity)
    labels = record_labels(page.rows)
    for row in page.rows:
        row.reason = reason_for(row.reason_code)
        row.entity_label = ENTITY_LABELS.get(row.entity, row.entity)
        row.label = labels.get(row.pk, row.record_key)
    query = filter_query(request.GET)
    return render(request, "exceptions/dashboard.html", {
        "tabs": _status_tabs(request, status),
        "filter": filterset,
        "groups": groups,
        "total": sum(group.exceptions for group in groups),
        "page": page,
        "query": query,
        # The bulk actions ask for confirmation by a GET carrying the same filter.
        "query_params": [(name, value) for name, values in QueryDict(query).lists() for value in values],
        "bulk_retry_allowed": valid and status in ("", "active", *ACTIVE_STATUSES),
        "may_assign": may_act_on_some(request.user),
        "saved_filters": saved_filters_for(request.user),
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
    for name in PAGING:
        params.pop(name, None)
    filterset = filtered(request, params)
    counts = status_counts(filterset.qs) if filterset.is_valid() else dict.fromkeys(SyncException.Status.values, 0)
    counts["active"] = sum(counts[s] for s in ACTIVE_STATUSES)
    current = status or "active"
    return [StatusTab(value, label, counts[value], filter_query(request.GET, status=value), value == current)
            for value, label in _TABS]


@require_GET
@capability_required("view_exceptions")
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exception = get_object_or_404(SyncException.objects.select_related("flow__destination", "connection", "assignee"),
                                  pk=pk)
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
        "notes": exception_notes(exception),
        "conflict": conflict_for(exception),
        "active": exception.status in ACTIVE_STATUSES,
        "may_act": exception_may_act(user=request.user, exception=exception),
        "ignore_form": IgnoreForm(),
        "assign_form": AssignForm(initial={"assignee": exception.assignee}),
        "note_form": NoteForm(),
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
    return exception_retry_answered(request, get_object_or_404(SyncException, pk=pk))


def exception_retry_answered(request: HttpRequest, exception: SyncException) -> HttpResponse:
    """Retry one exception for the person asking (whose right to has been checked), say how
    it went and go back to its page; finance's reports room answers its own retries so too."""
    try:
        outcome = exception_retry_now(exception=exception, user=request.user)
    except ActionRefused as refused:
        messages.error(request, str(refused))
    else:
        (messages.success if outcome.ok else messages.error)(request, outcome.message)
    return redirect("exceptions:detail", pk=exception.pk)


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
@capability_required("view_exceptions")
def exception_assign_one(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the exception to a person, or to nobody (finance: its own team's only)."""
    exception = get_object_or_404(SyncException, pk=pk)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a person from the list.")
        return redirect("exceptions:detail", pk=pk)
    person = form.cleaned_data["assignee"]
    try:
        changed = exception_assign(exception=exception, assignee=person, actor=request.user)
    except NotAllowed as refused:
        raise PermissionDenied(str(refused)) from refused
    if changed:
        messages.success(request, f"Assigned to {person.get_username()}." if person else "No longer assigned.")
    return redirect("exceptions:detail", pk=pk)


@require_POST
@capability_required("view_exceptions")
def exception_note(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a note to the exception's thread (finance: on its own team's only)."""
    exception = get_object_or_404(SyncException, pk=pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write the note first.")
        return redirect("exceptions:detail", pk=pk)
    try:
        exception_note_add(exception=exception, author=request.user, text=form.cleaned_data["text"])
    except NotAllowed as refused:
        raise PermissionDenied(str(refused)) from refused
    except ValueError as empty:
        messages.error(request, str(empty))
    else:
        messages.success(request, "Note added.")
    return redirect(reverse("exceptions:detail", args=[pk]) + "#notes")
