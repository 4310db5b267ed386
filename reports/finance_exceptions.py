"""The exceptions finance owns, counted by reason for the reconciliation page."""
from __future__ import annotations

from django.db.models import Count

from exceptions.models import SyncException, Team
from exceptions.reasons import reason_for

# The order checks finance answers for, listed first even when none is open.
FINANCE_REASONS = ("total_mismatch", "unknown_customer", "unknown_item")


def finance_open_exceptions() -> list[tuple[str, str, int]]:
    """Open exceptions finance owns: (reason code, title, count), the three order checks first."""
    grouped = (SyncException.objects.filter(owner_team=Team.FINANCE, status=SyncException.Status.OPEN)
               .values("reason_code").order_by().annotate(n=Count("id")))
    counts = {group["reason_code"]: group["n"] for group in grouped}
    ordered = [(reason, counts.pop(reason, 0)) for reason in FINANCE_REASONS] + sorted(counts.items())
    return [(reason, reason_for(reason).title, count) for reason, count in ordered]
