"""Comparing what the hub sent with what a destination holds, field by field.

Destinations hand values back in their own spelling: a number sent as 3 may come back
3.0 or "3", a date "2026-01-31" as "2026-01-31T00:00:00Z", a yes/no as "true", an
emptied field as "" or missing. Such differences are not drift; only a different value
is. Fields the destination does not show when read back are not compared at all.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_TRUE, _FALSE = {"true", "yes", "y", "1", "t"}, {"false", "no", "n", "0", "f"}


@dataclass(frozen=True)
class FieldDrift:
    """One field whose destination value differs from the one last sent."""

    field: str
    sent: Any
    found: Any
    owner: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "sent": self.sent, "found": self.found, "owner": self.owner}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _moment(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _same_date(sent: str, found: str) -> bool | None:
    """Dates compare by day when either side is a bare date, else as instants."""
    if not (_DATE.match(sent) or _DATETIME.match(sent)) or not (_DATE.match(found) or _DATETIME.match(found)):
        return None
    if _DATE.match(sent) or _DATE.match(found):
        return sent[:10] == found[:10]
    first, second = _moment(sent), _moment(found)
    if first is None or second is None or (first.tzinfo is None) != (second.tzinfo is None):
        return None
    return first == second


def values_equal(sent: Any, found: Any) -> bool:
    """Whether the destination holds the value sent, allowing for its own spelling."""
    if _empty(sent) or _empty(found):
        return _empty(sent) and _empty(found)
    if isinstance(sent, bool) or isinstance(found, bool):
        return _boolean(sent) is not None and _boolean(sent) == _boolean(found)
    if isinstance(sent, (dict, list)) or isinstance(found, (dict, list)):
        return json.dumps(sent, sort_keys=True, default=str) == json.dumps(found, sort_keys=True, default=str)
    if isinstance(sent, (int, float, Decimal)) or isinstance(found, (int, float, Decimal)):
        # A number on one side at least: 3, 3.0 and "3.00" agree ("007" and "7" as text do not).
        first, second = _number(sent), _number(found)
        if first is not None and second is not None:
            return first == second
    if isinstance(sent, str) and isinstance(found, str):
        same_day = _same_date(sent.strip(), found.strip())
        if same_day is not None:
            return same_day
    return str(sent).strip() == str(found).strip()


def record_drift(*, sent: Mapping[str, Any], found: Mapping[str, Any],
                 owner_of: Callable[[str], str]) -> list[FieldDrift]:
    """The fields of `sent` whose value in `found` differs; fields `found` lacks (the
    destination does not show them) are not compared."""
    return [FieldDrift(name, value, found[name], owner_of(name)) for name, value in sent.items()
            if name in found and not values_equal(value, found[name])]
