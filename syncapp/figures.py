"""Customer figures re-planned once per pull, not once per page of documents.

Every page of orders (deliveries, credit notes, returns) moves the order figures of its
customers (order count, lifetime value, ...), which ride on each customer's contact. In a
load, a customer's orders come over many pages, and re-planning the customer after each
page maps and queues the same contact again and again (ten times each for 20,000 orders of
2,000 customers in pages of 1,000), for a destination that only needs the last figures.

Inside a pull (`figures_deferred`, set by the engine's pull) the customers a page touches
are marked instead (`FiguresDirty`, in the page's own transaction, so the mark commits with
the documents that moved the figures), and `figures_replan` plans each marked customer once
when the pull has stored its pages, removing the marks in the same transactions. A pull
that stops half-way leaves its marks; the next pull of the connection re-plans them.
A scheduled pull leaves them all to a task of the workers (syncapp.tasks.figures_wake), a
routine re-plan that waits its turn behind the pulls and time-sensitive pushes, so no pull
holds a worker process for them. Outside a pull (a person's retry, a re-read) the customers
are planned at once, as before.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction
from django.utils import timezone

from erp.customer_figures import customers_of

from .bulksql import array_of, commit_unawaited, db_datetime, execute, fetch, quote, vendor
from .models import FiguresDirty, Flow, Priority
from .page_reads import page_reads_shared
from .plan_lock import flows_plan_lock

log = logging.getLogger(__name__)

_deferring: ContextVar[bool] = ContextVar("figures_deferred", default=False)
CHUNK = 1000  # customers planned per transaction at the end of a pull
FIGURES_RUN_ENTITY = "customer figures"  # what a re-plan run of marked customers says it planned


@contextmanager
def figures_deferred() -> Iterator[None]:
    """While inside, customers whose figures move are marked, not planned (see the module)."""
    token = _deferring.set(True)
    try:
        yield
    finally:
        _deferring.reset(token)


def customers_touched(*, connection, entity: str, keys) -> list[str]:
    """The customers flow's keys for changed documents: the customers whose figures they
    move, to be planned now; inside a pull they are marked for its end and none is returned."""
    codes = customers_of(connection=connection, entity=entity, keys=keys)
    if not codes or not _deferring.get():
        return codes
    figures_mark_dirty(connection_id=connection.pk, card_codes=codes)
    return []


def figures_mark_dirty(*, connection_id: int, card_codes: list[str]) -> None:
    """Mark each customer once for this page. Another page's marks of the same customers are
    left alone (FiguresDirty has no unique key): an insert that met a mark not yet committed
    would wait for that page's transaction."""
    card_codes = sorted(set(card_codes))
    table = quote(FiguresDirty._meta.db_table)
    now = timezone.now()
    if vendor() == "postgresql":
        execute(f"INSERT INTO {table} (connection_id, card_code, marked_at) SELECT %s, unnest(%s::text[]), %s",
                [connection_id, array_of(card_codes), db_datetime(now)])
        return
    FiguresDirty.objects.bulk_create([FiguresDirty(connection_id=connection_id, card_code=code, marked_at=now)
                                      for code in card_codes], batch_size=500)


def figures_marked(*, connection_id: int) -> bool:
    return FiguresDirty.objects.filter(connection_id=connection_id).exists()


def _take_marks(connection_id: int, limit: int) -> list[str]:
    """Remove the marks of up to `limit` customers of the connection, every mark each one
    has, and name the customers (in the caller's transaction: a plan that fails puts them
    back). A customer marked by many pages is thus planned once, not once per chunk its
    marks fall in. Another pull's marks being taken are skipped."""
    table = quote(FiguresDirty._meta.db_table)
    if vendor() == "postgresql":
        # The customers of the oldest `limit` marks, then all their marks (one index scan of
        # the connection's marks: a card code index would cost every page's inserts).
        codes = [code for (code,) in fetch(
            f"WITH picked AS (SELECT DISTINCT card_code FROM (SELECT card_code FROM {table} WHERE connection_id = %s "
            "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) oldest) "
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE connection_id = %s "
            "AND card_code IN (SELECT card_code FROM picked) FOR UPDATE SKIP LOCKED) RETURNING card_code",
            [connection_id, limit, connection_id])]
    else:
        picked = set(FiguresDirty.objects.filter(connection_id=connection_id).order_by("id")
                     .values_list("card_code", flat=True)[:limit])
        marks = FiguresDirty.objects.filter(connection_id=connection_id, card_code__in=picked)
        codes = list(marks.values_list("card_code", flat=True))
        marks.delete()
    return sorted(set(codes))


def figures_replan(*, connection, priority: int = Priority.ROUTINE, run=None) -> int:
    """Plan every customer marked on this connection (this pull's and any a stopped pull
    left) for each enabled customers flow, a chunk per transaction; returns how many."""
    from .planning import flow_plan
    from .run_outcomes import plan_outcomes_record

    flows = list(Flow.objects.filter(connection=connection, enabled=True, entity=Flow.Entity.CUSTOMERS)
                 .select_related("connection", "destination"))
    done = 0
    while True:
        with transaction.atomic():
            commit_unawaited()  # lost with the server, its marks come back with it
            # Before the marks: a pull page takes the plan locks before it marks (syncapp.plan_lock).
            flows_plan_lock(flow.pk for flow in flows)
            codes = _take_marks(connection.pk, CHUNK)
            if not codes:
                return done
            with page_reads_shared():  # the chunk's figures read once for all the customers flows
                planned = [(flow, flow_plan(flow=flow, record_keys=codes, priority=priority)) for flow in flows]
            plan_outcomes_record(run=run, planned=planned)
        done += len(codes)
