#!/usr/bin/env python
"""Benchmark: the scheduled SAP B1 stock poll -> dotdigital (products + stock signals).

    .venv/bin/python bench/bench_stock.py [--items 50000] [--warehouses 5] [--changed-share 0.01]
        [--database-url postgres://postgres@127.0.0.1:5432/syncapp_bench]

Issue 5: "stock-poll cost for 50,000 items x 5 warehouses: seconds for a full poll with 1%
changed, and destination calls used (goal: calls only for the 1%)". Every figure printed is
measured in this run; see bench/README.md ("Stock poll"). Runs against a fresh database (a
temporary SQLite file, or the PostgreSQL database named by --database-url, which is DROPPED
and re-created) and the in-process vendor sandboxes served over real sockets.

The dotdigital sandbox processes an import in --import-delay seconds and the adapter's
first status poll waits --poll-wait seconds (production: at least 5 s for insight imports),
so the push seconds measure the hub's side, not dotdigital's queue.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import (  # the shared environment and helpers
    B1_PASSWORD_ENV,
    DD_API_USER,
    DD_PASSWORD_ENV,
    TimedSource,
    log,
    outbox_counts,
    prepare_environment,
    print_box,
    rate,
    save_results,
)

CATALOG = "Catalog_Default"
SIGNALS = "StockEvents"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=50_000, help="items in SAP (default 50000)")
    p.add_argument("--warehouses", type=int, default=5,
                   help="warehouses, every item has a row in each (default 5); the last is ring-fenced")
    p.add_argument("--changed-share", type=float, default=0.01,
                   help="share of items whose stock changes in an included warehouse (default 0.01)")
    p.add_argument("--crossing-share", type=float, default=0.2,
                   help="of the changed items, the share that were unavailable and come back in stock "
                        "(back-in-stock signals; default 0.2)")
    p.add_argument("--ring-fenced-share", type=float, default=0.005,
                   help="share of items (besides the changed ones) whose stock changes only in the "
                        "ring-fenced warehouse; must cost no calls (default 0.005)")
    p.add_argument("--database-url", default="",
                   help="postgres://... to run on PostgreSQL (that database is dropped and re-created); "
                        "default: a temporary SQLite file")
    p.add_argument("--page-size", type=int, default=1000, help="Service Layer page size")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--import-delay", type=float, default=0.2,
                   help="dotdigital sandbox insight-import processing time in seconds (default 0.2)")
    p.add_argument("--poll-wait", type=float, default=0.3,
                   help="first insight-import status poll after this many seconds (default 0.3; "
                        "production waits at least 5)")
    p.add_argument("--output", default="", help="JSON results path (default bench/results/<name>.json)")
    args = p.parse_args(argv)
    if args.warehouses < 2:
        p.error("--warehouses must be at least 2 (one included, one ring-fenced)")
    args.count = args.items  # prepare_environment / naming
    return args


# ------------------------------------------------------------------ helpers


def dd_calls(call_log) -> dict[str, int]:
    kinds = {"insight_import_put": 0, "insight_status_get": 0, "other": 0, "http_429": 0}
    for method, path, status in call_log:
        if status == 429:
            kinds["http_429"] += 1
        if path == "/insightData/v3/import" and method == "PUT":
            kinds["insight_import_put"] += 1
        elif path.startswith("/insightData/v3/import/") and method == "GET":
            kinds["insight_status_get"] += 1
        else:
            kinds["other"] += 1
    kinds["total"] = len(call_log)
    return kinds


def records_in_imports(exchanges) -> dict[str, int]:
    """Records sent per collection, from the import bodies the sandbox received."""
    sent: dict[str, int] = {}
    for ex in exchanges:
        if ex.method == "PUT" and ex.path == "/insightData/v3/import" and ex.status == 202:
            body = json.loads(ex.request_body)
            name = body.get("collectionName", "?")
            sent[name] = sent.get(name, 0) + len(body.get("records") or [])
    return sent


def snapshot(dd, name: str) -> dict[str, tuple]:
    """key -> (json, updated) of one insight collection, after imports that are due."""
    dd.insight_collections  # noqa: B018  (settles due imports)
    with dd._lock:
        collection = dd.insight.collections.get(name) or {"records": {}}
        return {k: (json.dumps(r["json"], sort_keys=True), r["updated"]) for k, r in collection["records"].items()}


def diff(before: dict[str, tuple], after: dict[str, tuple]) -> dict:
    added = [k for k in after if k not in before]
    json_changed = [k for k in after if k in before and after[k][0] != before[k][0]]
    rewritten = [k for k in after if k in before and after[k] != before[k]]
    return {"added": added, "json_changed": json_changed, "rewritten": rewritten}


def signal_kinds(dd, keys) -> dict[str, int]:
    records = (dd.insight_collections.get(SIGNALS) or {"records": {}})["records"]
    kinds: dict[str, int] = {}
    for key in keys:
        event = str(records[key].get("event"))
        kinds[event] = kinds.get(event, 0) + 1
    return kinds


def signal_skus(dd, keys, event: str) -> set[str]:
    records = (dd.insight_collections.get(SIGNALS) or {"records": {}})["records"]
    return {str(records[k].get("sku")) for k in keys if records[k].get("event") == event}


def sku_of(item_code: str) -> str:
    """The default SKU rule for the bench's numeric codes: leading zeros stripped."""
    return item_code.lstrip("0") or "0"


# ------------------------------------------------------------------ the run


def main(argv=None) -> int:
    args = parse_args(argv)
    env = prepare_environment(args)
    run_started = time.perf_counter()

    from django.db import connection as db

    from erp.models import ErpConnection
    from erp.sap_b1.adapter import SapB1Source
    from erp.sap_b1.sandbox.app import SapB1Sandbox
    from erp.sap_b1.sandbox.demo import COMPANY_DB, USERNAME
    from erp.sap_b1.sandbox.demo_items import bulk_items, bulk_warehouses
    from esp.default_mappings import mappings_install_defaults
    from esp.dotdigital.adapter import DotdigitalDestination
    from esp.dotdigital.sandbox.app import DotdigitalSandbox
    from esp.models import EspAccount, WarehouseRule
    from syncapp.models import Flow
    from syncapp.ratelimit import throttle_for
    from syncapp.sandbox_server import serve_in_thread
    from syncapp.services import connection_pull, flow_push

    n_items, n_whs = args.items, args.warehouses
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "environment": {
            **env, "db_vendor": db.vendor, "python": platform.python_version(),
            "cpus": os.cpu_count(), "machine": platform.machine(),
        },
    }
    servers = []
    try:
        # ---- data and vendors --------------------------------------------------
        log(f"generating {n_items} items x {n_whs} warehouses")
        started = time.perf_counter()
        warehouses = bulk_warehouses(n_whs)
        items = bulk_items(n_items, warehouses=n_whs, seed=args.seed)
        codes = [item["ItemCode"] for item in items]
        included = [w["WarehouseCode"] for w in warehouses[:-1]]
        fenced = warehouses[-1]["WarehouseCode"]
        # Pick the changed items (evenly spread), the ones among them that cross zero, and
        # the ring-fenced-only ones (disjoint from the changed ones).
        n_changed = max(1, round(n_items * args.changed_share))
        step = max(1, n_items // n_changed)
        changed = list(range(0, n_items, step))[:n_changed]
        n_crossing = round(len(changed) * args.crossing_share)
        crossing = set(changed[:: max(1, len(changed) // n_crossing)][:n_crossing]) if n_crossing else set()
        taken = set(changed)
        n_fenced = max(0, round(n_items * args.ring_fenced_share))
        fenced_only = [i for i in range(step // 2, n_items, max(1, n_items // max(n_fenced, 1)))
                       if i not in taken][:n_fenced]
        # The crossing items start out unavailable under the rule: nothing in any included
        # warehouse (stock in the ring-fenced one may stay; it does not count).
        for i in crossing:
            for row in items[i]["ItemWarehouseInfoCollection"]:
                if row["WarehouseCode"] in included:
                    row.update(InStock=0.0, Committed=0.0)
        results["generate_seconds"] = time.perf_counter() - started

        b1 = SapB1Sandbox(users={(COMPANY_DB, USERNAME): os.environ[B1_PASSWORD_ENV]})
        b1.add_warehouses(warehouses)
        b1.add_items(items)
        del items
        # Only the benchmark holds the whole catalogue in memory: keep the garbage
        # collector from re-scanning it on every collection.
        gc.freeze()
        b1_server = serve_in_thread(b1)
        servers.append(b1_server)
        dd = DotdigitalSandbox(api_users={DD_API_USER: os.environ[DD_PASSWORD_ENV]},
                               calls_per_minute=10_000_000, import_delay_seconds=args.import_delay)
        dd_server = serve_in_thread(dd)
        servers.append(dd_server)

        conn = ErpConnection.objects.create(
            name="b1-bench", kind="sap_b1", base_url=f"{b1_server.url}/b1s/v1", company_db=COMPANY_DB,
            username=USERNAME, password_env=B1_PASSWORD_ENV, page_size=args.page_size, verify_tls=False,
        )
        account = EspAccount.objects.create(
            name="dotdigital-bench", kind="dotdigital", region="r1", base_url=f"{dd_server.url}/{{region}}",
            api_user=DD_API_USER, password_env=DD_PASSWORD_ENV, calls_per_minute=1_000_000,
        )
        mappings_install_defaults(destination=account)
        rule = WarehouseRule.objects.create(destination=account, excluded_warehouses=[fenced])
        products = Flow.objects.create(name="products", connection=conn, destination=account, entity="products")
        signals = Flow.objects.create(name="stock-signals", connection=conn, destination=account,
                                      entity="stock_events")
        flows = (products, signals)
        throttle = throttle_for(account, account.calls_per_minute)
        adapter = DotdigitalDestination(account, throttle, poll_initial_wait=args.poll_wait,
                                        poll_wait_per_contact=0.0, poll_max_wait=5.0)
        # The insight pusher floors its first wait at 5 s (dotdigital's advice); the
        # benchmark measures the hub, so it polls sooner against the fast sandbox.
        adapter.insight.poll_initial_wait = args.poll_wait
        results["setup"] = {
            "included_warehouses": included, "ring_fenced_warehouse": fenced,
            "availability": rule.availability, "low_stock_threshold": rule.low_stock_threshold,
            "changed_items": len(changed), "crossing_items": len(crossing), "ring_fenced_only_items": len(fenced_only),
        }

        def pull(entity: str):
            source = TimedSource(SapB1Source(conn))
            requests_before = len(b1.request_log)
            started = time.perf_counter()
            run = connection_pull(connection=conn, entity=entity, adapter=source)
            seconds = time.perf_counter() - started
            source.close()
            return run, {
                "status": run.status, "records_read": run.records_read, "records_changed": run.records_changed,
                "records_planned": run.records_planned, "records_unchanged": run.records_unchanged,
                "records_failed": run.records_failed, "seconds": seconds,
                "read_seconds": source.seconds, "ingest_plan_seconds": seconds - source.seconds,
                "records_per_second": rate(run.records_read, seconds),
                "sl_requests": len(b1.request_log) - requests_before,
            }

        def push() -> dict:
            calls_before, ex_before = len(dd.call_log), len(dd.exchanges)
            out = {"queued": {f.entity: outbox_counts(f).get("pending", 0) for f in flows}}
            started = time.perf_counter()
            for flow in flows:
                flow_started = time.perf_counter()
                run = flow_push(flow=flow, adapter=adapter)
                out[flow.entity] = {"status": run.status, "accepted": run.records_accepted,
                                    "failed": run.records_failed,
                                    "seconds": time.perf_counter() - flow_started}
            out["seconds"] = time.perf_counter() - started
            out["calls"] = dd_calls(dd.call_log[calls_before:])
            out["records_sent"] = records_in_imports(dd.exchanges[ex_before:])
            return out

        # ---- 1. first load --------------------------------------------------------
        log("1. first load: pull warehouses and items over HTTP")
        _, wh = pull("warehouses")
        _, first_items = pull("items")
        log(f"   items: read {first_items['records_read']} in {first_items['seconds']:.1f}s "
            f"(read {first_items['read_seconds']:.1f}s); queued {outbox_counts(products)} / {outbox_counts(signals)}")
        log("1. first load: push products and stock_events")
        first_push = push()
        catalog0 = snapshot(dd, CATALOG)
        signals0 = snapshot(dd, SIGNALS)
        results["1_first_load"] = {
            "warehouses_pull": wh, "items_pull": first_items, "push": first_push,
            "catalog_records": len(catalog0), "signal_records": len(signals0),
            "signal_kinds": signal_kinds(dd, signals0),
        }
        log(f"   pushed in {first_push['seconds']:.1f}s, calls {first_push['calls']}, "
            f"catalog {len(catalog0)}, signals {len(signals0)}")

        # ---- 2. stock moves, then the scheduled full stock poll --------------------
        log(f"2. set_stock (UpdateDate untouched): {len(changed)} items in {included[0]} "
            f"({len(crossing)} back from zero), {len(fenced_only)} only in {fenced}")
        def available(code: str) -> float:  # under the rule: in stock minus committed, included only
            return sum(r["InStock"] - r["Committed"] for r in b1.items[code]["ItemWarehouseInfoCollection"]
                       if r["WarehouseCode"] in included)

        was_out = {codes[i] for i in changed if available(codes[i]) <= 0}
        for i in changed:
            code = codes[i]
            row = next(r for r in b1.items[code]["ItemWarehouseInfoCollection"] if r["WarehouseCode"] == included[0])
            b1.set_stock(code, included[0], in_stock=(12.0 if i in crossing else row["InStock"] + 7.0))
        for i in fenced_only:
            code = codes[i]
            row = next(r for r in b1.items[code]["ItemWarehouseInfoCollection"] if r["WarehouseCode"] == fenced)
            b1.set_stock(code, fenced, in_stock=row["InStock"] + 9.0)

        # Back in stock: unavailable before, available now (the crossing items, and any changed
        # item that happened to have nothing available in the included warehouses).
        expected_back = {sku_of(c) for c in was_out if available(c) > 0}
        log("2. scheduled stock poll: connection_pull(entity='item_stock') over HTTP")
        _, poll = pull("item_stock")
        queued_keys = set()
        from syncapp.models import OutboxItem

        for flow in flows:
            # Signal keys are "<item code>:<kind>:<time>"; product keys the item code.
            queued_keys |= {key.split(":")[0] for key in OutboxItem.objects.filter(flow=flow, status="pending")
                            .values_list("record_key", flat=True)}
        fenced_codes = {codes[i] for i in fenced_only}
        log(f"   read {poll['records_read']} changed {poll['records_changed']} in {poll['seconds']:.1f}s "
            f"(read {poll['read_seconds']:.1f}s)")
        poll_push = push()
        catalog1 = snapshot(dd, CATALOG)
        signals1 = snapshot(dd, SIGNALS)
        cat = diff(catalog0, catalog1)
        sig = diff(signals0, signals1)
        expected_skus = {sku_of(codes[i]) for i in changed}
        updated_skus = set(cat["rewritten"]) | set(cat["added"])
        results["2_stock_poll"] = {
            "poll": poll, "push": poll_push,
            "poll_plus_push_seconds": poll["seconds"] + poll_push["seconds"],
            "items_queued": len(queued_keys),
            "ring_fenced_only_items_queued": len(fenced_codes & queued_keys),
            "catalog_records_rewritten": len(cat["rewritten"]), "catalog_json_changed": len(cat["json_changed"]),
            "catalog_records_added": len(cat["added"]),
            "catalog_updated_are_exactly_the_changed": updated_skus == expected_skus,
            "ring_fenced_only_skus_in_catalog_updates": len({sku_of(c) for c in fenced_codes} & updated_skus),
            "signals_new": len(sig["added"]), "signals_rewritten": len(sig["rewritten"]),
            "signal_kinds_new": signal_kinds(dd, sig["added"]),
            "back_in_stock_expected": len(expected_back),
            "back_in_stock_skus_match": signal_skus(dd, sig["added"], "back_in_stock") == expected_back,
            "goal_calls_only_for_changed": poll_push["records_sent"].get(CATALOG, 0) == len(changed),
        }
        log(f"   pushed in {poll_push['seconds']:.1f}s, calls {poll_push['calls']}, "
            f"sent {poll_push['records_sent']}, catalog json changed {len(cat['json_changed'])}, "
            f"signals {signal_kinds(dd, sig['added'])}")

        # ---- 3. the next poll, nothing changed ---------------------------------------
        log("3. unchanged stock poll")
        _, poll2 = pull("item_stock")
        push2 = push()
        results["3_unchanged_poll"] = {"poll": poll2, "push": push2}
        log(f"   read {poll2['records_read']} changed {poll2['records_changed']} in {poll2['seconds']:.1f}s; "
            f"calls {push2['calls']['total']}")
        results["total_seconds"] = time.perf_counter() - run_started
    finally:
        for server in servers:
            server.stop()

    print_table(results)
    write_results(args, results)
    return 0


def print_table(r: dict) -> None:
    rows: list[tuple[str, str, str]] = []

    def add(label, value, goal=""):
        rows.append((label, value, goal))

    def calls(c: dict) -> str:
        return f"{c['total']} ({c['insight_import_put']} import PUTs, {c['insight_status_get']} status GETs" \
               + (f", {c['other']} other" if c["other"] else "") + ")"

    s = r["setup"]
    one = r["1_first_load"]
    ip, fp = one["items_pull"], one["push"]
    add("1. first load: items pull (read+ingest+plan)",
        f"{ip['seconds']:.1f} s ({ip['records_per_second']:,.0f} items/s; HTTP read {ip['read_seconds']:.1f} s)")
    add("1. first load: queued products / signals", f"{fp['queued']['products']:,} / {fp['queued']['stock_events']:,}")
    add("1. first load: push", f"{fp['seconds']:.1f} s; calls {calls(fp['calls'])}")
    add("1. first load: catalog records / signals", f"{one['catalog_records']:,} / {one['signal_records']:,}")
    two = r["2_stock_poll"]
    p, pp = two["poll"], two["push"]
    add("2. changed in SAP (set_stock, no UpdateDate)",
        f"{s['changed_items']:,} in {s['included_warehouses'][0]} ({s['crossing_items']} from 0) "
        f"+ {s['ring_fenced_only_items']} only in {s['ring_fenced_warehouse']}")
    add("2. stock poll (read+ingest+plan)", f"**{p['seconds']:.1f} s** ({p['records_per_second']:,.0f} items/s)")
    add("2.   of which HTTP read / ingest+plan", f"{p['read_seconds']:.1f} s / {p['ingest_plan_seconds']:.1f} s "
        f"({p['sl_requests']} SL requests)")
    add("2. read / changed / queued (products, signals)",
        f"{p['records_read']:,} / {p['records_changed']:,} / "
        f"{pp['queued']['products']:,}, {pp['queued']['stock_events']:,}")
    add("2. push", f"{pp['seconds']:.1f} s")
    add("2. dotdigital calls", calls(pp["calls"]), "calls only for the changed")
    sent = pp["records_sent"]
    add("2. records sent: catalog / signals", f"{sent.get(CATALOG, 0):,} / {sent.get(SIGNALS, 0):,}",
        f"catalog = {s['changed_items']:,} {'OK' if two['goal_calls_only_for_changed'] else 'MISSED'}")
    add("2. catalog records rewritten / json changed",
        f"{two['catalog_records_rewritten']:,} / {two['catalog_json_changed']:,}",
        "exactly the changed SKUs " + ("OK" if two["catalog_updated_are_exactly_the_changed"] else "MISSED"))
    add("2. ring-fenced-only: queued / in catalog updates",
        f"{two['ring_fenced_only_items_queued']} / {two['ring_fenced_only_skus_in_catalog_updates']}",
        "0 / 0 " + ("OK" if two["ring_fenced_only_items_queued"] == 0
                    and two["ring_fenced_only_skus_in_catalog_updates"] == 0 else "MISSED"))
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(two["signal_kinds_new"].items())) or "none"
    add("2. signals emitted", f"{two['signals_new']} ({kinds})",
        f"back_in_stock = {two['back_in_stock_expected']} unavailable before, available now "
        + ("OK" if two["back_in_stock_skus_match"] else "MISSED"))
    add("2. poll + push", f"{two['poll_plus_push_seconds']:.1f} s")
    three = r["3_unchanged_poll"]
    p3, c3 = three["poll"], three["push"]["calls"]["total"]
    add("3. unchanged poll: read / changed / queued / calls",
        f"{p3['records_read']:,} / {p3['records_changed']} / "
        f"{sum(three['push']['queued'].values())} / {c3} in {p3['seconds']:.1f} s",
        "0 calls " + ("OK" if c3 == 0 else "MISSED"))
    add("total run time", f"{r['total_seconds']:.1f} s")

    env = r["environment"]
    print(f"\nStock poll benchmark: {r['args']['items']:,} items x {r['args']['warehouses']} warehouses, "
          f"{env['database']}, {env['cpus']} CPUs, Python {env['python']}; "
          f"dotdigital import delay {r['args']['import_delay']} s, first poll {r['args']['poll_wait']} s")
    print_box(rows)


def write_results(args, results: dict) -> None:
    save_results(results, f"stock-{args.items}x{args.warehouses}", args.output)


if __name__ == "__main__":
    sys.exit(main())
