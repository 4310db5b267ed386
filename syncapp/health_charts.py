"""The health page's charts as inline SVG geometry, drawn on the server (no JavaScript).

A sparkline per flow (accepted and failed bars, the backlog as a line) and, for the
chosen flow, a larger chart of three panels on one time axis: records per bar
(accepted, failed stacked on top), backlog and lag. Axes are honest: each panel is
scaled from 0 to a round top that its axis labels, the corner label gives the data's own
highest value, and time before the first sample is shaded "no samples" instead of
drawn as zeros.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from .health import duration_text
from .health_history import FlowHistory
from .health_why import plural

# ------------------------------------------------------------------ shared


def _bar(x: float, bottom: float, width: float, height: float) -> str:
    return f"M{x:.1f},{bottom:.1f}v{-height:.1f}h{width:.1f}v{height:.1f}z" if height >= 0.05 else ""


def _first_sampled(history: FlowHistory) -> int:
    sampled = [i for i, b in enumerate(history.buckets) if b.backlog is not None or b.accepted or b.failed]
    return sampled[0] if sampled else len(history.buckets)


def _bars(history: FlowHistory, *, left: float, step: float, baseline: float, height: float,
          top: int) -> tuple[str, str]:
    """Accepted bars and failed bars stacked on them, as two paths."""
    accepted, failed = [], []
    for i, bucket in enumerate(history.buckets):
        x, width = left + i * step + 1, max(step - 2, 1)
        accepted_h = height * bucket.accepted / top
        accepted.append(_bar(x, baseline, width, accepted_h))
        failed.append(_bar(x, baseline - accepted_h, width, height * bucket.failed / top))
    return "".join(accepted), "".join(failed)


def _lines(values: list[float | None], *, left: float, step: float, baseline: float, height: float,
           top: float) -> list[str]:
    """"x,y x,y ..." per unbroken run of sampled buckets; a lone point is widened to its bucket."""
    lines, run = [], []
    for i, value in enumerate(values):
        if value is None:
            if run:
                lines.append(run)
            run = []
            continue
        run.append((left + i * step + step / 2, baseline - height * value / top))
    if run:
        lines.append(run)
    return [" ".join(f"{x:.1f},{y:.1f}" for x, y in points) if len(points) > 1
            else f"{points[0][0] - step / 2:.1f},{points[0][1]:.1f} {points[0][0] + step / 2:.1f},{points[0][1]:.1f}"
            for points in lines]


# ------------------------------------------------------------------ sparkline


@dataclass
class Sparkline:
    width: int
    height: int
    accepted_path: str
    failed_path: str
    backlog_lines: list[str]
    records_peak: int
    backlog_peak: int | None
    no_data_width: float
    empty: bool


SPARK_W, SPARK_H = 160, 28


def sparkline(history: FlowHistory) -> Sparkline:
    """A table cell's chart: each series on its own scale, no axes (the large chart has them)."""
    buckets, plot_h, baseline = history.buckets, SPARK_H - 4, SPARK_H - 2
    step = SPARK_W / max(1, len(buckets))
    records_peak = max([b.accepted + b.failed for b in buckets] + [0])
    backlogs = [b.backlog for b in buckets]
    backlog_peak = max([v for v in backlogs if v is not None], default=None)
    accepted, failed = _bars(history, left=0, step=step, baseline=baseline, height=plot_h, top=max(records_peak, 1))
    lines = _lines(backlogs, left=0, step=step, baseline=baseline, height=plot_h, top=max(backlog_peak or 0, 1))
    first = _first_sampled(history)
    return Sparkline(SPARK_W, SPARK_H, accepted, failed, lines, records_peak, backlog_peak, round(first * step, 1),
                     empty=first == len(buckets))


# ------------------------------------------------------------------ the large chart


@dataclass
class Panel:
    name: str  # records, backlog, lag
    top_y: float
    height: float
    baseline: float
    peak_text: str  # the data's highest value, in words
    axis_top: str  # the label of the panel's top gridline
    paths: dict[str, str] = field(default_factory=dict)  # accepted / failed bars
    lines: list[str] = field(default_factory=list)

    @property
    def label_y(self) -> float:
        return self.top_y - 4  # above the panel's top line: never over its data


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class FlowChart:
    width: int
    height: int
    left: int
    plot_width: float
    panels: list[Panel]
    ticks: list[Tick]
    no_data_width: float
    samples_since: datetime | None
    empty: bool
    records_peak: int = 0
    backlog_peak: int | None = None
    lag_peak: int | None = None

    @property
    def axis_y(self) -> float:
        return self.panels[-1].baseline


CHART_W, LEFT, RIGHT, PANEL_H, GAP, AXIS_H = 760, 52, 8, 80, 18, 18
# Time labels every this many bars: 6 hours of half-hour bars, a day of 4-hour bars, 5 days of 6-hour bars.
TICK_EVERY = {"24h": (12, "H:i"), "7d": (6, "D d"), "30d": (20, "M d")}


def round_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above `value` (at least 1): an axis top a reader takes in."""
    if value <= 1:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(factor * magnitude for factor in (1, 2, 2.5, 5, 10) if factor * magnitude >= value)


def _count_text(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def flow_chart(history: FlowHistory, *, range_name: str) -> FlowChart:
    """The chosen flow's chart over the range's buckets."""
    from django.utils.dateformat import format as date_format

    buckets = history.buckets
    plot_w = CHART_W - LEFT - RIGHT
    step = plot_w / max(1, len(buckets))
    records_peak = max([b.accepted + b.failed for b in buckets] + [0])
    backlogs = [b.backlog for b in buckets]
    lags = [b.lag_seconds for b in buckets]
    backlog_peak = max([v for v in backlogs if v is not None], default=None)
    lag_peak = max([v for v in lags if v is not None], default=None)

    panels = []
    for index, name in enumerate(("records", "backlog", "lag")):
        top_y = GAP + index * (PANEL_H + GAP)
        panels.append(Panel(name, top_y, PANEL_H, top_y + PANEL_H, "", ""))
    records, backlog, lag = panels

    top = round_top(records_peak)
    records.axis_top, records.peak_text = _count_text(top), f"highest bar: {plural(records_peak, 'record')}"
    records.paths["accepted"], records.paths["failed"] = _bars(
        history, left=LEFT, step=step, baseline=records.baseline, height=PANEL_H, top=top)

    top = round_top(backlog_peak or 0)
    backlog.axis_top = _count_text(top)
    backlog.peak_text = "backlog: not sampled" if backlog_peak is None else f"backlog: highest {backlog_peak:,}"
    backlog.lines = _lines(backlogs, left=LEFT, step=step, baseline=backlog.baseline, height=PANEL_H, top=top)

    minutes_top = round_top((lag_peak or 0) / 60)
    lag.axis_top = duration_text(minutes_top * 60)
    lag.peak_text = "lag: not sampled" if lag_peak is None else f"lag: highest {duration_text(lag_peak)}"
    lag.lines = _lines([None if v is None else v / 60 for v in lags], left=LEFT, step=step, baseline=lag.baseline,
                       height=PANEL_H, top=minutes_top)

    every, fmt = TICK_EVERY[range_name]
    ticks = [Tick(LEFT + i * step, date_format(timezone.localtime(bucket.start), fmt))
             for i, bucket in enumerate(buckets) if (len(buckets) - i) % every == 0]
    first = _first_sampled(history)
    return FlowChart(CHART_W, int(lag.baseline + AXIS_H), LEFT, plot_w, panels, ticks, round(first * step, 1),
                     buckets[first].start if first < len(buckets) else None, empty=first == len(buckets),
                     records_peak=records_peak, backlog_peak=backlog_peak, lag_peak=lag_peak)
