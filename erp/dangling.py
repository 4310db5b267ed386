"""Documents that point at a base document the hub does not hold: they wait, visibly.

A delivery copied from an order, an invoice from an order or a delivery, a credit memo
from an invoice or a return, a return from a delivery or an invoice (the links
erp/document_links.py follows): when a line names a base document of a type the mirror
keeps that the mirror does not hold, the document can reach no order, so it would change
nothing at any destination and nobody would know. Instead:

- After each stored page (`documents_bases_check`, called by the document ingest), each
  such document has an open exception `waiting_for_base_document` (title "Waiting for its
  base document"; owned by finance, by marketing for a delivery) naming what is missing,
  e.g. "Delivery 5012 refers to order 1044, which the hub has not received from SAP".
  A document of the page whose bases are all held has its wait resolved.
- Documents waiting for one of the page's documents are checked again: those whose bases
  are now all held are resolved. Nothing else is needed to make them flow: the page that
  brings the base is planned like any other, and planning an order (or following a
  document to its order, `orders_of`) reads the documents based on it from the mirror, so
  the dispatch signal or the refund goes out with the order's next plan.
- A periodic check (`documents_flag_overdue`) turns waits older than
  SYNC_BASE_DOCUMENT_GRACE_MINUTES (default 60) into `base_document_missing`; they still
  resolve themselves when the base arrives.

The exceptions have no flow (they concern the mirror, before any destination) and stage
"plan": the pull resolves a page's ingest-stage exceptions of every record it read well,
which would close a wait the moment it opened. A wait begins at the exception's
`first_seen` (set again when a new wait opens on a row used before).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from syncapp.bulksql import any_of

from .documents import DOCUMENT_MODELS

WAITING = "waiting_for_base_document"
MISSING = "base_document_missing"
REASONS = (WAITING, MISSING)

_ENTITY_BY_TYPE = {code: entity for entity, (_, _, code) in DOCUMENT_MODELS.items()}
_TYPE_NAMES = {17: "order", 15: "delivery", 13: "invoice", 14: "credit memo", 16: "return"}
_DOCUMENT_NAMES = {"orders": "Order", "deliveries": "Delivery", "invoices": "Invoice", "credit_notes": "Credit memo",
                   "returns": "Return"}
Base = tuple[int, int]  # (base type code, base DocEntry)


def grace() -> timedelta:
    """How long a document may wait for its base before it is an exception of its own."""
    return timedelta(minutes=settings.SYNC_BASE_DOCUMENT_GRACE_MINUTES)


def missing_bases(*, connection, entity: str, doc_entries: Iterable[int]) -> dict[int, list[Base]]:
    """The base documents (type, DocEntry) these documents' lines name that the mirror does
    not hold, per document; documents missing none are left out."""
    entries = {int(entry) for entry in doc_entries}
    if not entries or entity not in DOCUMENT_MODELS:
        return {}
    _, line_model, _ = DOCUMENT_MODELS[entity]
    # A page's keys as one array parameter (syncapp.bulksql.AnyOf), not a placeholder each.
    links = set(line_model.objects.filter(
        any_of("document__doc_entry", entries), document__connection=connection, base_type__in=list(_ENTITY_BY_TYPE),
        base_entry__isnull=False).values_list("document__doc_entry", "base_type", "base_entry"))
    wanted: dict[int, set[int]] = defaultdict(set)
    for _, base_type, base_entry in links:
        wanted[base_type].add(base_entry)
    held = {base_type: set(DOCUMENT_MODELS[_ENTITY_BY_TYPE[base_type]][0].objects.filter(
        any_of("doc_entry", bases), connection=connection).values_list("doc_entry", flat=True))
        for base_type, bases in wanted.items()}
    missing: dict[int, set[Base]] = defaultdict(set)
    for entry, base_type, base_entry in links:
        if base_entry not in held[base_type]:
            missing[entry].add((base_type, base_entry))
    return {entry: sorted(bases) for entry, bases in missing.items()}


def documents_bases_check(*, connection, entity: str, doc_entries: Iterable[str | int]) -> None:
    """After a page of `entity` was stored (these documents read well): open or keep the
    wait of each document whose base is missing, close it for those whose bases are held,
    and close the waits of other documents that were waiting for one of these."""
    entries = sorted({int(entry) for entry in doc_entries if str(entry).lstrip("-").isdigit()})
    if not entries:
        return
    if entity != "orders":  # an order's bases (quotations) are not kept in the mirror
        _waits_update(connection=connection, entity=entity, entries=entries)
    _waiters_recheck(connection=connection, arrived_type=DOCUMENT_MODELS[entity][2], arrived=entries)


def documents_flag_overdue(*, now: datetime | None = None) -> int:
    """Periodic: waits older than the grace become `base_document_missing` (a wait whose
    base has arrived meanwhile is resolved instead). Returns how many were flagged."""
    from exceptions.models import SyncException

    cutoff = (now or timezone.now()) - grace()
    overdue = _active(SyncException.objects.filter(reason_code=WAITING, first_seen__lte=cutoff))
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    connections = {}
    for row in overdue.select_related("connection"):
        if row.record_key.lstrip("-").isdigit():
            groups[(row.connection_id, row.entity)].append(int(row.record_key))
            connections[row.connection_id] = row.connection
    flagged = 0
    for (connection_id, entity), entries in groups.items():
        connection = connections[connection_id]
        missing = missing_bases(connection=connection, entity=entity, doc_entries=entries)
        for entry, bases in missing.items():
            _raise(connection=connection, entity=entity, entry=entry, bases=bases, reason=MISSING)
            flagged += 1
        _resolve(connection=connection, entity=entity, entries=[e for e in entries if e not in missing])
    return flagged


# ---------------------------------------------------------------- the waits


def _active(queryset):
    from exceptions.models import SyncException

    return queryset.filter(flow__isnull=True, status__in=[SyncException.Status.OPEN, SyncException.Status.RETRYING])


def _waits_update(*, connection, entity: str, entries: list[int]) -> None:
    from exceptions.models import SyncException

    missing = missing_bases(connection=connection, entity=entity, doc_entries=entries)
    current = {int(key): (reason, status, message) for key, reason, status, message in _active(
        SyncException.objects.filter(any_of("record_key", [str(entry) for entry in entries]), connection=connection,
                                     entity=entity, reason_code__in=REASONS))
        .values_list("record_key", "reason_code", "status", "message")}
    for entry, bases in missing.items():
        reason, status, message = current.get(entry, (WAITING, "", ""))
        if (status != SyncException.Status.OPEN or message != _message(entity, entry, bases, reason)):
            # New, or read again on a person's Retry (back to open), or its bases changed.
            _raise(connection=connection, entity=entity, entry=entry, bases=bases, reason=reason,
                   new_wait=entry not in current)
    _resolve(connection=connection, entity=entity, entries=[entry for entry in entries if entry not in missing])


def _waiters_recheck(*, connection, arrived_type: int, arrived: list[int]) -> None:
    """Documents waiting with a line based on one of the documents just stored."""
    from exceptions.models import SyncException

    waiting = _active(SyncException.objects.filter(connection=connection, reason_code__in=REASONS))
    if not waiting.exists():  # the usual case: one indexed query per page
        return
    by_entity: dict[str, list[str]] = defaultdict(list)
    for entity, key in waiting.values_list("entity", "record_key"):
        by_entity[entity].append(key)
    for entity, keys in by_entity.items():
        if entity not in DOCUMENT_MODELS:
            continue
        _, line_model, _ = DOCUMENT_MODELS[entity]
        affected = sorted(set(line_model.objects.filter(
            document__connection=connection, document__doc_entry__in=[int(k) for k in keys if k.isdigit()],
            base_type=arrived_type, base_entry__in=arrived).values_list("document__doc_entry", flat=True)))
        if affected:
            _waits_update(connection=connection, entity=entity, entries=affected)


def _raise(*, connection, entity: str, entry: int, bases: list[Base], reason: str, new_wait: bool = False) -> None:
    from exceptions.models import Stage, SyncException, Team
    from exceptions.services import exception_raise

    names = ", ".join(f"{_TYPE_NAMES[base_type]} {base_entry}" for base_type, base_entry in bases)
    raised = exception_raise(
        connection=connection, entity=entity, record_key=str(entry), stage=Stage.PLAN, reason_code=reason,
        message=_message(entity, entry, bases, reason),
        detail=f"The lines of {_DOCUMENT_NAMES[entity].lower()} {entry} (DocEntry) are copied from {names} "
               "(BaseType / BaseEntry); the hub ties a document to its order through these links.",
        # A delivery's missing order holds back a dispatch signal (marketing's); the rest is money (finance).
        owner_team=Team.MARKETING if entity == "deliveries" else Team.FINANCE)
    if new_wait:  # the row may be an older exception's: this wait starts now
        SyncException.objects.filter(pk=raised.pk).update(first_seen=timezone.now())


def _resolve(*, connection, entity: str, entries: list[int]) -> None:
    from exceptions.models import SyncException
    from exceptions.services import exceptions_resolve_matching

    if entries:
        exceptions_resolve_matching(queryset=_active(SyncException.objects.filter(
            any_of("record_key", [str(e) for e in entries]), connection=connection, entity=entity,
            reason_code__in=REASONS)),
            text="Resolved: the document it is based on has arrived.")


def _message(entity: str, entry: int, bases: list[Base], reason: str) -> str:
    names = " and ".join(f"{_TYPE_NAMES[base_type]} {base_entry}" for base_type, base_entry in bases)
    document = f"{_DOCUMENT_NAMES[entity]} {entry} refers to {names}"
    if reason == MISSING:
        minutes = int(grace().total_seconds() // 60)
        return f"{document}, which is not in SAP's data the hub holds after {minutes} minutes."
    return f"{document}, which the hub has not received from SAP."
