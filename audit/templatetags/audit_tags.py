"""`{% audit_history obj %}`: the history panel, on editor pages and admin change forms."""
from __future__ import annotations

from django import template

from ..selectors import entries_for_object, has_history

register = template.Library()


@register.inclusion_tag("audit/_history.html")
def audit_history(obj, title: str = "History"):
    """Renders nothing for a missing object (an add form) or a model without history."""
    if obj is None or getattr(obj, "pk", None) is None or not has_history(type(obj)):
        return {"show": False}
    return {"show": True, "entries": entries_for_object(obj), "title": title}


@register.inclusion_tag("audit/_history.html")
def audit_entries(entries, title: str = "History"):
    """The same panel for entries already selected (e.g. the mappings of one entity)."""
    return {"show": True, "entries": entries, "title": title}


@register.filter
def audit_value(value) -> str:
    """A snapshot value as a person reads it: empty shown as '—', lists joined."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
