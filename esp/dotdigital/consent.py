"""Contacts whose consent dotdigital withdrew: `GET /v2/contacts/suppressed-since/{date}`
(contract: v2 swagger, ApiContact_GetSuppressedContacts), paged by `select`/`skip`, each row
an ApiContactSuppression `{suppressedContact: {email, ...}, dateRemoved, reason}` where
`reason` is a v2 contact status. dotdigital keeps unsubscribes, hard bounces and complaints
on one suppression list, so this one list covers them all (`unsubscribed-since` would list
the unsubscribes a second time).
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from esp.consent_changes import COMPLAINED, HARD_BOUNCED, SUPPRESSED, UNSUBSCRIBED, ConsentChange

from .campaigns import CampaignReports, parse_date, path_date
from .client import DotdigitalClient

# v2 ApiContactStatuses -> the hub's word. Subscribed and PendingOptIn are no withdrawal;
# a soft bounce is not one either (dotdigital retries it).
_STATUSES = {"unsubscribed": UNSUBSCRIBED, "hardbounced": HARD_BOUNCED, "ispcomplained": COMPLAINED,
             "directcomplaint": COMPLAINED}
_NOT_WITHDRAWN = {"subscribed", "pendingoptin", "softbounced", ""}


def suppressions_since(client: DotdigitalClient, since: datetime) -> Iterator[ConsentChange]:
    """Every suppression dotdigital lists from `since` on, oldest page first."""
    pages = CampaignReports(client).pages(f"/v2/contacts/suppressed-since/{path_date(since)}")
    for page in pages:
        for row in page.rows:
            change = _change(row)
            if change is not None:
                yield change


def _change(row: dict) -> ConsentChange | None:
    contact = row.get("suppressedContact") or {}
    email = str(contact.get("email") or "").strip()
    reason = str(row.get("reason") or contact.get("status") or "")
    occurred = parse_date(row.get("dateRemoved"))
    if not email or occurred is None or reason.lower() in _NOT_WITHDRAWN:
        return None
    return ConsentChange(email=email, status=_STATUSES.get(reason.lower(), SUPPRESSED), reason=reason,
                         occurred_at=occurred)
