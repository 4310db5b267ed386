"""The health page's drift section: `{% load drift_health %}{% drift_checks rows %}`.
A tag, so the health view stays as it is; it reads through syncapp.health."""
from __future__ import annotations

from django import template

from syncapp.health import DRIFT_DAYS_SHOWN, drift_counts_by_day

register = template.Library()


@register.inclusion_tag("health/drift.html", takes_context=True)
def drift_checks(context, rows) -> dict:
    """Each flow of the page with its drift counts per day (last week, newest first)."""
    flows = [row.flow for row in rows]
    counts = drift_counts_by_day(flow_ids=[flow.pk for flow in flows])
    return {"drift_rows": [(flow, counts[flow.pk]) for flow in flows], "days_shown": DRIFT_DAYS_SHOWN,
            "can": context.get("can", {}), "csrf_token": context.get("csrf_token")}
