"""What the Runs pages read (selectors), each one bounded query.

The list is keyset-paginated on (started_at, id), which the run_recent_idx and
run_flow_recent_idx indexes serve; a run's outcomes are read one outcome at a time on
(run, outcome, id), and a page's 50 records are named, linked to their exception and
given their payload with one query per kind of lookup. Nothing counts a whole table:
the tabs show the run's own counts.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db.models import Q, QuerySet

from .entities import flow_entity
from .figures import FIGURES_RUN_ENTITY
from .logging import redact_text
from .models import Flow, OutboxItem, RunOutcome, SyncRun, SyncRunOutcome
from .outbox import outbox_rows_of

PAGE_SIZE = 50


def runs_for_flow(queryset: QuerySet[SyncRun], flow: Flow) -> QuerySet[SyncRun]:
    """The flow's own runs (push, re-plan) and the pulls that plan its records (its
    connection's reads of an entity the flow is planned from), and for a customers flow the
    re-plans of the customer figures those pulls moved."""
    triggers = flow_entity(flow.entity).triggers
    if flow.entity == Flow.Entity.CUSTOMERS:
        triggers = (*triggers, FIGURES_RUN_ENTITY)
    return queryset.filter(Q(flow=flow) | Q(flow__isnull=True, connection_id=flow.connection_id, entity__in=triggers))


@dataclass
class RunsPage:
    rows: list[SyncRun]
    next_after: int | None  # older runs exist: the last run's id
    first: bool


def runs_page(queryset: QuerySet[SyncRun], *, after: int | None = None, size: int = PAGE_SIZE) -> RunsPage:
    """Newest first, `size` runs after the run `after` (by id). Reads size + 1; never counts."""
    queryset = queryset.select_related("flow", "connection", "triggered_by")
    started = SyncRun.objects.filter(pk=after).values_list("started_at", flat=True).first() if after else None
    if started is not None:
        # `started_at <= x` gives the index a range to start from; the OR settles ties.
        queryset = queryset.filter(started_at__lte=started).filter(Q(started_at__lt=started) | Q(id__lt=after))
    rows = list(queryset.order_by("-started_at", "-id")[:size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return RunsPage(rows=rows, next_after=rows[-1].pk if more and rows else None, first=started is None)


# -- one run -------------------------------------------------------------------------

# The run's own count for each outcome tab (None: not counted on the run).
_COUNTED = {RunOutcome.REFUSED: "records_failed", RunOutcome.WAITING: "records_waiting",
            RunOutcome.RETRIED: "records_retried", RunOutcome.ACCEPTED: "records_accepted",
            RunOutcome.SUBMITTED: None, RunOutcome.PLANNED: "records_planned", RunOutcome.SKIPPED: None}


@dataclass
class OutcomeTab:
    outcome: str
    label: str
    count: int | None
    current: bool = False


def outcome_tabs(run: SyncRun, wanted: str | None) -> list[OutcomeTab]:
    """What went wrong first; the one asked for, else the first with records, is current."""
    tabs = [OutcomeTab(outcome, RunOutcome(outcome).label, getattr(run, name) if name else None)
            for outcome, name in _COUNTED.items()]
    current = wanted if wanted in _COUNTED else next((tab.outcome for tab in tabs if tab.count), RunOutcome.REFUSED)
    for tab in tabs:
        tab.current = tab.outcome == current
    return tabs


@dataclass
class OutcomeRow:
    outcome: SyncRunOutcome
    flow: Flow
    label: str = ""
    exception: object = None
    why: str = ""
    payload: dict | None = None
    payload_note: str = ""
    payload_text: str = ""  # as the viewer may read it (the view applies the email rule)
    identifier: str = ""


@dataclass
class OutcomesPage:
    rows: list[OutcomeRow] = field(default_factory=list)
    next_after: int | None = None


def run_outcomes_page(run: SyncRun, *, outcome: str, after: int | None = None,
                      size: int = PAGE_SIZE) -> OutcomesPage:
    """One outcome's records of the run, in the order they were written, each named, with
    its exception (why it failed or waits) and the payload sent."""
    queryset = SyncRunOutcome.objects.filter(run=run, outcome=outcome)
    if after:
        queryset = queryset.filter(id__gt=after)
    outcomes = list(queryset.order_by("id")[:size + 1])
    more = len(outcomes) > size
    outcomes = outcomes[:size]
    flows = {flow.pk: flow for flow in Flow.objects.filter(pk__in={o.flow_id for o in outcomes})
             .select_related("connection")}
    rows = [OutcomeRow(outcome=o, flow=flows[o.flow_id]) for o in outcomes]
    by_flow: dict[int, list[OutcomeRow]] = defaultdict(list)
    for row in rows:
        by_flow[row.flow.pk].append(row)
    for flow_rows in by_flow.values():
        _attach(flow_rows[0].flow, flow_rows)
    return OutcomesPage(rows=rows, next_after=outcomes[-1].pk if more and outcomes else None)


def _attach(flow: Flow, rows: list[OutcomeRow]) -> None:
    from exceptions.models import SyncException
    from exceptions.reasons import reason_for

    keys = [row.outcome.record_key for row in rows]
    labels = record_names(flow, keys)
    exceptions = {e.record_key: e for e in SyncException.objects.filter(flow=flow, entity=flow.entity,
                                                                        record_key__in=keys)}
    outbox = {o.record_key: o for o in outbox_rows_of(flows=flow, keys=keys).only(
        "record_key", "identifier", "payload", "payload_hash", "status")}
    for row in rows:
        key = row.outcome.record_key
        row.label = labels.get(key, key)
        row.exception = exceptions.get(key)
        if row.exception is not None and row.outcome.outcome in (RunOutcome.REFUSED, RunOutcome.WAITING,
                                                                  RunOutcome.RETRIED):
            row.why = f"{reason_for(row.exception.reason_code).title}: {redact_text(row.exception.message)}"
        _attach_payload(row, outbox.get(key))


def _attach_payload(row: OutcomeRow, item: OutboxItem | None) -> None:
    """The payload sent: the outbox row's while it still holds that version (its hash starts
    with the digest kept), else the request the exception kept for a refused record."""
    digest = row.outcome.payload_digest
    request = getattr(row.exception, "last_request", None)
    if item is not None and (not digest or item.payload_hash.startswith(digest)):
        row.payload, row.identifier = item.payload, item.identifier
        row.payload_note = "" if digest else "As planned (queued to send)."
    elif isinstance(request, dict) and row.outcome.outcome == RunOutcome.REFUSED:
        row.payload, row.identifier = request.get("fields", request), request.get("identifier", "")
        row.payload_note = "As the exception kept it (last attempt)."
    elif item is not None:
        row.payload, row.identifier = item.payload, item.identifier
        row.payload_note = "Replaced since by a newer version of the record: this is the newest."


# Flow entities keyed by a document's DocEntry (named through exceptions.record_names).
_DOCUMENT_ENTITIES = ("orders", "dispatch_events")


def record_names(flow: Flow, keys: list[str]) -> dict[str, str]:
    """Record key -> how people name it: "C00063 · Jane's Shop", "Order 100039 · WEB-100909
    (DocEntry 39)", "SKU-1 · Blue mug". One query for the page."""
    from erp.models import BusinessPartner, Item
    from exceptions.record_names import record_labels

    if flow.entity in _DOCUMENT_ENTITIES:
        named = [SimpleNamespace(pk=key, entity=flow.entity, record_key=key, connection_id=flow.connection_id)
                 for key in keys]
        return record_labels(named)
    heads = {key: key.split(":", 1)[0] for key in keys}
    if flow.entity == Flow.Entity.CUSTOMERS:
        names = dict(BusinessPartner.objects.filter(connection_id=flow.connection_id, card_code__in=set(heads.values()))
                     .values_list("card_code", "card_name"))
    else:  # products, stock signals ("<SKU>:<what>")
        names = dict(Item.objects.filter(connection_id=flow.connection_id, item_code__in=set(heads.values()))
                     .values_list("item_code", "item_name"))
    return {key: f"{key} · {names[head]}" for key, head in heads.items() if names.get(head)}
