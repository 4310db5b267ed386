"""Saved filters: a person names the dashboard's current filter and finds it again as a
link; shared with their team, everyone in the team sees it too."""
from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.http import QueryDict

from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING, user_roles

from .filters import PAGING_PARAMS
from .models import SavedFilter, Team

_TEAM_OF_ROLE = {MARKETING: Team.MARKETING, FINANCE: Team.FINANCE, INTEGRATION_ADMIN: Team.INTEGRATION}
SHOWN_LIMIT = 50


def user_teams(user) -> list[str]:
    """The teams a person belongs to, by their roles."""
    roles = user_roles(user)
    return [team for role, team in _TEAM_OF_ROLE.items() if role in roles]


def saved_filters_for(user) -> list[SavedFilter]:
    """The person's own filters, then those their teams share, by name."""
    if not user.is_authenticated:
        return []
    shared = Q(team__in=user_teams(user)) & ~Q(team="")
    return list(SavedFilter.objects.filter(Q(owner=user) | shared).select_related("owner")
                .order_by("name", "id")[:SHOWN_LIMIT])


def saved_filter_save(*, owner, name: str, query: str, share: bool) -> SavedFilter:
    """Keep `query` (paging removed) under `name`; the same name again replaces it.
    Shared, it goes to the owner's team (their first one, by role)."""
    name = name.strip()[:80]
    if not name:
        raise ValueError("Give the filter a name.")
    params = QueryDict(query, mutable=True)
    for param in PAGING_PARAMS:
        params.pop(param, None)
    teams = user_teams(owner)
    team = teams[0] if share and teams else ""
    with transaction.atomic():
        saved, _ = SavedFilter.objects.update_or_create(owner=owner, name=name,
                                                        defaults={"query": params.urlencode(), "team": team})
    return saved


def saved_filter_delete(*, saved: SavedFilter, user) -> None:
    if saved.owner_id != user.pk:
        raise PermissionError("Only the person who saved a filter may delete it.")
    saved.delete()
