#!/usr/bin/env python
"""Peak trading load test (issue 12, part 4): SAP B1 -> dotdigital and Ometria at their
documented limits, Celery workers on Redis and PostgreSQL, a backfill beside the peak.

    .venv/bin/python bench/bench_peak.py                       # 50,000 orders + 20,000 customer changes
                                                               # over 10 minutes, 100,000-order backfill, 2 workers
    .venv/bin/python bench/bench_peak.py --orders 2000 --customers 1000 --minutes 2 --backfill 4000   # smoke
    .venv/bin/python bench/bench_peak.py --compare-workers     # the same load with 1 and with 2 workers

Not a timed test: a script. It DROPS and re-creates the PostgreSQL database named by
--database-url, starts its own redis-server on a spare port, serves the three vendor
sandboxes over real sockets in this process, and runs `celery worker --pool=solo`
subprocesses; this process plays celery beat (a pull of every source entity every
--interval seconds, the outbox sweep every minute) and samples the health page every
--health-every seconds. See bench/README.md ("Peak trading") for what each figure means.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from bench_customers import B1_PASSWORD_ENV, DD_PASSWORD_ENV, _recreate_postgres, log, save_results  # noqa: E402
from peak_support import OM_KEY_ENV  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/syncapp_bench_peak"
# The engine's production timings for the workers (tests/faults/harness.py shortens them).
PRODUCTION_TIMINGS = {"SYNC_LEASE_SECONDS": "60", "SYNC_HEARTBEAT_SECONDS": "15", "SYNC_BACKOFF_BASE_SECONDS": "30",
                      "SYNC_BACKOFF_MAX_SECONDS": "3600", "SYNC_MAX_ATTEMPTS": "5"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--orders", type=int, default=50_000, help="new orders arriving in SAP during the peak")
    p.add_argument("--customers", type=int, default=20_000, help="customer changes during the peak (some new)")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the peak")
    p.add_argument("--backfill", type=int, default=100_000, help="older orders in SAP, backfilled during the peak")
    p.add_argument("--pool", type=int, default=None, help="existing customers (default: --customers)")
    p.add_argument("--lines", type=int, default=4, help="lines per order")
    p.add_argument("--items", type=int, default=2000, help="item codes on the lines")
    p.add_argument("--workers", type=int, choices=(1, 2, 3), default=2, help="Celery worker processes")
    p.add_argument("--concurrency", type=int, default=1,
                   help="processes per worker: 1 runs it solo, more a prefork pool (docker-compose.yml runs 4)")
    p.add_argument("--compare-workers", action="store_true", help="run the same load with 1 and with 2 workers")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between scheduled pulls")
    p.add_argument("--pull-second", type=float, default=None,
                   help="send the pulls at this second of each minute (default: from the peak's start); a "
                        "delta read asks SAP from its cursor's minute, so where in the minute pulls tick matters")
    p.add_argument("--sweep-every", type=float, default=60.0, help="seconds between outbox sweeps")
    p.add_argument("--health-every", type=float, default=30.0, help="seconds between health samples")
    p.add_argument("--dispatch-share", type=float, default=0.2, help="share of new orders delivered during the peak")
    p.add_argument("--dispatch-after", type=float, default=90.0, help="seconds from order to delivery")
    p.add_argument("--new-customer-share", type=float, default=0.1,
                   help="share of customer changes that are new customers (each places an order at once)")
    p.add_argument("--tick", type=float, default=5.0,
                   help="seconds between the generator's writes to SAP (each change is stamped when written)")
    p.add_argument("--backfill-delay", type=float, default=0.0, help="seconds into the peak the backfill starts")
    p.add_argument("--no-backfill", action="store_true", help="no backfill process (the older orders stay in SAP)")
    p.add_argument("--dd-import-delay", type=float, default=2.0, help="dotdigital sandbox import processing (s)")
    p.add_argument("--om-validation-delay", type=float, default=1.0, help="Ometria sandbox validation delay (s)")
    p.add_argument("--bulk-hours", default="", help="off-peak window for backfill rows on both destinations")
    p.add_argument("--drain-minutes", type=float, default=20.0, help="most time to wait for the backlog after the peak")
    p.add_argument("--trace-outbox", action="store_true",
                   help="log every write to outbox rows carrying a customer change (diagnosis; slows writes)")
    p.add_argument("--page-size", type=int, default=0, help="SAP page size (default: the connection's default)")
    p.add_argument("--database-url", default=DEFAULT_DATABASE, help="PostgreSQL database (DROPPED and re-created)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--output", default="", help="JSON results path (default bench/results/peak-...json)")
    args = p.parse_args(argv)
    args.pool = args.pool or max(args.customers, 100)
    return args


# ------------------------------------------------------------------ environment


def environment_prepare(args) -> dict:
    from tests.faults.harness import RedisServer

    parent = Path(os.environ.get("SYNC_VAR_DIR") or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    var_dir = Path(tempfile.mkdtemp(prefix="peak-", dir=parent))
    redis = RedisServer(var_dir / "redis")
    redis.start()
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "syncapp.settings", "SYNC_VAR_DIR": str(var_dir), "SANDBOXES_ENABLED": "true",
        "SYNC_ENVIRONMENT": "development", "DEBUG": "false", "LOG_LEVEL": "WARNING", "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url, "DATABASE_URL": args.database_url, B1_PASSWORD_ENV: "bench-b1-password",
        DD_PASSWORD_ENV: "bench-dd-password", OM_KEY_ENV: "bench-ometria-key", **PRODUCTION_TIMINGS,
    })
    _recreate_postgres(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return {"var_dir": str(var_dir), "redis": redis}


# ------------------------------------------------------------------ the beat this process plays


class Beat(threading.Thread):
    """Pulls of every source entity every `interval` seconds and the sweep every
    `sweep_every`, sent by name to the workers' broker (tests/faults/harness.Beat)."""

    def __init__(self, *, redis_url: str, connection_id: int, entities: list[str], interval: float,
                 sweep_every: float, pull_second: float | None = None) -> None:
        from tests.faults.harness import Beat as Sender

        super().__init__(daemon=True, name="peak-beat")
        self.sender = Sender(redis_url)
        self.connection_id, self.entities = connection_id, entities
        self.interval, self.sweep_every, self.pull_second = interval, sweep_every, pull_second
        self.stopping = threading.Event()
        self.pull_ticks: list[float] = []  # epoch of each round of pulls sent

    def run(self) -> None:
        next_pull = next_sweep = time.monotonic()
        if self.pull_second is not None:
            next_pull += (self.pull_second - time.time()) % 60
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_pull:
                self.pull_ticks.append(time.time())
                for entity in self.entities:  # as syncapp.schedules sends them: expiring at the next tick
                    self.sender.app.send_task("syncapp.connection_pull_task", args=[self.connection_id, entity],
                                              expires=self.interval, retry=False)
                next_pull += self.interval
            if now >= next_sweep:
                self.sender.send("syncapp.outbox_sweep_task")
                next_sweep += self.sweep_every
            self.stopping.wait(0.25)


def pulled_entities(hub) -> list[str]:
    """What schedules_install_defaults would schedule for this connection, in pull order."""
    from syncapp.entities import flow_entity, source_order

    entities = {"business_partners"} | {source for flow in hub.flows.values()
                                        for source in flow_entity(flow.entity).triggers}
    return sorted(entities, key=source_order)


# ------------------------------------------------------------------ one run


def run_once(args) -> dict:
    env = environment_prepare(args)
    redis = env["redis"]
    try:
        return _run(args, env)
    finally:
        redis.stop()


def _run(args, env) -> dict:
    from django.db import connection as db
    from peak_load import LoadGenerator
    from peak_measure import accept_log_install
    from peak_report import report_collect
    from peak_support import dd_exchanges_trim, hub_build, hub_first_sync

    from erp.sap_b1.sandbox.demo import bulk_business_partners
    from erp.sap_b1.sandbox.demo_documents import bulk_orders
    from syncapp.models import SourceCursor
    from tests.faults.harness import Workers

    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "args": vars(args),
        "environment": {"database": "postgresql", "db_vendor": db.vendor, "python": platform.python_version(),
                        "cpus": os.cpu_count(), "var_dir": env["var_dir"], "redis": env["redis"].url},
    }
    log(f"generating {args.pool:,} customers, {args.backfill:,} older orders and {args.orders:,} order templates")
    partners = bulk_business_partners(args.pool, seed=args.seed)
    items = [f"{100000 + n}" for n in range(args.items)]
    documents = bulk_orders(args.backfill + args.orders, args.lines, partners=partners, items=items, seed=args.seed)
    older, templates = documents[:args.backfill], documents[args.backfill:]
    log("loading the SAP sandbox and configuring the hub (as seed_demo does)")
    hub = hub_build(args=args, partners=partners, orders=older)
    try:
        customer_flows = [hub.flows[name].pk for name in ("dd_customers", "om_customers")]
        accept_log_install(customer_flows=customer_flows, trace_flows=customer_flows if args.trace_outbox else [])
        log("first sync of the customer pool to both destinations (limits lifted for the set-up only)")
        results["setup"] = hub_first_sync(hub)
        log(f"   {results['setup']}")
        if args.bulk_hours:
            for account in (hub.dd_account, hub.om_account):
                account.bulk_hours = args.bulk_hours
                account.save(update_fields=["bulk_hours"])
        entities = pulled_entities(hub)
        peak_start = datetime.now(UTC)
        for entity in entities:
            if entity != "business_partners":  # the hub has been reading these; the history is the backfill's
                SourceCursor.objects.update_or_create(connection=hub.connection, entity=entity,
                                                      defaults={"value": {"updated_at": peak_start.isoformat()}})
        env["redis"].flush()  # the set-up's token buckets
        workers = Workers(database_url=args.database_url, redis_url=env["redis"].url,
                          logdir=Path(env["var_dir"]) / "workers", extra_env=dict(PRODUCTION_TIMINGS),
                          concurrency=args.concurrency)
        log(f"starting {args.workers} worker(s) of {args.concurrency} process(es)")
        for _ in range(args.workers):
            workers.start()
        generator = LoadGenerator(
            sap=hub.sap, templates=templates, first_entry=args.backfill + 1, pool=hub.pool_codes, orders=args.orders,
            changes=args.customers, seconds=args.minutes * 60, dispatch_share=args.dispatch_share,
            dispatch_after=args.dispatch_after, new_customer_share=args.new_customer_share, tick=args.tick,
            seed=args.seed)
        beat = Beat(redis_url=env["redis"].url, connection_id=hub.connection.pk, entities=entities,
                    interval=args.interval, sweep_every=args.sweep_every, pull_second=args.pull_second)
        hub.dd_tap.recording = hub.om_tap.recording = True
        watch = Watch(args=args, hub=hub, workers=workers, generator=generator, beat=beat, redis=env["redis"])
        log(f"peak: {args.orders:,} orders and {args.customers:,} customer changes over {args.minutes:g} min, "
            f"pulls of {', '.join(entities)} every {args.interval:g} s")
        generator.start()
        beat.start()
        try:
            watch.until_drained(trim=lambda: dd_exchanges_trim(hub))
        finally:
            beat.stopping.set()
            generator.stop()
            watch.stop_backfill()
            cpu = watch.cpu_read()
            workers.stop_all()
        results.update(report_collect(args=args, hub=hub, generator=generator, watch=watch, cpu=cpu,
                                      peak_start=peak_start))
    finally:
        hub.close()
    return results


class Watch:
    """The main loop while the peak runs: starts the backfill, samples health, decides
    when the backlog has drained, and reads the processes' CPU."""

    def __init__(self, *, args, hub, workers, generator, beat, redis) -> None:
        from peak_measure import machine_cpu, process_cpu_seconds

        self.args, self.hub, self.workers, self.generator, self.beat, self.redis = (
            args, hub, workers, generator, beat, redis)
        self.samples: list[dict] = []
        self.backfill: subprocess.Popen | None = None
        self.backfill_started: float | None = None
        self.backfill_result: dict = {}
        self.started = time.time()
        self.drained_at: float | None = None
        self.cpu_start = {"machine": machine_cpu(), "bench": _own_cpu(),
                          "workers": [process_cpu_seconds(p.pid) or 0.0 for p in workers.processes]}
        self._previous: dict[int, int] = {}
        self._last_sample = 0.0

    def until_drained(self, *, trim) -> None:
        deadline = None
        next_sample = time.time()
        while True:
            now = time.time()
            if self.generator.error:
                raise RuntimeError("the load generator failed") from self.generator.error
            if self.backfill is None and not self.args.no_backfill and now - self.started >= self.args.backfill_delay:
                self.backfill_start()
            if now >= next_sample:
                self.sample(now)
                trim()
                next_sample += self.args.health_every
            if not self.generator.is_alive() and deadline is None:
                deadline = self.generator.log.finished + self.args.drain_minutes * 60
            if deadline is not None and self.drained(now):
                self.drained_at = now
                self.sample(now)
                return
            if deadline is not None and now > deadline:
                log("drain timeout: reporting what is still unsettled")
                self.sample(now)
                return
            time.sleep(1.0)

    def drained(self, now: float) -> bool:
        from syncapp.models import OutboxItem, SyncRun

        if now < self.generator.log.finished + self.args.interval + 5:
            return False  # the last changes are read by the next scheduled pull
        if self.backfill is not None and self.backfill.poll() is None:
            return False
        import redis

        if redis.Redis.from_url(self.redis.url).llen("celery"):
            return False
        if SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists():
            return False
        return not OutboxItem.objects.filter(status__in=("pending", "in_flight", "submitted")).exists()

    def backfill_start(self) -> None:
        log(f"backfill: full read of {self.args.backfill:,} older orders at backfill priority (own process)")
        self.backfill_started = time.time()
        self.backfill = subprocess.Popen([sys.executable, str(HERE / "peak_backfill.py"),
                                          str(self.hub.connection.pk), "orders"],
                                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop_backfill(self) -> None:
        if self.backfill is None:
            return
        if self.backfill.poll() is None:
            self.backfill.terminate()
        output = self.backfill.communicate(timeout=30)[0]
        lines = [line for line in output.splitlines() if line.startswith("{")]
        self.backfill_result = json.loads(lines[-1]) if lines else {"output_tail": output[-2000:]}

    def sample(self, now: float) -> None:
        from django.db import close_old_connections
        from peak_measure import health_sample

        close_old_connections()
        seconds = now - self._last_sample if self._last_sample else 0.0
        rows, self._previous = health_sample(list(self.hub.flows.values()), previous=self._previous, seconds=seconds)
        self._last_sample = now
        load = self.generator.log
        waiting = _queued_tasks(self.redis.url)
        queued = sum(waiting.values())
        sample = {"t": round(now - self.started, 1), "celery_queue": queued, "celery_tasks": waiting,
                  "orders_made": len(load.orders), "changes_made": len(load.changes),
                  "deliveries_made": len(load.deliveries), "ometria_queue": self.hub.om.queued, "flows": rows}
        self.samples.append(sample)
        minutes, secs = divmod(int(sample["t"]), 60)
        parts = [f"{name.removeprefix('demo-')} {r['backlog']:,} lag {_age(r['lag_seconds'])} "
                 f"{r['accepted_per_minute_now'] or 0:,.0f}/min {r['light']}"
                 + "".join(f" [{label[:4]} ready {c['ready']:,} p95 {_age(c['p95'])}]"
                           for label, c in r["by_priority"].items()) for name, r in rows.items()]
        log(f"[+{minutes:02d}:{secs:02d}] made {len(load.orders):,} orders {len(load.changes):,} changes "
            f"{len(load.deliveries):,} deliveries; celery queue {waiting or 0}; health: " + " | ".join(parts))

    def cpu_read(self) -> dict:
        from peak_measure import machine_cpu, process_cpu_seconds

        busy0, total0 = self.cpu_start["machine"]
        busy1, total1 = machine_cpu()
        wall = time.time() - self.started
        workers = [(process_cpu_seconds(p.pid) or 0.0) - start
                   for p, start in zip(self.workers.processes, self.cpu_start["workers"], strict=True)]
        return {"wall_seconds": wall, "machine_busy_percent": round(100 * (busy1 - busy0) / (total1 - total0), 1),
                "bench_process_cpu_seconds": round(_own_cpu() - self.cpu_start["bench"], 1),
                "worker_cpu_seconds": [round(w, 1) for w in workers],
                "worker_busy_percent": [round(100 * w / wall, 1) for w in workers]}


def _queued_tasks(url: str) -> dict[str, int]:
    """Task name -> messages waiting in the broker's default queue (Redis list "celery")."""
    import redis

    names = []
    for message in redis.Redis.from_url(url).lrange("celery", 0, -1):
        try:
            names.append(json.loads(message)["headers"]["task"].removeprefix("syncapp.").removesuffix("_task"))
        except (ValueError, KeyError, TypeError):
            names.append("?")
    return {name: names.count(name) for name in sorted(set(names))}


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


# ------------------------------------------------------------------ entry points


def main(argv=None) -> int:
    args = parse_args(argv)
    # A terminated run still stops its workers, backfill and redis-server (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.compare_workers:
        from peak_report import compare_print

        runs = []
        for count in (1, 2):
            output = Path(tempfile.mkdtemp(prefix="peak-compare-")) / f"w{count}.json"
            child = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--compare-workers"]
            log(f"===== run with {count} worker(s) =====")
            subprocess.run([sys.executable, __file__, *child, "--workers", str(count), "--output", str(output)],
                           check=True)
            runs.append(json.loads(output.read_text()))
        compare_print(runs)
        combined = {"environment": runs[0]["environment"], "args": vars(args), "runs": runs}
        save_results(combined, f"peak-compare-{args.orders}", args.output or None)
        return 0
    from peak_report import report_print

    results = run_once(args)
    report_print(results)
    save_results(results, f"peak-w{args.workers}x{args.concurrency}-{args.orders}", args.output or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
