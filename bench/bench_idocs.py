"""Benchmark: SAP ECC IDocs from receipt to mirror (issue 11).

    .venv/bin/python bench/bench_idocs.py --database-url postgres://postgres@127.0.0.1:5432/syncapp_bench_idocs
    .venv/bin/python bench/bench_idocs.py --orders 2000 --customers 2000      # SQLite, quick

Reports, in one run:
1. the bare parse rate of the very XML the hub then receives (lxml building the tree, nothing
   else), and the hub's own parse (`idocs_parse`: hardened, control records, segments, raw XML);
2. receipt: each packet of --packet IDocs stored with its control record and raw XML in one
   transaction (`idocs_receive`, what answers SAP's HTTP POST), as seconds per packet
   (goal: a 1,000-IDoc packet in under 1 s);
3. receipt to mirror: receipt plus applying every stored IDoc through the engine's pull
   (`idocs_apply`), as IDocs per second, for ORDERS05 with --lines lines and for DEBMAS07
   with its ADRMAS (goal: at least 1,000 ORDERS05 per second end to end).
No flows are configured: the figure ends at the mirror, as the issue states it.
The PostgreSQL database named by --database-url is DROPPED and re-created.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import log, prepare_environment, print_box, rate, save_results

PASSWORD_ENV = "BENCH_SAP_ECC_PASSWORD"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=10_000, help="ORDERS05 IDocs (default 10000)")
    p.add_argument("--lines", type=int, default=4, help="items per order (default 4)")
    p.add_argument("--customers", type=int, default=10_000, help="DEBMAS07 IDocs, each with an ADRMAS (default 10000)")
    p.add_argument("--packet", type=int, default=1000, help="IDocs per HTTP body (default 1000)")
    p.add_argument("--database-url", default="", help="postgres://... (dropped and re-created); default SQLite")
    p.add_argument("--output", default="")
    return p.parse_args(argv)


def packets(writer, idocs: list, size: int) -> list[bytes]:
    return [writer.packet(idocs[start:start + size]) for start in range(0, len(idocs), size)]


def measure(connection, bodies: list[bytes], count: int, max_bytes: int) -> dict:
    from lxml import etree

    from erp.sap_ecc.apply import idocs_apply
    from erp.sap_ecc.idoc_xml import idocs_parse
    from erp.sap_ecc.inbound import idocs_receive

    started = time.perf_counter()
    for body in bodies:
        etree.fromstring(body)  # the bare parse: libxml2 building the tree, nothing else
    bare = time.perf_counter() - started
    started = time.perf_counter()
    for body in bodies:
        idocs_parse(body, max_bytes=max_bytes)  # ours: hardened, control records, segments, raw XML per IDoc
    parse = time.perf_counter() - started
    per_packet = []
    for body in bodies:
        started = time.perf_counter()
        receipt = idocs_receive(connection=connection, body=body, via="bench")
        per_packet.append(time.perf_counter() - started)
        assert not receipt.refused, receipt.refused
    started = time.perf_counter()
    runs = idocs_apply(connection)
    apply = time.perf_counter() - started
    receive = sum(per_packet)
    return {"idocs": count, "bytes": sum(map(len, bodies)), "bare_parse_seconds": bare,
            "bare_parse_rate": rate(count, bare), "parse_seconds": parse, "parse_rate": rate(count, parse),
            "receive_seconds": receive, "packet_seconds_max": max(per_packet),
            "packet_seconds_median": sorted(per_packet)[len(per_packet) // 2],
            "apply_seconds": apply, "end_to_end_rate": rate(count, receive + apply),
            "records_read": sum(run.records_read for run in runs)}


def main(argv=None) -> None:
    args = parse_args(argv)
    import os

    os.environ[PASSWORD_ENV] = "bench-ecc-password"
    environment = prepare_environment(args)
    from erp.models import BusinessPartner, ErpConnection, SalesOrder, SalesOrderLine
    from erp.sap_ecc.models import EccInbound, Idoc
    from erp.sap_ecc.sandbox.idocs import IdocWriter, ticking_clock

    connection = ErpConnection.objects.create(name="bench-ecc", kind="sap_ecc", username="ECC_PARTNER",
                                              password_env=PASSWORD_ENV)
    inbound = EccInbound.objects.create(connection=connection, sender_partner="ECDCLNT800",
                                        max_body_bytes=200 * 1024 * 1024)
    writer = IdocWriter(clock=ticking_clock(datetime(2026, 12, 1, tzinfo=UTC), timedelta(milliseconds=1)))

    log(f"writing {args.customers} DEBMAS07 + ADRMAS02")
    customers = []
    for n in range(1, args.customers + 1):
        customers += [writer.debmas(100000 + n, f"Customer {n}", city="Leeds", postcode="LS1 1AA"),
                      writer.adrmas(100000 + n, f"customer{n}@example.com")]
    debmas = measure(connection, packets(writer, customers, args.packet), len(customers), inbound.max_body_bytes)
    assert BusinessPartner.objects.filter(connection=connection).count() == args.customers
    log(f"writing {args.orders} ORDERS05 x {args.lines} items")
    orders = [writer.orders(1_000_000 + n, 100000 + (n % max(args.customers, 1)) + 1, [
        {"posex": 10 * (i + 1), "matnr": 10_000_000 + (n + i) % 500, "text": f"Item {i}", "qty": 1 + i,
         "price": 5 + i} for i in range(args.lines)], web_reference=f"WEB-{n}") for n in range(1, args.orders + 1)]
    order_figures = measure(connection, packets(writer, orders, args.packet), len(orders), inbound.max_body_bytes)
    assert SalesOrder.objects.filter(connection=connection).count() == args.orders
    assert SalesOrderLine.objects.filter(document__connection=connection).count() == args.orders * args.lines
    assert not Idoc.objects.exclude(status=Idoc.Status.APPLIED).exists()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = [("figure", "measured", "goal")]
    for label, figures in ((f"DEBMAS07+ADRMAS02 ({args.customers} customers)", debmas),
                           (f"ORDERS05 x {args.lines} items", order_figures)):
        rows += [
            (f"{label}: bare parse (lxml tree only)", f"{figures['bare_parse_rate']:,.0f} IDocs/s", "ceiling"),
            (f"{label}: the hub's parse", f"{figures['parse_rate']:,.0f} IDocs/s", ""),
            (f"{label}: packet of {args.packet} stored", f"median {figures['packet_seconds_median']:.2f} s, "
             f"max {figures['packet_seconds_max']:.2f} s", "< 1 s"),
            (f"{label}: receipt to mirror", f"{figures['end_to_end_rate']:,.0f} IDocs/s "
             f"(1/{figures['bare_parse_rate'] / figures['end_to_end_rate']:.0f} of the bare parse)",
             ">= 1,000/s" if "ORDERS" in label else ""),
        ]
    rows.append(("peak RSS", f"{peak_mb:,.0f} MB", ""))
    print_box(rows)
    save_results({"environment": environment, "arguments": vars(args), "debmas": debmas, "orders": order_figures,
                  "peak_rss_mb": peak_mb}, "idocs", args.output)


if __name__ == "__main__":
    main()
