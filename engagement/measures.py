"""Each contact's engagement, read from the campaign activity the imports keep (selectors).

The touches are those of `reports.campaigns` (dotdigital's API import and Ometria's Email
Events files alike), keyed by the contact's lower-cased email. Windows are whole local
calendar days: "last 30 days" is today and the 29 days before it, as `Touch.day` counts.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from reports.campaigns.models import Touch
from reports.campaigns.touches import day_number

CHUNK = 1000
# A window count can fall to zero only for a contact whose last touch is at most this old.
LOOKBACK = timedelta(days=91)


def contacts_with_recent_activity(*, accounts: Sequence, now: datetime) -> set[str]:
    """Emails with any touch at these accounts since the look-back: the contacts whose
    values may differ from what was written (the rest are re-checked through `decays`)."""
    return set(Touch.objects.filter(campaign__account__in=accounts, occurred_at__gte=now - LOOKBACK)
               .values_list("contact_key", flat=True).distinct())


def engagement_by_email(*, accounts: Sequence, emails: Iterable[str], now: datetime) -> dict[str, dict]:
    """Email -> {last_open, last_click (local dates, ISO), opens_30, opens_90, clicks_30,
    clicks_90, last_campaign}. Emails without any touch are left out."""
    today = day_number(now)
    found: dict[str, dict] = {}
    wanted = sorted(set(emails))
    for start in range(0, len(wanted), CHUNK):
        touches = Touch.objects.filter(campaign__account__in=accounts, contact_key__in=wanted[start:start + CHUNK])
        latest = (Touch.objects.filter(campaign__account__in=accounts, contact_key=OuterRef("contact_key"))
                  .order_by("-occurred_at", "-id").values("campaign__name")[:1])
        rows = touches.values("contact_key").order_by().annotate(
            last_open=Max("occurred_at", filter=Q(kind=Touch.Kind.OPEN)),
            last_click=Max("occurred_at", filter=Q(kind=Touch.Kind.CLICK)),
            opens_30=Count("id", filter=Q(kind=Touch.Kind.OPEN, day__gt=today - 30)),
            opens_90=Count("id", filter=Q(kind=Touch.Kind.OPEN, day__gt=today - 90)),
            clicks_30=Count("id", filter=Q(kind=Touch.Kind.CLICK, day__gt=today - 30)),
            clicks_90=Count("id", filter=Q(kind=Touch.Kind.CLICK, day__gt=today - 90)),
            last_campaign=Subquery(latest))
        for row in rows:
            email = row.pop("contact_key")
            row["last_open"], row["last_click"] = _local_date(row["last_open"]), _local_date(row["last_click"])
            row["last_campaign"] = row["last_campaign"] or ""
            found[email] = row
    return found


def _local_date(moment: datetime | None) -> str | None:
    return timezone.localtime(moment).date().isoformat() if moment else None
