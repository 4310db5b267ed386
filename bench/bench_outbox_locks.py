#!/usr/bin/env python
"""Benchmark: locking and reading a page's outbox rows while the flow has no statistics yet (issue 12).

    .venv/bin/python bench/bench_outbox_locks.py --database-url postgres://postgres@127.0.0.1:5432/<scratch>
        [--rows 150000] [--keys 1000] [--repeat 3]

The database named is DROPPED and re-created. The outbox's statistics are taken while the flow
has no row (autovacuum off for the table), then `--rows` rows of the flow are loaded: the state
of a flow's first load, before ANALYZE catches up. Times `outbox_stop` and `outbox_lock` (two
passes) of `--keys` keys spread over the flow, each in a transaction, `--repeat` times; then a
planner's read of those keys' rows (their status, filtered to pending and held) by `outbox_rows_of`
beside the same read as the planners wrote it before (`record_key = ANY(...)`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_customers import prepare_environment  # noqa: E402  (shared: fresh database, settings)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL scratch database (dropped)")
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    prepare_environment(args)

    from django.db import connection, transaction

    from syncapp.bulksql import any_of
    from syncapp.models import OutboxItem
    from syncapp.outbox import outbox_lock, outbox_rows_of, outbox_stop
    from tests.factories import FlowFactory

    flow = FlowFactory()
    other = FlowFactory(connection=flow.connection, destination=flow.destination, entity="orders")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE syncapp_outboxitem SET (autovacuum_enabled = false)")
    OutboxItem.objects.bulk_create([OutboxItem(flow=other, record_key=str(n), status="accepted", payload={},
                                               payload_hash="h") for n in range(50)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE syncapp_outboxitem")
    for start in range(0, args.rows, 10_000):
        OutboxItem.objects.bulk_create([OutboxItem(flow=flow, record_key=str(n), status="pending", payload={},
                                                   payload_hash="h")
                                        for n in range(start, min(start + 10_000, args.rows))], batch_size=5000)
    step = max(args.rows // args.keys, 1)

    def timed(name, call) -> None:
        for round_ in range(args.repeat):
            keys = [str((n * step + round_) % args.rows) for n in range(args.keys)]
            started = time.perf_counter()
            with transaction.atomic():
                call(keys)
            print(f"{name} of {len(keys):,} keys among {args.rows:,} rows: {time.perf_counter() - started:.3f} s")

    timed("outbox_stop", lambda keys: outbox_stop(flow=flow, record_keys=keys, status="held"))
    timed("outbox_lock", lambda keys: outbox_lock(flow=flow, passes=[keys[::2], keys[1::2]]))
    waiting = ["pending", "held"]
    timed("read by record_key = ANY", lambda keys: list(OutboxItem.objects.filter(
        any_of("record_key", keys), flow=flow, status__in=waiting).values_list("record_key", "status")))
    timed("read by outbox_rows_of", lambda keys: list(outbox_rows_of(flows=flow, keys=keys).filter(
        status__in=waiting).values_list("record_key", "status")))


if __name__ == "__main__":
    main()
