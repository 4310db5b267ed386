from django.contrib import admin

from .models import BusinessPartner, ErpConnection


@admin.register(ErpConnection)
class ErpConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "base_url", "company_db", "username", "page_size"]
    # password_env is the *name* of a variable; the secret itself never reaches the database.


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
