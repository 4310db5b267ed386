#!/usr/bin/env python
"""Benchmark: the PostgreSQL hot path (ingest + plan) beside raw COPY of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anything \\
        .venv/bin/python bench/bench_hotpath.py [--partners 50000] [--orders 20000] [--lines 4]
        [--customers N] [--page-size 1000] [--breakdown] [--profile bp|orders] [--keep-db]
        [--no-lookahead] [--streams N [--processes]] [--no-key-checks]

Issue 12, part 1. One run, one database (`syncapp_bench_hot` on the server DATABASE_URL
names, DROPPED and re-created at the start and dropped at the end unless --keep-db):

1. **COPY ceilings**: the same Business Partners and order lines, COPYed into plain tables
   (the mirror tables' columns, no index) the way a plain loader would: each converted record
   turned into its row(s) (columns picked, JSON columns and the raw payload as JSON text) and
   written. Timed: that and the COPY; building and converting the pages is off the clock, as
   for the engine.
2. **Business Partners**: `connection_pull` of `--partners` records in pages of `--page-size`
   into one customers flow (dotdigital, default mappings): ingest + plan. The pages are built
   and converted (`to_source_record`) before the clock starts, so the figure is the engine's
   (the engine screens the next page while it stores one, so time taken off a pull that
   built pages as it went would not be the engine's); each page is let go once handed over.
3. **Orders**: the first `--customers` partners are marked accepted at the destination (as
   after a push, so no order waits for its customer), then `connection_pull(entity="orders")`
   of `--orders` orders x `--lines` lines, with a customers flow and an orders flow (each orders
   page moves its customers' order figures, which the pull re-plans once, at its end).

   With `--streams N` the partners are split between N ERP connections and pulled at once,
   each in its own thread on its own database connection: what storing pages concurrently
   would give (the backend's CPU per record is then not reported). `--processes` runs each
   in a process of its own instead (forked once its pages are built): no interpreter lock
   shared between them, so what two cores give when only the cores are shared.
4. **Breakdown** (`--breakdown`): the same work with less of the engine, on fresh keys: BP
   ingest with no flow, orders ingest with no flow, and orders with the orders flow only.

`--no-key-checks` drops, before the steps, the foreign keys that the hot path's commits check
row by row (partner and order -> connection, line -> order, outbox row -> flow): a what-if
that prices those checks; the schema keeps them.

Reported: rates, the ratio to COPY, and peak RSS (resource.getrusage) after each step, with
the resident size sampled as the pulls go (falling as the built pages are let go; a rise
would be the engine growing with records); and the CPU time per record of the engine's
Python threads (the pages built before) and of the PostgreSQL backend serving it (/proc,
when the server runs on this machine), which a busy machine inflates far less than the
rates. The budget at the goals' floors: 67 us a Business
Partner, 114 us an order of four lines.
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import log, prepare_environment, profile_text, rate, save_results

DATABASE = "syncapp_bench_hot"
GOALS = {"bp_ratio": 5.0, "bp_floor": 15_000, "lines_ratio": 10.0, "lines_floor": 35_000}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--partners", type=int, default=50_000, help="Business Partners (default 50000)")
    p.add_argument("--orders", type=int, default=20_000, help="sales orders (default 20000)")
    p.add_argument("--lines", type=int, default=4, help="lines per order (default 4)")
    p.add_argument("--customers", type=int, default=None,
                   help="partners the orders belong to (default orders/10, as bench_orders.py)")
    p.add_argument("--items", type=int, default=2000, help="distinct item codes on the lines")
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""),
                   help="a PostgreSQL server (default: DATABASE_URL); the database name in it is replaced "
                        f"by {DATABASE}")
    p.add_argument("--profile", choices=("bp", "orders"), default=None, help="cProfile one step (slows it)")
    p.add_argument("--breakdown", action="store_true",
                   help="also time, on fresh keys: BP ingest with no flow; orders ingest with no flow; orders "
                        "with the orders flow only (the customers flow disabled, so no figure re-plans)")
    p.add_argument("--no-lookahead", action="store_true",
                   help="screen each page only when it is stored (no page read ahead), for comparison")
    p.add_argument("--streams", type=int, default=1,
                   help="Business Partners as this many pulls at once (threads, one connection each, the "
                        "partners split between them): what storing pages concurrently would give")
    p.add_argument("--processes", action="store_true",
                   help="with --streams: each pull in a process of its own, not a thread (no shared interpreter lock)")
    p.add_argument("--no-key-checks", action="store_true",
                   help="what-if: drop the foreign keys the hot path's commits check, row by row (BP and orders "
                        "-> connection, line -> order, outbox row -> flow), before the steps")
    p.add_argument("--keep-db", action="store_true", help=f"leave {DATABASE} behind for a look")
    p.add_argument("--output", default="", help="JSON results path (default bench/results/<name>.json)")
    args = p.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        p.error("needs PostgreSQL: set DATABASE_URL (or --database-url) to postgres://...")
    parts = urlsplit(args.database_url)
    args.database_url = parts._replace(path=f"/{DATABASE}").geturl()
    args.customers = args.customers or max(1, args.orders // 10)
    if args.streams < 1 or args.partners % args.streams:
        p.error("--streams must divide --partners")
    if args.processes and args.streams < 2:
        p.error("--processes needs --streams 2 or more")
    if args.customers > args.partners:
        p.error("--customers cannot exceed --partners")
    return args


# ------------------------------------------------------------------ memory


def peak_rss_mb() -> float:
    """The process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler:
    """The resident size after each page, kept at a few points (first page, quarters)."""

    def __init__(self, pages: int) -> None:
        self.marks = {1, max(1, pages // 4), max(1, pages // 2), max(1, 3 * pages // 4), pages}
        self.samples: dict[int, float] = {}
        self.page = 0

    def tick(self) -> None:
        self.page += 1
        if self.page in self.marks:
            self.samples[self.page] = round(rss_mb(), 1)


def backend_cpu_seconds() -> float | None:
    """CPU time so far of the PostgreSQL backend serving this connection, when the server
    runs on this machine (/proc); else None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class CpuClock:
    """CPU time per record of the engine's Python threads (the pages are built before) and of
    the PostgreSQL backend: what a busy machine inflates much less than wall-clock time."""

    def __init__(self) -> None:
        self.python, self.backend = time.process_time(), backend_cpu_seconds()

    def per_record_us(self, records: int) -> dict:
        python = time.process_time() - self.python  # every thread: the page screen runs in a helper
        backend = backend_cpu_seconds()
        return {"python_us": round(python / records * 1e6, 1),
                "postgres_backend_us": None if backend is None or self.backend is None
                else round((backend - self.backend) / records * 1e6, 1)}


# ------------------------------------------------------------------ data, one page at a time


def partner_pages(count: int, page_size: int, seed: int) -> Iterator[list[dict]]:
    """bulk_business_partners, a page at a time, numbered on across pages (CB0000000...)."""
    from erp.sap_b1.sandbox.demo import bulk_business_partners

    for number, start in enumerate(range(0, count, page_size)):
        page = bulk_business_partners(min(page_size, count - start), seed=seed + number)
        for local, raw in enumerate(page):
            n = start + local
            code = f"CB{n:07d}"
            raw["CardCode"] = code
            raw["EmailAddress"] = raw["EmailAddress"].replace(f".{local}@", f".{n}@")
            for address in raw["BPAddresses"]:
                address["BPCode"] = code
        yield page


def order_pages(count: int, lines: int, page_size: int, cards: list[str], items: list[str],
                seed: int, first: int = 0) -> Iterator[list[dict]]:
    """bulk_orders, a page at a time: DocEntry first+1.., each order for cards[entry % len(cards)]."""
    from erp.sap_b1.sandbox.demo_documents import bulk_orders

    for number, start in enumerate(range(0, count, page_size)):
        page = bulk_orders(min(page_size, count - start), lines, partners=cards, items=items, seed=seed + number)
        for raw in page:
            entry = first + start + raw["DocEntry"]
            raw.update(DocEntry=entry, DocNum=100000 + entry, NumAtCard=f"WEB-{1000000 + entry}",
                       CardCode=cards[entry % len(cards)])
            for line in raw["DocumentLines"]:
                line["DocEntry"] = entry
        yield page


class PageSource:
    """A source adapter whose pages are built and converted before the clock starts, so the
    pull's figure is the engine's own. Like the SAP B1 adapter, it lets the engine read its
    next page ahead (`pages_read_ahead`); a page is let go once handed over."""

    pages_read_ahead = True

    def __init__(self, pages: Iterator[list[dict]], convert, sampler: RssSampler) -> None:
        started = time.perf_counter()
        self.ready = [[convert(raw) for raw in page] for page in pages]
        self.ready.reverse()
        # A real pull holds one page, not all of them: keep the collector from walking the
        # built pages again and again (gc.freeze), which would charge the engine for them.
        gc.collect()
        gc.freeze()
        self.build_seconds = time.perf_counter() - started
        self.sampler = sampler

    def read_changes(self, entity, cursor):
        from syncapp.adapters import SourceBatch

        while self.ready:
            yield SourceBatch(records=self.ready.pop(), cursor={"updated_at": None})
            self.sampler.tick()

    def read_one(self, entity, key):
        return None


# ------------------------------------------------------------------ 1. COPY ceilings


_encode = json.JSONEncoder(default=str, separators=(",", ":")).encode
_NO_HASH = "0" * 64  # a plain load computes no fingerprint; the column is filled to the same width


def bp_copy_rows(connection_id: int, now):
    """A Business Partner record as a plain loader writes it: its columns, JSON as text."""
    def rows(record) -> list[tuple]:
        data = record.data
        return [(connection_id, record.key, data["card_name"], data["card_type"], data["email"],
                 data["email_normalised"], data["phone1"], data["phone2"], data["cellular"], data["group_code"],
                 data["currency"], data["valid"], data["frozen"], _encode(data["addresses"]), _encode(data["udfs"]),
                 data["source_updated_at"], record.version[:40], _encode(record.raw), _NO_HASH, now)]

    return rows


def line_copy_rows(record) -> list[tuple]:
    """An order's lines as a plain loader writes them (the DocEntry stands for the document id)."""
    entry = record.data["doc_entry"]
    return [(entry, line["line_num"], line["item_code"], line["description"], line["quantity"], line["price"],
             line["line_total"], line["warehouse_code"], line["line_status"], line["base_type"], line["base_entry"],
             line["base_line"]) for line in record.data["lines"]]


BP_COPY_COLUMNS = ("connection_id, card_code, card_name, card_type, email, email_normalised, phone1, phone2, "
                   "cellular, group_code, currency, valid, frozen, addresses, udfs, source_updated_at, "
                   "source_version, raw, content_hash, mirrored_at")
LINE_COPY_COLUMNS = ("document_id, line_num, item_code, description, quantity, price, line_total, warehouse_code, "
                     "line_status, base_type, base_entry, base_line")


def copy_ceiling(table: str, like: str, columns: str, record_pages: Iterator[list], rows_of) -> tuple[int, float]:
    """COPY the records of each page into a fresh plain table (`like`'s columns, no index).

    Timed: turning each record into its row(s) and the COPY itself, from the same converted
    records the engine is given (building and converting the pages is off the clock, as for
    the engine)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} (LIKE {like} INCLUDING DEFAULTS INCLUDING IDENTITY)")
    rows, seconds = 0, 0.0
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            seconds += time.perf_counter() - started
            for page in record_pages:
                started = time.perf_counter()
                for record in page:
                    for row in rows_of(record):
                        copy.write_row(row)
                        rows += 1
                seconds += time.perf_counter() - started
            started = time.perf_counter()
        seconds += time.perf_counter() - started  # the end of COPY waits for the server
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    return rows, seconds


# ------------------------------------------------------------------ the run


def main(argv=None) -> int:
    args = parse_args(argv)
    env = prepare_environment(args)
    PageSource.pages_read_ahead = not args.no_lookahead
    run_started = time.perf_counter()

    from django.db import connection as db
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from erp.models import ErpConnection
    from erp.sap_b1.document_payloads import to_document_record
    from erp.sap_b1.payloads import to_source_record
    from esp.default_mappings import mappings_install_defaults
    from esp.models import EspAccount
    from syncapp.models import Flow, OutboxItem, OutboxStatus
    from syncapp.services import connection_pull

    page_size = args.page_size
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {k: v for k, v in vars(args).items() if k != "database_url"},
        "environment": {**env, "db_vendor": db.vendor, "python": platform.python_version(),
                        "cpus": os.cpu_count(), "machine": platform.machine(),
                        "server_version": db.cursor().connection.info.server_version},
        "peak_rss_mb": {"after_setup": round(peak_rss_mb(), 1)},
    }
    profiles: dict[str, str] = {}
    if args.no_key_checks:
        results["foreign_keys_dropped"] = foreign_keys_drop()
    items = [f"{100000 + i}" for i in range(args.items)]
    cards = [f"CB{n:07d}" for n in range(args.customers)]

    # ---- 1. COPY ceilings -------------------------------------------------------------
    log(f"1. COPY of {args.partners:,} Business Partner rows into a plain table")
    bp_records = ([to_source_record(raw) for raw in page] for page in partner_pages(args.partners, page_size,
                                                                                     args.seed))
    bp_copied, bp_copy_seconds = copy_ceiling("bench_copy_bp", "erp_businesspartner", BP_COPY_COLUMNS, bp_records,
                                              bp_copy_rows(1, timezone.now()))
    log(f"   {rate(bp_copied, bp_copy_seconds):,.0f} rows/s")
    log(f"1. COPY of {args.orders * args.lines:,} order lines into a plain table")
    order_records = ([to_document_record("orders", raw) for raw in page]
                     for page in order_pages(args.orders, args.lines, page_size, cards, items, args.seed))
    lines_copied, lines_copy_seconds = copy_ceiling("bench_copy_lines", "erp_salesorderline", LINE_COPY_COLUMNS,
                                                    order_records, line_copy_rows)
    log(f"   {rate(lines_copied, lines_copy_seconds):,.0f} lines/s")
    results["1_copy"] = {
        "bp_rows": bp_copied, "bp_seconds": bp_copy_seconds, "bp_rows_per_second": rate(bp_copied, bp_copy_seconds),
        "lines": lines_copied, "lines_seconds": lines_copy_seconds,
        "lines_per_second": rate(lines_copied, lines_copy_seconds),
    }
    results["peak_rss_mb"]["after_copy"] = round(peak_rss_mb(), 1)

    # ---- set-up -----------------------------------------------------------------------
    conn = ErpConnection.objects.create(name="b1-hot", kind="sap_b1", base_url="http://127.0.0.1:9/b1s/v1",
                                        company_db="SBODEMOGB", username="manager", password_env="BENCH_UNUSED")
    account = EspAccount.objects.create(name="dotdigital-hot", kind="dotdigital", region="r1",
                                        base_url="http://127.0.0.1:9/{region}", api_user="apiuser-hot@example.com",
                                        password_env="BENCH_UNUSED", calls_per_minute=1_000_000)
    mappings_install_defaults(destination=account)
    customers = Flow.objects.create(name="customers", connection=conn, destination=account, entity="customers")
    orders_flow = Flow.objects.create(name="orders", connection=conn, destination=account, entity="orders")

    def pull(entity: str, source: PageSource, profile_name: str) -> tuple[object, float]:
        profiler = cProfile.Profile() if args.profile == profile_name else None
        source.clock = CpuClock()
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        run = connection_pull(connection=conn, entity=entity, adapter=source)
        if profiler:
            profiler.disable()
            profiles[profile_name] = profile_text(profiler, 40)
        return run, time.perf_counter() - started

    # ---- 2. Business Partners -----------------------------------------------------------
    log(f"2. ingest+plan of {args.partners:,} Business Partners (pages of {page_size})")
    sampler = RssSampler(-(-args.partners // page_size))  # ticked by every stream's pages
    if args.streams == 1:
        source = PageSource(partner_pages(args.partners, page_size, args.seed), to_source_record, sampler)
        run, seconds = pull("business_partners", source, "bp")
    else:
        at_once = pulls_in_processes if args.processes else pulls_at_once
        source, run, seconds = at_once(args, conn, account, sampler)
    bp_rate = rate(args.partners, seconds)
    results["2_business_partners"] = {
        "records": args.partners, "seconds": seconds, "per_second": bp_rate,
        "pages_built_before_seconds": source.build_seconds,
        "ratio_to_copy": results["1_copy"]["bp_rows_per_second"] / bp_rate,
        "run_status": run.status, "records_changed": run.records_changed, "records_planned": run.records_planned,
        "records_failed": run.records_failed, "rss_mb_by_page": sampler.samples, "profiled": args.profile == "bp",
        "cpu_per_record": source.clock.per_record_us(args.partners), "streams": args.streams,
        "streams_in_processes": args.processes,
    }
    results["peak_rss_mb"]["after_business_partners"] = round(peak_rss_mb(), 1)
    log(f"   {bp_rate:,.0f}/s ({seconds:.1f} s), planned {run.records_planned:,}, status {run.status}")

    # The orders' customers are at the destination (as after a push): no order waits.
    with transaction.atomic():
        OutboxItem.objects.filter(flow=customers, record_key__in=cards).update(
            status=OutboxStatus.ACCEPTED, accepted_hash=F("payload_hash"), remote_id=F("record_key"))

    # ---- 3. Orders ------------------------------------------------------------------------
    log(f"3. ingest+plan of {args.orders:,} orders x {args.lines} lines ({args.customers:,} customers)")
    sampler = RssSampler(-(-args.orders // page_size))
    source = PageSource(order_pages(args.orders, args.lines, page_size, cards, items, args.seed),
                        lambda raw: to_document_record("orders", raw), sampler)
    run, seconds = pull("orders", source, "orders")
    lines = args.orders * args.lines
    lines_rate = rate(lines, seconds)
    results["3_orders"] = {
        "orders": args.orders, "lines": lines, "customers": args.customers, "seconds": seconds,
        "orders_per_second": rate(args.orders, seconds), "lines_per_second": lines_rate,
        "pages_built_before_seconds": source.build_seconds,
        "ratio_to_copy": results["1_copy"]["lines_per_second"] / lines_rate,
        "run_status": run.status, "records_changed": run.records_changed, "records_planned": run.records_planned,
        "records_failed": run.records_failed,
        "orders_outbox": OutboxItem.objects.filter(flow=orders_flow).count(),
        "rss_mb_by_page": sampler.samples, "profiled": args.profile == "orders",
        "cpu_per_order": source.clock.per_record_us(args.orders),
    }
    results["peak_rss_mb"]["after_orders"] = round(peak_rss_mb(), 1)
    log(f"   {rate(args.orders, seconds):,.0f} orders/s = {lines_rate:,.0f} lines/s ({seconds:.1f} s), "
        f"planned {run.records_planned:,}, status {run.status}")
    if args.breakdown:
        results["4_breakdown"] = breakdown(args, conn, customers, cards, items)
    results["total_seconds"] = time.perf_counter() - run_started

    print_table(results)
    if profiles:
        for name, text in profiles.items():
            print(f"\n===== cProfile: {name} =====\n{text}")
        results["profiles"] = profiles
    save_results(results, f"hotpath-{args.partners}bp-{args.orders}x{args.lines}", args.output)
    if not args.keep_db:
        drop_database(args.database_url)
    return 0


def connection_like(conn, name: str):
    """Another ERP connection to the same (unreached) SAP B1 company: fresh keys for a step."""
    from erp.models import ErpConnection

    return ErpConnection.objects.create(name=name, kind="sap_b1", base_url=conn.base_url, company_db=conn.company_db,
                                        username=conn.username, password_env=conn.password_env)


def stream_connections(streams: int, conn, account) -> list:
    """One ERP connection per stream (the first is the benchmark's), each with a customers flow."""
    from syncapp.models import Flow

    erp_connections = [conn] + [connection_like(conn, f"b1-hot-{n}") for n in range(1, streams)]
    for extra in erp_connections[1:]:
        Flow.objects.create(name=f"customers {extra.name}", connection=extra, destination=account, entity="customers")
    return erp_connections


def pulls_at_once(args, conn, account, sampler: RssSampler):
    """The Business Partners step as `args.streams` pulls at once, each in its own thread on
    its own database connection, of its own ERP connection's share of the partners: pages
    stored concurrently, with the interpreter lock and the two cores shared between them."""
    import threading
    from types import SimpleNamespace

    from django.db import connections

    from erp.sap_b1.payloads import to_source_record
    from syncapp.services import connection_pull

    share = args.partners // args.streams
    erp_connections = stream_connections(args.streams, conn, account)
    sources = [PageSource(partner_pages(share, args.page_size, args.seed + n), to_source_record, sampler)
               for n in range(args.streams)]
    runs: list = [None] * args.streams

    def pull(n: int) -> None:
        try:
            runs[n] = connection_pull(connection=erp_connections[n], entity="business_partners", adapter=sources[n])
        finally:
            connections.close_all()

    clock = CpuClock()
    clock.backend = None  # several backends: the per-record figure would be one of them
    threads = [threading.Thread(target=pull, args=(n,), name=f"stream-{n}") for n in range(args.streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    statuses = sorted({run.status if run else "failed (see the log)" for run in runs})
    run = SimpleNamespace(status=", ".join(statuses),
                          **{name: sum(getattr(r, name) for r in runs if r)
                             for name in ("records_changed", "records_planned", "records_failed")})
    source = SimpleNamespace(clock=clock, build_seconds=sum(s.build_seconds for s in sources))
    return source, run, seconds


def pulls_in_processes(args, conn, account, sampler: RssSampler):
    """`--processes`: the same pulls at once, each in a process of its own (forked after the
    set-up, its pages built before the start): the cores shared, no interpreter lock."""
    import multiprocessing
    from types import SimpleNamespace

    from django.db import connections

    from erp.sap_b1.payloads import to_source_record
    from syncapp.services import connection_pull

    share = args.partners // args.streams
    erp_connections = stream_connections(args.streams, conn, account)
    connections.close_all()  # each child opens its own
    context = multiprocessing.get_context("fork")
    start, outcomes = context.Barrier(args.streams + 1), context.Queue()

    def pull(n: int) -> None:
        source = PageSource(partner_pages(share, args.page_size, args.seed + n), to_source_record, sampler)
        start.wait()
        try:
            run = connection_pull(connection=erp_connections[n], entity="business_partners", adapter=source)
            outcomes.put((run.status, run.records_changed, run.records_planned, run.records_failed,
                          source.build_seconds))
        except Exception as error:  # noqa: BLE001 - reported as the step's status
            outcomes.put((f"failed: {error}", 0, 0, share, source.build_seconds))
        finally:
            connections.close_all()

    children = [context.Process(target=pull, args=(n,), name=f"stream-{n}") for n in range(args.streams)]
    for child in children:
        child.start()
    start.wait()
    started = time.perf_counter()
    done = [outcomes.get() for _ in children]
    seconds = time.perf_counter() - started
    for child in children:
        child.join()
    run = SimpleNamespace(status=", ".join(sorted({d[0] for d in done})), records_changed=sum(d[1] for d in done),
                          records_planned=sum(d[2] for d in done), records_failed=sum(d[3] for d in done))
    # Several processes and backends: no one CPU figure per record.
    clock = SimpleNamespace(per_record_us=lambda records: {"python_us": None, "postgres_backend_us": None})
    return SimpleNamespace(clock=clock, build_seconds=sum(d[4] for d in done)), run, seconds


def foreign_keys_drop() -> list[str]:
    """`--no-key-checks`: drop the foreign keys checked row by row at the commits of the hot
    path (a what-if for the figures; the schema keeps them)."""
    from django.db import connection

    wanted = [("erp_businesspartner", "connection_id"), ("erp_salesorder", "connection_id"),
              ("erp_salesorderline", "document_id"), ("syncapp_outboxitem", "flow_id")]
    dropped = []
    with connection.cursor() as cursor:
        for table, column in wanted:
            cursor.execute("SELECT c.conname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                           "AND a.attnum = ANY(c.conkey) WHERE c.contype = 'f' AND c.conrelid = %s::regclass "
                           "AND a.attname = %s", [table, column])
            for (name,) in cursor.fetchall():
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                dropped.append(f"{table}.{column}")
    return dropped


def breakdown(args, conn, customers, cards: list[str], items: list[str]) -> dict:
    """Where the time of figures 2 and 3 goes: the same work with less of the engine."""
    from erp.sap_b1.document_payloads import to_document_record
    from erp.sap_b1.payloads import to_source_record
    from syncapp.services import connection_pull

    def timed(connection, entity: str, pages, convert) -> float:
        source = PageSource(pages, convert, RssSampler(1))
        started = time.perf_counter()
        connection_pull(connection=connection, entity=entity, adapter=source)
        return time.perf_counter() - started

    bare = connection_like(conn, "b1-hot-bare")
    size = args.page_size
    log(f"4. breakdown: ingest only, {args.partners:,} Business Partners")
    bp = timed(bare, "business_partners", partner_pages(args.partners, size, args.seed), to_source_record)
    log(f"4. breakdown: ingest only, {args.orders:,} orders")
    convert = lambda raw: to_document_record("orders", raw)  # noqa: E731
    orders = timed(bare, "orders", order_pages(args.orders, args.lines, size, cards, items, args.seed), convert)
    log(f"4. breakdown: {args.orders:,} new orders, orders flow only")
    customers.enabled = False  # its accepted rows still tell the orders flow who is at the destination
    customers.save(update_fields=["enabled"])
    orders_flow_only = timed(conn, "orders", order_pages(args.orders, args.lines, size, cards, items, args.seed,
                                                         first=10 ** 7), convert)
    log(f"4. breakdown: the same {args.partners:,} Business Partners and {args.orders:,} orders read again, "
        "unchanged (the overlap window)")
    customers.enabled = True
    customers.save(update_fields=["enabled"])
    # The pages are made once: the sandbox stamps records with the second they are made in.
    bp_pages = list(partner_pages(args.partners, size, args.seed + 1))
    timed(conn, "business_partners", copy.deepcopy(bp_pages), to_source_record)
    bp_again = timed(conn, "business_partners", bp_pages, to_source_record)
    order_pages_made = list(order_pages(args.orders, args.lines, size, cards, items, args.seed, first=2 * 10 ** 7))
    timed(conn, "orders", copy.deepcopy(order_pages_made), convert)
    orders_again = timed(conn, "orders", order_pages_made, convert)
    lines = args.orders * args.lines
    figures = {"bp_ingest_only_per_second": rate(args.partners, bp),
               "bp_read_again_per_second": rate(args.partners, bp_again),
               "orders_read_again_per_second": rate(args.orders, orders_again),
               "orders_ingest_only_per_second": rate(args.orders, orders),
               "lines_ingest_only_per_second": rate(lines, orders),
               "orders_flow_only_per_second": rate(args.orders, orders_flow_only),
               "lines_orders_flow_only_per_second": rate(lines, orders_flow_only)}
    log("   " + ", ".join(f"{name} {value:,.0f}" for name, value in figures.items()))
    return figures


def drop_database(url: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    admin = urlsplit(url)._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _cpu(figures: dict) -> str:
    python, backend = figures["python_us"], figures["postgres_backend_us"]
    return f"{'?' if python is None else f'{python:.0f}'} / {'?' if backend is None else f'{backend:.0f}'} us"


def print_table(r: dict) -> None:
    copy, bp, orders = r["1_copy"], r["2_business_partners"], r["3_orders"]
    bp_ok = bp["ratio_to_copy"] <= GOALS["bp_ratio"] and bp["per_second"] >= GOALS["bp_floor"]
    lines_ok = orders["ratio_to_copy"] <= GOALS["lines_ratio"] and orders["lines_per_second"] >= GOALS["lines_floor"]
    peak = r["peak_rss_mb"]
    # Each partner planned once; each order once and each of its customers once (the figures).
    planned = (bp["records_planned"], orders["records_planned"])
    once = (bp["records"], orders["orders"] + min(orders["customers"], orders["orders"]))  # round robin
    rows = [
        ("step", "this project", "raw COPY, same rows", "ratio", "goal"),
        (f"Business Partners ingest + plan ({bp['records']:,})", f"{bp['per_second']:,.0f} /s",
         f"{copy['bp_rows_per_second']:,.0f} rows/s", f"{bp['ratio_to_copy']:.1f}x",
         f"<= 5x and >= 15,000/s {'OK' if bp_ok else 'MISSED'}"),
        (f"orders ingest + plan ({orders['orders']:,} x {orders['lines'] // orders['orders']} lines)",
         f"{orders['orders_per_second']:,.0f} orders/s = {orders['lines_per_second']:,.0f} lines/s",
         f"{copy['lines_per_second']:,.0f} lines/s", f"{orders['ratio_to_copy']:.1f}x",
         f"<= 10x and >= 35,000 lines/s {'OK' if lines_ok else 'MISSED'}"),
        ("peak RSS (getrusage)", f"{peak['after_copy']:.0f} MB after COPY, {peak['after_business_partners']:.0f} "
         f"after BPs, {peak['after_orders']:.0f} after orders", "", "", "flat in records"),
        ("RSS by page (BPs)", ", ".join(f"{page}: {mb:.0f}" for page, mb in bp["rss_mb_by_page"].items()), "", "", ""),
        ("RSS by page (orders)", ", ".join(f"{page}: {mb:.0f}" for page, mb in orders["rss_mb_by_page"].items()),
         "", "", ""),
        ("CPU per record: Python / PostgreSQL", f"BP {_cpu(bp['cpu_per_record'])}; order "
         f"{_cpu(orders['cpu_per_order'])}", "", "", "budget 67 us a BP, 114 us an order"),
        ("planned / failed (BPs; orders)", f"{bp['records_planned']:,} / {bp['records_failed']}; "
         f"{orders['records_planned']:,} / {orders['records_failed']}", "", "",
         f"{once[0]:,}; {once[1]:,}, each order and customer once: "
         f"{'OK' if planned == once else 'MORE, some planned again'}"),
        ("total run", f"{r['total_seconds']:.1f} s", "", "", ""),
    ]
    four = r.get("4_breakdown")
    if four:
        rows[-1:-1] = [
            ("breakdown: BP ingest only (no flow)", f"{four['bp_ingest_only_per_second']:,.0f} /s", "", "", ""),
            ("breakdown: orders ingest only (no flow)", f"{four['orders_ingest_only_per_second']:,.0f} orders/s = "
             f"{four['lines_ingest_only_per_second']:,.0f} lines/s", "", "", ""),
            ("breakdown: orders, orders flow only", f"{four['orders_flow_only_per_second']:,.0f} orders/s = "
             f"{four['lines_orders_flow_only_per_second']:,.0f} lines/s", "", "", ""),
            ("breakdown: read again, unchanged", f"BP {four['bp_read_again_per_second']:,.0f} /s; "
             f"orders {four['orders_read_again_per_second']:,.0f} /s", "", "", "")]
    env = r["environment"]
    print(f"\nHot path on PostgreSQL {env['server_version']}, {env['cpus']} CPUs, Python {env['python']}"
          + (f"; Business Partners as {bp['streams']} pulls at once"
             + (" in processes of their own" if bp.get("streams_in_processes") else "")
             if bp.get("streams", 1) > 1 else "")
          + (f"; foreign keys dropped: {', '.join(r['foreign_keys_dropped'])}"
             if r.get("foreign_keys_dropped") else ""))
    width = [max(len(row[i]) for row in rows) for i in range(5)]
    line = "+-" + "-+-".join("-" * w for w in width) + "-+"
    print(line)
    for row in rows:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)) + " |")
    print(line)


if __name__ == "__main__":
    sys.exit(main())
