"""How the record page shows values: the bad value first, readable structures, one
number and date format, email by role, and links to related exceptions.

The email rule (README, "Who sees an email address"): people who fix records (marketing,
integration admin) see a record's email in full on the page and through the API alike;
everyone else (finance, the web shop's user) sees it masked, page and API alike. Stored
error texts (what happened, the destination's answer) are masked for everyone, because
they are stored and logged.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from syncapp.logging import redact_json
from syncapp.roles import user_can

from .models import SyncException

DATETIME_FORMAT = "%Y-%m-%d %H:%M"  # one format for every date and time on the page (and DATE_FORMAT's prefix)
DATE_FORMAT = "%Y-%m-%d"

# Which source field holds the value a reason complains about (label as the mirror names it).
BAD_FIELD = {
    "missing_email": "Email",
    "invalid_email": "Email",
    "duplicate_email": "Email",
    "contact_suppressed": "Email",
    "waiting_for_customer": "Card code",
    "unknown_customer": "Card code",
    "total_mismatch": "Doc total",
}


def email_in_full(user) -> bool:
    """Whether this person sees email addresses in full (see the module's rule)."""
    return user_can(user, "act_on_exceptions")


def for_viewer(value: Any, user) -> Any:
    return value if email_in_full(user) else redact_json(value)


def readable(value: Any) -> str:
    """A value as a person reads it: amounts without trailing zeros (at least two decimals
    when there is a fraction), dates in one format, structures as "name: value" lines."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return amount(value)
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime(DATETIME_FORMAT) if timezone.is_aware(value) \
            else value.strftime(DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, dict):
        return "\n".join(f"{key}: {readable(item)}" for key, item in value.items() if item not in (None, "", [], {}))
    if isinstance(value, list | tuple):
        return "\n".join(_one_line(item) for item in value)
    return str(value)


def _one_line(item: Any) -> str:
    """One address (or other structure in a list) on one line: its kind first, then the parts."""
    if isinstance(item, dict):
        kind = item.get("type") or item.get("address_type") or item.get("name") or ""
        parts = [readable(v) for k, v in item.items() if v not in (None, "", [], {}) and v != kind]
        return (f"{kind}: " if kind else "") + ", ".join(parts)
    return readable(item)


def amount(value: Decimal) -> str:
    """231.960000 -> 231.96, 2.000000 -> 2, 10.5 -> 10.50."""
    value = value.normalize()
    if value == value.to_integral_value():
        return f"{value.to_integral_value():f}"
    places = max(2, -value.as_tuple().exponent)
    return f"{value:.{places}f}"


def source_rows(fields: dict, *, reason_code: str, user) -> list[tuple[str, str, bool]]:
    """(label, readable value, is the bad value) per source field, the bad one first."""
    bad = BAD_FIELD.get(reason_code)
    rows = [(label, readable(for_viewer(value, user)), label == bad) for label, value in fields.items()]
    return sorted(rows, key=lambda row: not row[2])


def related_exceptions(exception: SyncException) -> list[tuple[str, SyncException]]:
    """Exceptions this one depends on: the order a dispatch signal belongs to, and the
    customer an order (or its dispatch signal) waits for; what still needs someone first."""
    if exception.entity not in ("orders", "dispatch_events"):
        return []
    from erp.documents import SalesOrder

    head = exception.record_key.split(":", 1)[0]
    if not head.isdigit():
        return []
    order = (SalesOrder.objects.filter(connection_id=exception.connection_id, doc_entry=int(head))
             .values("card_code", "doc_num").first()) or {}
    related = []
    if exception.entity == "dispatch_events":
        related += [(f"Order {order.get('doc_num') or head}", other) for other in _newest_first(
            SyncException.objects.filter(connection_id=exception.connection_id, entity="orders", record_key=head))]
    card_code = order.get("card_code")
    if card_code:
        related += [(f"Customer {card_code}", other) for other in _newest_first(
            SyncException.objects.filter(connection_id=exception.connection_id, record_key=card_code,
                                         entity__in=("customers", "business_partners")))]
    return related


def _newest_first(queryset) -> list[SyncException]:
    found = list(queryset.order_by("-last_seen")[:5])
    active = (SyncException.Status.OPEN, SyncException.Status.RETRYING)
    found.sort(key=lambda other: other.status not in active)  # what still needs someone first
    return found
