from django.contrib import admin

from .models import WriteBackRun, WriteBackSettings


@admin.register(WriteBackSettings)
class WriteBackSettingsAdmin(admin.ModelAdmin):
    list_display = ("connection", "enabled", "patches_per_minute", "batch_size", "fields_checked_at")
    list_select_related = ("connection",)
    readonly_fields = ("fields_checked_at",)


@admin.register(WriteBackRun)
class WriteBackRunAdmin(admin.ModelAdmin):
    list_display = ("connection", "status", "started_at", "partners_changed", "partners_written", "partners_failed",
                    "calls")
    list_filter = ("status", "connection")
    list_select_related = ("connection",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
