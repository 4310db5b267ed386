"""Contacts who unsubscribed at Ometria: `GET /v2/unsubscribes?since=&before=` (contract
esp-apis.md 2.5, OM-UNSUB) -> `[{email_address, profile_id, reason, timestamp, type}]`, type
one of preferences_centre, app, list_unsubscribe, link_unsubscribe (SMS stop words too,
not email consent, so skipped).

What Ometria does not document, the hub cannot read: hard bounces and suppressions have no
REST endpoint (engagement is a self-serve S3 export), unsubscribes made through the API are
not listed (the hub's own opt-outs, which it knows), and no paging is documented: the answer
is read as one list.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from esp.consent_changes import UNSUBSCRIBED, ConsentChange

from .client import OmetriaClient

EMAIL_TYPES = {"preferences_centre", "app", "list_unsubscribe", "link_unsubscribe"}


def unsubscribes_since(client: OmetriaClient, since: datetime) -> Iterator[ConsentChange]:
    for row in client.unsubscribes(since=_stamp(since)):
        kind = str(row.get("type") or "")
        email = str(row.get("email_address") or "").strip()
        occurred = _moment(row.get("timestamp"))
        if kind in EMAIL_TYPES and email and occurred is not None:
            yield ConsentChange(email=email, status=UNSUBSCRIBED, reason=str(row.get("reason") or kind),
                                occurred_at=occurred)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _moment(value) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
