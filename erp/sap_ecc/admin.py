from django.contrib import admin

from .models import EccInbound, Idoc


@admin.register(EccInbound)
class EccInboundAdmin(admin.ModelAdmin):
    list_display = ("connection", "sender_partner", "max_body_bytes", "deleted_customers")


@admin.register(Idoc)
class IdocAdmin(admin.ModelAdmin):
    """Read-only: IDocs are what SAP sent; the IDoc monitor is where people act on them."""

    list_display = ("docnum", "message_type", "sender_partner", "object_key", "status", "received_at")
    list_filter = ("status", "message_type")
    search_fields = ("docnum", "object_key")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
