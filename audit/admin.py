"""The whole history, read-only: filter by model, action and who."""
from django.contrib import admin

from syncapp.roles import user_can

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "content_type", "object_repr"]
    list_filter = ["action", "content_type"]
    search_fields = ["object_repr", "=actor"]
    date_hierarchy = "at"
    show_full_result_count = False
    list_select_related = ["content_type"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_module_permission(self, request):
        return user_can(request.user, "edit_configuration")

    def has_view_permission(self, request, obj=None):
        return user_can(request.user, "edit_configuration")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # history is not edited, not even by admins
