"""Benchmark: engagement written back to SAP B1 (issue 15, part 2), against the sandbox Service Layer.

    .venv/bin/python bench/bench_writeback.py                         # 10,000 partners, SQLite
    .venv/bin/python bench/bench_writeback.py --partners 500          # quick
    .venv/bin/python bench/bench_writeback.py --database-url postgres://postgres@127.0.0.1:5432/syncapp_bench_wb

Each of --partners Business Partners (in the mirror and in the sandbox SAP over a real
socket) has one campaign click in the hub's activity, so every partner's engagement changed.
Reports, in one run:
1. the first write-back: requests to SAP (login, set-up of the user fields, $batch
   requests of --batch writes each), seconds, and PATCHes per second;
2. the same again with nothing changed: requests to SAP (goal: none);
3. a second click for everyone, written with one plain PATCH per partner (batch size 1,
   a Service Layer without $batch), for comparison.
Writes per 10,000 changes are scaled from the counts. The bucket allows --rate writes a
minute (default: far above what the sandbox takes, so the figure is SAP's own pace). No
activity import runs (the hub's touches are the input). The PostgreSQL database named by
--database-url is DROPPED and re-created.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import B1_PASSWORD_ENV, log, prepare_environment, print_box, rate, save_results


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--partners", type=int, default=10_000, help="Business Partners with a changed engagement")
    p.add_argument("--batch", type=int, default=100, help="writes per $batch request (default 100)")
    p.add_argument("--rate", type=int, default=10_000_000, help="writes a minute the bucket allows")
    p.add_argument("--database-url", default="", help="postgres://... (dropped and re-created); default SQLite")
    p.add_argument("--output", default="")
    return p.parse_args(argv)


def build(args):
    from django.utils import timezone

    from engagement.models import WriteBackSettings
    from erp.models import BusinessPartner, ErpConnection
    from erp.sap_b1.sandbox import SapB1Sandbox
    from esp.models import EspAccount
    from reports.campaigns.models import Campaign
    from syncapp.models import Flow
    from syncapp.sandbox_server import serve_in_thread

    sandbox = SapB1Sandbox(users={("SBODEMOGB", "manager"): os.environ[B1_PASSWORD_ENV]})
    codes = [f"B{n:06d}" for n in range(args.partners)]
    sandbox.add_business_partners({"CardCode": code, "EmailAddress": f"{code.lower()}@example.com"} for code in codes)
    server = serve_in_thread(sandbox)
    connection = ErpConnection.objects.create(
        name="bench-b1", base_url=f"{server.url}/b1s/v1", company_db="SBODEMOGB", username="manager",
        password_env=B1_PASSWORD_ENV, user_fields=["U_LoyaltyTier"])
    account = EspAccount.objects.create(name="bench-dd", region="r1", api_user="bench", password_env="UNUSED")
    Flow.objects.create(name="bench-customers", connection=connection, destination=account)
    WriteBackSettings.objects.create(connection=connection, batch_size=args.batch, patches_per_minute=args.rate,
                                     import_activity=False)
    BusinessPartner.objects.bulk_create(
        [BusinessPartner(connection=connection, card_code=code, card_type="customer",
                         email=f"{code.lower()}@example.com", email_normalised=f"{code.lower()}@example.com",
                         content_hash="bench") for code in codes], batch_size=2000)
    campaign = Campaign.objects.create(account=account, external_id="1", name="Winter knitwear")
    clicks(campaign, codes, timezone.now() - timedelta(hours=2))
    return sandbox, server, connection, campaign, codes


def clicks(campaign, codes, moment) -> None:
    from reports.campaigns.models import Touch
    from reports.campaigns.touches import day_number

    Touch.objects.bulk_create([Touch(campaign=campaign, kind="click", contact_key=f"{code.lower()}@example.com",
                                     occurred_at=moment, day=day_number(moment)) for code in codes], batch_size=5000)


def measured(sandbox, connection, label: str) -> dict:
    from engagement.writeback import engagement_writeback

    before = len(sandbox.request_log)
    started = time.perf_counter()
    run = engagement_writeback(connection=connection)
    seconds = time.perf_counter() - started
    requests = [(method, path) for method, path, params in sandbox.request_log[before:] if "$batch" not in params]
    kinds = {"login": 0, "user_fields": 0, "batch": 0, "patch": 0, "other": 0}
    for method, path in requests:
        key = ("login" if path.endswith(("/Login", "/Logout")) else "user_fields" if "UserFieldsMD" in path
               else "batch" if path.endswith("$batch") else "patch" if method == "PATCH" else "other")
        kinds[key] += 1
    log(f"{label}: {run.status}, {run.partners_written} written in {seconds:.2f}s, {len(requests)} requests {kinds}")
    return {"status": run.status, "changed": run.partners_changed, "written": run.partners_written,
            "failed": run.partners_failed, "patches": run.patches, "write_calls": run.calls,
            "requests": len(requests), "requests_by_kind": kinds, "seconds": round(seconds, 3),
            "patches_per_second": round(rate(run.patches, seconds), 1) if run.patches else 0.0}


def main(argv=None) -> None:
    args = parse_args(argv)
    environment = prepare_environment(args)
    log(f"{args.partners} partners, {args.batch} writes per $batch, {environment['database']}")
    sandbox, server, connection, campaign, codes = build(args)
    try:
        first = measured(sandbox, connection, "first write-back")
        unchanged = measured(sandbox, connection, "nothing changed")
        from django.utils import timezone

        from engagement.models import WriteBackSettings

        WriteBackSettings.objects.filter(connection=connection).update(batch_size=1)
        clicks(campaign, codes, timezone.now() - timedelta(hours=1))
        plain = measured(sandbox, connection, "one PATCH per partner")
    finally:
        server.stop()
    per_10k = 10_000 / args.partners
    rows = [("figure", f"batched ($batch of {args.batch})", "one PATCH per partner"),
            ("partners changed", str(first["changed"]), str(plain["changed"])),
            ("write requests per 10,000 changes", f"{first['write_calls'] * per_10k:,.0f}",
             f"{plain['write_calls'] * per_10k:,.0f}"),
            ("all SAP requests (login, set-up)", str(first["requests"]), str(plain["requests"])),
            ("PATCHes per second", f"{first['patches_per_second']:,.0f}", f"{plain['patches_per_second']:,.0f}"),
            ("seconds", f"{first['seconds']:.2f}", f"{plain['seconds']:.2f}"),
            ("requests when nothing changed", str(unchanged["requests"]), "")]
    print_box(rows)
    save_results({"environment": environment, "partners": args.partners, "batch": args.batch, "rate": args.rate,
                  "first": first, "unchanged": unchanged, "one_patch_each": plain},
                 f"writeback-{args.partners}", args.output)


if __name__ == "__main__":
    main()
