#!/usr/bin/env python
"""Benchmark: finance's reconciliation page for a month of 100,000 orders (issue 13).

    .venv/bin/python bench/bench_reconciliation.py \\
        --database-url postgres://postgres@127.0.0.1:5432/syncapp_recon_bench [--orders 100000] [--repeat 5]

The named PostgreSQL database is DROPPED and re-created (without --database-url: a
temporary SQLite file). It is filled with bulk inserts: one ERP connection with
`--orders` sales orders in one month (a tenth in EUR, 2 % cancelled), invoices and
credit memos refunding 3 % of them (half in full), two orders flows: dotdigital with a
read-back snapshot of every order, Ometria with its ledger (an accepted outbox row per
order); a few hundred orders differ at each (lost, another value, another status, extra,
waiting for their customer). Then, as a finance user through Django's test client, the
page `/reports/?date_from=..&date_to=..` (both destinations, every difference listed) is
fetched `--repeat` times, and the CSV of every document once; the median and slowest
fetch are printed. The goal: the page in under 2 seconds on PostgreSQL.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_customers import prepare_environment  # noqa: E402  (shared: fresh database, settings)

MONTH = (date(2026, 11, 1), date(2026, 11, 30))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--database-url", default="",
                   help="postgres://... (that database is dropped and re-created); default: a temporary SQLite file")
    p.add_argument("--seed", type=int, default=13)
    return p.parse_args(argv)


def load(args) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection as db
    from django.utils import timezone

    from erp.documents import CreditMemo, CreditMemoLine, Invoice, InvoiceLine, SalesOrder
    from erp.models import BusinessPartner, ErpConnection
    from esp.models import EspAccount
    from exceptions.models import SyncException
    from reports.models import ReadBack, ReadBackOrder
    from syncapp.models import Flow, OutboxItem
    from syncapp.roles import FINANCE

    rnd = random.Random(args.seed)
    started = time.perf_counter()
    erp = ErpConnection.objects.create(name="bench-b1", base_url="http://127.0.0.1:1/b1s/v1", company_db="BENCH",
                                       username="manager", password_env="BENCH_SAP_B1_PASSWORD")
    dd = EspAccount.objects.create(name="dd", kind="dotdigital", password_env="BENCH_DD_PASSWORD")
    om = EspAccount.objects.create(name="om", kind="ometria", password_env="BENCH_OM_PASSWORD")
    dd_flow = Flow.objects.create(name="orders-dd", connection=erp, destination=dd, entity="orders")
    om_flow = Flow.objects.create(name="orders-om", connection=erp, destination=om, entity="orders")
    BusinessPartner.objects.create(connection=erp, card_code="C1", card_type="customer", email="c1@example.com",
                                   content_hash="x")

    days = (MONTH[1] - MONTH[0]).days + 1
    orders, snapshot, ledger = [], [], []
    refunded = {entry for entry in rnd.sample(range(1, args.orders + 1), k=args.orders * 3 // 100) if entry % 50}
    credits: dict[int, Decimal] = {}
    read_back = ReadBack.objects.create(flow=dd_flow, started_at=timezone.now(), finished_at=timezone.now(),
                                        status="finished", records=args.orders)
    for entry in range(1, args.orders + 1):
        currency = "EUR" if entry % 10 == 0 else "GBP"
        net = Decimal(rnd.randrange(500, 50_000)) / 100
        tax = (net * Decimal("0.2")).quantize(Decimal("0.01"))
        day = MONTH[0] + timedelta(days=entry % days)
        cancelled = entry % 50 == 0
        orders.append((erp.pk, entry, entry, "C1", day, currency, net + tax, tax, net + tax, tax, cancelled,
                       f"h{entry}"))
        value = net
        status = "canceled" if cancelled else "processing"
        refund = Decimal(0)
        if entry in refunded and not cancelled:  # the destination already knows the refund
            refund = credits[entry] = net if entry % 2 else (net / 2).quantize(Decimal("0.01"))
            value = net - refund
            status = "closed" if entry % 2 else "complete"
        value, refund = float(value), float(refund)
        if entry % 997 == 0:
            value = round(value + 0.01, 2)  # another value at both destinations
        lost = entry % 1009 == 0
        if not lost:
            snapshot.append((read_back.pk, str(entry), str(entry), day, currency, Decimal(str(value)),
                             Decimal(str(refund)), status))
            ledger.append((om_flow.pk, str(entry), "accepted", {
                "orderNumber": entry, "purchaseDate": day.isoformat(), "currency": currency, "orderTotal": value,
                "refundedTotal": refund, "orderStatus": {"canceled": "cancelled", "closed": "refunded"}.get(
                    status, "partial_refund" if refund else "complete")}))
    for n in range(50):  # extra at the destination
        snapshot.append((read_back.pk, f"90{n:04d}", "", MONTH[0], "GBP", Decimal("12.34"), Decimal(0), "complete"))
    bulk_insert(SalesOrder, ["connection_id", "doc_entry", "doc_num", "card_code", "doc_date", "currency",
                             "doc_total", "vat_total", "doc_total_local", "vat_total_local", "cancelled",
                             "content_hash"], orders)
    bulk_insert(ReadBackOrder, ["read_back_id", "record_key", "order_number", "purchase_date", "currency",
                                "order_total", "refunded_total", "status"], snapshot)
    bulk_insert(OutboxItem, ["flow_id", "record_key", "status", "payload"], ledger)
    # The refunds in the ERP: an invoice copied from each refunded order, a credit memo from the invoice.
    totals = dict(SalesOrder.objects.filter(doc_entry__in=refunded).values_list("doc_entry", "vat_total"))
    nets = dict(SalesOrder.objects.filter(doc_entry__in=refunded).values_list("doc_entry", "doc_total"))
    invoices, memos = [], []
    for entry in sorted(refunded):
        credit = credits[entry]
        invoices.append((erp.pk, entry, entry, "C1", MONTH[0] + timedelta(days=20), "GBP", nets[entry],
                         totals[entry], f"i{entry}"))
        memos.append((erp.pk, entry, entry, "C1", MONTH[0] + timedelta(days=25), "GBP", credit * Decimal("1.2"),
                       credit * Decimal("0.2"), f"c{entry}"))
    header = ["connection_id", "doc_entry", "doc_num", "card_code", "doc_date", "currency", "doc_total", "vat_total",
              "content_hash"]
    bulk_insert(Invoice, header, invoices)
    bulk_insert(CreditMemo, header, memos)
    invoice_ids = dict(Invoice.objects.values_list("doc_entry", "id"))
    memo_ids = dict(CreditMemo.objects.values_list("doc_entry", "id"))
    bulk_insert(InvoiceLine, ["document_id", "line_num", "quantity", "price", "line_total", "base_type",
                              "base_entry", "base_line"],
                [(invoice_ids[e], 0, 1, nets[e] - totals[e], nets[e] - totals[e], 17, e, 0) for e in refunded])
    bulk_insert(CreditMemoLine, ["document_id", "line_num", "quantity", "price", "line_total", "base_type",
                                 "base_entry", "base_line"],
                [(memo_ids[e], 0, 1, m[6] - m[7], m[6] - m[7], 13, e, 0)
                 for e, m in zip(sorted(refunded), memos, strict=True)])
    # Some orders wait for their customer at both destinations.
    waiting = rnd.sample(range(1, args.orders + 1), k=200)
    SyncException.objects.bulk_create([
        SyncException(connection=erp, flow=flow, entity="orders", record_key=str(entry), stage="plan",
                      reason_code="waiting_for_customer", owner_team="marketing",
                      message="Waiting for customer C1 to reach the destination first.")
        for flow in (dd_flow, om_flow) for entry in waiting])
    user = get_user_model().objects.create_user("bench-finance", password="x")
    user.groups.add(Group.objects.get_or_create(name=FINANCE)[0])
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return {"user": user, "load_seconds": time.perf_counter() - started}


def bulk_insert(model, names, rows) -> None:
    """Rows (tuples in `names` order) through the ORM, so every other column gets its default."""
    model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], batch_size=5000)


def _database_cpu() -> float | None:
    """CPU seconds the PostgreSQL backend serving this process has used (when its /proc
    entry is readable: a local server), so a figure taken on a busy machine can be read
    without the time spent waiting for a core."""
    from django.db import connection as db

    if db.vendor != "postgresql":
        return None
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch(client, url: str, repeat: int) -> tuple[list[float], list[float], list[float], bytes]:
    """Per fetch: wall seconds, this process's CPU seconds, the database backend's CPU
    seconds (empty when unreadable); and the last body."""
    times, cpu, db_cpu = [], [], []
    for _ in range(repeat):
        before_db = _database_cpu()
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        after_db = _database_cpu()
        if before_db is not None and after_db is not None:
            db_cpu.append(after_db - before_db)
        assert response.status_code == 200, (url, response.status_code)
    return times, cpu, db_cpu, body


def main(argv=None) -> None:
    args = parse_args(argv)
    environment = prepare_environment(args)
    loaded = load(args)
    from django.test import Client

    client = Client()
    client.force_login(loaded["user"])
    query = f"date_from={MONTH[0]:%Y-%m-%d}&date_to={MONTH[1]:%Y-%m-%d}"
    load_before = os.getloadavg()[0]
    page_times, page_cpu, page_db_cpu, html = fetch(client, f"/reports/?{query}", args.repeat)
    load_after = os.getloadavg()[0]
    csv_times, _, _, csv_body = fetch(client, f"/reports/?{query}&format=csv&table=documents", 1)
    text = html.decode()
    result = {
        "database": environment["database"], "orders": args.orders, "machine": platform.platform(),
        "load_seconds": round(loaded["load_seconds"], 1),
        "page_median_seconds": round(statistics.median(page_times), 3), "page_max_seconds": round(max(page_times), 3),
        "page_python_cpu_median_seconds": round(statistics.median(page_cpu), 3),
        "page_database_cpu_median_seconds": round(statistics.median(page_db_cpu), 3) if page_db_cpu else None,
        "load_average_1min": [round(load_before, 2), round(load_after, 2)], "cpus": os.cpu_count(),
        "page_bytes": len(html), "differences_listed": text.count('class="difference '),
        "explained": "does not explain the gap" not in text,
        "csv_documents_seconds": round(csv_times[0], 3), "csv_rows": csv_body.count(b"\n") - 1,
    }
    print(json.dumps(result, indent=2))
    goal = result["page_median_seconds"] < 2.0
    print(f"reconciliation page, {args.orders} orders, {environment['database']}: median "
          f"{result['page_median_seconds']} s, slowest {result['page_max_seconds']} s "
          f"({'under' if goal else 'OVER'} the 2 s goal)")


if __name__ == "__main__":
    main()
