"""Identities in the admin: users, groups and API tokens, for superusers only.

Integration admins manage the hub's configuration, not who may do what: were they allowed
here, one could make itself superuser or set the superuser's password. The check is on the
user, not on permissions, so a permission given by mistake opens nothing.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.template.response import TemplateResponse

from .models import ApiToken
from .tokens import api_token_key_assign, api_token_revoke


def _superuser(request) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class SuperusersOnly:
    """Every admin permission of the model is the superuser flag (the password view too:
    UserAdmin asks has_change_permission)."""

    def has_module_permission(self, request):
        return _superuser(request)

    def has_view_permission(self, request, obj=None):
        return _superuser(request)

    def has_add_permission(self, request, *args):
        return _superuser(request)

    def has_change_permission(self, request, obj=None):
        return _superuser(request)

    def has_delete_permission(self, request, obj=None):
        return _superuser(request)


User = get_user_model()
for model in (User, Group):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(User)
class IdentityUserAdmin(SuperusersOnly, UserAdmin):
    pass


@admin.register(Group)
class IdentityGroupAdmin(SuperusersOnly, GroupAdmin):
    pass


@admin.register(ApiToken)
class ApiTokenAdmin(SuperusersOnly, admin.ModelAdmin):
    """Issue and revoke anyone's tokens. The key is shown on the page answering the issue,
    never again; the digest never. Lists and logs name a token by name and prefix."""

    list_display = ["name", "masked_key", "user", "state", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at"]
    list_select_related = ["user"]
    search_fields = ["name", "=prefix", "user__username"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "expires_at"]
        return ["user", "name", "masked_key", "state", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["user", "masked_key", "state", "created_at", "expires_at", "last_used_at", "revoked_at"]

    @admin.display(description="Key")
    def masked_key(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    @admin.display(description="State")
    def state(self, token: ApiToken) -> str:
        return token.state

    def save_model(self, request, obj, form, change):
        if not change:
            obj._issued_key = api_token_key_assign(token=obj)
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        """The one page that shows the key: rendered here, not put in a message that
        would travel in a cookie and be shown after a redirect."""
        context = {**self.admin_site.each_context(request), "opts": self.opts, "token": obj,
                   "key": getattr(obj, "_issued_key", ""), "title": f"API token issued: {obj}"}
        response = TemplateResponse(request, "accounts/admin_token_issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected API tokens", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = sum(api_token_revoke(token=token) for token in queryset)
        messages.success(request, f"Revoked {revoked} token{'s' if revoked != 1 else ''}.")
