"""A big hub in SQL for bench_pages.py: every table filled by INSERT ... SELECT over generate_series.

PostgreSQL only. Columns a seed does not name take their model default (or NULL when
nullable), so a column another change adds does not break the bench; a required column
with no default is named in the error. `setseed` makes random() repeat from run to run.

The shape, per 100,000 exceptions (everything scales with --exceptions / --outbox / --runs):
four flows (contacts and orders to dotdigital and to Ometria); customers C000001..,
emails c000001@example.com, orders DocEntry 1.. with DocNum 100000+DocEntry and web
reference WEB-<DocNum>, two lines each over 5,000 SKUs (SKU00001..); exceptions keyed by
those records, skewed towards a few reasons as real days are, most open or resolved; outbox
rows mostly accepted with a pending backlog; runs over 30 days, most pushes and pulls.
"""
from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.utils import timezone

FLOWS = [("contacts-dd", "customers", "dd"), ("orders-dd", "orders", "dd"),
         ("contacts-om", "customers", "om"), ("orders-om", "orders", "om")]
SKUS = 5_000


def insert_series(model, source: str, columns: dict[str, str], params: tuple = ()) -> int:
    """INSERT INTO <model's table> SELECT <columns' SQL> FROM <source>; returns rows written.

    `source` is a FROM clause (usually over generate_series) whose %s take `params`; every other concrete column
    gets its model default, auto_now(_add) columns now()."""
    meta = model._meta
    with connection.cursor() as cursor:
        present = {column.name for column in connection.introspection.get_table_description(cursor, meta.db_table)}
    names, exprs, values = [], [], []
    for field in meta.concrete_fields:
        if field.primary_key and isinstance(field, models.AutoField):
            continue
        if field.column not in present and field.column not in columns:
            # A model change whose migration is not written yet: the pages will tell if they need it.
            print(f"bench seed: {meta.db_table}.{field.column} is not in the database; left out")
            continue
        column = field.column
        names.append(f'"{column}"')
        if column in columns:  # SQL with no placeholders: "%" (modulo, text) doubled for the driver
            exprs.append(columns[column].replace("%", "%%"))
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            exprs.append("now()")
        elif field.null and not field.has_default():
            exprs.append("NULL")
        elif field.has_default() or field.empty_strings_allowed:  # Django's default for text is ""
            exprs.append("%s")
            values.append(field.get_db_prep_save(field.get_default(), connection))
        else:
            raise SystemExit(f"bench seed: {meta.label}.{field.name} is required and has no default; "
                             "give it a value in bench/pages_seed.py")
    unknown = set(columns) - {field.column for field in meta.concrete_fields}
    if unknown:
        raise SystemExit(f"bench seed: {meta.label} has no column(s) {sorted(unknown)}")
    # The defaults' placeholders come first in the SELECT list, the caller's params in its source.
    sql = f'INSERT INTO "{meta.db_table}" ({", ".join(names)}) SELECT {", ".join(exprs)} FROM {source}'
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *params])
        return cursor.rowcount


def _pick(values: list[str], index_sql: str) -> str:
    """SQL picking values[index] (index_sql is 0-based), as a literal array lookup."""
    array = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
    return f"(ARRAY[{array}])[1 + ({index_sql})]"


def _skewed(count: int, uniform_sql: str = "random()") -> str:
    """0..count-1, the low numbers far more often (a few reasons make most of a day's exceptions)."""
    return f"LEAST({count - 1}, floor(power({uniform_sql}, 2.5) * {count}))::int"


def _seed_run_outcomes() -> int:
    """Each push run's records: its accepted ones, then the ones refused with the destination's answer."""
    from django.apps import apps

    from syncapp.models import SyncRun

    try:
        outcome = apps.get_model("syncapp", "SyncRunOutcome")
    except LookupError:  # runs without row-level outcomes
        return 0
    runs = (f'"{SyncRun._meta.db_table}" AS r CROSS JOIN LATERAL '
            "generate_series(1, r.records_accepted + r.records_failed) AS n WHERE r.kind = 'push'")
    return insert_series(outcome, runs, {
        "run_id": "r.id", "flow_id": "r.flow_id",
        "record_key": "'C' || lpad((1 + (r.id * 31 + n) % 100000)::text, 6, '0')",
        "outcome": "CASE WHEN n <= r.records_accepted THEN 'accepted' ELSE 'refused' END",
        "answer": "CASE WHEN n <= r.records_accepted THEN '' ELSE 'Email address is not valid' END",
        "payload_digest": "left(md5(n::text), 16)"})


def seed(*, exceptions: int, outbox: int, runs: int, customers: int, orders: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from erp.documents import SalesOrder, SalesOrderLine
    from erp.models import BusinessPartner, ErpConnection, Item
    from erp.sap_ecc.models import Idoc
    from esp.default_mappings import mappings_install_defaults
    from esp.models import EspAccount, WarehouseRule
    from exceptions.models import DuplicateEmailConflict, SyncException
    from exceptions.reasons import REASONS
    from reports.campaigns.models import Campaign
    from reports.models import ReadBack, ReadBackOrder
    from syncapp.models import Flow, HealthSample, OutboxItem, SyncRun
    from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING

    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.7)")
    erp = ErpConnection.objects.create(name="bench-b1", base_url="http://127.0.0.1:1/b1s/v1", company_db="BENCH",
                                       username="manager", password_env="BENCH_SAP_B1_PASSWORD")
    accounts = {"dd": EspAccount.objects.create(name="dotdigital", kind="dotdigital", api_user="a@example.com",
                                                password_env="BENCH_DOTDIGITAL_PASSWORD"),
                "om": EspAccount.objects.create(name="ometria", kind="ometria", password_env="BENCH_OMETRIA_KEY")}
    flows = [Flow.objects.create(name=name, connection=erp, entity=entity, destination=accounts[dest])
             for name, entity, dest in FLOWS]
    for account in accounts.values():
        for entity in ("customers", "orders"):
            mappings_install_defaults(destination=account, entity=entity)
        WarehouseRule.objects.create(destination=account, excluded_warehouses=["05"])
    for role, username in ((MARKETING, "bench-marketing"), (FINANCE, "bench-finance"),
                           (INTEGRATION_ADMIN, "bench-admin")):
        user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw")
        user.groups.add(Group.objects.get_or_create(name=role)[0])

    # The mirror the search looks in.
    counts["customers"] = insert_series(BusinessPartner, "generate_series(1, %s) AS g", {
        "connection_id": str(erp.pk), "card_code": "'C' || lpad(g::text, 6, '0')", "card_name": "'Customer ' || g",
        "card_type": "'customer'", "email": "'c' || lpad(g::text, 6, '0') || '@example.com'",
        "email_normalised": "'c' || lpad(g::text, 6, '0') || '@example.com'", "content_hash": "md5(g::text)"},
        (customers,))
    counts["items"] = insert_series(Item, "generate_series(1, %s) AS g", {
        "connection_id": str(erp.pk), "item_code": "'SKU' || lpad(g::text, 5, '0')", "item_name": "'Item ' || g",
        "content_hash": "md5(g::text)"}, (SKUS,))
    counts["orders"] = insert_series(SalesOrder, "generate_series(1, %s) AS g", {
        "connection_id": str(erp.pk), "doc_entry": "g", "doc_num": "100000 + g",
        "card_code": f"'C' || lpad((1 + (g * 7919) % {customers})::text, 6, '0')",
        "num_at_card": "'WEB-' || (100000 + g)", "doc_date": "current_date - (g % 60)", "currency": "'GBP'",
        "doc_total": "(g % 50000) / 100.0 + 5", "doc_total_local": "(g % 50000) / 100.0 + 5",
        "content_hash": "md5(g::text)"}, (orders,))
    counts["order_lines"] = insert_series(
        SalesOrderLine, f'"{SalesOrder._meta.db_table}" AS o CROSS JOIN generate_series(0, 1) AS n', {
            "document_id": "o.id", "line_num": "n",
            "item_code": f"'SKU' || lpad((1 + (o.doc_entry * 31 + n * 977) % {SKUS})::text, 5, '0')",
            "quantity": "1 + n", "price": "9.99", "line_total": "9.99 * (1 + n)"})

    reasons = list(REASONS.values())
    per_flow = exceptions // len(flows)
    for flow in flows:
        # A record key names a customer or an order; one exception per record and flow.
        key = ("'C' || lpad(g::text, 6, '0')" if flow.entity == "customers" else "g::text")
        counts[f"exceptions_{flow.name}"] = insert_series(
            SyncException,
            f"(SELECT g, {_skewed(len(reasons))} AS r, random() AS s, random() AS t "
            "FROM generate_series(1, %s) AS g) AS x", {
                "connection_id": str(erp.pk), "flow_id": str(flow.pk), "entity": f"'{flow.entity}'",
                "record_key": key, "stage": "'push'", "reason_code": _pick([r.code for r in reasons], "r"),
                "message": _pick([r.message for r in reasons], "r"),
                "detail": "'The destination answered 400: bad request'",
                "source_payload": "jsonb_build_object('CardCode', 'C' || lpad(g::text, 6, '0'))",
                "status": "CASE WHEN s < 0.55 THEN 'open' WHEN s < 0.58 THEN 'retrying' "
                          "WHEN s < 0.93 THEN 'resolved' ELSE 'ignored' END",
                "owner_team": _pick([r.owner for r in reasons], "r"), "attempts": "1 + (g % 5)",
                "first_seen": "now() - t * interval '30 days'",
                "last_seen": "now() - t * interval '30 days' + interval '1 hour'",
                "resolved_at": "CASE WHEN s >= 0.58 AND s < 0.93 THEN now() - t * interval '29 days' END"},
            (min(per_flow, customers if flow.entity == "customers" else orders),))

    per_flow = outbox // len(flows)
    for flow in flows:
        if flow.entity == "orders":
            # An order as the destination accepted it, so the reconciliation finds the mirror's orders
            # sent (99.5 % accepted); keys past the mirror are older orders, out of any recent period.
            status_draw = f"CASE WHEN g <= {orders} THEN random() * 0.784 ELSE random() END"
            payload = (f"CASE WHEN g <= {orders} THEN jsonb_build_object('orderNumber', (100000 + g)::text, "
                       "'purchaseDate', (current_date - (g % 60))::text, 'orderTotal', (g % 50000) / 100.0 + 5, "
                       "'currency', 'GBP') ELSE jsonb_build_object('orderNumber', (100000 + g)::text, "
                       "'purchaseDate', '2020-01-01', 'orderTotal', 10, 'currency', 'GBP') END")
        else:
            status_draw = "random()"
            payload = "jsonb_build_object('email', 'c' || lpad(g::text, 6, '0') || '@example.com', 'FIRSTNAME', 'Ann')"
        key = "g::text" if flow.entity == "orders" else "'C' || lpad(g::text, 6, '0')"
        counts[f"outbox_{flow.name}"] = insert_series(
            OutboxItem, f"(SELECT g, {status_draw} AS s, random() AS t FROM generate_series(1, %s) AS g) AS x", {
                "flow_id": str(flow.pk), "record_key": key,
                "identifier": "'c' || lpad(g::text, 6, '0') || '@example.com'",
                "payload": payload, "payload_hash": "md5(g::text)",
                "accepted_hash": "CASE WHEN s < 0.78 THEN md5(g::text) ELSE '' END",
                "status": "CASE WHEN s < 0.78 THEN 'accepted' WHEN s < 0.93 THEN 'pending' "
                          "WHEN s < 0.96 THEN 'failed' WHEN s < 0.98 THEN 'held' WHEN s < 0.99 THEN 'submitted' "
                          "ELSE 'skipped' END",
                "priority": "(ARRAY[0, 50, 50, 90])[1 + (g % 4)]",
                "planned_at": "now() - t * interval '2 days'",
                "accepted_at": "CASE WHEN s < 0.78 THEN now() - t * interval '2 days' END",
                "submitted_at": "CASE WHEN s >= 0.98 AND s < 0.99 THEN now() - t * interval '2 days' END",
                "created_at": "now() - t * interval '2 days'", "updated_at": "now() - t * interval '2 days'"},
            (per_flow,))

    # dotdigital's orders read back for the reconciliation, as its nightly read leaves them (the
    # accepted ones: Ometria's side is the ledger of accepted rows above).
    orders_dd = next(flow for flow in flows if flow.name == "orders-dd")
    read_back = ReadBack.objects.create(flow=orders_dd, started_at=timezone.now(), finished_at=timezone.now(),
                                        status=ReadBack.Status.FINISHED)
    accepted = f"\"{OutboxItem._meta.db_table}\" AS o WHERE o.flow_id = {orders_dd.pk} AND o.status = 'accepted'"
    read_back.records = counts["read_back_orders"] = insert_series(ReadBackOrder, accepted, {
            "read_back_id": str(read_back.pk), "record_key": "o.record_key",
            "order_number": "o.payload ->> 'orderNumber'", "purchase_date": "(o.payload ->> 'purchaseDate')::date",
            "currency": "'GBP'", "order_total": "(o.payload ->> 'orderTotal')::numeric"})
    read_back.save(update_fields=["records"])

    flow_ids = ", ".join(str(flow.pk) for flow in flows)
    counts["runs"] = insert_series(
        SyncRun, "(SELECT g, random() AS s, random() AS t FROM generate_series(1, %s) AS g) AS x", {
            "flow_id": f"(ARRAY[{flow_ids}])[1 + (g % {len(flows)})]", "connection_id": str(erp.pk),
            "kind": "CASE WHEN g % 5 < 2 THEN 'pull' WHEN g % 5 < 4 THEN 'push' ELSE 'plan' END",
            "status": "CASE WHEN s < 0.85 THEN 'succeeded' WHEN s < 0.95 THEN 'partial' ELSE 'failed' END",
            "started_at": "now() - t * interval '30 days'",
            "finished_at": "now() - t * interval '30 days' + (1 + g % 90) * interval '1 second'",
            "records_read": "g % 1000", "records_changed": "g % 300", "records_planned": "g % 300",
            "records_unchanged": "g % 700", "records_accepted": "g % 250",
            "records_failed": "CASE WHEN s >= 0.85 THEN 1 + g % 20 ELSE 0 END", "api_calls": "1 + g % 10",
            "error": "CASE WHEN s >= 0.95 THEN 'dotdigital answered 503' ELSE '' END"}, (runs,))
    counts["run_outcomes"] = _seed_run_outcomes()
    counts["health_samples"] = insert_series(
        HealthSample, f"unnest(ARRAY[{flow_ids}]) AS f CROSS JOIN generate_series(1, 30 * 288) AS k", {
            "flow_id": "f", "taken_at": "now() - k * interval '5 minutes'", "backlog": "(k * 37) % 40000",
            "lag_seconds": "(k * 13) % 3600", "accepted": "(k * 7) % 500", "failed": "(k * 3) % 9"})
    counts["conflicts"] = insert_series(DuplicateEmailConflict, "generate_series(1, %s) AS g", {
        "connection_id": str(erp.pk), "email_normalised": "'shared' || g || '@example.com'",
        "card_codes": "jsonb_build_array('C' || lpad(g::text, 6, '0'), 'C' || lpad((g + 1)::text, 6, '0'))",
        "status": "CASE WHEN g % 4 = 0 THEN 'resolved' ELSE 'open' END"}, (max(10, exceptions // 50),))
    counts["idocs"] = insert_series(Idoc, "generate_series(1, %s) AS g", {
        "connection_id": str(erp.pk), "docnum": "lpad(g::text, 16, '0')",
        "message_type": "(ARRAY['DEBMAS', 'ORDERS', 'DELVRY', 'MATMAS'])[1 + g % 4]",
        "entity": "(ARRAY['business_partners', 'orders', 'deliveries', 'items'])[1 + g % 4]",
        "family": "(ARRAY['DEBMAS', 'ORDERS', 'DELVRY', 'MATMAS'])[1 + g % 4]", "object_key": "g::text",
        "status": "CASE WHEN g % 50 = 0 THEN '51' WHEN g % 97 = 0 THEN '64' ELSE '53' END",
        "received_at": "now() - g * interval '10 seconds'",
        "status_changed_at": "now() - g * interval '10 seconds'"}, (max(1000, exceptions // 2),))
    counts["campaigns"] = insert_series(Campaign, "generate_series(1, 200) AS g", {
        "account_id": f"CASE WHEN g % 2 = 0 THEN {accounts['dd'].pk} ELSE {accounts['om'].pk} END",
        "external_id": "g::text", "name": "'Campaign ' || g", "date_sent": "now() - g * interval '1 day'",
        "num_sent": "1000 + g"})
    return counts

