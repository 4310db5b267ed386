"""Off-peak windows: routine bulk work (a backfill, a mapping change re-sending every
contact) may be held to configured hours per destination; time-sensitive records and
routine updates always go.

A destination's `bulk_hours` is "HH:MM-HH:MM" in the hub's time zone (TIME_ZONE); a window
may pass midnight ("22:00-06:00"). Empty means any time. Outside the window the destination's
rows planned at backfill priority stay pending, and are counted as waiting for their window
rather than as lag.
"""
from __future__ import annotations

import re
from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.utils import timezone

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def bulk_hours_parse(text: str) -> tuple[time, time] | None:
    """("22:00-06:00") -> (22:00, 06:00); "" -> None; anything else raises ValidationError."""
    text = (text or "").strip()
    if not text:
        return None
    found = _HOURS.match(text)
    if not found:
        raise ValidationError('Write the hours as "HH:MM-HH:MM", for example 22:00-06:00.')
    start, end = time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4]))
    if start == end:
        raise ValidationError("The window starts and ends at the same time; leave it empty for any time.")
    return start, end


def validate_bulk_hours(text: str) -> None:
    bulk_hours_parse(text)


def bulk_allowed(account, now: datetime | None = None) -> bool:
    """May this destination's bulk rows go out now?"""
    window = bulk_hours_parse(getattr(account, "bulk_hours", ""))
    if window is None:
        return True
    start, end = window
    moment = timezone.localtime(now or timezone.now()).time()
    return start <= moment < end if start < end else moment >= start or moment < end
