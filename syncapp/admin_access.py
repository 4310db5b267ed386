"""Who may use the Django admin: Integration admins and superusers, nobody else.

The admin's own rule (`is_staff`) is replaced by the role, so that roles stay the one
place that says who may do what. Integration admins get every model permission of the
project's apps after each migrate, so a new model is theirs without a data migration.
Identities (users, groups, permissions, API tokens) are not among them: only superusers
manage those (accounts/admin.py), or an admin could make itself superuser.
"""
from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts.forms import ThrottledLoginMixin
from accounts.views import login_answered_429_when_throttled

from .roles import INTEGRATION_ADMIN, user_roles

# Apps (or, by a set, some of their models) whose permissions the Integration admin group
# holds. Never "auth" or "accounts": identities are the superusers' (accounts' migration
# 0003 takes them away from groups made before).
ADMIN_APPS: dict[str, set[str] | None] = {
    "syncapp": None, "erp": None, "sap_ecc": None, "esp": None, "exceptions": None, "django_celery_beat": None,
}


def admin_allowed(user) -> bool:
    return bool(user.is_active and (user.is_superuser or INTEGRATION_ADMIN in user_roles(user)))


class RoleAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The admin login accepts Integration admins (staff flag or not) and refuses others;
    failed logins are throttled as on the site's login page."""

    def confirm_login_allowed(self, user):
        if not admin_allowed(user):
            raise ValidationError(
                "Only integration admins may use the admin. Use the main login for the other pages.",
                code="invalid_login")


def admin_access_install(site: admin.AdminSite = admin.site) -> None:
    site.has_permission = lambda request: admin_allowed(request.user)
    site.login_form = RoleAdminAuthenticationForm
    if not getattr(site.login, "answers_429", False):
        site.login = login_answered_429_when_throttled(site.login)


def integration_admin_permissions_grant(sender=None, using: str = "default", apps=None, **kwargs) -> None:
    """post_migrate: give the Integration admin group every permission of ADMIN_APPS
    (those created so far; it runs after each app's migrate, so all are covered)."""
    from django.contrib.auth.models import Group, Permission

    label = getattr(sender, "label", None)
    if label not in ADMIN_APPS:
        return
    from audit.signals import audit_suspended

    with audit_suspended():  # a deploy's routine grant, not someone's change of the role
        group, _ = Group.objects.using(using).get_or_create(name=INTEGRATION_ADMIN)
        permissions = Permission.objects.using(using).filter(content_type__app_label=label)
        if ADMIN_APPS[label] is not None:
            permissions = permissions.filter(content_type__model__in=ADMIN_APPS[label])
        group.permissions.add(*permissions)
