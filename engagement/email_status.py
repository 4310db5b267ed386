"""A contact's email status for the write-back: subscribed, unsubscribed, suppressed or bounced.

The one place the status comes from. Consent read back from the destinations (consent/,
issue 15 part 3) is its source: a partner with consent withdrawn at any of the
connection's destinations takes the latest such change (a hard bounce is "bounced", a
complaint "suppressed"). Beside it, the hub knows a contact the destination refused as
suppressed when the hub last sent it (an open or ignored `contact_suppressed` exception
on the connection's customers flows). Every other contact with campaign activity was
sent campaigns, so it is written as subscribed.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

SUBSCRIBED, UNSUBSCRIBED, SUPPRESSED, BOUNCED = "subscribed", "unsubscribed", "suppressed", "bounced"
STATUSES = (SUBSCRIBED, UNSUBSCRIBED, SUPPRESSED, BOUNCED)


def email_statuses(*, connection, card_codes: Iterable[str]) -> dict[str, str]:
    """CardCode -> status, for each given Business Partner."""
    codes = list(card_codes)
    statuses = dict.fromkeys(codes, SUBSCRIBED)
    statuses.update(_refused_as_suppressed(connection=connection, card_codes=codes))
    statuses.update(_consent_statuses(connection=connection, card_codes=codes))
    return statuses


# consent/'s words (esp.consent_changes) in the write-back's.
_FROM_CONSENT = {"unsubscribed": UNSUBSCRIBED, "suppressed": SUPPRESSED, "hard_bounced": BOUNCED,
                 "complained": SUPPRESSED}


def consent_changed_since(*, connection, since: datetime | None) -> list[str]:
    """CardCodes whose consent read-back changed since `since` (all of them when None):
    their status may differ from what was written even without new campaign activity."""
    from consent.models import ConsentState

    states = ConsentState.objects.filter(connection=connection)
    if since is not None:
        states = states.filter(recorded_at__gte=since)
    return list(states.values_list("card_code", flat=True).distinct())


def _consent_statuses(*, connection, card_codes: list[str]) -> dict[str, str]:
    """CardCode -> status from the consent read back from the destinations: the latest
    withdrawal at any destination wins."""
    from consent.models import ConsentState

    found: dict[str, str] = {}
    for start in range(0, len(card_codes), 1000):
        rows = (ConsentState.objects.filter(connection=connection, card_code__in=card_codes[start:start + 1000])
                .order_by("changed_at", "id").values_list("card_code", "status"))
        found.update({code: _FROM_CONSENT.get(status, SUPPRESSED) for code, status in rows})
    return found


def _refused_as_suppressed(*, connection, card_codes: list[str]) -> dict[str, str]:
    from exceptions.models import SyncException

    found: dict[str, str] = {}
    for start in range(0, len(card_codes), 1000):
        found.update(dict.fromkeys(SyncException.objects.filter(
            connection=connection, flow__entity="customers", reason_code="contact_suppressed",
            record_key__in=card_codes[start:start + 1000],
            status__in=[SyncException.Status.OPEN, SyncException.Status.RETRYING, SyncException.Status.IGNORED],
        ).values_list("record_key", flat=True), SUPPRESSED))
    return found
