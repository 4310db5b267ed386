"""Health history: a sample per flow every few minutes, kept for the longest chart (30 days).

Charts never read the outbox or the runs: each bar is one GROUP BY over the samples in
SQL (the bucket number is computed by the database from the sample's time). Samples
older than FULL_DETAIL are folded into one per flow and hour, so 30 days of a flow
are about 2,900 rows rather than 8,640.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Sum
from django.db.models.expressions import RawSQL
from django.db.models.fields import BigIntegerField
from django.db.models.functions import TruncHour
from django.utils import timezone

from .models import Flow, HealthSample

RETENTION = timedelta(days=31)  # the longest chart is 30 days
FULL_DETAIL = timedelta(days=8)  # the 24-hour and 7-day charts read samples at full detail

# Chart ranges: how far back, and how wide each bar is.
RANGES = {"24h": (timedelta(hours=24), timedelta(minutes=30)), "7d": (timedelta(days=7), timedelta(hours=4)),
          "30d": (timedelta(days=30), timedelta(hours=6))}
SPAN_TEXT = {"24h": "24 hours", "7d": "7 days", "30d": "30 days"}


def sample_minutes() -> int:
    return getattr(settings, "SYNC_HEALTH_SAMPLE_MINUTES", 5)


def health_sample_record(*, now: datetime | None = None) -> list[HealthSample]:
    """Write one sample per flow: backlog and lag now, accepted and failed since the
    flow's previous sample. Samples past RETENTION are removed, those past FULL_DETAIL folded by the hour."""
    from .health import flow_backlog, flow_lag_seconds, flow_run_counts

    now = now or timezone.now()
    samples = []
    for flow in Flow.objects.all():
        previous = (HealthSample.objects.filter(flow=flow, taken_at__lt=now).order_by("-taken_at")
                    .values_list("taken_at", flat=True).first())
        since = previous or now - timedelta(minutes=sample_minutes())
        accepted, failed = flow_run_counts(flow, since=since, until=now)
        lag = flow_lag_seconds(flow, now=now)
        samples.append(HealthSample(flow=flow, taken_at=now, backlog=flow_backlog(flow),
                                    lag_seconds=None if lag is None else int(lag), accepted=accepted, failed=failed))
    HealthSample.objects.bulk_create(samples)
    HealthSample.objects.filter(taken_at__lt=now - RETENTION).delete()
    health_samples_fold(before=now - FULL_DETAIL)
    return samples


def health_samples_fold(*, before: datetime) -> int:
    """Fold the samples of each flow and whole hour before `before` into one: accepted and
    failed summed, the highest backlog and lag kept (what the bars show). Usually one hour
    a flow crosses the line per call. Returns how many samples were folded away."""
    before = before.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = (HealthSample.objects.filter(taken_at__lt=before).annotate(hour=TruncHour("taken_at", tzinfo=UTC))
             .values("flow_id", "hour").order_by()
             .annotate(n=Count("id"), a=Sum("accepted"), f=Sum("failed"), b=Max("backlog"), lag=Max("lag_seconds"))
             .filter(n__gt=1).values_list("flow_id", "hour", "n", "a", "f", "b", "lag"))
    folded = 0
    for flow_id, hour, n, accepted, failed, backlog, lag in hours:
        with transaction.atomic():
            HealthSample.objects.filter(flow_id=flow_id, taken_at__gte=hour, taken_at__lt=hour + timedelta(hours=1)
                                        ).delete()
            HealthSample.objects.create(flow_id=flow_id, taken_at=hour, accepted=accepted, failed=failed,
                                        backlog=backlog, lag_seconds=lag)
        folded += n - 1
    return folded


@dataclass
class Bucket:
    start: datetime
    accepted: int = 0
    failed: int = 0
    backlog: int | None = None  # the highest sampled in the bucket; None when none was taken
    lag_seconds: int | None = None  # the highest sampled (0: nothing waited); None when none was taken


@dataclass
class FlowHistory:
    flow_id: int
    buckets: list[Bucket] = field(default_factory=list)
    width: timedelta = timedelta(minutes=30)


def _grid(span: timedelta, width: timedelta, now: datetime) -> tuple[datetime, int]:
    """Buckets aligned to their width (a 4-hour bar starts at 00:00, 04:00...), the last holding now."""
    seconds = width.total_seconds()
    end = datetime.fromtimestamp((now.timestamp() // seconds + 1) * seconds, tz=UTC)
    return end - span, int(span / width)


def _bucket_number(width_seconds: int) -> RawSQL:
    """The sample's bucket counted from the epoch, computed by the database."""
    column = f'"{HealthSample._meta.db_table}"."taken_at"'
    if connection.vendor == "postgresql":
        sql = f"FLOOR(EXTRACT(EPOCH FROM {column}) / %s)::bigint"
    else:  # SQLite keeps UTC text; integer division
        sql = f"CAST(strftime('%%s', {column}) AS INTEGER) / %s"
    return RawSQL(sql, [width_seconds], output_field=BigIntegerField())


def flows_history(*, flow_ids: list[int], range_name: str = "24h",
                  now: datetime | None = None) -> dict[int, FlowHistory]:
    """Samples of the range summed into bars in SQL: accepted and failed added up, the
    highest backlog and lag kept. One GROUP BY over the sample index."""
    span, width = RANGES[range_name]
    start, count = _grid(span, width, now or timezone.now())
    histories = {fid: FlowHistory(fid, [Bucket(start + i * width) for i in range(count)], width) for fid in flow_ids}
    seconds = int(width.total_seconds())
    first = int(start.timestamp()) // seconds
    rows = (HealthSample.objects.filter(flow_id__in=flow_ids, taken_at__gte=start, taken_at__lt=start + span)
            .annotate(bucket=_bucket_number(seconds)).values("flow_id", "bucket").order_by()
            .annotate(a=Sum("accepted"), f=Sum("failed"), b=Max("backlog"), lag=Max("lag_seconds"))
            .values_list("flow_id", "bucket", "a", "f", "b", "lag"))
    for flow_id, number, accepted, failed, backlog, lag in rows:
        bucket = histories[flow_id].buckets[min(count - 1, max(0, int(number) - first))]
        bucket.accepted, bucket.failed, bucket.backlog, bucket.lag_seconds = accepted, failed, backlog, lag or 0
    return histories
