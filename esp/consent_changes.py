"""Consent withdrawn at a destination, in the hub's words: what a destination adapter's
`consent_changes_since(since)` returns, whatever its vendor calls it (consent/ records it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

UNSUBSCRIBED = "unsubscribed"
SUPPRESSED = "suppressed"
HARD_BOUNCED = "hard_bounced"
COMPLAINED = "complained"
STATUSES = {UNSUBSCRIBED: "Unsubscribed", SUPPRESSED: "Suppressed", HARD_BOUNCED: "Hard bounced",
            COMPLAINED: "Complained"}


@dataclass(frozen=True)
class ConsentChange:
    """One contact's consent withdrawn at the destination: `email` as the destination holds
    it (used to find the Business Partner, never stored), `status` one of STATUSES, `reason`
    the vendor's own word, `occurred_at` when the destination says it happened."""

    email: str
    status: str
    reason: str
    occurred_at: datetime
