"""The health page's section on the last minutes by priority (peak trading):
`{% load peak_health %}{% by_priority rows %}`. A tag, so the health view stays as it is."""
from __future__ import annotations

from django import template

from syncapp.health import PEAK_WINDOW, READY_COUNT_CAP, duration_text, flows_by_priority

register = template.Library()


@register.inclusion_tag("health/by_priority.html")
def by_priority(rows) -> dict:
    classes, calls = flows_by_priority(flows=[row.flow for row in rows])
    return {"classes": [(c, duration_text(c.p50), duration_text(c.p95), duration_text(c.max)) for c in classes],
            "calls": calls, "minutes": int(PEAK_WINDOW.total_seconds() // 60), "ready_cap": READY_COUNT_CAP}
