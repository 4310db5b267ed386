from typing import Any, ClassVar

from django.contrib import admin
from django.db import models

from .documents import DOCUMENT_MODELS
from .models import (
    BusinessPartner,
    ContactPerson,
    ErpConnection,
    Item,
    ItemGroup,
    ProvisionalOrder,
    StockLevel,
    Warehouse,
)


@admin.register(ErpConnection)
class ErpConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base_url", "company_db", "username", "page_size"]
    # password_env is the *name* of a variable; the secret itself never reaches the database.
    # A Service Layer address typed without a scheme is https: it carries the SAP login.
    formfield_overrides: ClassVar[dict[Any, dict[str, Any]]] = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "company_email_as_contact" in form.changed_data:
            from syncapp.planning_contacts import company_email_setting_changed

            company_email_setting_changed(connection=obj)


@admin.register(BusinessPartner)
class BusinessPartnerAdmin(admin.ModelAdmin):
    list_display = ["card_code", "card_name", "card_type", "email", "currency", "frozen", "source_updated_at",
                    "connection"]
    list_filter = ["connection", "card_type", "frozen", "valid"]
    search_fields = ["card_code", "card_name", "email_normalised"]
    list_select_related = ["connection"]
    show_full_result_count = False
    readonly_fields = [f.name for f in BusinessPartner._meta.fields]

    def has_add_permission(self, request):
        return False  # the ERP owns these; the mirror is read-only


class _ReadOnlyMirrorAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_select_related = ["connection"]

    def has_add_permission(self, request):
        return False  # the ERP owns these; the mirror is read-only

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(ContactPerson)
class ContactPersonAdmin(_ReadOnlyMirrorAdmin):
    list_display = ["card_code", "code", "first_name", "last_name", "email", "active", "marketing_blocked", "removed",
                    "connection"]
    list_filter = ["connection", "active", "removed"]
    search_fields = ["=card_code", "email_normalised", "last_name"]


@admin.register(Item)
class ItemAdmin(_ReadOnlyMirrorAdmin):
    list_display = ["item_code", "sku", "item_name", "category_code", "active", "sales_item", "source_updated_at",
                    "connection"]
    list_filter = ["connection", "active", "sales_item"]
    search_fields = ["=item_code", "=sku", "item_name"]


@admin.register(Warehouse)
class WarehouseAdmin(_ReadOnlyMirrorAdmin):
    list_display = ["code", "name", "inactive", "connection"]
    list_filter = ["connection", "inactive"]


@admin.register(ItemGroup)
class ItemGroupAdmin(_ReadOnlyMirrorAdmin):
    list_display = ["code", "name", "connection", "mirrored_at"]
    list_filter = ["connection"]
    search_fields = ["=code", "name"]


@admin.register(StockLevel)
class StockLevelAdmin(_ReadOnlyMirrorAdmin):
    list_display = ["item_code", "warehouse_code", "in_stock", "committed", "ordered", "mirrored_at"]
    list_filter = ["connection", "warehouse_code"]
    search_fields = ["=item_code"]


class _LinesInline(admin.TabularInline):
    extra = 0
    can_delete = False
    fields = ["line_num", "item_code", "description", "quantity", "price", "line_total", "warehouse_code",
              "line_status", "base_type", "base_entry", "base_line"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _document_admin(model, line_model):
    inline = type(f"{line_model.__name__}Inline", (_LinesInline,), {"model": line_model})
    attrs = {
        "list_display": ["doc_entry", "doc_num", "card_code", "num_at_card", "doc_date", "doc_total", "currency",
                         "status", "cancelled", "is_cancellation", "source_updated_at"],
        "list_filter": ["connection", "status", "cancelled", "is_cancellation"],
        "search_fields": ["=doc_entry", "=doc_num", "=card_code", "=num_at_card"],
        "inlines": [inline],
    }
    admin.site.register(model, type(f"{model.__name__}Admin", (_ReadOnlyMirrorAdmin,), attrs))


for _model, _line_model, _ in DOCUMENT_MODELS.values():
    _document_admin(_model, _line_model)


@admin.register(ProvisionalOrder)
class ProvisionalOrderAdmin(_ReadOnlyMirrorAdmin):
    """Web shop orders posted at checkout; read-only (the shop and the ERP own them)."""

    list_display = ["web_reference", "customer_email", "grand_total", "currency", "status", "received_at",
                    "erp_doc_entry", "connection"]
    list_filter = ["connection", "status"]
    search_fields = ["=web_reference", "customer_email"]
