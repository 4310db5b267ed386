"""Who may act in the attribution room.

Reading is the `view_reports` capability (syncapp/roles.py). Acting (importing activity,
changing the attribution rules, re-running it) is finance's alone: the brief makes the
page read-only for everyone else who may see it. `syncapp/roles.py` belongs to another
part of the work; until it names this job, the rule lives here, keyed the same way.
"""
from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from syncapp.roles import FINANCE, user_roles

ACT_ON_ATTRIBUTION = frozenset({FINANCE})


def can_act(user) -> bool:
    """Finance (and superusers, who hold every role)."""
    return bool(user_roles(user) & ACT_ON_ATTRIBUTION)


def finance_required(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_act(request.user):
            raise PermissionDenied("Only finance may import campaign activity or change the attribution.")
        return view(request, *args, **kwargs)

    return wrapped


class ActsOnAttribution:
    """DRF permission for the same rule."""

    def has_permission(self, request, view) -> bool:
        return can_act(request.user)

    def has_object_permission(self, request, view, obj) -> bool:
        return can_act(request.user)
