"""How many records the daily sample reads back, and how many are due by this hour."""
from __future__ import annotations

from datetime import datetime
from math import ceil


def daily_sample_size(*, records: int, percent: float, minimum: int) -> int:
    """`percent` of the flow's sent records, at least `minimum`, never more than it has."""
    return min(records, max(minimum, ceil(records * percent / 100)))


def sample_due_now(*, daily: int, done_today: int, local_now: datetime) -> int:
    """Records to check in this hour's run: by the end of hour h (0-23) of the local day,
    (h + 1) / 24 of the day's sample is due, so a run missed (or paused for pushes) is
    made up by the next, and the last run of the day completes it."""
    due = ceil(daily * (local_now.hour + 1) / 24)
    return max(0, min(daily, due) - done_today)
