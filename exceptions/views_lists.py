"""What a person does with the dashboard's filter itself: download it as CSV, save it
under a name, delete a saved one."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from syncapp.csv_stream import csv_download
from syncapp.roles import capability_required

from .export import exceptions_csv_rows
from .models import SavedFilter
from .saved_filters import saved_filter_delete, saved_filter_save
from .views_filtering import filter_errors, filter_query, filtered


@require_GET
@capability_required("view_exceptions")
def exceptions_export(request: HttpRequest) -> HttpResponse:
    """Every exception the filter in the query string matches, as CSV (the same filters,
    and the same default status, as the dashboard)."""
    filterset = filtered(request)
    if not filterset.is_valid():
        messages.error(request, f"The filter is not valid, so nothing was exported. {filter_errors(filterset)}")
        return redirect(reverse("exceptions:dashboard") + "?" + filter_query(request.GET))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_download(rows=exceptions_csv_rows(filterset.qs, user=request.user), filename=f"exceptions-{stamp}.csv")


@require_POST
@capability_required("view_exceptions")
def saved_filter_create(request: HttpRequest) -> HttpResponse:
    """Save the filter the dashboard shows (posted as `query`) under `name`."""
    query = request.POST.get("query", "")
    back = reverse("exceptions:dashboard") + (f"?{query}" if query else "")
    filterset = filtered(request, QueryDict(query))
    if not filterset.is_valid():
        messages.error(request, f"The filter is not valid, so it was not saved. {filter_errors(filterset)}")
        return redirect(back)
    try:
        saved = saved_filter_save(owner=request.user, name=request.POST.get("name", ""), query=query,
                                  share=request.POST.get("share") == "on")
    except ValueError as refused:
        messages.error(request, str(refused))
    else:
        shared = f", shared with {saved.get_team_display().lower()}" if saved.team else ""
        messages.success(request, f"Saved the filter \"{saved.name}\"{shared}.")
    return redirect(back)


@require_POST
@capability_required("view_exceptions")
def saved_filter_remove(request: HttpRequest, pk: int) -> HttpResponse:
    saved = get_object_or_404(SavedFilter, pk=pk, owner=request.user)
    saved_filter_delete(saved=saved, user=request.user)
    messages.success(request, f"Deleted the saved filter \"{saved.name}\".")
    return redirect("exceptions:dashboard")
