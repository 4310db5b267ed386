"""The engine's pages: sync health (everyone).

Views read through selectors (syncapp.health) and only shape
what they return for the template; charts are inline SVG drawn on the server
(syncapp.health_charts), no JavaScript.
"""
from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone

from .connection_health import connections_status, incidents_timeline
from .connection_incidents import incidents_open_by_connection
from .health import BACKLOG_COUNT_CAP, duration_text, flows_health, inbound_backlogs
from .health_charts import flow_chart, sparkline
from .health_history import RANGES, SPAN_TEXT, flows_history
from .health_why import rows_explain_failures
from .incidents import incidents_open, redis_probe
from .roles import capability_required

# ------------------------------------------------------------------ health


def _selected_row(rows, wanted: str | None):
    """The flow whose large chart shows: the one asked for, else the worst light, else the first."""
    by_id = {str(row.flow.pk): row for row in rows}
    if wanted in by_id:
        return by_id[wanted]
    order = {"red": 0, "amber": 1, "green": 2}
    return min(rows, key=lambda row: order.get(row.light, 3)) if rows else None


@capability_required("view_health")
def health_page(request):
    """Connections, flows with their sparklines (24 hours), the chosen flow's chart and the
    incident timeline over the chosen period (24 h, 7 d or 30 d)."""
    range_name = request.GET.get("range") if request.GET.get("range") in RANGES else "24h"
    now = timezone.now()
    redis_probe()  # a Redis outage shows the moment someone looks, not at the next sweep
    open_incidents = incidents_open_by_connection()
    rows = flows_health(now=now, open_incidents=open_incidents)
    connections = connections_status(flows=[row.flow for row in rows], now=now, open_incidents=open_incidents)
    inbound = [(backlog, duration_text(backlog.lag_seconds(now))) for backlog in inbound_backlogs().values()]
    day = flows_history(flow_ids=[row.flow.pk for row in rows], range_name="24h", now=now)
    for row in rows:
        row.lag_text = duration_text(row.lag_seconds)
        row.sparkline = sparkline(day[row.flow.pk])
    rows_explain_failures(rows)
    selected = _selected_row(rows, request.GET.get("flow"))
    chart = None
    if selected is not None:
        history = (day if range_name == "24h" else
                   flows_history(flow_ids=[selected.flow.pk], range_name=range_name, now=now))[selected.flow.pk]
        chart = flow_chart(history, range_name=range_name)
    return render(request, "health/health.html", {
        "selected": selected, "chart": chart, "rows": rows, "connections": connections, "inbound": inbound,
        "incidents": incidents_open(), "range_name": range_name, "ranges": list(RANGES), "now": now,
        "span_text": SPAN_TEXT[range_name], "backlog_cap": BACKLOG_COUNT_CAP,
        "timeline": incidents_timeline(since=now - RANGES[range_name][0], now=now),
    })
