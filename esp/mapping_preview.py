"""Preview one record under a mapping set: the payload planning would send, and how it
differs, field by field, from what the destination last accepted.

The outbox keeps one payload per record: the accepted one while nothing newer is
queued (payload_hash == accepted_hash). Once a newer payload is queued only the hash of
the accepted one is known, and the preview says so instead of guessing.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from esp.mapping_trial import RecordOutcome, trial_for
from esp.models import FieldMapping
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.outbox import outbox_would_plan

ADDED, CHANGED, REMOVED, SAME = "added", "changed", "removed", "same"
KEPT = "kept"  # mapped but not sent: the destination's value stands (consent, destination-owned)
_QUEUED = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED)


@dataclass(frozen=True)
class FieldDiff:
    field: str
    kind: str  # added | changed | removed | same | kept
    before: Any = None
    after: Any = None


@dataclass
class PayloadPreview:
    """`accepted_known`: the accepted payload is at hand (`accepted`), so `diff` is field
    by field; otherwise `accepted_note` says why not. `would_send`: planning would send
    the new payload (the planner's own verdict); `reason` says why, or why not."""

    key: str
    found: bool = True
    message: str = ""
    outcome: RecordOutcome | None = None
    accepted: dict | None = None
    accepted_identifier: str = ""
    accepted_known: bool = False
    accepted_note: str = ""
    would_send: bool = False
    reason: str = ""
    diff: list[FieldDiff] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {ADDED: 0, CHANGED: 0, REMOVED: 0}
        for item in self.diff:
            if item.kind in counts:
                counts[item.kind] += 1
        return counts


def payload_diff(before: dict | None, after: dict | None, kept: tuple[str, ...] = ()) -> list[FieldDiff]:
    """Every field of either payload, in the new payload's order, then the removed ones;
    a field in `kept` is not removed but left as the destination holds it."""
    before, after = before or {}, after or {}
    diff = []
    for name, value in after.items():
        if name not in before:
            diff.append(FieldDiff(name, ADDED, None, value))
        else:
            diff.append(FieldDiff(name, SAME if before[name] == value else CHANGED, before[name], value))
    diff.extend(FieldDiff(name, KEPT if name in kept else REMOVED, value, None)
                for name, value in before.items() if name not in after)
    return diff


def _accepted(row: OutboxItem | None) -> tuple[dict | None, str, bool, str]:
    """(payload, identifier, known, note) of what the destination last accepted."""
    if row is None or not row.accepted_hash:
        return None, "", True, "The destination has not accepted this record yet: every field would be new."
    if row.payload_hash == row.accepted_hash:
        return row.payload, row.identifier, True, ""
    return None, "", False, (
        f"The destination accepted an earlier payload, but a newer one is queued (status: "
        f"{row.get_status_display()}), and the hub keeps only the accepted payload's hash. "
        "Field-by-field differences cannot be shown; the queued payload is compared instead.")


def payload_preview(*, flow, mappings: Iterable[FieldMapping], key: str) -> PayloadPreview:
    """What `mappings` (saved or not) would make of record `key` in `flow`. Writes nothing;
    raises MappingConfigError for mappings that cannot run (forms validate them first)."""
    trial = trial_for(flow=flow, mappings=mappings)
    if trial is None:
        return PayloadPreview(key, found=False, message=f"Preview is not available for {flow.entity} yet.")
    record = trial.load(key)
    if record is None:
        return PayloadPreview(key, found=False,
                              message=f"No record with {trial.key_label} {key!r} in {flow.connection}.")
    outcome = trial.run({key: record})[key]
    row = OutboxItem.objects.filter(flow=flow, record_key=key).first()
    accepted, identifier, known, note = _accepted(row)
    preview = PayloadPreview(key, outcome=outcome, accepted=accepted, accepted_identifier=identifier,
                             accepted_known=known, accepted_note=note)
    if not outcome.sendable:
        return preview
    verdict = outbox_would_plan(flow=flow, hashes={key: outcome.payload_hash})[key]
    preview.would_send = verdict == "queued"
    preview.reason = _reason(verdict, row, outcome.payload_hash)
    preview.diff = payload_diff(accepted if known else row.payload, outcome.payload, outcome.left_out)
    return preview


def _reason(verdict: str, row: OutboxItem | None, payload_hash: str) -> str:
    """Why planning would send the payload (hash `payload_hash`) or not, for a person."""
    if verdict == "unchanged":
        return "the destination already accepted exactly this payload"
    if verdict == "still_failed":
        return ("the destination refused exactly this payload before (see the record's exception); "
                "it goes again only when someone retries it")
    if row is not None and row.payload_hash == payload_hash and row.status in _QUEUED:
        return "exactly this payload is already queued"
    if row is not None and row.accepted_hash == payload_hash:
        return ("the destination last accepted exactly this payload, but another one has been sent since "
                "and its answer is not recorded, so this one goes again to be sure")
    return "it differs from what the destination last accepted"
