"""The duplicate-email conflicts page: partners side by side, a decision per conflict,
and each customers flow's default policy (integration admins edit it)."""
from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from syncapp.models import DuplicateEmailPolicy, Flow
from syncapp.roles import capability_required

from .filters import DuplicateEmailConflictFilter
from .forms import ConflictResolveForm, DuplicatePolicyForm
from .models import DuplicateEmailConflict
from .views_actions import ActionRefused, conflict_resolve_now, duplicate_policy_set
from .views_queries import conflict_partners

CONFLICTS_PER_PAGE = 20


def _page_without_count(queryset, number: int, size: int) -> tuple[list, bool]:
    """A page by offset without COUNT(*): it knows only whether another follows.
    (Open conflicts are people-sized; the exceptions list uses a keyset instead.)"""
    start = (number - 1) * size
    rows = list(queryset[start:start + size + 1])
    return rows[:size], len(rows) > size


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


@require_GET
@capability_required("view_conflicts")
def conflicts_list(request: HttpRequest) -> HttpResponse:
    filterset = DuplicateEmailConflictFilter(
        data=request.GET, queryset=DuplicateEmailConflict.objects.select_related("connection", "resolved_by"))
    number = _page_number(request)
    conflicts, has_next = _page_without_count(filterset.qs.order_by("-updated_at", "-id"), number,
                                              CONFLICTS_PER_PAGE)
    partners = conflict_partners(conflicts)
    for conflict in conflicts:
        conflict.partners = partners[conflict.pk]
    flows = list(Flow.objects.filter(entity=Flow.Entity.CUSTOMERS).select_related("connection", "destination")
                 .order_by("name"))
    for flow in flows:
        flow.policy_form = DuplicatePolicyForm(initial={"duplicate_policy": flow.duplicate_policy},
                                               auto_id=f"id_policy_{flow.pk}_%s")
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "conflicts/list.html", {
        "filter": filterset,
        "conflicts": conflicts,
        "page_number": number,
        "has_next": has_next,
        "query": query.urlencode(),
        "flows": flows,
        "Resolution": DuplicateEmailConflict.Resolution,
    })


@require_POST
@capability_required("resolve_conflicts")
def conflict_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    conflict = get_object_or_404(DuplicateEmailConflict, pk=pk)
    form = ConflictResolveForm(request.POST, conflict=conflict)
    if not form.is_valid():
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
        return redirect("exceptions:conflicts")
    try:
        conflict_resolve_now(conflict=conflict, resolution=form.cleaned_data["resolution"],
                             winner_card_code=form.cleaned_data["winner_card_code"], user=request.user)
    except ActionRefused as refused:
        messages.error(request, str(refused))
    else:
        decided = conflict.get_resolution_display()
        messages.success(request, f"Conflict resolved ({decided}); the partners' records were re-planned.")
    return redirect("exceptions:conflicts")


@require_POST
@capability_required("edit_configuration")
def duplicate_policy_edit(request: HttpRequest, flow_id: int) -> HttpResponse:
    flow = get_object_or_404(Flow, pk=flow_id, entity=Flow.Entity.CUSTOMERS)
    form = DuplicatePolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed policies.")
    elif duplicate_policy_set(flow=flow, policy=form.cleaned_data["duplicate_policy"], user=request.user):
        label = DuplicateEmailPolicy(flow.duplicate_policy).label
        messages.success(request, f"Policy of {flow.name} is now: {label}. Open conflicts were re-planned under it.")
    else:
        messages.success(request, f"Policy of {flow.name} unchanged.")
    return redirect("exceptions:conflicts")
