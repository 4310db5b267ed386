"""Reading consent back from the destinations and recording it against Business Partners.

`consent_read_back` asks one destination for the consent withdrawn since its last read
(less an overlap), through the adapter's `consent_changes_since` and the account's shared
token bucket, and `consent_changes_record` files each change under every Business Partner
holding that address in a connection that sends to the destination. The addresses are used
to find partners and are not stored. A partner whose consent is recorded is planned again at
once, so a contact queued with an opt-in before the read-back goes without it.

`erp_withdrawals_record` files the consent the ERP withdrew (an opt-out at the till), as the
planner sends it (syncapp/planning_owned.py): Ometria does not list opt-outs made through its
API, so the hub keeps its own word for them.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from erp.models import BusinessPartner
from esp.consent_changes import UNSUBSCRIBED, ConsentChange
from syncapp.adapters import HubFault, TransportError
from syncapp.logging import redact_text
from syncapp.models import Flow

from .models import ConsentEvent, ConsentReadBack, ConsentState

log = logging.getLogger(__name__)

OVERLAP = timedelta(hours=1)  # changes a destination records a little late are read again, not missed
FIRST_READ = timedelta(days=30)
SOURCES = {"dotdigital": "dotdigital suppressed contacts", "ometria": "Ometria unsubscribes"}
ERP_SOURCE = "ERP"
ERP_REASON = "Withdrawn in the ERP"


class ConsentReadUnsupported(Exception):
    """The destination's adapter cannot read consent back."""


def consent_changes_record(*, destination, changes: Iterable[ConsentChange], source: str) -> tuple[int, int]:
    """File `changes` against the Business Partners holding each address: (changes recorded
    for a partner, changes for addresses no partner holds). Idempotent: a change read twice
    is one event, and a state moves only to a newer change."""
    changes = list(changes)
    flows = list(Flow.objects.filter(destination=destination, entity="customers"))
    by_email: dict[str, list[tuple[int, str]]] = defaultdict(list)
    emails = {change.email.strip().lower() for change in changes}
    for connection_id, code, email in BusinessPartner.objects.filter(
            connection_id__in={flow.connection_id for flow in flows}, email_normalised__in=emails).values_list(
            "connection_id", "card_code", "email_normalised"):
        by_email[email].append((connection_id, code))
    events, latest = [], {}
    unknown = 0
    for change in changes:
        partners = by_email.get(change.email.strip().lower())
        if not partners:
            unknown += 1
            continue
        for connection_id, code in partners:
            events.append(ConsentEvent(connection_id=connection_id, card_code=code, destination=destination,
                                       status=change.status, reason=change.reason[:100], source=source,
                                       occurred_at=change.occurred_at))
            current = latest.get((connection_id, code))
            if current is None or change.occurred_at >= current.occurred_at:
                latest[(connection_id, code)] = change
    with transaction.atomic():
        ConsentEvent.objects.bulk_create(events, ignore_conflicts=True)
        _states_move(destination, latest)
    for flow in flows:  # after commit: the planner reads the states just written
        keys = [code for connection_id, code in latest if connection_id == flow.connection_id]
        if keys and flow.enabled:
            transaction.on_commit(lambda flow=flow, keys=keys: _replan(flow, keys))
    return len(changes) - unknown, unknown


def _states_move(destination, latest: dict[tuple[int, str], ConsentChange]) -> None:
    codes = {code for _, code in latest}
    existing = {(s.connection_id, s.card_code): s for s in ConsentState.objects.filter(
        destination=destination, card_code__in=codes)}
    new, moved = [], []
    for (connection_id, code), change in latest.items():
        state = existing.get((connection_id, code))
        if state is None:
            new.append(ConsentState(connection_id=connection_id, card_code=code, destination=destination,
                                    status=change.status, reason=change.reason[:100], changed_at=change.occurred_at))
        elif change.occurred_at > state.changed_at:
            state.status, state.reason, state.changed_at = change.status, change.reason[:100], change.occurred_at
            state.recorded_at = timezone.now()
            moved.append(state)
    ConsentState.objects.bulk_create(new, ignore_conflicts=True)
    ConsentState.objects.bulk_update(moved, ["status", "reason", "changed_at", "recorded_at"])


def erp_withdrawals_record(*, flow, withdrawn_at: dict[str, datetime]) -> None:
    """Record that the ERP withdrew consent for the flow's keys (CardCodes) at the flow's
    destination, each at the time the ERP changed it: an event with source "ERP", and a state
    unless the destination reported one already (its own word stands). The planner calls it for
    a page of records at once, only for a withdrawal it is about to send for the first time."""
    if not withdrawn_at:
        return
    rows = [dict(connection_id=flow.connection_id, card_code=key, destination_id=flow.destination_id,
                 status=UNSUBSCRIBED, reason=ERP_REASON) for key in withdrawn_at]
    ConsentEvent.objects.bulk_create([ConsentEvent(**row, source=ERP_SOURCE, occurred_at=withdrawn_at[row["card_code"]])
                                      for row in rows], ignore_conflicts=True)
    ConsentState.objects.bulk_create([ConsentState(**row, changed_at=withdrawn_at[row["card_code"]]) for row in rows],
                                     ignore_conflicts=True)


def _replan(flow: Flow, keys: list[str]) -> None:
    from syncapp.services import records_replan

    records_replan(flow=flow, record_keys=keys)


def consent_read_back(*, destination, adapter=None, now: datetime | None = None) -> ConsentReadBack:
    """Read the consent `destination` withdrew since its last read and record it. A vendor's
    or the hub's failure is kept on the read-back row (and logged, redacted); the next run
    starts from the same place. Raises ConsentReadUnsupported for a destination that cannot say."""
    now = now or timezone.now()
    cursor, _ = ConsentReadBack.objects.get_or_create(destination=destination)
    if adapter is None:
        from syncapp.pushing import adapter_for_account

        adapter = adapter_for_account(destination)
    reader = getattr(adapter, "consent_changes_since", None)
    if reader is None:
        raise ConsentReadUnsupported(f"{destination.kind} cannot read consent back.")
    since = cursor.read_until - OVERLAP if cursor.read_until else now - FIRST_READ
    cursor.last_run_at = now
    try:
        changes = reader(since)
    except (TransportError, HubFault) as error:
        cursor.last_error = redact_text(f"{destination.kind} answered: {error}")[:2000]
        cursor.save()
        log.warning("Consent read-back of %s failed: %s", destination.name, cursor.last_error)
        return cursor
    recorded, unknown = consent_changes_record(destination=destination, changes=changes,
                                               source=SOURCES.get(destination.kind, destination.kind))
    cursor.read_until, cursor.changes, cursor.unknown, cursor.last_error = now, recorded + unknown, unknown, ""
    cursor.save()
    return cursor
