"""The Runs pages: every pull, plan and push run, newest first, and one run's records.

Whoever may see exceptions may see runs. Payloads follow the exception pages' email rule
(exceptions.record_page): in full for those who fix records, masked for everyone else.
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .api import RunFilter
from .logging import redact_text
from .models import SyncRun
from .roles import capability_required
from .run_pages import outcome_tabs, run_outcomes_page, runs_page


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@require_GET
@capability_required("view_exceptions")
def runs_list(request: HttpRequest) -> HttpResponse:
    filterset = RunFilter(data=request.GET, queryset=SyncRun.objects.all())
    queryset = filterset.qs if filterset.is_valid() else SyncRun.objects.none()
    page = runs_page(queryset, after=_int(request.GET.get("after")))
    query = request.GET.copy()
    query.pop("after", None)
    return render(request, "runs/list.html", {
        "filter": filterset, "page": page, "query": query.urlencode(),
        "next_query": _with(query, after=page.next_after) if page.next_after else "",
    })


def _with(query, **changes) -> str:
    query = query.copy()
    for name, value in changes.items():
        query[name] = value
    return query.urlencode()


@require_GET
@capability_required("view_exceptions")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    from exceptions.record_page import for_viewer, readable

    run = get_object_or_404(SyncRun.objects.select_related("flow", "connection", "triggered_by"), pk=pk)
    tabs = outcome_tabs(run, request.GET.get("outcome"))
    current = next(tab for tab in tabs if tab.current)
    page = run_outcomes_page(run, outcome=current.outcome, after=_int(request.GET.get("after")))
    for row in page.rows:
        if row.payload is not None:
            row.payload_text = readable(for_viewer(row.payload, request.user))
        row.identifier = for_viewer(row.identifier, request.user)
    return render(request, "runs/detail.html", {
        "run": run, "tabs": tabs, "current": current, "page": page, "error": redact_text(run.error),
        "many_flows": run.flow_id is None, "kept_days": settings.SYNC_RUN_OUTCOME_DAYS,
    })
