#!/usr/bin/env python
"""Benchmark: the pages and API lists people use, on a big hub.

    .venv/bin/python bench/bench_pages.py [--outbox 1000000] [--exceptions 100000] [--orders 100000]
        [--database-url postgres://postgres@127.0.0.1:5432/syncapp_bench] [--repeat 5]

Fills a fresh database (a temporary SQLite file, or the PostgreSQL database named by
--database-url, which is DROPPED and re-created) with bulk inserts: outbox rows spread
over several flows and statuses (a fifth pending, as during a backfill), exceptions of
every reason, a week of runs and health samples, and orders for the reconciliation
report. Then each page is fetched through Django's test client as an integration admin,
`--repeat` times; the table shows the median and slowest time. The periodic health
sample and alert check are timed too. Every figure is measured in this run.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_customers import prepare_environment  # noqa: E402  (shared: fresh database, settings)

FLOWS = [("contacts-dd", "customers"), ("orders-dd", "orders"), ("products-dd", "products"),
         ("contacts-om", "customers"), ("orders-om", "orders")]
# Outbox statuses, as a share of rows: a fifth waits, as while a backfill runs.
STATUS_MIX = [("accepted", 0.72), ("pending", 0.20), ("failed", 0.04), ("held", 0.02), ("submitted", 0.01),
              ("skipped", 0.01)]
EXCEPTION_STATUS_MIX = [("open", 0.6), ("retrying", 0.05), ("resolved", 0.3), ("ignored", 0.05)]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--outbox", type=int, default=1_000_000, help="outbox rows (default 1000000)")
    p.add_argument("--exceptions", type=int, default=100_000, help="sync exceptions (default 100000)")
    p.add_argument("--orders", type=int, default=100_000, help="mirror orders for the report (default 100000)")
    p.add_argument("--runs", type=int, default=50_000, help="sync runs over the last week (default 50000)")
    p.add_argument("--repeat", type=int, default=5, help="fetches per page (default 5)")
    p.add_argument("--database-url", default="",
                   help="postgres://... (that database is dropped and re-created); default: a temporary SQLite file")
    p.add_argument("--no-vacuum", action="store_true",
                   help="PostgreSQL: skip VACUUM ANALYZE after loading (shows the pages before autovacuum ran)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--output", default="", help="JSON results path (default bench/results/pages_<db>.json)")
    return p.parse_args(argv)


def pick(mix: list[tuple[str, float]], rnd: random.Random) -> str:
    return rnd.choices([name for name, _ in mix], weights=[share for _, share in mix])[0]


# ------------------------------------------------------------------ loading


def load(args) -> dict:
    from django.contrib.auth import get_user_model

    from erp.models import ErpConnection, SalesOrder
    from esp.models import EspAccount
    from exceptions.models import SyncException
    from exceptions.reasons import REASONS
    from syncapp.bulksql import bulk_insert
    from syncapp.models import Flow, HealthSample, OutboxItem, SyncRun

    rnd = random.Random(args.seed)
    now = datetime.now(UTC)
    timings = {}
    connection = ErpConnection.objects.create(name="bench-b1", base_url="http://127.0.0.1:1/b1s/v1",
                                              company_db="BENCH", username="manager",
                                              password_env="BENCH_SAP_B1_PASSWORD")
    accounts = {"dd": EspAccount.objects.create(name="bench-dd", kind="dotdigital", api_user="a@b.c",
                                                password_env="BENCH_DOTDIGITAL_PASSWORD"),
                "om": EspAccount.objects.create(name="bench-om", kind="dotdigital", api_user="d@e.f",
                                                password_env="BENCH_DOTDIGITAL_PASSWORD")}
    flows = [Flow.objects.create(name=name, connection=connection, entity=entity,
                                 destination=accounts[name.rsplit("-", 1)[1]]) for name, entity in FLOWS]
    get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "pw")

    started = time.perf_counter()
    per_flow = args.outbox // len(flows)
    names = ["flow", "record_key", "identifier", "payload", "payload_hash", "accepted_hash", "status", "priority",
             "generation", "attempts", "remote_id", "claim_token", "last_error", "receipt", "planned_at",
             "accepted_at", "submitted_at", "created_at", "updated_at"]
    payload = {"email": "someone@example.com", "FIRSTNAME": "Ann", "LASTNAME": "Example", "LOYALTY": "gold"}
    for flow in flows:
        rows = []
        for i in range(per_flow):
            status = pick(STATUS_MIX, rnd)
            planned = now - timedelta(seconds=rnd.randint(0, 2 * 86400))
            rows.append((flow.pk, str(i + 1), f"c{i}@example.com", payload, f"{i:064x}",
                         f"{i:064x}" if status == "accepted" else "", status, rnd.choice((0, 50, 90)), 1, 0,
                         "", "", "", "", planned, planned if status == "accepted" else None,
                         planned if status == "submitted" else None, planned, planned))
            if len(rows) == 50_000:
                bulk_insert(OutboxItem, names, rows)
                rows = []
        bulk_insert(OutboxItem, names, rows)
    timings["load_outbox_seconds"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    reasons = list(REASONS.values())
    names = ["connection", "flow", "entity", "record_key", "stage", "reason_code", "destination_code", "message",
             "detail", "source_payload", "last_request", "last_response", "status", "owner_team", "attempts",
             "first_seen", "last_seen", "resolved_at", "note"]
    rows = []
    for i in range(args.exceptions):
        reason, flow = rnd.choice(reasons), rnd.choice(flows)
        seen = now - timedelta(seconds=rnd.randint(0, 30 * 86400))
        rows.append((connection.pk, flow.pk, flow.entity, f"E{i:07d}", "push", reason.code, "", reason.message,
                     "dotdigital answered: 400 bad request", {"CardCode": f"E{i:07d}"}, {"identifier": "x"},
                     {"status": 400}, pick(EXCEPTION_STATUS_MIX, rnd), reason.owner, 1, seen, seen, None, ""))
    bulk_insert(SyncException, names, rows)
    timings["load_exceptions_seconds"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    names = ["flow", "connection", "kind", "status", "started_at", "finished_at", "records_read", "records_changed",
             "records_planned", "records_unchanged", "records_accepted", "records_failed", "records_retried",
             "api_calls", "error"]
    rows = []
    for _ in range(args.runs):
        begun = now - timedelta(seconds=rnd.randint(0, 7 * 86400))
        rows.append((rnd.choice(flows).pk, None, "push", "succeeded", begun, begun + timedelta(seconds=5), 0, 0, 0,
                     0, rnd.randint(0, 1000), rnd.randint(0, 20), 0, rnd.randint(1, 10), ""))
    bulk_insert(SyncRun, names, rows)
    samples = [HealthSample(flow=flow, taken_at=now - timedelta(minutes=5 * k), backlog=rnd.randint(0, per_flow),
                            lag_seconds=rnd.randint(0, 7200), accepted=rnd.randint(0, 5000), failed=rnd.randint(0, 50))
               for flow in flows for k in range(1, 7 * 288)]
    HealthSample.objects.bulk_create(samples, batch_size=5000)
    timings["load_runs_samples_seconds"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    order_rows = []
    for i in range(args.orders):
        total = Decimal(rnd.randint(500, 50_000)) / 100
        order_rows.append(SalesOrder(connection=connection, doc_entry=i + 1, doc_num=i + 1, card_code="C1",
                                     doc_date=(now - timedelta(days=rnd.randint(0, 60))).date(), currency="GBP",
                                     doc_total=total, doc_total_local=total, content_hash=f"{i:064x}"))
    SalesOrder.objects.bulk_create(order_rows, batch_size=5000)
    timings["load_orders_seconds"] = round(time.perf_counter() - started, 1)
    return timings


def analyse(vacuum: bool) -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE" if vacuum else "ANALYZE")
        else:
            cursor.execute("ANALYZE")
    return round(time.perf_counter() - started, 1)


# ------------------------------------------------------------------ timing


PAGES = [
    ("health page (24 h charts)", "/health/"),
    ("health page (7 day charts)", "/health/?range=7d"),
    ("exceptions dashboard", "/exceptions/"),
    ("exceptions, one reason", "/exceptions/?reason=invalid_email"),
    ("exceptions, finance, any status", "/exceptions/?owner_team=finance&status=all"),
    ("reconciliation report (60 days)", "/reports/?date_from={from60}&date_to={today}"),
    ("API runs", "/api/runs/"),
    ("API runs, one flow", "/api/runs/?flow_name=orders-dd"),
    ("API health", "/api/health/"),
    ("API exceptions", "/api/exceptions/"),
    ("API exceptions, one reason", "/api/exceptions/?reason=unknown_item"),
    ("API conflicts", "/api/conflicts/"),
]


def time_pages(repeat: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-admin"))
    today = timezone.localdate()
    results = []
    for label, template in PAGES:
        url = template.format(today=today, from60=today - timedelta(days=60))
        times, status = [], None
        for _ in range(repeat + 1):  # the first fetch warms caches and is not counted
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
            status = response.status_code
        times = times[1:]
        results.append({"page": label, "url": url, "status": status,
                        "median_ms": round(1000 * statistics.median(times), 1), "max_ms": round(1000 * max(times), 1)})
    return results


def time_periodic() -> list[dict]:
    from exceptions.alerts import alerts_check
    from syncapp.health import health_sample_record

    results = []
    for label, call in [("health sample (all flows)", health_sample_record), ("alerts check", alerts_check)]:
        started = time.perf_counter()
        call()
        results.append({"page": label, "url": "(task)", "status": "-",
                        "median_ms": round(1000 * (time.perf_counter() - started), 1), "max_ms": None})
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    env = prepare_environment(args)
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's templates, without a test database
    loaded = load(args)
    loaded["analyse_seconds"] = analyse(vacuum=not args.no_vacuum)
    rows = time_pages(args.repeat) + time_periodic()
    print(f"\nPages on {env['database']}: {args.outbox:,} outbox rows, {args.exceptions:,} exceptions, "
          f"{args.orders:,} orders, {args.runs:,} runs; median and slowest of {args.repeat} fetches")
    print(f"{'page':36} {'status':>6} {'median ms':>10} {'max ms':>8}")
    for row in rows:
        slowest = "" if row["max_ms"] is None else row["max_ms"]
        print(f"{row['page']:36} {row['status']!s:>6} {row['median_ms']:>10} {slowest:>8}")
    print("load: " + ", ".join(f"{k} {v}" for k, v in loaded.items()))
    output = Path(args.output or ROOT / "bench" / "results" / f"pages_{env['database']}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"args": vars(args), "database": env["database"], "machine": platform.platform(),
                                  "at": datetime.now(UTC).isoformat(), "load": loaded, "pages": rows}, indent=2))
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
