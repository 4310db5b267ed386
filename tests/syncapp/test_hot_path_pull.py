"""The pull's hot path: customer figures planned once per pull (durably marked between its
pages; a scheduled pull leaves them to a task of their own), page commits that do not wait
for the disk, and no index or key check the hot tables do not need."""
from __future__ import annotations

import dataclasses

import pytest
from django.db import connection as db

from erp.models import BusinessPartner
from syncapp import tasks
from syncapp.figures import FIGURES_RUN_ENTITY
from syncapp.models import FiguresDirty, OutboxItem, SyncRun
from syncapp.run_pages import runs_for_flow
from syncapp.services import connection_pull
from tests.factories import FlowFactory
from tests.syncapp.fakes import FakeSource, bp_record
from tests.syncapp.test_orders import document, line

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif("db.vendor != 'postgresql'", reason="a PostgreSQL setting or schema")


@pytest.fixture
def flows():
    from esp.default_mappings import mappings_install_defaults

    customers = FlowFactory(entity="customers")
    mappings_install_defaults(destination=customers.destination)
    orders = FlowFactory(entity="orders", connection=customers.connection, destination=customers.destination)
    connection_pull(connection=customers.connection, adapter=FakeSource([[bp_record("C001"), bp_record("C002")]]))
    OutboxItem.objects.filter(flow=customers).update(status="accepted", accepted_hash="sent")
    return customers, orders


def contact(customers, code: str) -> OutboxItem:
    return OutboxItem.objects.get(flow=customers, record_key=code)


def test_a_customers_figures_are_planned_once_per_pull_however_many_pages_move_them(flows):
    customers, _ = flows
    before = contact(customers, "C001").generation
    pages = [[document("orders", entry, line(0, price=10.0 * entry), card_code="C001")] for entry in (1, 2, 3)]
    run = connection_pull(connection=customers.connection, entity="orders", adapter=FakeSource(pages))
    row = contact(customers, "C001")
    assert row.generation == before + 1  # one plan with the last figures, not one per page
    assert (row.payload["ORDERCOUNT"], row.payload["LIFETIMEVALUE"]) == (3, 60.0)
    assert run.records_planned == 3 + 1  # three orders and the customer once
    assert not FiguresDirty.objects.exists()


def test_a_customer_marked_by_more_pages_than_one_chunk_takes_is_still_planned_once(flows, monkeypatch):
    """Found by the twenty-second session's profile of the hot path: the marks were taken a
    chunk of marks at a time, and a customer whose marks spanned chunks was planned once per
    chunk: 20,000 orders of 2,000 customers in pages of 1,000 planned 20,000 customers, ten
    times each, 38 % of the orders pull."""
    customers, _ = flows
    monkeypatch.setattr("syncapp.figures.CHUNK", 2)  # the pages' four marks span two chunks
    before = {code: contact(customers, code).generation for code in ("C001", "C002")}
    pages = [[document("orders", entry, line(0, price=10.0), card_code="C001"),
              document("orders", entry + 10, line(0, price=5.0), card_code="C002")] for entry in (1, 2)]
    run = connection_pull(connection=customers.connection, entity="orders", adapter=FakeSource(pages))
    assert {code: contact(customers, code).generation - before[code] for code in before} == {"C001": 1, "C002": 1}
    assert run.records_planned == 4 + 2  # four orders and each customer once
    assert (contact(customers, "C002").payload["ORDERCOUNT"], contact(customers, "C002").payload["LIFETIMEVALUE"]) \
        == (2, 10.0)
    assert not FiguresDirty.objects.exists()


def test_figures_a_stopped_pull_moved_are_planned_by_the_next_pull(flows):
    customers, _ = flows
    pages = [[document("orders", 1, line(0, price=25.0), card_code="C002")], [document("orders", 2, line(0))]]
    connection_pull(connection=customers.connection, entity="orders", adapter=FakeSource(pages, fail_after=1))
    # The first page is stored, its customer marked in the same transaction, not yet planned.
    assert list(FiguresDirty.objects.values_list("card_code", flat=True)) == ["C002"]
    assert contact(customers, "C002").payload["ORDERCOUNT"] == 0
    connection_pull(connection=customers.connection, entity="business_partners", adapter=FakeSource([]))
    assert contact(customers, "C002").payload["ORDERCOUNT"] == 1
    assert not FiguresDirty.objects.exists()


@postgresql_only
@pytest.mark.django_db(transaction=True)  # the page's own transaction, as in production (not a savepoint)
def test_a_pulled_page_commits_without_waiting_for_the_disk_and_nothing_else_does(flows):
    customers, _ = flows
    seen = []
    source = FakeSource([[bp_record("C003")]])
    batches = source.read_changes

    def read_changes(entity, cursor):
        for batch in batches(entity, cursor):
            yield dataclasses.replace(batch, on_stored=lambda stored: seen.append(_setting()))

    source.read_changes = read_changes
    connection_pull(connection=customers.connection, adapter=source)
    assert seen == ["off"]  # the page's transaction: its cursor is in it, so a lost page is read again
    assert _setting() == "on"


def _setting() -> str:
    with db.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@postgresql_only
def test_the_hot_tables_keep_no_single_column_index_beside_their_composite_keys_but_keep_their_key_checks():
    tables = ('erp_businesspartner', 'erp_salesorder', 'erp_salesorderline', 'syncapp_outboxitem')
    with db.cursor() as cursor:
        cursor.execute("SELECT tablename, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [list(tables)])
        single = [(table, definition) for table, definition in cursor.fetchall()
                  if "," not in definition.split("USING btree", 1)[1] and "UNIQUE" not in definition
                  and "WHERE" not in definition]
        # The database still refuses an orphan row: raw SQL bypasses Django's on_delete.
        cursor.execute("SELECT DISTINCT conrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
                       "AND conrelid::regclass::text = ANY(%s)", [list(tables)])
        checked = sorted(table for (table,) in cursor.fetchall())
    assert single == []
    assert checked == sorted(tables)


def test_keys_of_any_spelling_are_found_by_a_page_read():
    from syncapp.bulksql import select_by_keys
    from tests.factories import ErpConnectionFactory

    connection = ErpConnectionFactory()
    codes = ['quo"te', "back\\slash", "NULL", "a,b", "{brace}", " spaced ", "é\u00df", "plain"]
    BusinessPartner.objects.bulk_create([BusinessPartner(connection=connection, card_code=code, card_type="customer",
                                                         content_hash="h") for code in codes])
    found = select_by_keys(BusinessPartner, ["card_code"], key="card_code", keys=[*codes, "missing"],
                           where={"connection_id": connection.pk})
    assert sorted(code for (code,) in found) == sorted(codes)


@pytest.mark.django_db(transaction=True)
def test_two_pulls_marking_the_same_customers_in_other_orders_do_not_deadlock(postgres_only):
    """Found by bench_peak: the backfill and the scheduled orders pull marked overlapping
    customers in their documents' order and PostgreSQL killed one of them as a deadlock."""
    import threading

    from syncapp.figures import figures_mark_dirty
    from tests.factories import ErpConnectionFactory
    from tests.syncapp.lock_races import in_transactions_side_by_side

    connection_id = ErpConnectionFactory().pk
    first_marked, second_started = threading.Event(), threading.Event()

    def first():
        figures_mark_dirty(connection_id=connection_id, card_codes=["C1"])
        first_marked.set()
        second_started.wait(5)
        threading.Event().wait(0.5)  # the second pull is now waiting on C1 (or holds C2 before it)
        figures_mark_dirty(connection_id=connection_id, card_codes=["C2"])

    def second():
        first_marked.wait(5)
        second_started.set()
        figures_mark_dirty(connection_id=connection_id, card_codes=["C2", "C1"])

    errors = in_transactions_side_by_side(first, second)
    assert errors == []
    # Each pull's marks are its own (no unique key since the nineteenth session: nobody waits).
    assert sorted(FiguresDirty.objects.values_list("card_code", flat=True)) == ["C1", "C1", "C2", "C2"]


@postgresql_only
def test_run_outcomes_cost_no_key_checks_at_commit_and_still_go_with_their_run_and_flow():
    """The row outcomes are a log written a page at a time: no parent probes at each commit
    (issue 12), and deleting a run or a flow through the ORM still removes its outcomes."""
    from syncapp.models import SyncRun, SyncRunOutcome

    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                       "AND conrelid = 'syncapp_syncrunoutcome'::regclass")
        assert cursor.fetchone()[0] == 0
    flow, other = FlowFactory(), FlowFactory()
    runs = [SyncRun.objects.create(kind=SyncRun.Kind.PUSH, flow=f) for f in (flow, flow, other)]
    for run in runs:
        SyncRunOutcome.objects.create(run=run, flow=run.flow, record_key="C1", outcome="accepted")
    runs[0].delete()
    assert sorted(SyncRunOutcome.objects.values_list("run_id", flat=True)) == [runs[1].pk, runs[2].pk]
    flow.delete()
    assert list(SyncRunOutcome.objects.values_list("run_id", flat=True)) == [runs[2].pk]


def test_a_page_chosen_as_a_deadlocks_victim_is_written_again_not_left_for_the_next_pull(monkeypatch):
    """Issue 12's peak run: a scheduled orders pull and the backfill marked the same customers'
    figures and PostgreSQL failed the pull's page as a deadlock; the pull ended there and its
    new orders waited a schedule interval. The page is now written again at once."""
    from syncapp import services
    from tests.syncapp.lock_races import deadlock_once

    flow = FlowFactory()
    failures: list[int] = []
    monkeypatch.setattr(services, "changes_plan", deadlock_once(services.changes_plan, failures))
    run = connection_pull(connection=flow.connection, adapter=FakeSource([[bp_record("C001"), bp_record("C002")]]))
    assert run.status == "succeeded" and failures == [1]
    assert sorted(OutboxItem.objects.filter(flow=flow).values_list("record_key", flat=True)) == ["C001", "C002"]


# Customer figures a scheduled pull moved are re-planned by a task of the workers' own, not
# by the pull (issue 12, part 3): in a peak run, at each tick five or six pulls (item groups,
# Business Partners, invoices, credit notes, returns, most of them reading nothing) each held
# a worker process for 5-20 s re-planning the figures the backfill had marked, while the pull
# and the push carrying new orders and dispatches waited for a process.


@pytest.fixture
def enqueued(monkeypatch):
    sent = []

    def enqueue(task, *args, countdown=None, priority=None):
        sent.append((task.name, args))
        return True

    monkeypatch.setattr(tasks, "task_enqueue", enqueue)
    return sent


def _pull_task(monkeypatch, connection, entity: str, pages) -> SyncRun:
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: FakeSource(pages))
    tasks.connection_pull_task(connection.pk, entity)
    return SyncRun.objects.filter(kind=SyncRun.Kind.PULL, entity=entity).latest("id")


def test_a_scheduled_pull_leaves_the_figures_it_moved_to_one_queued_task(flows, monkeypatch, enqueued, settings,
                                                                          redis_url):
    settings.REDIS_URL = redis_url
    customers, _ = flows
    pages = [[document("orders", 1, line(0, price=25.0), card_code="C001")]]
    run = _pull_task(monkeypatch, customers.connection, "orders", pages)
    assert run.records_planned == 1  # the order; its customer is marked, not planned by the pull
    assert list(FiguresDirty.objects.values_list("card_code", flat=True)) == ["C001"]
    assert contact(customers, "C001").payload["ORDERCOUNT"] == 0
    figures = [args for name, args in enqueued if name == "syncapp.figures_replan_task"]
    assert figures == [(customers.connection.pk,)]

    _pull_task(monkeypatch, customers.connection, "invoices", [])  # a pull of the same tick
    assert [name for name, _ in enqueued].count("syncapp.figures_replan_task") == 1  # one task waits

    tasks.figures_replan_task(customers.connection.pk)
    assert contact(customers, "C001").payload["ORDERCOUNT"] == 1
    assert not FiguresDirty.objects.exists()
    replan = SyncRun.objects.get(kind=SyncRun.Kind.PLAN)
    assert (replan.connection, replan.entity, replan.records_planned, replan.status) == (
        customers.connection, FIGURES_RUN_ENTITY, 1, SyncRun.Status.SUCCEEDED)
    assert replan in runs_for_flow(SyncRun.objects.all(), customers)  # the runs page, filtered by the flow
    assert ("syncapp.flow_push_task", (customers.pk,)) in enqueued  # the contact goes out

    _pull_task(monkeypatch, customers.connection, "invoices", [])
    assert [name for name, _ in enqueued].count("syncapp.figures_replan_task") == 1  # nothing marked: no task


def test_a_figures_task_with_nothing_marked_records_no_run(flows, enqueued):
    customers, _ = flows
    tasks.figures_replan_task(customers.connection.pk)
    assert not SyncRun.objects.filter(kind=SyncRun.Kind.PLAN).exists()


def test_the_figures_task_waits_in_the_queue_as_a_routine_push_does(settings):
    assert settings.CELERY_TASK_ROUTES["syncapp.figures_replan_task"] == settings.CELERY_TASK_ROUTES[
        "syncapp.flow_push_task"]


def test_a_pull_outside_the_workers_still_plans_the_figures_before_it_ends(flows):
    """`sync --once`, the backfill and the benchmarks call the pull itself: nobody else would."""
    customers, _ = flows
    connection_pull(connection=customers.connection, entity="orders",
                    adapter=FakeSource([[document("orders", 1, line(0), card_code="C002")]]))
    assert contact(customers, "C002").payload["ORDERCOUNT"] == 1
    assert not FiguresDirty.objects.exists()
    assert OutboxItem.objects.filter(flow=customers, record_key="C002", status="pending").exists()


@postgresql_only
def test_a_deliveries_page_sends_its_keys_as_one_array_never_a_placeholder_per_key(flows):
    """A peak's deliveries page holds hundreds of documents: a statement with a placeholder
    per key is rewritten by the driver key by key and planned by the server value by value.
    (The twentieth session found the missing-base check, the dispatch signals and the
    exceptions' lookups doing so.)"""
    customers, _ = flows
    FlowFactory(entity="dispatch_events", connection=customers.connection, destination=customers.destination)
    entries = range(1, 61)
    connection_pull(connection=customers.connection, entity="orders", adapter=FakeSource(
        [[document("orders", entry, line(0), card_code="C001") for entry in entries]]))
    widest = []

    def measured(execute, sql, params, many, context):
        widest.append((len(params or ()), sql[:160]))
        return execute(sql, params, many, context)

    deliveries = [document("deliveries", 1000 + entry, line(0, base=(17, entry, 0)), card_code="C001")
                  for entry in entries]
    with db.execute_wrapper(measured):
        run = connection_pull(connection=customers.connection, entity="deliveries", adapter=FakeSource([deliveries]))
    assert run.records_changed == 60
    assert OutboxItem.objects.filter(record_key__endswith=":dispatched").count() == 60
    assert max(widest) < (len(entries), "")  # the widest statement names fewer values than the page holds


def test_a_figures_chunk_reads_its_customers_figures_once_for_every_customers_flow_in_one_pass(flows, monkeypatch):
    """The customer-figures re-plan held the customers flows' plan locks while it read the
    same customers' figures once per customers flow, and the orders twice each time (count
    and dates, then value): in the twentieth session's peak those aggregates were what the
    business-partner pages most often waited behind."""
    from django.test.utils import CaptureQueriesContext

    from esp.default_mappings import mappings_install_defaults
    from syncapp import planning

    customers, _ = flows
    elsewhere = FlowFactory(entity="customers", connection=customers.connection)  # a second destination
    mappings_install_defaults(destination=elsewhere.destination)
    connection_pull(connection=customers.connection, adapter=FakeSource([[bp_record("C001"), bp_record("C002")]]))
    asked = []
    read = planning.customer_figures

    def counted(**arguments):
        asked.append(arguments["card_codes"])
        return read(**arguments)

    monkeypatch.setattr(planning, "customer_figures", counted)
    with CaptureQueriesContext(db) as queries:
        connection_pull(connection=customers.connection, entity="orders", adapter=FakeSource([[
            document("orders", 1, line(0, price=10.0), card_code="C001"),
            document("orders", 2, line(0, price=30.0), card_code="C001")]]))
    assert asked == [["C001"]]
    order_totals = [query["sql"] for query in queries.captured_queries
                    if query["sql"].startswith('SELECT "erp_salesorder"."card_code"') and "GROUP BY" in query["sql"]]
    assert len(order_totals) == 1
    for flow in (customers, elsewhere):
        payload = contact(flow, "C001").payload
        assert (payload["ORDERCOUNT"], payload["LIFETIMEVALUE"]) == (2, 40.0)
