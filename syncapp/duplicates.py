"""Duplicate emails: which of several partners sharing one email becomes the contact.

Emails are compared trimmed and case-insensitively (the mirror's `email_normalised`).
A policy decides; every group is recorded as a conflict a person can see, and under
the default policy nothing in the group is sent until a person resolves it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from exceptions.models import DuplicateEmailConflict
from syncapp.models import DuplicateEmailPolicy


@dataclass
class GroupDecision:
    """`send` maps the card code that becomes the contact to the codes it carries;
    `hold` are waiting for a person; `skip` lost to another record by policy."""

    send: dict[str, list[str]] = field(default_factory=dict)
    hold: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)


def _most_recent(partners):
    return max(partners, key=lambda p: (p.source_updated_at is not None, p.source_updated_at, p.card_code))


def _automatic_winner(policy: str, partners):
    if policy == DuplicateEmailPolicy.PREFER_CUSTOMER:
        customers = [p for p in partners if p.card_type == "customer"]
        return _most_recent(customers or partners)
    return _most_recent(partners)


def group_decide(*, policy: str, partners: list, conflict: DuplicateEmailConflict | None) -> GroupDecision:
    """Decide one group of two or more partners sharing an email."""
    codes = sorted(p.card_code for p in partners)
    decision = GroupDecision()
    if conflict is not None and conflict.status == DuplicateEmailConflict.Status.RESOLVED \
            and sorted(conflict.card_codes) == codes:
        resolution = conflict.resolution
        if resolution == DuplicateEmailConflict.Resolution.REJECT:
            decision.skip = codes
            return decision
        if resolution == DuplicateEmailConflict.Resolution.MERGE:
            lead = _most_recent(partners).card_code
            decision.send[lead] = codes
            decision.skip = [c for c in codes if c != lead]
            return decision
        winner = conflict.winner_card_code
        if winner in codes:
            decision.send[winner] = [winner]
            decision.skip = [c for c in codes if c != winner]
            return decision
    if policy == DuplicateEmailPolicy.REJECT_ALL:
        decision.hold = codes
    elif policy == DuplicateEmailPolicy.MERGE:
        lead = _most_recent(partners).card_code
        decision.send[lead] = codes
        decision.skip = [c for c in codes if c != lead]
    else:
        winner = _automatic_winner(policy, partners).card_code
        decision.send[winner] = [winner]
        decision.skip = [c for c in codes if c != winner]
    return decision
