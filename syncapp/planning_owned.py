"""What a contact's payload may carry of the fields the destination owns (issue 15).

- Consent (a field whose name says so, esp.consent_values), whoever is configured to own it:
  - the ERP may always **withdraw** it (an opt-out at the till, a blocked customer): a
    withdrawal restricts and never overrides the destination's unsubscribe. It goes as a
    new contact's starting value, and to a contact the destination holds whenever the ERP
    changes to it, until the destination accepted it (a forced re-plan, Retry, still carries
    it); after that it is left out like any field the destination owns, so a subscription
    the contact later makes there is not undone by the ERP's old "no". A withdrawal sent to
    a held contact is recorded in the consent history, source "ERP" (consent/services.py);
  - the ERP may **grant** it (an opt-in) only as the starting value of a contact the
    destination does not hold yet, and never to a contact whose consent the destination (or
    the ERP) withdrew: no push from the ERP subscribes anyone again.
- Any other field the destination owns (its mapping's `owner`, esp.ownership) goes only with
  a contact the destination does not hold yet, and never to a contact whose consent was
  withdrawn (nor any field whose name says the destination's). Once the destination holds the
  contact (the flow has a payload it accepted), its value stands.

A record whose other fields are what the destination accepted keeps the accepted payload
as it was (left-out fields included), so it counts as unchanged and costs no call: leaving
a field out must not re-send every contact once. A forced re-plan (drift, Retry) always
sends, so it never carries a left-out field.

Set-based: two queries for a whole page of records (and one insert when the ERP withdrew
consent), none per record.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from consent.selectors import withdrawn_keys
from consent.services import erp_withdrawals_record
from esp.consent_values import WITHDRAW, consent_intent, is_consent_field
from esp.ownership import DESTINATION, default_owner, destination_owned_targets

from .bulksql import select_by_keys
from .models import OutboxItem
from .outbox import PlannedRecord


@dataclass(frozen=True)
class Held:
    """A contact the flow's destination holds: the payload it accepted (None when a newer
    payload is queued, so the accepted one is no longer stored) and the one planned last."""

    accepted: dict | None
    planned: dict


def held_payloads(*, flow, keys: list[str]) -> dict[str, Held]:
    """The contacts among `keys` the flow's destination holds, in one query."""
    rows = select_by_keys(OutboxItem, ["record_key", "payload", "payload_hash", "accepted_hash"], key="record_key",
                          keys=keys, where={"flow": flow.pk})  # an index probe per key, whatever the statistics
    return {key: Held(accepted=payload if payload_hash == accepted else None, planned=payload)
            for key, payload, payload_hash, accepted in rows if accepted}


def _withdraws(payload: Mapping[str, Any], name: str) -> bool:
    return consent_intent(payload.get(name)) == WITHDRAW


def _withdrawal_to_send(before: Held, name: str, *, withdrawn: bool) -> bool:
    """Whether the ERP's withdrawal in field `name` goes to a contact the destination holds:
    until the destination accepted it (a Retry or re-plan still carries it), and never again
    after, so a later subscription the contact makes there is not undone by the ERP's old no."""
    if _withdraws(before.planned, name):
        return before.accepted is None  # queued or refused: not delivered yet
    if name not in before.planned:  # left out before: a grant, or a withdrawal delivered (then withdrawn)
        return not withdrawn
    return True  # the ERP changed its mind: a new withdrawal


def owned_fields_strip(*, flow, mappings, planned: list[PlannedRecord], force: bool = False,
                       partners: Mapping[str, Any] | None = None, record_withdrawals: bool = True) -> None:
    """Leave out, in place, what each planned payload may not carry (see the module).
    `partners` (by key) date an ERP withdrawal by the ERP record's change; a preview or dry
    run, which writes nothing, passes `record_withdrawals=False`."""
    if not planned:
        return
    keys = [record.key for record in planned]
    withdrawn = withdrawn_keys(flow=flow, keys=keys)
    owned = destination_owned_targets(mappings)
    consent = frozenset(m.target_field for m in mappings if is_consent_field(m.target_field))
    if not owned and not consent and not withdrawn:
        return
    held = held_payloads(flow=flow, keys=keys)
    if not held and not withdrawn:
        return  # new contacts, none withdrawn: each takes every starting value (a pull of new partners)
    newly_withdrawn: dict[str, Any] = {}
    for record in planned:
        payload, before = record.payload, held.get(record.key)
        starting = before is None and record.key not in withdrawn  # the destination takes its starting values
        leave_out = []
        for name in payload:
            if is_consent_field(name):
                if not _withdraws(payload, name):
                    keep = starting
                elif before is None:
                    keep = True  # a new contact starts without consent
                else:
                    keep = _withdrawal_to_send(before, name, withdrawn=record.key in withdrawn)
                    if keep and not _withdraws(before.planned, name):
                        newly_withdrawn[record.key] = _changed_at(partners, record.key)
            elif name in owned:
                keep = starting
            else:
                keep = record.key not in withdrawn or default_owner(name) != DESTINATION
            if not keep:
                leave_out.append(name)
        accepted = before.accepted if before is not None else None
        if not force and accepted is not None and {**payload, **{n: accepted.get(n) for n in leave_out}} == accepted:
            payload.update({name: accepted[name] for name in leave_out})  # as accepted: unchanged, no call
            continue
        for name in leave_out:
            del payload[name]
    if record_withdrawals:
        erp_withdrawals_record(flow=flow, withdrawn_at=newly_withdrawn)


def _changed_at(partners: Mapping[str, Any] | None, key: str):
    return getattr((partners or {}).get(key), "source_updated_at", None) or timezone.now()
