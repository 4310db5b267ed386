#!/usr/bin/env python
"""Benchmark: every list page and API list on a big hub, PostgreSQL (issue 14).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anything \\
        .venv/bin/python bench/bench_pages.py [--small] [--repeat 5] [--reuse] [--explain]

Builds a hub in its own database, `syncapp_bench_pages` on the server DATABASE_URL names
(DROPPED and re-created, unless --reuse finds one already seeded at the same size): 100,000
exceptions, 1,000,000 outbox rows and 10,000 sync runs over four flows, with the mirror the
search looks in (customers, orders with DocNum and web reference, order lines over 5,000
SKUs), conflicts, IDocs, campaigns and 30 days of health samples, all by INSERT ... SELECT
over generate_series (bench/pages_seed.py), then VACUUM ANALYZE. `--small` is a tenth of it.

Each page is fetched through Django's test client, logged in as the role whose job it is
(marketing, finance or integration admin): one warm-up fetch (its queries are counted and
the slowest kept), then `--repeat` timed fetches; the table shows the median and slowest
against the goal of 300 ms. `--explain` prints EXPLAIN ANALYZE of each slow page's slowest
query. Results: bench/results/pages-<size>-<time>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DATABASE = "syncapp_bench_pages"
GOAL_MS = 300
FULL = {"exceptions": 100_000, "outbox": 1_000_000, "runs": 10_000, "customers": 100_000, "orders": 100_000}

# (role, label, URL). Search terms name records the seed made: order DocEntry 39 is DocNum
# 100039, web reference WEB-100039; customer C000063; SKU00042 is on some orders' lines.
PAGES = [
    ("admin", "health", "/health/"),
    ("admin", "health, 7 days", "/health/?range=7d"),
    ("marketing", "exceptions (open or retrying)", "/exceptions/"),
    ("marketing", "exceptions tab open", "/exceptions/?status=open"),
    ("marketing", "exceptions tab retrying", "/exceptions/?status=retrying"),
    ("marketing", "exceptions tab resolved", "/exceptions/?status=resolved"),
    ("marketing", "exceptions tab ignored", "/exceptions/?status=ignored"),
    ("marketing", "exceptions, any status", "/exceptions/?status=all"),
    ("marketing", "exceptions, one reason", "/exceptions/?reason=invalid_email"),
    ("marketing", "exceptions search DocNum", "/exceptions/?q=100039&status=all"),
    ("marketing", "exceptions search web ref", "/exceptions/?q=WEB-100039&status=all"),
    ("marketing", "exceptions search CardCode", "/exceptions/?q=C000063&status=all"),
    ("marketing", "exceptions search email", "/exceptions/?q=c000063@example.com&status=all"),
    ("marketing", "exceptions search SKU", "/exceptions/?q=SKU00042&status=all"),
    ("marketing", "conflicts", "/conflicts/"),
    ("admin", "runs", "/runs/"),
    ("admin", "runs, one flow", "/runs/?flow={orders_dd}"),
    ("admin", "run detail (its records)", "/runs/{biggest_run}/"),
    ("admin", "mappings", "/mappings/"),
    ("admin", "warehouse rules", "/warehouse-rules/"),
    ("admin", "IDoc monitor", "/ecc/idocs/"),
    ("finance", "reconciliation (this month)", "/reports/"),
    ("finance", "campaigns", "/reports/campaigns/"),
    ("admin", "API runs", "/api/runs/"),
    ("admin", "API runs, one flow", "/api/runs/?flow_name=orders-dd"),
    ("admin", "API health", "/api/health/"),
    ("marketing", "API exceptions", "/api/exceptions/"),
    ("marketing", "API exceptions, one reason", "/api/exceptions/?reason=invalid_email"),
    ("marketing", "API exceptions search DocNum", "/api/exceptions/?q=100039&status=all"),
    ("marketing", "API conflicts", "/api/conflicts/"),
    ("finance", "API campaign imports", "/api/campaigns/imports/"),
    ("finance", "API attributed orders", "/api/campaigns/attributed-orders/"),
]
USERS = {"marketing": "bench-marketing", "finance": "bench-finance", "admin": "bench-admin"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small", action="store_true", help="a tenth of the data: a quick check (about a minute)")
    p.add_argument("--repeat", type=int, default=5, help="timed fetches per page after the warm-up (default 5)")
    p.add_argument("--reuse", action="store_true",
                   help=f"keep {DATABASE} if it already holds this size's data (migrations still run)")
    p.add_argument("--explain", action="store_true",
                   help="for each slow page: its slowest queries, and EXPLAIN ANALYZE of the slowest")
    p.add_argument("--only", default="", help="time only the pages whose label contains one of these texts "
                                             "(comma-separated)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""),
                   help=f"a PostgreSQL server (default: DATABASE_URL); the database name is replaced by {DATABASE}")
    p.add_argument("--output", default="", help="JSON results path (default bench/results/pages-*.json)")
    args = p.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        p.error("needs PostgreSQL: set DATABASE_URL (or --database-url) to postgres://...")
    args.database_url = urlsplit(args.database_url)._replace(path=f"/{DATABASE}").geturl()
    args.sizes = {name: count // 10 for name, count in FULL.items()} if args.small else dict(FULL)
    return args


def prepare(args) -> bool:
    """Settings for the bench's own database; True when it must be seeded."""
    import psycopg

    os.environ.update({"DJANGO_SETTINGS_MODULE": "syncapp.settings", "DATABASE_URL": args.database_url,
                       "SYNC_VAR_DIR": tempfile.mkdtemp(prefix="syncapp-bench-pages-"), "SYNC_ENVIRONMENT": "test",
                       "DEBUG": "false", "REDIS_URL": "", "SANDBOXES_ENABLED": "false"})
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    marker = json.dumps(args.sizes, sort_keys=True)
    admin = urlsplit(args.database_url)._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                             (DATABASE,)).fetchone()
        if args.reuse and found and found[0] == marker:
            return False
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return True


def mark_seeded(args) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        marker = json.dumps(args.sizes, sort_keys=True)  # names and numbers only: safe as a literal
        cursor.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{marker}'")
        cursor.execute("VACUUM ANALYZE")


def clients():
    from django.contrib.auth import get_user_model
    from django.test import Client

    found = {}
    for role, username in USERS.items():
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        found[role] = client
    return found


def url_values() -> dict[str, object]:
    """What the URLs name that only the seeded database knows: a flow's id, the run with most records."""
    from syncapp.models import Flow, SyncRun

    biggest = (SyncRun.objects.filter(kind=SyncRun.Kind.PUSH).order_by("-records_accepted", "-records_failed")
               .values_list("pk", flat=True).first())
    return {"orders_dd": Flow.objects.get(name="orders-dd").pk, "biggest_run": biggest or 0}


def route_exists(url: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(url.split("?", 1)[0])
    except Resolver404:
        return False
    return True


class QueryLog:
    """Every query a request runs, with its time (an execute wrapper: the test client's
    request_started signal empties connection.queries, so CaptureQueriesContext miscounts)."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((1000 * (time.perf_counter() - started), sql, params))


def time_page(client, url: str, repeat: int) -> dict:
    from django.db import connection

    log = QueryLog()
    with connection.execute_wrapper(log):  # the warm-up: its queries counted, not timed
        status = client.get(url).status_code
    slowest = max(log.queries, default=(0.0, "", None), key=lambda query: query[0])
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append(1000 * (time.perf_counter() - started))
    return {"status": status, "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "queries": len(log.queries), "sql_ms": round(sum(query[0] for query in log.queries), 1),
            "slowest_query_ms": round(slowest[0], 1), "slowest_query": slowest[1], "slowest_params": slowest[2],
            "top_queries": [(round(ms, 1), sql[:400]) for ms, sql, _ in sorted(log.queries, key=lambda q: -q[0])[:8]]}


def explain(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def load_average() -> str:
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None) -> int:
    args = parse_args(argv)
    must_seed = prepare(args)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's response templates and context, without a test database
    call_command("migrate", verbosity=0, interactive=False)
    seeded: dict = {}
    if must_seed:
        from pages_seed import seed

        started = time.perf_counter()
        seeded = seed(**args.sizes)
        mark_seeded(args)
        seeded["seconds"] = round(time.perf_counter() - started, 1)
        print("seeded: " + ", ".join(f"{name} {value:,}" for name, value in seeded.items()))
    load_before = load_average()
    by_role, values = clients(), url_values()
    print(f"\nPages on PostgreSQL, {args.sizes['exceptions']:,} exceptions, {args.sizes['outbox']:,} outbox rows, "
          f"{args.sizes['runs']:,} runs; median / slowest of {args.repeat} after a warm-up (whose queries are "
          f"counted); goal {GOAL_MS} ms; load average {load_before} at the start (2 CPUs)")
    print(f"| {'page':32} | {'role':9} | status | median ms | max ms | queries | SQL ms | slowest query ms | goal |")
    print(f"|{'-' * 34}|{'-' * 11}|--------|-----------|--------|---------|--------|------------------|------|")
    rows = []
    for role, label, template in PAGES:
        url = template.format(**values)
        if args.only and not any(text in label for text in args.only.split(",")):
            continue
        if not route_exists(url):
            rows.append({"page": label, "role": role, "url": url, "status": "absent"})
            print(f"| {label:32} | {role:9} | absent |" + "|".join(" " * width for width in (11, 8, 9, 8, 18, 6)) + "|")
            continue
        row = {"page": label, "role": role, "url": url, **time_page(by_role[role], url, args.repeat)}
        if args.explain and row["median_ms"] > GOAL_MS and row["slowest_query"]:
            row["explain"] = explain(row["slowest_query"], row["slowest_params"])
        rows.append(row)
        verdict = "ok" if row["median_ms"] <= GOAL_MS else "SLOW"
        print(f"| {label:32} | {role:9} | {row['status']:6} | {row['median_ms']:9} | {row['max_ms']:6} "
              f"| {row['queries']:7} | {row['sql_ms']:6} | {row['slowest_query_ms']:16} | {verdict:4} |", flush=True)
    print(f"load average at the end: {load_average()}")
    for row in rows:
        if row.get("explain"):
            print(f"\n--- {row['page']} ({row['url']}): its slowest queries (ms):")
            for ms, sql in row["top_queries"]:
                print(f"{ms:8}  {sql[:300]}")
            print(f"EXPLAIN ANALYZE of the slowest:\n{row['explain'][:6000]}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output or ROOT / "bench" / "results" / f"pages-{'small' if args.small else 'full'}-{stamp}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"sizes": args.sizes, "repeat": args.repeat, "goal_ms": GOAL_MS,
                                  "machine": platform.platform(), "cpus": os.cpu_count(), "at": stamp,
                                  "load_average": {"start": load_before, "end": load_average()}, "seeded": seeded,
                                  "pages": rows}, indent=2, default=str))
    print(f"results: {output}")
    slow = [row["page"] for row in rows if row["status"] != "absent" and row["median_ms"] > GOAL_MS]
    bad = [row["page"] for row in rows if row["status"] not in ("absent", 200)]
    if bad:
        print("not 200: " + ", ".join(bad))
    print(f"over {GOAL_MS} ms: " + (", ".join(slow) if slow else "none"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
