"""The health page's write-back section: `{% load engagement_health %}{% engagement_writeback %}`.
A tag, so the health view stays as it is; it reads through engagement.selectors."""
from __future__ import annotations

from django import template

from engagement.selectors import writeback_health

register = template.Library()


@register.inclusion_tag("engagement/health.html")
def engagement_writeback() -> dict:
    return {"writeback_rows": writeback_health()}
