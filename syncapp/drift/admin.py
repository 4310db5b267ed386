"""Admin for drift detection: the sample settings per flow, the passes with their
findings, and the "Run a full pass" button (also on the health page).

The button's endpoint is the admin's (`/admin/drift/driftpass/full-pass/`), guarded by
the role, not by model permissions: only those who may edit the configuration
(integration admins) start a full pass; others get 403, anonymous users the login page.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from syncapp.admin_access import admin_allowed
from syncapp.models import Flow
from syncapp.roles import capability_required

from .models import DriftFinding, DriftPass, DriftPolicy
from .services import drift_full_pass_start
from .tasks import drift_pass_enqueue


class _AdminsOnly:
    """Readable by whoever may use the admin (the role, see syncapp/admin_access.py)."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_allowed(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return admin_allowed(request.user)


@admin.register(DriftPolicy)
class DriftPolicyAdmin(_AdminsOnly, admin.ModelAdmin):
    list_display = ("flow", "enabled", "sample_percent", "minimum_per_day")
    list_select_related = ("flow",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin_allowed(request.user)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return admin_allowed(request.user)


class DriftFindingInline(admin.TabularInline):
    model = DriftFinding
    fields = ("record_key", "action", "missing", "fields", "found_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return admin_allowed(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DriftPass)
class DriftPassAdmin(_AdminsOnly, admin.ModelAdmin):
    list_display = ("flow", "kind", "status", "created_at", "checked", "drifted", "requeued", "raised", "missing",
                    "requested_by")
    list_filter = ("kind", "status", "flow")
    list_select_related = ("flow", "requested_by")
    readonly_fields = [f.name for f in DriftPass._meta.fields]
    inlines = (DriftFindingInline,)
    change_list_template = "admin/drift/driftpass/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # passes are started by the button or the command, never typed in

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        flows = Flow.objects.filter(enabled=True).order_by("name")
        return super().changelist_view(request, {**(extra_context or {}), "drift_flows": flows})

    def get_urls(self):
        return [path("full-pass/", full_pass_view, name="drift_driftpass_full_pass"), *super().get_urls()]


@require_POST
@capability_required("edit_configuration")
def full_pass_view(request: HttpRequest):
    """Queue a full pass of the posted flow (one at a time per flow) and go back."""
    flow = get_object_or_404(Flow, pk=request.POST.get("flow") or 0)
    drift_pass, created = drift_full_pass_start(flow=flow, user=request.user)
    if created and not drift_pass_enqueue(drift_pass.pk):
        messages.error(request, f"Full pass of {flow.name} queued, but the task queue did not answer: it starts "
                                "when the queue is back.")
    elif created:
        messages.success(request, f"Full pass of {flow.name} started: every sent record is read back and compared.")
    else:
        messages.info(request, f"A full pass of {flow.name} is already {drift_pass.get_status_display().lower()}.")
    back = request.POST.get("next") or ""
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return redirect(back if back and safe else "health")
