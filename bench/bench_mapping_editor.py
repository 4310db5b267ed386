#!/usr/bin/env python
"""Benchmark: the mapping editor on a big mirror (issue 14, "the editor chooses, not types").

    .venv/bin/python bench/bench_mapping_editor.py [--partners 100000] [--repeat 5]
        [--database-url postgres://postgres@127.0.0.1:5432/syncapp_bench]

Fills a fresh database (a temporary SQLite file, or the PostgreSQL database named by
--database-url, which is DROPPED and re-created) with Business Partners (names, emails,
addresses, three user-defined fields, one field empty everywhere), serves a dotdigital
sandbox for the data-field list, then times, as an integration admin through Django's
test client: the editor page with its lists read afresh (caches cleared: one GET of the
data fields, the source samples), the page from the one-minute caches, and the impact
preview (the dry run of the flow, from esp.dry_run). Median and slowest of `--repeat`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_customers import prepare_environment  # noqa: E402  (shared: fresh database, settings)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--partners", type=int, default=100_000, help="Business Partners in the mirror (default 100000)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--database-url", default="",
                   help="postgres://... (that database is dropped and re-created); default: a temporary SQLite file")
    return p.parse_args(argv)


def fill(partners: int):
    from django.contrib.auth.models import Group, User

    from erp.models import BusinessPartner, ErpConnection
    from esp.default_mappings import mappings_install_defaults
    from esp.dotdigital.sandbox import DEMO_API_USER, build_demo_sandbox
    from esp.models import EspAccount
    from syncapp.models import Flow
    from syncapp.roles import INTEGRATION_ADMIN
    from syncapp.sandbox_server import serve_in_thread

    server = serve_in_thread(build_demo_sandbox("bench-dd-password"))
    connection = ErpConnection.objects.create(name="b1", base_url="http://127.0.0.1:1/b1s/v1", company_db="BENCH",
                                              username="manager", password_env="BENCH_B1_PASSWORD",
                                              user_fields=["U_LoyaltyTier", "U_MarketingConsent", "U_Birthday"])
    account = EspAccount.objects.create(name="dd", base_url=f"{server.url}/{{region}}", api_user=DEMO_API_USER,
                                        password_env="BENCH_DOTDIGITAL_PASSWORD")
    mappings_install_defaults(destination=account)
    flow = Flow.objects.create(name="customers", connection=connection, destination=account)
    rows = []
    for n in range(partners):
        code = f"C{n:07d}"
        rows.append(BusinessPartner(
            connection=connection, card_code=code, card_name=f"Customer {n}", card_type="customer",
            email=f"{code.lower()}@example.com", email_normalised=f"{code.lower()}@example.com",
            cellular=f"+4477009{n:05d}"[:14], group_code=100, currency="GBP", content_hash=f"{n:064d}",
            addresses=[{"address_type": "bill_to", "city": "Leeds", "zip_code": "LS1 1AA", "country": "GB"}],
            udfs={"U_LoyaltyTier": ["Gold", "Silver", ""][n % 3], "U_MarketingConsent": "Y",
                  "U_Birthday": None}))
        if len(rows) == 5000:
            BusinessPartner.objects.bulk_create(rows)
            rows = []
    BusinessPartner.objects.bulk_create(rows)
    from django.db import connection as db

    if db.vendor == "postgresql":
        with db.cursor() as cursor:  # as autovacuum would soon: the planner needs the table's statistics
            cursor.execute("ANALYZE erp_businesspartner")
    user = User.objects.create_user("bench-admin")
    user.groups.add(Group.objects.get_or_create(name=INTEGRATION_ADMIN)[0])
    return flow, user, server


def timed(repeat: int, call) -> tuple[float, float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), max(seconds)


def main(argv=None) -> None:
    args = parse_args(argv)
    import os

    os.environ.setdefault("BENCH_B1_PASSWORD", "bench")
    os.environ.setdefault("BENCH_DOTDIGITAL_PASSWORD", "bench-dd-password")
    environment = prepare_environment(args)
    from django.conf import settings
    from django.core.cache import cache
    from django.test import Client

    settings.ALLOWED_HOSTS = ["*"]
    flow, user, server = fill(args.partners)
    client = Client()
    client.force_login(user)
    url = f"/mappings/{flow.destination_id}/customers/"

    def page() -> None:
        assert client.get(url).status_code == 200

    def fresh_page() -> None:
        cache.clear()
        page()

    def impact() -> None:
        from esp.forms import MappingFormSet
        from esp.views_mappings import _row_choices

        destination = flow.destination
        formset = MappingFormSet(destination=destination, entity="customers",
                                 choices=_row_choices(destination, "customers", [flow]))
        data = {f"form-{name}": formset.management_form[name].value()
                for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}
        for form in formset.forms:
            for name in form.fields:
                value = form[name].value()
                if value is True:
                    data[f"{form.prefix}-{name}"] = "on"
                elif value not in (False, None):
                    data[f"{form.prefix}-{name}"] = value
        data.update(action="impact", flow=flow.pk)
        response = client.post(url, data)
        assert response.status_code == 200 and b"would be re-sent" in response.content

    print(f"mapping editor, {args.partners:,} partners, {environment['database']}, median / slowest of {args.repeat}")
    for label, call in (("page, lists read afresh", fresh_page), ("page, lists from the cache", page),
                        ("impact preview (dry run of the flow)", impact)):
        median, slowest = timed(args.repeat, call)
        print(f"  {label:<40} {median * 1000:8.0f} ms {slowest * 1000:8.0f} ms")
    server.stop()


if __name__ == "__main__":
    main()
