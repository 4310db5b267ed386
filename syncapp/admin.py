from django.contrib import admin, messages

from .models import Flow, OutboxItem, SourceCursor, SyncRun


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ["name", "connection", "entity", "destination", "enabled", "include_leads", "duplicate_policy"]
    list_filter = ["enabled", "entity", "destination"]
    list_select_related = ["connection", "destination"]
    actions = ["sync_now"]

    @admin.action(description="Pull and push now")
    def sync_now(self, request, queryset):
        from .tasks import connection_pull_task

        for flow in queryset:  # the runs say who asked
            connection_pull_task.delay(flow.connection_id, "business_partners", "person", request.user.pk)
        messages.success(request, f"Sync requested for {queryset.count()} flow(s).")


@admin.register(SourceCursor)
class SourceCursorAdmin(admin.ModelAdmin):
    list_display = ["connection", "entity", "value", "updated_at"]


@admin.register(OutboxItem)
class OutboxItemAdmin(admin.ModelAdmin):
    list_display = ["record_key", "flow", "status", "priority", "attempts", "not_before", "accepted_at", "updated_at"]
    list_filter = ["status", "flow", "priority"]
    search_fields = ["=record_key"]
    list_select_related = ["flow"]
    show_full_result_count = False  # no COUNT(*) over a million rows
    readonly_fields = [f.name for f in OutboxItem._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "flow", "connection", "trigger", "triggered_by", "status", "started_at",
                    "finished_at", "records_read", "records_changed", "records_planned", "records_unchanged",
                    "records_accepted", "records_failed", "records_retried", "records_waiting", "api_calls"]
    list_filter = ["kind", "status", "trigger", "flow"]
    list_select_related = ["flow", "connection", "triggered_by"]
    show_full_result_count = False
    readonly_fields = [f.name for f in SyncRun._meta.fields]

    def has_add_permission(self, request):
        return False


# API tokens: accounts/admin.py (hashed, superusers only).
