"""The three roles and what each may do, enforced the same way in pages, admin and API.

Roles are Django groups. A capability names a job ("act on exceptions"), never a page,
so a new page picks the capability it needs and the table below stays the one place
that says who may do what. Superusers hold every capability.
"""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

MARKETING = "Marketing"
FINANCE = "Finance"
INTEGRATION_ADMIN = "Integration admin"
# The web shop's API user: posts provisional orders and nothing else, so a leaked shop
# token cannot retry, ignore or reconfigure anything.
WEB_SHOP = "Web shop"
ROLES = (MARKETING, FINANCE, INTEGRATION_ADMIN)
SERVICE_ROLES = (WEB_SHOP,)

# capability -> roles holding it
CAPABILITIES: dict[str, frozenset[str]] = {
    "view_health": frozenset(ROLES),
    "view_exceptions": frozenset(ROLES),  # finance reads, does not act
    "act_on_exceptions": frozenset({MARKETING, INTEGRATION_ADMIN}),
    "view_conflicts": frozenset(ROLES),
    "resolve_conflicts": frozenset({MARKETING, INTEGRATION_ADMIN}),
    "view_reports": frozenset({FINANCE, INTEGRATION_ADMIN}),
    # Finance acts on its own findings: re-send differing documents, retry the exceptions it owns.
    "resend_differences": frozenset({FINANCE, INTEGRATION_ADMIN}),
    "retry_finance_exceptions": frozenset({FINANCE, INTEGRATION_ADMIN}),
    "view_configuration": frozenset(ROLES),
    "edit_configuration": frozenset({INTEGRATION_ADMIN}),
    # The web shop posts provisional orders with the token of a user in this group.
    "post_provisional_orders": frozenset({WEB_SHOP, INTEGRATION_ADMIN}),
    # The OpenAPI schema maps every endpoint: for the people who use the API, not the shop's token.
    "read_api_schema": frozenset(ROLES),
}


def user_roles(user) -> set[str]:
    if not user.is_authenticated or not user.is_active:
        return set()
    if user.is_superuser:
        return set(ROLES)
    cached = getattr(user, "_sync_roles", None)
    if cached is None:
        cached = user._sync_roles = set(user.groups.filter(name__in=ROLES + SERVICE_ROLES)
                                        .values_list("name", flat=True))
    return cached


def user_can(user, capability: str) -> bool:
    return bool(user_roles(user) & CAPABILITIES[capability])


def capability_required(capability: str):
    """View decorator: anonymous users go to the login page, others without the
    capability get 403."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_can(request.user, capability):
                raise PermissionDenied(f"Your role does not allow this ({capability.replace('_', ' ')}).")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


class HasCapability:
    """DRF permission: `HasCapability.of("act_on_exceptions")` as a permission class."""

    capability = ""

    @classmethod
    def of(cls, capability: str):
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}")
        return type(f"Has_{capability}", (cls,), {"capability": capability})

    def has_permission(self, request, view) -> bool:
        return user_can(request.user, self.capability)

    def has_object_permission(self, request, view, obj) -> bool:
        return self.has_permission(request, view)


# For settings that name a permission class by its dotted path (SPECTACULAR_SETTINGS SERVE_PERMISSIONS).
ReadsApiSchema = HasCapability.of("read_api_schema")


def capabilities_context(request) -> dict:
    """Template context: `can.act_on_exceptions` etc., for showing only allowed actions."""
    user = getattr(request, "user", None)
    if user is None:
        return {"can": {}, "roles": set()}
    return {"can": {name: user_can(user, name) for name in CAPABILITIES}, "roles": user_roles(user)}
