"""The list pages' queries on the exceptions and the outbox are served by their indexes
(issue 14: at 100,000 exceptions and 1,000,000 outbox rows the search, the status tabs,
the health page and the Ometria ledger read whole tables). Timing-free: each query's plan
is checked with sequential and bitmap scans priced out, so a query no index can serve
shows another scan (PostgreSQL only; the same pattern as tests/erp/test_search_indexes.py)."""
from datetime import date, timedelta

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exceptions.models import SyncException
from exceptions.record_names import exceptions_search
from exceptions.views_queries import exception_groups
from reports.destination_side import DestinationSide
from reports.periods import Period
from reports.screening import _destination_sql
from syncapp.health import _lag_percentiles, flows_ready
from syncapp.health_why import open_exceptions_by_flow
from syncapp.models import OutboxItem, OutboxStatus
from tests.factories import FlowFactory

ROWS = 600
STATUSES = ("open", "retrying", "resolved", "ignored")
OUTBOX_STATUSES = (OutboxStatus.PENDING, OutboxStatus.ACCEPTED, OutboxStatus.FAILED)


def _hub(*, vacuum: bool = False):
    """Some hundreds of exceptions and outbox rows, analysed (and with `vacuum`, their
    visibility maps set, as autovacuum keeps them on a real hub, so that a plan may read
    an index alone), so the planner weighs the indexes as it would on a big hub."""
    flow = FlowFactory(entity="orders")
    now = timezone.now()
    SyncException.objects.bulk_create(SyncException(
        connection=flow.connection, flow=flow, entity="orders", record_key=f"{n}:{n % 7}", stage="push",
        reason_code=f"reason_{n % 5}", message="m", status=STATUSES[n % 4]) for n in range(ROWS))
    OutboxItem.objects.bulk_create(OutboxItem(
        flow=flow, record_key=str(n), status=OUTBOX_STATUSES[n % 3], priority=50, planned_at=now,
        accepted_at=now if n % 3 == 1 else None, payload={"purchaseDate": f"2026-03-{n % 28 + 1:02d}T10:00:00"})
        for n in range(ROWS))
    with connection.cursor() as cursor:
        for model in (SyncException, OutboxItem):
            cursor.execute(f'{"VACUUM ANALYZE" if vacuum else "ANALYZE"} "{model._meta.db_table}"')
    return flow


def _plan(sql: str, params=None) -> str:
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _plans_of(call) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        call()
    return [_plan(query["sql"]) for query in captured.captured_queries if query["sql"].startswith("SELECT")]


def test_the_search_finds_record_keys_equal_listed_or_by_prefix_through_their_index(postgres_only, db):
    _hub()
    for queryset in (exceptions_search(SyncException.objects.all(), "17:3"),
                     SyncException.objects.filter(record_key__in=["1:1", "2:2"]),
                     SyncException.objects.filter(record_key__startswith="12:")):
        plan = _plan(*queryset.query.sql_with_params())
        assert "exc_record_key_idx" in plan, plan


def test_a_status_tab_groups_its_reasons_from_the_index_alone(postgres_only, transactional_db):
    _hub(vacuum=True)
    fingerprint, groups = _plans_of(lambda: exception_groups(SyncException.objects.filter(status="resolved")))
    # The fingerprint is a count: any index led by the status serves it alone, and which one
    # the planner takes is a near tie (CI once saw exc_dashboard_idx). The grouping needs its own.
    assert "Index Only Scan" in fingerprint and "Index Cond: (status = " in fingerprint, fingerprint
    assert "Index Only Scan using exc_status_groups_idx" in groups, groups


def test_the_health_page_reads_open_exceptions_per_flow_and_reason_from_their_index(postgres_only, transactional_db):
    flow = _hub(vacuum=True)
    (plan,) = _plans_of(lambda: open_exceptions_by_flow([flow.pk]))
    assert "Index Only Scan using exc_status_flow_idx" in plan, plan


def test_rows_ready_to_send_are_counted_from_the_pending_index_alone(postgres_only, transactional_db):
    flow = _hub(vacuum=True)
    (plan,) = _plans_of(lambda: flows_ready([flow.pk], now=timezone.now()))
    assert plan.count("Index Only Scan using outbox_pending_idx") == 3, plan  # one per priority class


def test_the_lag_percentiles_read_only_the_rows_accepted_in_the_window(postgres_only, db):
    flow = _hub()
    (plan,) = _plans_of(lambda: _lag_percentiles([flow.pk], timezone.now() - timedelta(minutes=15)))
    assert "using outbox_accepted_at_idx" in plan, plan


def test_the_ometria_ledger_reads_only_the_periods_orders(postgres_only, db):
    flow = _hub()
    side = DestinationSide("ledger", "the ledger", None, {})
    sql, params = _destination_sql(flow, side, {}, Period(date(2026, 3, 1), date(2026, 3, 31)))
    plan = _plan(sql, params)
    assert "using outbox_ledger_day_idx" in plan, plan
