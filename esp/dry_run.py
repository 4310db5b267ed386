"""Dry run: how many records a mapping change would re-send, counted before it is saved.

Plans every record of a flow under the new mappings without writing: each new payload
hash is judged by the planner's own SQL verdict (syncapp.outbox.outbox_would_plan),
batch by batch (a range of mirror keys, and the outbox rows of the same range), so
100,000 contacts take seconds. Partners sharing an email are held or
passed over as the flow's duplicate policy and their conflict decide (not as an old
outbox row says), and a record the destination refused with this very payload (a
suppressed contact) is not re-sent.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count

from erp.models import BusinessPartner
from esp.mapping_trial import trial_for
from esp.models import FieldMapping
from exceptions.models import DuplicateEmailConflict
from syncapp.duplicates import group_decide
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.outbox import outbox_would_plan
from syncapp.planning import eligible_card_types

BATCH = 2000
SAMPLE = 10
_WAITING = {OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED}


@dataclass
class DryRunResult:
    """Counts for one flow. `resend`: the new payload differs from what the destination
    accepted (or it never accepted one); `already_waiting` of those are queued anyway;
    `changed_by_edit`: differ from the payload the saved mappings planned."""

    flow: object
    available: bool = True
    checked: int = 0
    resend: int = 0
    unchanged: int = 0
    already_waiting: int = 0
    changed_by_edit: int = 0
    failing: int = 0
    not_sent: int = 0
    held: int = 0
    # Lost to another partner sharing the email (the policy or a person's decision).
    passed_over: int = 0
    # Refused before with exactly this payload (e.g. a suppressed contact): not sent again.
    still_refused: int = 0
    seconds: float = 0.0
    sample: list[str] = field(default_factory=list)
    failing_sample: list[tuple[str, str]] = field(default_factory=list)


def mapping_dry_run(*, flow, mappings: Iterable[FieldMapping], batch_size: int = BATCH) -> DryRunResult:
    """Count what saving `mappings` would do to `flow`'s records. Writes nothing."""
    started = time.monotonic()
    result = DryRunResult(flow=flow)
    trial = trial_for(flow=flow, mappings=list(mappings))
    if trial is None:
        result.available = False
        return result
    for partners in trial.batches(batch_size):
        outcomes = trial.run(partners)
        # The batch is a range of keys: its outbox rows are one range read of the (flow, key) index.
        keys = list(partners)
        hold, skip = _duplicate_verdicts(flow, partners)
        rows = {key: (payload_hash, status) for key, payload_hash, status in
                OutboxItem.objects.filter(flow=flow, record_key__gte=keys[0], record_key__lte=keys[-1])
                .values_list("record_key", "payload_hash", "status")}
        verdicts = outbox_would_plan(flow=flow, hashes={
            key: outcome.payload_hash for key, outcome in outcomes.items()
            if outcome.sendable and key not in hold and key not in skip})
        for key, outcome in outcomes.items():
            if key in hold:
                result.checked += 1
                result.held += 1
            elif key in skip:
                result.checked += 1
                result.passed_over += 1
            else:
                _count(result, outcome, rows.get(key), verdicts.get(key))
    result.seconds = time.monotonic() - started
    return result


def _count(result: DryRunResult, outcome, row, verdict: str | None) -> None:
    result.checked += 1
    if outcome.skipped:
        result.not_sent += 1
        return
    if not outcome.sendable:
        result.failing += 1
        if len(result.failing_sample) < SAMPLE:
            result.failing_sample.append((outcome.key, outcome.problem))
        return
    payload_hash, status = row or ("", "")
    if payload_hash != outcome.payload_hash:
        result.changed_by_edit += 1
    # The planner's verdict: what the destination has costs no call, and a payload it
    # refused as it stands stays refused rather than going again.
    if verdict == "unchanged":
        result.unchanged += 1
        return
    if verdict == "still_failed":
        result.still_refused += 1
        return
    result.resend += 1
    if status in _WAITING:
        result.already_waiting += 1
    if len(result.sample) < SAMPLE:
        result.sample.append(outcome.key)


def _duplicate_verdicts(flow, partners: dict) -> tuple[set[str], set[str]]:
    """Which partners of a batch the planner would hold (waiting for a person) or pass over
    (another partner sharing the email is the contact), read-only: the groups are the
    eligible partners sharing an email, decided by the flow's policy and the conflict."""
    types = eligible_card_types(flow)
    emails = {getattr(p, "email", "").strip().lower() for p in partners.values() if p.card_type in types}
    emails.discard("")
    if not emails:
        return set(), set()
    mirror = BusinessPartner.objects.filter(connection_id=flow.connection_id, card_type__in=types)
    shared = list(mirror.filter(email_normalised__in=emails).values("email_normalised")
                  .annotate(n=Count("id")).filter(n__gt=1).values_list("email_normalised", flat=True))
    if not shared:
        return set(), set()
    groups: dict[str, list] = {}
    for member in mirror.filter(email_normalised__in=shared).only(
            "card_code", "card_type", "email_normalised", "source_updated_at"):
        groups.setdefault(member.email_normalised, []).append(member)
    conflicts = {c.email_normalised: c for c in DuplicateEmailConflict.objects.filter(
        connection_id=flow.connection_id, email_normalised__in=shared)}
    hold: set[str] = set()
    skip: set[str] = set()
    for email, members in groups.items():
        conflict = conflicts.get(email)
        if conflict is not None and sorted(conflict.card_codes) != sorted(m.card_code for m in members):
            conflict = None  # the planner records a new, open conflict for the group as it is now
        decision = group_decide(policy=flow.duplicate_policy, partners=members, conflict=conflict)
        hold.update(decision.hold)
        skip.update(decision.skip)
    return hold, skip
