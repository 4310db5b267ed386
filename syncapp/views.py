"""The engine's pages: sync health (everyone).

Views read through selectors (syncapp.health) and only shape
what they return for the template; charts are inline SVG drawn here, no JavaScript.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.shortcuts import render
from django.utils import timezone

from .health import BACKLOG_COUNT_CAP, RANGES, FlowHistory, duration_text, flows_health, flows_history, inbound_backlogs
from .health_why import rows_explain_failures
from .incidents import incidents_open, redis_probe
from .roles import capability_required

# ------------------------------------------------------------------ health


@dataclass
class ChartGeometry:
    """An inline SVG chart: accepted (green) and failed (red, stacked on top) bars per
    bucket as two paths, the backlog as a line on its own scale."""

    width: int
    height: int
    accepted_path: str
    failed_path: str
    backlog_lines: list[str]  # "x,y x,y ..." per unbroken run of samples
    max_records: int
    max_backlog: int
    empty: bool
    # The labels tell the data, not the axis: the highest bar's records and the highest
    # backlog sampled (0 when it stayed 0), and where samples begin (a new install).
    records_peak: int = 0
    backlog_peak: int | None = None
    no_data_width: float = 0.0
    samples_since: object = None


CHART_W, CHART_H, PAD_TOP, PAD_BOTTOM = 640, 120, 14, 16


def _bar(x: float, bottom: float, width: float, height: float) -> str:
    return f"M{x:.1f},{bottom:.1f}v{-height:.1f}h{width:.1f}v{height:.1f}z" if height >= 0.05 else ""


SPARK_W, SPARK_H = 160, 28


def chart_geometry(history: FlowHistory, *, chart_w: int = CHART_W, chart_h: int = CHART_H,
                   pad_top: int = PAD_TOP, pad_bottom: int = PAD_BOTTOM) -> ChartGeometry:
    buckets = history.buckets
    plot_h = chart_h - pad_top - pad_bottom
    step = chart_w / max(1, len(buckets))
    max_records = max([b.accepted + b.failed for b in buckets] + [1])
    max_backlog = max([b.backlog or 0 for b in buckets] + [1])
    accepted, failed, lines, run = [], [], [], []
    baseline = pad_top + plot_h
    for i, bucket in enumerate(buckets):
        x, width = i * step + 1, max(step - 2, 1)
        accepted_h = plot_h * bucket.accepted / max_records
        accepted.append(_bar(x, baseline, width, accepted_h))
        failed.append(_bar(x, baseline - accepted_h, width, plot_h * bucket.failed / max_records))
        if bucket.backlog is None:
            if run:
                lines.append(" ".join(run))
            run = []
            continue
        run.append(f"{i * step + step / 2:.1f},{baseline - plot_h * bucket.backlog / max_backlog:.1f}")
    if run:
        lines.append(" ".join(run))
    # A lone point draws nothing as a polyline: widen it to the bucket.
    lines = [line if " " in line else _widen(line, step) for line in lines]
    empty = not any(b.accepted or b.failed or b.backlog is not None for b in buckets)
    sampled = [i for i, b in enumerate(buckets) if b.backlog is not None or b.accepted or b.failed]
    first = sampled[0] if sampled else len(buckets)
    return ChartGeometry(chart_w, chart_h, "".join(accepted), "".join(failed), lines, max_records, max_backlog,
                         empty, records_peak=max([b.accepted + b.failed for b in buckets] + [0]),
                         backlog_peak=max([b.backlog for b in buckets if b.backlog is not None], default=None),
                         no_data_width=round(first * step, 1),
                         samples_since=buckets[first].start if buckets and first < len(buckets) else None)


def sparkline_geometry(history: FlowHistory) -> ChartGeometry:
    """The same chart, small enough for a table cell."""
    return chart_geometry(history, chart_w=SPARK_W, chart_h=SPARK_H, pad_top=2, pad_bottom=2)


def _selected_row(rows, wanted: str | None):
    """The flow whose large chart shows: the one asked for, else the worst light, else the first."""
    by_id = {str(row.flow.pk): row for row in rows}
    if wanted in by_id:
        return by_id[wanted]
    order = {"red": 0, "amber": 1, "green": 2}
    return min(rows, key=lambda row: order.get(row.light, 3)) if rows else None


def _widen(point: str, step: float) -> str:
    x, y = (float(v) for v in point.split(","))
    return f"{x - step / 2:.1f},{y} {x + step / 2:.1f},{y}"


@capability_required("view_health")
def health_page(request):
    range_name = request.GET.get("range") if request.GET.get("range") in RANGES else "24h"
    now = timezone.now()
    redis_probe()  # a Redis outage shows the moment someone looks, not at the next sweep
    rows = flows_health(now=now)
    inbound = [(backlog, duration_text(backlog.lag_seconds(now))) for backlog in inbound_backlogs().values()]
    incidents = incidents_open()
    histories = flows_history(flow_ids=[row.flow.pk for row in rows], range_name=range_name, now=now)
    for row in rows:
        row.lag_text = duration_text(row.lag_seconds)
        row.chart = chart_geometry(histories[row.flow.pk])
        row.sparkline = sparkline_geometry(histories[row.flow.pk])
    rows_explain_failures(rows)
    return render(request, "health/health.html", {
        "selected": _selected_row(rows, request.GET.get("flow")),
        "rows": rows, "inbound": inbound, "incidents": incidents, "range_name": range_name, "ranges": list(RANGES),
        "now": now,
        "span_text": {"24h": "24 hours", "7d": "7 days"}[range_name], "backlog_cap": BACKLOG_COUNT_CAP,
    })
