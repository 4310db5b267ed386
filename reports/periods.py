"""The periods finance reports on: calendar months by default, any range on request."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Period:
    """Both ends included."""

    date_from: date
    date_to: date

    def __post_init__(self) -> None:
        if self.date_from > self.date_to:
            raise ValueError("The start date is after the end date.")

    @property
    def label(self) -> str:
        if self.date_from.day == 1 and self.date_to == month_of(self.date_from).date_to:
            return self.date_from.strftime("%B %Y")
        return f"{self.date_from:%Y-%m-%d} to {self.date_to:%Y-%m-%d}"

    @property
    def slug(self) -> str:
        return f"{self.date_from:%Y-%m-%d}_{self.date_to:%Y-%m-%d}"

    def query(self) -> str:
        return f"date_from={self.date_from:%Y-%m-%d}&date_to={self.date_to:%Y-%m-%d}"


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1))


def last_month(today: date) -> Period:
    return month_of(today.replace(day=1) - timedelta(days=1))


def month_to_date(today: date) -> Period:
    """The month of `today` up to yesterday (the nightly run's view); on the first of a
    month, the whole previous month."""
    yesterday = today - timedelta(days=1)
    return Period(yesterday.replace(day=1), yesterday)


def previous_day(today: date) -> Period:
    yesterday = today - timedelta(days=1)
    return Period(yesterday, yesterday)
