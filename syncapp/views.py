"""The engine's pages: sync health (everyone) and finance's reconciliation report.

Views read through selectors (syncapp.health, syncapp.reconciliation) and only shape
what they return for the template; charts are inline SVG drawn here, no JavaScript.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from .health import BACKLOG_COUNT_CAP, RANGES, FlowHistory, duration_text, flows_health, flows_history, inbound_backlogs
from .incidents import incidents_open, redis_probe
from .reconciliation import COLUMN_TITLES, COLUMNS, finance_open_exceptions, orders_reconciliation
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


CHART_W, CHART_H, PAD_TOP, PAD_BOTTOM = 640, 120, 14, 16


def _bar(x: float, bottom: float, width: float, height: float) -> str:
    return f"M{x:.1f},{bottom:.1f}v{-height:.1f}h{width:.1f}v{height:.1f}z" if height >= 0.05 else ""


def chart_geometry(history: FlowHistory) -> ChartGeometry:
    buckets = history.buckets
    plot_h = CHART_H - PAD_TOP - PAD_BOTTOM
    step = CHART_W / max(1, len(buckets))
    max_records = max([b.accepted + b.failed for b in buckets] + [1])
    max_backlog = max([b.backlog or 0 for b in buckets] + [1])
    accepted, failed, lines, run = [], [], [], []
    baseline = PAD_TOP + plot_h
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
    return ChartGeometry(CHART_W, CHART_H, "".join(accepted), "".join(failed), lines, max_records, max_backlog,
                         empty)


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
    return render(request, "health/health.html", {
        "rows": rows, "inbound": inbound, "incidents": incidents, "range_name": range_name, "ranges": list(RANGES),
        "now": now,
        "span_text": {"24h": "24 hours", "7d": "7 days"}[range_name], "backlog_cap": BACKLOG_COUNT_CAP,
    })


# ------------------------------------------------------------------ reports


def _date_input() -> forms.DateInput:
    # A browser's date input takes ISO dates only, whatever the site's locale shows.
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ReportForm(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=_date_input())
    date_to = forms.DateField(required=False, label="To", widget=_date_input())

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data


def _default_range() -> tuple[date, date]:
    today = timezone.localdate()
    return today - timedelta(days=30), today


@capability_required("view_reports")
def reports_page(request):
    default_from, default_to = _default_range()
    form = ReportForm(request.GET or {"date_from": default_from, "date_to": default_to})
    if form.is_valid():
        date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    else:
        date_from, date_to = default_from, default_to
    rows, total = orders_reconciliation(date_from=date_from, date_to=date_to)
    if request.GET.get("format") == "csv":
        return _reconciliation_csv(rows, total, date_from, date_to)
    return render(request, "reports/reports.html", {
        "form": form, "rows": rows, "total": total, "columns": [(name, COLUMN_TITLES[name]) for name in COLUMNS],
        "date_from": date_from, "date_to": date_to, "finance_exceptions": finance_open_exceptions(),
    })


def _reconciliation_csv(rows, total, date_from, date_to) -> HttpResponse:
    name = f"reconciliation_{date_from or 'start'}_{date_to or 'today'}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    header = ["flow", "destination", "date_from", "date_to", "mirror_count", "mirror_value"]
    for column in COLUMNS:
        header += [f"{column}_count", f"{column}_value"]
    writer.writerow(header)
    for row in [*rows, total]:
        line = [row.flow.name if row.flow else "TOTAL", row.flow.destination.name if row.flow else "",
                date_from or "", date_to or "", row.mirror.count, f"{row.mirror.value:.2f}"]
        for column in COLUMNS:
            line += [row.cells[column].count, f"{row.cells[column].value:.2f}"]
        writer.writerow(line)
    return response
