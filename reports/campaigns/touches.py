"""Turning one vendor row into a Touch, and storing pages of them without duplicates."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from django.utils import timezone

from esp.dotdigital.client import mask_emails

from .models import ActivityImport, Campaign, RefusedRow, Touch

EPOCH = date(1970, 1, 1)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RowRefused(ValueError):
    """A row that cannot become a touch; the message says why, for a person."""


def contact_key(email: object) -> str:
    """The email as orders meet it (the business partner's normalised email)."""
    value = str(email or "").strip().lower()
    if not value:
        raise RowRefused("The row has no email address.")
    if not EMAIL.match(value):
        raise RowRefused(f"'{mask_emails(value)}' is not an email address.")
    return value


def day_number(moment: datetime) -> int:
    """The moment's calendar day in the hub's time zone, as days since 1970-01-01."""
    return (timezone.localtime(moment).date() - EPOCH).days


def touch(campaign: Campaign, kind: str, email: object, moment: datetime | None, *, contact_id: object = "",
          url: object = "") -> Touch:
    if moment is None:
        raise RowRefused(f"The {Touch.Kind(kind).label.lower()} row has no readable date.")
    return Touch(campaign=campaign, kind=kind, contact_key=contact_key(email), occurred_at=moment,
                 day=day_number(moment), contact_id=str(contact_id or "")[:50], url=str(url or "")[:1000])


def touches_store(touches: Sequence[Touch]) -> int:
    """Insert the touches not already held; returns how many were new."""
    if not touches:
        return 0
    campaign_ids = {t.campaign_id for t in touches}
    before = Touch.objects.filter(campaign_id__in=campaign_ids).count()
    Touch.objects.bulk_create(touches, ignore_conflicts=True, batch_size=1000)
    return Touch.objects.filter(campaign_id__in=campaign_ids).count() - before


def row_refuse(activity_import: ActivityImport, row_number: int, reason: str, excerpt: object = "") -> None:
    """Keep a refused row with its reason (emails masked) and count it."""
    RefusedRow.objects.create(activity_import=activity_import, row_number=row_number, reason=reason[:500],
                              row_excerpt=mask_emails(str(excerpt))[:500])
    activity_import.rows_refused += 1


def audience_refresh(campaign_ids: Iterable[int]) -> None:
    """Count each campaign's contacts who clicked and who were sent it, after an import
    added touches: the report then reads two numbers instead of scanning every touch."""
    for campaign_id in set(campaign_ids):
        touches = Touch.objects.filter(campaign_id=campaign_id)
        Campaign.objects.filter(pk=campaign_id).update(
            contacts_clicked=touches.filter(kind=Touch.Kind.CLICK).values("contact_key").distinct().count(),
            contacts_with_send=touches.filter(kind=Touch.Kind.SEND).values("contact_key").distinct().count())
