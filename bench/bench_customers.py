#!/usr/bin/env python
"""Benchmark: SAP B1 Business Partners -> dotdigital contacts, end to end.

    .venv/bin/python bench/bench_customers.py --count 100000 [--changed 10000]
        [--database-url postgres://postgres@127.0.0.1:5432/syncapp_bench] [--profile]

Every figure printed is measured in this run; see bench/README.md for what each means.
Runs against a fresh database (a temporary SQLite file, or the PostgreSQL database
named by --database-url, which is DROPPED and re-created) and the in-process vendor
sandboxes served over real sockets.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENTITY = "business_partners"
B1_PASSWORD_ENV = "BENCH_SAP_B1_PASSWORD"
DD_PASSWORD_ENV = "BENCH_DOTDIGITAL_PASSWORD"
DD_API_USER = "apiuser-bench@apiconnector.com"
USER_FIELDS = ["U_LoyaltyTier", "U_MarketingConsent", "U_Birthday"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=100_000, help="Business Partners to load (default 100000)")
    p.add_argument("--changed", type=int, default=None,
                   help="records to change for the delta figure (default: count/10, at most 10000)")
    p.add_argument("--database-url", default="",
                   help="postgres://... to run on PostgreSQL (that database is dropped and re-created); "
                        "default: a temporary SQLite file")
    p.add_argument("--page-size", type=int, default=1000, help="records per page (local and Service Layer)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fast-import-delay", type=float, default=0.2,
                   help="dotdigital sandbox import processing time (s) for the call-count figures")
    p.add_argument("--fast-poll-wait", type=float, default=0.3,
                   help="first status poll after this many seconds, for the call-count figures")
    p.add_argument("--wall-import-delay", type=float, default=2.0,
                   help="dotdigital sandbox import processing time (s) for the rate-limited wall-time figure")
    p.add_argument("--wall-calls-per-minute", type=int, default=35,
                   help="rate limit of the account and sandbox for the wall-time figure (dotdigital's lowest tier)")
    p.add_argument("--skip-wall", action="store_true", help="skip figure 5 (the rate-limited full push)")
    p.add_argument("--wall-outbox", choices=("copy", "plan"), default="copy",
                   help="figure 5's outbox: copy the first flow's rows in SQL (fast, default) or plan "
                        "every record again through the engine (adds a planning pass)")
    p.add_argument("--socket-ingest", action="store_true",
                   help="figure 2 also pulls (reads and ingests, no flows) over HTTP into a second connection")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the local ingest-and-plan pull, the first full push and the unchanged "
                        "resync (slows them)")
    p.add_argument("--output", default="", help="JSON results path (default bench/results/<name>.json)")
    args = p.parse_args(argv)
    if args.changed is None:
        args.changed = min(10_000, max(1, args.count // 10))
    args.changed = min(args.changed, args.count)
    return args


# ------------------------------------------------------------------ environment


def prepare_environment(args) -> dict:
    var_dir = tempfile.mkdtemp(prefix="syncapp-bench-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "syncapp.settings"
    os.environ["SYNC_VAR_DIR"] = var_dir
    os.environ["SANDBOXES_ENABLED"] = "true"
    os.environ["SYNC_ENVIRONMENT"] = "development"
    os.environ["DEBUG"] = "false"  # no query log
    os.environ["REDIS_URL"] = ""  # in-process token bucket
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ[B1_PASSWORD_ENV] = "bench-b1-password"
    os.environ[DD_PASSWORD_ENV] = "bench-dd-password"
    if args.database_url:
        _recreate_postgres(args.database_url)
        os.environ["DATABASE_URL"] = args.database_url
        label = "postgresql"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(var_dir) / 'bench.sqlite3'}"
        label = "sqlite"

    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    return {"database": label, "var_dir": var_dir, "migrate_seconds": time.perf_counter() - started}


def _recreate_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"refusing to drop database {name!r}: name a scratch database")
    admin = parts._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# ------------------------------------------------------------------ helpers


class MemorySource:
    """An in-memory source adapter (like tests/syncapp/fakes.FakeSource) serving
    pre-converted pages. Its cursor has SapB1Source's shape ({"updated_at": ...}), so a
    later delta read through the real adapter continues from it."""

    def __init__(self, pages):
        self.pages = pages

    def read_changes(self, entity, cursor):
        from syncapp.adapters import SourceBatch

        newest = None
        for page in self.pages:
            for record in page:
                stamp = record.data["source_updated_at"] if record.data else None
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            yield SourceBatch(records=page, cursor={"updated_at": newest.isoformat() if newest else None})

    def read_one(self, entity, key):
        return None


class TimedSource:
    """Wraps a source adapter and adds up the time spent inside it (HTTP, JSON, convert)."""

    def __init__(self, inner):
        self.inner = inner
        self.seconds = 0.0
        self.records = 0
        self.pages = 0

    def read_changes(self, entity, cursor):
        iterator = iter(self.inner.read_changes(entity, cursor))
        while True:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                self.seconds += time.perf_counter() - started
                return
            self.seconds += time.perf_counter() - started
            self.records += len(batch.records)
            self.pages += 1
            yield batch

    def read_one(self, entity, key):
        return self.inner.read_one(entity, key)

    def close(self):
        close = getattr(self.inner, "close", None)
        if close:
            close()


class TimedApp:
    """WSGI wrapper stamping each request's arrival (for the rate-limit figure)."""

    def __init__(self, app):
        self.app, self.stamps = app, []

    def __call__(self, environ, start_response):
        self.stamps.append(time.monotonic())
        return self.app(environ, start_response)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def calls_by_kind(call_log) -> dict[str, int]:
    kinds = {"data_fields": 0, "import": 0, "import_status": 0, "single_upsert": 0, "other": 0, "http_429": 0}
    for method, path, status in call_log:
        if status == 429:
            kinds["http_429"] += 1
        if path.startswith("/v2/data-fields"):
            kinds["data_fields"] += 1
        elif path == "/contacts/v3/import" and method == "PUT":
            kinds["import"] += 1
        elif path.startswith("/contacts/v3/import/"):
            kinds["import_status"] += 1
        elif path.startswith("/contacts/v3/"):
            kinds["single_upsert"] += 1
        else:
            kinds["other"] += 1
    return kinds


def per_10k(calls: int, contacts: int) -> float | None:
    """Calls per 10,000 contacts; fewer than 10,000 count as 10,000 (they cost the same calls)."""
    return round(calls * 10_000 / max(contacts, 10_000), 2) if contacts else None


def copy_outbox(source_flow, target_flow) -> int:
    """Queue every row of `source_flow` for `target_flow` as never sent, in one SQL
    statement (so figure 5 measures the push, not a second planning pass)."""
    from django.db import connection, transaction

    from syncapp.models import OutboxItem

    q = connection.ops.quote_name
    table = q(OutboxItem._meta.db_table)
    copied = ["record_key", "identifier", "payload", "payload_hash", "priority", "planned_at",
              "created_at", "updated_at"]
    fixed = {"accepted_hash": "''", "remote_id": "''", "status": "'pending'", "generation": "1",
             "attempts": "0", "claim_token": "''", "last_error": "''"}
    columns = ["flow_id", *copied, *fixed]
    select = ["%s", *(q(c) for c in copied), *fixed.values()]
    sql = (f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) "
           f"SELECT {', '.join(select)} FROM {table} WHERE {q('flow_id')} = %s")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [target_flow.id, source_flow.id])
        return cursor.rowcount


def profile_text(profiler: cProfile.Profile, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def outbox_counts(flow) -> dict[str, int]:
    from django.db.models import Count

    from syncapp.models import OutboxItem

    return dict(OutboxItem.objects.filter(flow=flow).values_list("status").annotate(n=Count("id")))


def max_in_window(stamps: list[float], window: float = 60.0) -> int:
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# ------------------------------------------------------------------ the run


def main(argv=None) -> int:
    args = parse_args(argv)
    env = prepare_environment(args)
    run_started = time.perf_counter()

    from django.db import connection as db

    from erp.models import BusinessPartner, ErpConnection
    from erp.sap_b1.adapter import SapB1Source
    from erp.sap_b1.payloads import to_source_record
    from erp.sap_b1.sandbox.app import SapB1Sandbox
    from erp.sap_b1.sandbox.demo import COMPANY_DB, USERNAME, bulk_business_partners
    from esp.default_mappings import mappings_install_defaults
    from esp.dotdigital.adapter import DotdigitalDestination
    from esp.dotdigital.sandbox.app import DotdigitalSandbox
    from esp.models import EspAccount
    from syncapp.models import Flow, SourceCursor
    from syncapp.pushing import adapter_for_flow
    from syncapp.ratelimit import throttle_for
    from syncapp.sandbox_server import serve_in_thread
    from syncapp.services import connection_pull, flow_push, records_replan

    count, page_size = args.count, args.page_size
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "environment": {
            **env, "db_vendor": db.vendor, "python": platform.python_version(),
            "cpus": os.cpu_count(), "machine": platform.machine(),
        },
    }
    servers = []
    profiles: dict[str, str] = {}
    try:
        # ---- data and vendors --------------------------------------------------
        log(f"generating {count} Business Partners")
        started = time.perf_counter()
        partners = bulk_business_partners(count, seed=args.seed)
        results["generate_seconds"] = time.perf_counter() - started

        b1 = SapB1Sandbox(users={(COMPANY_DB, USERNAME): os.environ[B1_PASSWORD_ENV]})
        b1.add_business_partners(partners)
        b1_server = serve_in_thread(b1)
        servers.append(b1_server)
        dd = DotdigitalSandbox(api_users={DD_API_USER: os.environ[DD_PASSWORD_ENV]},
                               calls_per_minute=10_000_000, import_delay_seconds=args.fast_import_delay)
        dd_server = serve_in_thread(dd)
        servers.append(dd_server)

        def erp_connection(name: str) -> ErpConnection:
            return ErpConnection.objects.create(
                name=name, kind="sap_b1", base_url=f"{b1_server.url}/b1s/v1", company_db=COMPANY_DB,
                username=USERNAME, password_env=B1_PASSWORD_ENV, page_size=page_size, verify_tls=False,
                user_fields=USER_FIELDS,
            )

        conn = erp_connection("b1-bench")
        account = EspAccount.objects.create(
            name="dotdigital-bench", kind="dotdigital", region="r1", base_url=f"{dd_server.url}/{{region}}",
            api_user=DD_API_USER, password_env=DD_PASSWORD_ENV, calls_per_minute=1_000_000,
        )
        mappings_install_defaults(destination=account)
        flow = Flow.objects.create(name="customers-to-dotdigital", connection=conn, destination=account,
                                   entity="customers")

        # ---- 1. local ingest + plan --------------------------------------------
        log("1. converting Service Layer dicts with to_source_record")
        started = time.perf_counter()
        records = [to_source_record(raw) for raw in partners]
        convert_seconds = time.perf_counter() - started
        pages = [records[i:i + page_size] for i in range(0, len(records), page_size)]
        # Only the benchmark holds the whole input in memory (a real pull streams pages):
        # keep the garbage collector from re-scanning it on every collection.
        gc.freeze()

        log(f"1. connection_pull through an in-memory source ({len(pages)} pages)")
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        run = connection_pull(connection=conn, entity=ENTITY, adapter=MemorySource(pages))
        if profiler:
            profiler.disable()
            profiles["ingest_and_plan"] = profile_text(profiler)
        pull_seconds = time.perf_counter() - started
        del records, pages
        results["1_local_ingest_plan"] = {
            "records": count,
            "convert_seconds": convert_seconds, "convert_per_second": rate(count, convert_seconds),
            "ingest_plan_seconds": pull_seconds, "ingest_plan_per_second": rate(count, pull_seconds),
            "convert_ingest_plan_per_second": rate(count, convert_seconds + pull_seconds),
            "run_status": run.status, "records_read": run.records_read, "records_changed": run.records_changed,
            "records_planned": run.records_planned, "records_unchanged": run.records_unchanged,
            "records_failed": run.records_failed, "profiled": bool(profiler),
            "goal_per_second": 5000,
        }
        log(f"   {rate(count, pull_seconds):,.0f} records/s ingest+plan; status {run.status}, "
            f"planned {run.records_planned}")

        # ---- 2. the same first load over a socket from the SAP B1 sandbox -------
        log("2. first load read over HTTP from the SAP B1 sandbox through SapB1Source")
        reader = SapB1Source(erp_connection("b1-bench-socket"))
        b1_requests_before = len(b1.request_log)
        read_records, read_pages = 0, 0
        started = time.perf_counter()
        for batch in reader.read_changes(ENTITY, None):
            read_records += len(batch.records)
            read_pages += 1
        read_seconds = time.perf_counter() - started
        reader.close()
        results["2_socket_first_load"] = {
            "records_read": read_records, "page_size": page_size, "pages": read_pages,
            "http_requests": len(b1.request_log) - b1_requests_before,
            "read_seconds": read_seconds, "read_per_second": rate(read_records, read_seconds),
        }
        log(f"   read {rate(read_records, read_seconds):,.0f}/s (HTTP + JSON + to_source_record)")
        if args.socket_ingest:
            log("2. the same first load read and ingested over HTTP (third connection, no flows)")
            source = TimedSource(SapB1Source(erp_connection("b1-bench-socket-ingest")))
            started = time.perf_counter()
            run2 = connection_pull(connection=source.inner.connection, entity=ENTITY, adapter=source)
            socket_seconds = time.perf_counter() - started
            source.close()
            results["2_socket_first_load"].update({
                "ingest_run_status": run2.status, "ingest_records_changed": run2.records_changed,
                "read_ingest_seconds": socket_seconds,
                "read_ingest_per_second": rate(run2.records_read, socket_seconds),
                "ingest_only_per_second": rate(run2.records_read, socket_seconds - source.seconds),
            })
            log(f"   read+ingest {rate(run2.records_read, socket_seconds):,.0f}/s")

        # ---- 3. dotdigital calls: full load, then a delta ------------------------
        throttle = throttle_for(account, account.calls_per_minute)
        adapter = DotdigitalDestination(account, throttle, poll_initial_wait=args.fast_poll_wait,
                                        poll_wait_per_contact=0.0, poll_max_wait=5.0)
        log(f"3. pushing the whole outbox ({outbox_counts(flow)}) to the dotdigital sandbox")
        before = len(dd.call_log)
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        push1 = flow_push(flow=flow, adapter=adapter)
        if profiler:
            profiler.disable()
            profiles["full_push"] = profile_text(profiler)
        push1_seconds = time.perf_counter() - started
        kinds1 = calls_by_kind(dd.call_log[before:])
        calls1 = len(dd.call_log) - before
        setup_calls = kinds1["data_fields"]
        results["3a_full_push"] = {
            "contacts_accepted": push1.records_accepted, "contacts_failed": push1.records_failed,
            "run_status": push1.status, "seconds": push1_seconds,
            "contacts_per_second": rate(push1.records_accepted, push1_seconds),
            "calls": calls1, "calls_by_kind": kinds1, "run_api_calls": push1.api_calls,
            "calls_per_10k": per_10k(calls1, push1.records_accepted),
            "calls_per_10k_excluding_field_setup": per_10k(calls1 - setup_calls, push1.records_accepted),
            "sandbox_contacts": len(dd.contacts),
            "import_delay_seconds": args.fast_import_delay, "poll_initial_wait": args.fast_poll_wait,
        }
        log(f"   {push1.records_accepted} accepted with {calls1} calls {kinds1} in {push1_seconds:.1f}s")

        changed = args.changed
        step = max(1, count // changed)
        changed_codes = [partners[i]["CardCode"] for i in range(0, count, step)][:changed]
        for code in changed_codes:
            b1.update_business_partner(code, CardName=b1.partners[code]["CardName"] + " Jr")
        log(f"3. changed CardName of {len(changed_codes)} partners in SAP; delta pull over HTTP")
        delta_source = TimedSource(SapB1Source(conn))
        started = time.perf_counter()
        run3 = connection_pull(connection=conn, entity=ENTITY, adapter=delta_source)
        delta_pull_seconds = time.perf_counter() - started
        delta_source.close()
        queued = outbox_counts(flow).get("pending", 0)
        before = len(dd.call_log)
        started = time.perf_counter()
        push3 = flow_push(flow=flow, adapter=adapter)
        push3_seconds = time.perf_counter() - started
        kinds3 = calls_by_kind(dd.call_log[before:])
        calls3 = len(dd.call_log) - before
        sample = dd.contacts.get(partners[0]["EmailAddress"].lower(), {})
        results["3b_delta"] = {
            "records_changed_in_sap": len(changed_codes),
            "pull_records_read": run3.records_read, "pull_records_changed": run3.records_changed,
            "pull_records_planned": run3.records_planned, "pull_seconds": delta_pull_seconds,
            "outbox_rows_queued": queued,
            "contacts_accepted": push3.records_accepted, "contacts_failed": push3.records_failed,
            "push_seconds": push3_seconds, "calls": calls3, "calls_by_kind": kinds3,
            "calls_per_10k": per_10k(calls3, push3.records_accepted),
            "sample_contact_has_new_name": "Jr" in json.dumps(sample),
            "goal_calls_per_10k": 3,
        }
        log(f"   read {run3.records_read}, changed {run3.records_changed}, queued {queued}; "
            f"push {push3.records_accepted} with {calls3} calls {kinds3}")

        # ---- 4. unchanged full resync -------------------------------------------
        log("4. cursor reset; full re-read over HTTP (nothing changed)")
        SourceCursor.objects.filter(connection=conn, entity=ENTITY).update(value=None)
        resync_source = TimedSource(SapB1Source(conn))
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        run4 = connection_pull(connection=conn, entity=ENTITY, adapter=resync_source)
        if profiler:
            profiler.disable()
            profiles["unchanged_resync"] = profile_text(profiler)
        resync_seconds = time.perf_counter() - started
        resync_source.close()
        queued4 = outbox_counts(flow).get("pending", 0)
        before = len(dd.call_log)
        push4 = flow_push(flow=flow, adapter=adapter)
        calls4 = len(dd.call_log) - before
        results["4_unchanged_resync"] = {
            "records_read": run4.records_read, "records_changed": run4.records_changed,
            "records_planned": run4.records_planned, "outbox_rows_queued": queued4,
            "pull_seconds": resync_seconds, "pull_per_second": rate(run4.records_read, resync_seconds),
            "read_seconds": resync_source.seconds, "profiled": bool(profiler),
            "push_contacts": push4.records_accepted, "calls": calls4,
        }
        log(f"   read {run4.records_read}, changed {run4.records_changed}, queued {queued4}, calls {calls4}")

        # ---- 5. wall time at the lowest rate limit --------------------------------
        if not args.skip_wall:
            cpm = args.wall_calls_per_minute
            dd2 = DotdigitalSandbox(api_users={DD_API_USER: os.environ[DD_PASSWORD_ENV]},
                                    calls_per_minute=cpm, import_delay_seconds=args.wall_import_delay)
            dd2_app = TimedApp(dd2)
            dd2_server = serve_in_thread(dd2_app)
            servers.append(dd2_server)
            account2 = EspAccount.objects.create(
                name="dotdigital-bench-lowtier", kind="dotdigital", region="r1",
                base_url=f"{dd2_server.url}/{{region}}", api_user=DD_API_USER, password_env=DD_PASSWORD_ENV,
                calls_per_minute=cpm,
            )
            mappings_install_defaults(destination=account2)
            flow2 = Flow.objects.create(name="customers-to-dotdigital-lowtier", connection=conn,
                                        destination=account2, entity="customers")
            started = time.perf_counter()
            if args.wall_outbox == "plan":
                log(f"5. planning all {count} for a second account (rate limit {cpm}/min)")
                keys = list(BusinessPartner.objects.filter(connection=conn).order_by("card_code")
                            .values_list("card_code", flat=True))
                for i in range(0, len(keys), page_size):
                    records_replan(flow=flow2, record_keys=keys[i:i + page_size])
            else:
                log(f"5. copying the outbox for a second account (rate limit {cpm}/min)")
                copy_outbox(flow, flow2)
            plan_seconds = time.perf_counter() - started
            queued5 = outbox_counts(flow2).get("pending", 0)
            log(f"5. pushing {queued5} contacts with the production adapter settings (adapter_for_flow)")
            adapter2 = adapter_for_flow(flow2)
            started = time.perf_counter()
            push5 = flow_push(flow=flow2, adapter=adapter2)
            wall = time.perf_counter() - started
            kinds5 = calls_by_kind(dd2.call_log)
            calls5 = len(dd2.call_log)
            minutes = wall / 60
            results["5_rate_limited_full_push"] = {
                "calls_per_minute_limit": cpm, "import_delay_seconds": args.wall_import_delay,
                "poll_initial_wait": adapter2.poll_initial_wait,
                "poll_wait_per_contact": adapter2.poll_wait_per_contact,
                "outbox_built_by": args.wall_outbox, "outbox_seconds": plan_seconds,
                "plan_per_second": rate(count, plan_seconds) if args.wall_outbox == "plan" else None,
                "contacts_queued": queued5, "contacts_accepted": push5.records_accepted,
                "contacts_failed": push5.records_failed, "run_status": push5.status,
                "wall_seconds": wall, "calls": calls5, "calls_by_kind": kinds5,
                "calls_per_minute_average": round(calls5 / minutes, 2) if minutes else None,
                "max_calls_in_any_60s": max_in_window(dd2_app.stamps),
                "rate_limit_floor_seconds": max(0.0, (calls5 - min(cpm, 10)) * 60 / cpm),
                "calls_per_10k": per_10k(calls5, push5.records_accepted),
            }
            log(f"   {push5.records_accepted} contacts in {wall:.1f}s with {calls5} calls {kinds5}")

        results["total_seconds"] = time.perf_counter() - run_started
    finally:
        for server in servers:
            server.stop()

    print_table(results)
    if profiles:
        for name, text in profiles.items():
            print(f"\n===== cProfile: {name} =====\n{text}")
        results["profiles"] = profiles
    write_results(args, results)
    return 0


def print_table(r: dict) -> None:
    rows: list[tuple[str, str, str]] = []

    def add(label, value, goal=""):
        rows.append((label, value, goal))

    one = r["1_local_ingest_plan"]
    add("1. to_source_record conversion", f"{one['convert_per_second']:,.0f} rec/s")
    add("1. ingest+plan (in-memory source)", f"{one['ingest_plan_per_second']:,.0f} rec/s"
        + (" (profiled)" if one["profiled"] else ""),
        f">= 5,000/s {'OK' if one['ingest_plan_per_second'] >= 5000 else 'MISSED'}")
    add("1. convert+ingest+plan", f"{one['convert_ingest_plan_per_second']:,.0f} rec/s")
    add("1. planned / failed", f"{one['records_planned']:,} / {one['records_failed']:,}")
    two = r["2_socket_first_load"]
    add("2. SL read over HTTP (SapB1Source)", f"{two['read_per_second']:,.0f} rec/s "
        f"({two['http_requests']} requests)")
    if "read_ingest_per_second" in two:
        add("2. read+ingest over HTTP (no flows)", f"{two['read_ingest_per_second']:,.0f} rec/s")
    a = r["3a_full_push"]
    add("3. full push time (fast sandbox)", f"{a['seconds']:.1f} s ({a['contacts_per_second']:,.0f} contacts/s)")
    add("3. full push: contacts / calls", f"{a['contacts_accepted']:,} / {a['calls']} "
        f"(fields {a['calls_by_kind']['data_fields']}, imports {a['calls_by_kind']['import']}, "
        f"polls {a['calls_by_kind']['import_status']})")
    add("3. full push calls per 10,000", f"{a['calls_per_10k']} "
        f"({a['calls_per_10k_excluding_field_setup']} without one-off field setup)",
        f"<= 3 {'OK' if a['calls_per_10k_excluding_field_setup'] <= 3 else 'MISSED'} (fields are one-off)")
    b = r["3b_delta"]
    add("3. delta: changed in SAP / read / queued",
        f"{b['records_changed_in_sap']:,} / {b['pull_records_read']:,} / {b['outbox_rows_queued']:,}")
    add("3. delta push: contacts / calls", f"{b['contacts_accepted']:,} / {b['calls']} "
        f"(imports {b['calls_by_kind']['import']}, polls {b['calls_by_kind']['import_status']})")
    if b["calls_per_10k"] is not None:
        add("3. delta calls per 10,000", f"{b['calls_per_10k']}",
            f"<= 3 {'OK' if b['calls_per_10k'] <= 3 else 'MISSED'}")
    four = r["4_unchanged_resync"]
    add("4. resync: read / changed / queued / calls",
        f"{four['records_read']:,} / {four['records_changed']} / {four['outbox_rows_queued']} / {four['calls']}",
        f"0 changed, 0 calls {'OK' if four['records_changed'] == 0 and four['calls'] == 0 else 'MISSED'}")
    add("4. resync pull rate over HTTP", f"{four['pull_per_second']:,.0f} rec/s")
    five = r.get("5_rate_limited_full_push")
    if five:
        add(f"5. full push at {five['calls_per_minute_limit']}/min, import {five['import_delay_seconds']}s",
            f"{five['wall_seconds']:.1f} s for {five['contacts_accepted']:,} contacts")
        add("5. calls used", f"{five['calls']} (max {five['max_calls_in_any_60s']} in any 60 s, "
            f"{five['calls_by_kind']['http_429']} x 429)",
            f"limit {five['calls_per_minute_limit']}/min")
        if five["plan_per_second"]:
            add("5. second-destination plan rate", f"{five['plan_per_second']:,.0f} rec/s")
    add("total run time", f"{r['total_seconds']:.1f} s")

    env = r["environment"]
    print(f"\nSAP B1 -> dotdigital benchmark: {r['args']['count']:,} Business Partners, "
          f"{env['database']}, {env['cpus']} CPUs, Python {env['python']}")
    print_box(rows)


def print_box(rows: list[tuple[str, str, str]]) -> None:
    """The three-column figure table every benchmark prints."""
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    line = "+-" + "-+-".join("-" * w for w in width) + "-+"
    print(line)
    for row in rows:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)) + " |")
    print(line)


def save_results(results: dict, name: str, output: str | None = None) -> None:
    """Write the figures as JSON to `output`, or bench/results/<name>-<db>-<UTC stamp>.json."""
    if output:
        path = Path(output)
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = ROOT / "bench" / "results" / f"{name}-{results['environment']['database']}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults written to {path}")


def write_results(args, results: dict) -> None:
    save_results(results, f"customers-{args.count}", args.output)


if __name__ == "__main__":
    sys.exit(main())
