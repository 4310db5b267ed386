"""bench_peak's figures: collected after a run, printed as one table per run, and side by
side when the same load ran with one and with two workers."""
from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right

from bench_customers import print_box
from peak_measure import (
    LagBook,
    accept_log_read,
    calls_summary,
    changes_lost,
    exception_reasons,
    integrity,
    lag_goals,
    lag_path,
    percentiles,
    resent_histories,
    trace_read,
)

TIME_SENSITIVE = ("new orders", "dispatches")
DD_PER_MINUTE, OM_PER_SECOND = 35, 4


def report_collect(*, args, hub, generator, watch, cpu, peak_start) -> dict:
    from syncapp.models import SyncRun

    hub.dd_tap.settled()
    hub.om_tap.settled()
    load = generator.log
    accepts = accept_log_read(peak_start)
    book = LagBook(hub=hub, log=load, backfill_entries=args.backfill if watch.backfill_started else 0,
                   backfill_started=watch.backfill_started, accepts=accepts, args=args)
    minutes = (load.finished - load.started) / 60
    backfill_run = watch.backfill_result.get("run_id")
    pulls = list(SyncRun.objects.filter(kind=SyncRun.Kind.PULL, started_at__gte=peak_start, finished_at__isnull=False)
                 .exclude(pk=backfill_run).values_list("started_at", "finished_at", "records_read", "status"))
    durations = [(end - start).total_seconds() for start, end, _, _ in pulls]
    starts = sorted(start.timestamp() for start, *_ in pulls)
    waits = tick_waits(watch.beat.pull_ticks, starts, len(watch.beat.entities))
    lags = book.all()
    checked = integrity(hub=hub, log=load, backfill_entries=args.backfill)
    lost_changes = changes_lost(hub=hub, book=book)
    checked["changes_never_arrived"] = len(lost_changes)
    checked["changes_never_arrived_sample"] = lost_changes[:10]
    checked["lost"] += len(lost_changes)
    if args.trace_outbox:
        checked["trace_of_lost_changes"] = trace_read([(hub.flows[n].pk, k) for n, k in lost_changes[:5]])
    calls = {"dotdigital": calls_summary("dotdigital", hub.dd_tap, limit_per_second=DD_PER_MINUTE / 60),
             "ometria": calls_summary("ometria", hub.om_tap, limit_per_second=OM_PER_SECOND)}
    return {
        "load": {"orders": len(load.orders), "customer_changes": len(load.changes),
                 "new_customers": sum(1 for *_, new in load.changes if new), "deliveries": len(load.deliveries),
                 "backfill_orders": args.backfill if watch.backfill_started else 0, "peak_seconds": minutes * 60},
        "lag": lags, "never_arrived": {k: v[:10] for k, v in book.missing.items() if v},
        "never_arrived_detail": dict(book.missing_detail),
        "goals": lag_goals(log=load, args=args, minutes=minutes),
        "lag_path_dotdigital": lag_path(hub=hub, log=load, ticks=watch.beat.pull_ticks, delay=args.dd_import_delay),
        "calls": calls,
        "resent": {"dotdigital": resent_histories(hub=hub, destination="dotdigital", tap=hub.dd_tap),
                   "ometria": resent_histories(hub=hub, destination="ometria", tap=hub.om_tap)},
        "utilisation": utilisation(hub=hub, samples=watch.samples, started=watch.started),
        "integrity": checked,
        "exception_reasons": exception_reasons(),
        "pulls": {"runs": len(pulls), "failed": sum(1 for *_, status in pulls if status == "failed"),
                  "seconds": percentiles(durations), "records_read": sum(r for _, _, r, _ in pulls),
                  "largest_reads": sorted((r for _, _, r, _ in pulls), reverse=True)[:5],
                  "queue_wait_seconds": percentiles(waits),
                  "sent": len(watch.beat.pull_ticks) * len(watch.beat.entities),
                  "worker_seconds": round(sum(durations), 1), "ticks": watch.beat.pull_ticks, "starts": starts},
        "push_runs": push_runs(hub, peak_start),
        "figures_runs": figures_runs(peak_start),
        "sap_logins": hub.sap.login_count,
        "backfill": watch.backfill_result | ({"started_after_seconds": round(watch.backfill_started - watch.started, 1)}
                                             if watch.backfill_started else {}),
        "cpu": cpu,
        "drained_seconds_after_peak": round(watch.drained_at - load.finished, 1) if watch.drained_at else None,
        "health_samples": watch.samples,
        "celery_queue_max": {name: max(s["celery_tasks"].get(name, 0) for s in watch.samples)
                             for name in sorted({n for s in watch.samples for n in s["celery_tasks"]})},
    }


def tick_waits(ticks: list[float], starts: list[float], per_tick: int) -> list[float]:
    """Each scheduled pull's wait from its tick to its start: the first `per_tick`
    pulls to start after a tick and before the next are taken as that tick's (an estimate: a
    pull skipped because its entity was still being read leaves its place to one asked to
    read again). Pairing the k-th start with the k-th pull sent, as until the sixteenth
    session, put every pull after a read-again one a whole interval late: a p95 of 61-63 s
    where the ticks' pulls started within 10-12 s."""
    waits = []
    for index, tick in enumerate(ticks):
        following = ticks[index + 1] if index + 1 < len(ticks) else float("inf")
        waits += [start - tick for start in starts if tick <= start < following][:per_tick]
    return waits


def push_runs(hub, since) -> dict:
    """Per flow: push and confirm runs, how long each held its worker, what it sent."""
    from syncapp.models import SyncRun

    out = {}
    for name, flow in hub.flows.items():
        runs = list(SyncRun.objects.filter(flow=flow, kind=SyncRun.Kind.PUSH, started_at__gte=since,
                                           finished_at__isnull=False)
                    .values_list("started_at", "finished_at", "records_accepted", "api_calls"))
        seconds = [(end - start).total_seconds() for start, end, _, _ in runs]
        out[name] = {"runs": len(runs), "seconds": percentiles(seconds), "worker_seconds": round(sum(seconds), 1),
                     "records_accepted": sum(r for _, _, r, _ in runs), "api_calls": sum(c for *_, c in runs),
                     # a push that stepped aside for the allowance (or found nothing to send)
                     "runs_without_a_call": sum(1 for *_, calls in runs if not calls)}
    return out


def figures_runs(since) -> dict:
    """The re-plans of customer figures the workers ran as tasks of their own (before the
    fourteenth session each pull ran them before it ended, inside its own time)."""
    from syncapp.figures import FIGURES_RUN_ENTITY
    from syncapp.models import SyncRun

    runs = list(SyncRun.objects.filter(kind=SyncRun.Kind.PLAN, entity=FIGURES_RUN_ENTITY, started_at__gte=since,
                                       finished_at__isnull=False).values_list("started_at", "finished_at",
                                                                              "records_planned"))
    seconds = [(end - start).total_seconds() for start, end, _ in runs]
    return {"runs": len(runs), "seconds": percentiles(seconds), "worker_seconds": round(sum(seconds), 1),
            "records_planned": sum(n for *_, n in runs)}


def utilisation(*, hub, samples: list[dict], started: float) -> dict:
    """How much of each destination's documented rate was used while it had rows waiting to
    be sent (pending, not those sent and awaiting validation): near 100% means the pushes
    are rate-bound, well below means the hub held them up."""
    out = {}
    for destination, tap, prefix, capacity in (("dotdigital", hub.dd_tap, "demo-dd-", DD_PER_MINUTE / 60),
                                               ("ometria", hub.om_tap, "demo-om-", OM_PER_SECOND)):
        kinds = ("data", "poll", "setup") if destination == "dotdigital" else ("data",)
        stamps = sorted(c.at for c in tap.calls if c.kind in kinds)
        busy_seconds = used = 0.0
        for before, after in itertools.pairwise(samples):
            backlog = sum(r["pending"] for name, r in before["flows"].items() if name.startswith(prefix))
            if backlog:
                start, end = started + before["t"], started + after["t"]
                busy_seconds += end - start
                used += bisect_right(stamps, end) - bisect_left(stamps, start)
        share = used / (capacity * busy_seconds) if busy_seconds else None
        out[destination] = {"backlogged_seconds": round(busy_seconds, 1), "calls_while_backlogged": int(used),
                            "calls_per_second": round(used / busy_seconds, 3) if busy_seconds else None,
                            "limit_per_second": round(capacity, 3),
                            "share_of_limit_percent": round(100 * share, 1) if share is not None else None}
    return out


# ------------------------------------------------------------------ printing


def _s(value) -> str:
    return "-" if value is None else f"{value:,.1f} s"


def report_print(r: dict) -> None:
    rows: list[tuple[str, str, str]] = []
    add = lambda label, value, goal="": rows.append((label, value, goal))  # noqa: E731
    a, load = r["args"], r["load"]
    add("peak", f"{load['orders']:,} new orders, {load['customer_changes']:,} customer changes "
        f"({load['new_customers']:,} new), {load['deliveries']:,} deliveries in {load['peak_seconds'] / 60:.1f} min",
        f"{a['workers']} worker(s), pulls every {a['interval']:g} s")
    backfill = r["backfill"]
    if backfill.get("started"):
        add("backfill (own process, full read)", f"{backfill.get('records_read', 0):,} read, "
            f"{backfill.get('records_changed', 0):,} changed in {backfill['finished'] - backfill['started']:,.0f} s",
            backfill.get("status", "") + (f": {backfill['error'][:60]}" if backfill.get("error") else ""))
    for row in r["lag"]:
        goal = ""
        destination = row["destination"]
        if row["class"] in TIME_SENSITIVE:
            target = r["goals"][destination]["goal_seconds"]
            p95 = row["at_destination"]["p95"]
            verdict = "OK" if p95 is not None and p95 <= target and not row["never_arrived"] else "MISSED"
            goal = f"p95 <= {target:.1f} s {verdict}"
        elif row["class"] == "backfill":
            goal = "from the backfill's start"
        d, acc = row["at_destination"], row["accepted"]
        missing = f", {row['never_arrived']:,} never" if row["never_arrived"] else ""
        add(f"lag {row['class']} -> {destination}",
            f"p50 {_s(d['p50'])}, p95 {_s(d['p95'])}, max {_s(d['max'])} (n {d['n']:,}{missing}); "
            f"accepted p95 {_s(acc['p95'])}", goal)
    for name, parts in r.get("lag_path_dotdigital", {}).items():
        if "p50" in parts:
            add(f"  {name}", f"p50 {_s(parts['p50'])}, p95 {_s(parts['p95'])}, max {_s(parts['max'])} (n {parts['n']})")
            continue
        add(f"  {name} -> dotdigital, where the lag goes", "; ".join(
            f"{part} p50 {_s(v['p50'])} p95 {_s(v['p95'])}" for part, v in parts.items()))
    for destination, c in r["calls"].items():
        over = c["calls_over_minimum_percent"]
        verdict = "OK" if over is not None and over <= 1 else "MISSED"
        extra = (f"; polls {c['polls']}, field setup {c['setup_calls']}" if destination == "dotdigital"
                 else f"; errors-list reads {c['errors_reads']} (Data API bucket)")
        add(f"{destination} data calls", f"{c['data_calls']:,} vs minimum {c['minimum_calls']:,} "
            f"(+{over}%), floor {c['floor_calls']:,}{extra}", f"within 1% {verdict}")
        for name, v in c["collections"].items():
            add(f"  {name}", f"{v['calls']:,} calls ({v['http_429']} x 429), {v['records_sent']:,} records "
                f"({v['resent_records']:,} re-sent unchanged), {v['mean_records_per_call']} per call, "
                f"max {v['batch_maximum']:,}")
        add(f"{destination} 429s", f"{c['http_429']} {c['http_429_by_reason'] or ''}",
            f"0 {'OK' if c['http_429'] == 0 else 'MISSED'}")
        peak = (f"max {c['max_calls_any_60s']} calls in any 60 s (limit {DD_PER_MINUTE})" if destination == "dotdigital"
                else f"max {c['max_push_calls_any_1s']} pushes in any 1 s (limit {OM_PER_SECOND})")
        u = r["utilisation"][destination]
        add(f"{destination} rate", f"{peak}; {u['share_of_limit_percent']}% of the limit used while backlogged "
            f"({u['backlogged_seconds']:,.0f} s)")
    integrity = r["integrity"]
    add("records lost / duplicated", f"{integrity['lost']} / {integrity['duplicated']}",
        f"0 / 0 {'OK' if integrity['lost'] == 0 and integrity['duplicated'] == 0 else 'MISSED'}")
    add("unsettled at the end / open exceptions", f"{integrity['unsettled']:,} / {integrity['open_exceptions']:,} "
        f"{r['exception_reasons'] or ''}")
    pulls = r["pulls"]
    add("scheduled pulls", f"{pulls['runs']} runs ({pulls['failed']} failed), p50 {_s(pulls['seconds']['p50'])}, "
        f"max {_s(pulls['seconds']['max'])}, largest reads {', '.join(f'{n:,}' for n in pulls['largest_reads'][:3])}; "
        f"SAP logins {r['sap_logins']} (backfill included)")
    wait = pulls["queue_wait_seconds"]
    add("  pull start after it was sent", f"p50 {_s(wait['p50'])}, p95 {_s(wait['p95'])}, max {_s(wait['max'])} "
        f"({pulls['sent']} sent; waiting in the Celery queue for a free worker)")
    add("  worker time of pulls", f"{pulls['worker_seconds']:,.0f} s")
    figures = r["figures_runs"]
    add("  customer-figures re-plan runs", f"{figures['worker_seconds']:,.0f} s of worker time in {figures['runs']} "
        f"runs, {figures['records_planned']:,} records planned (earlier: inside each pull's own time)")
    for name, v in sorted(r["push_runs"].items(), key=lambda item: -item[1]["worker_seconds"]):
        add(f"  push and confirm runs {name}", f"{v['worker_seconds']:,.0f} s of worker time in {v['runs']} runs, "
            f"p50 {_s(v['seconds']['p50'])}, max {_s(v['seconds']['max'])}; {v['records_accepted']:,} accepted; "
            f"{v.get('runs_without_a_call', '?')} runs without a call")
    queued = r["celery_queue_max"]
    add("  most tasks waiting in the Celery queue", ", ".join(f"{name} {n}" for name, n in queued.items()) or "0")
    cpu = r["cpu"]
    add("CPU", f"workers {', '.join(f'{p}%' for p in cpu['worker_busy_percent'])} of wall; bench process "
        f"{cpu['bench_process_cpu_seconds']:,.0f} s; machine {cpu['machine_busy_percent']}% busy (2 cores, shared)")
    add("drained after the peak", _s(r["drained_seconds_after_peak"]) if r["drained_seconds_after_peak"] is not None
        else "not within --drain-minutes", f"run {cpu['wall_seconds'] / 60:.1f} min")
    env = r["environment"]
    print(f"\nPeak trading: SAP B1 -> dotdigital (Low tier {DD_PER_MINUTE}/min) and Ometria ({OM_PER_SECOND}/s), "
          f"PostgreSQL + Redis, {a['workers']} Celery worker(s), {env['cpus']} CPUs, Python {env['python']}")
    print_box(rows)


def compare_print(runs: list[dict]) -> None:
    rows = [("figure", *[f"{r['args']['workers']} worker(s)" for r in runs])]
    for index, row in enumerate(runs[0]["lag"]):
        label = f"{row['class']} -> {row['destination']} p95 / max"
        cells = []
        for r in runs:
            d = r["lag"][index]["at_destination"]
            cells.append(f"{_s(d['p95'])} / {_s(d['max'])}")
        rows.append((label, *cells))
    for destination in ("dotdigital", "ometria"):
        rows.append((f"{destination} calls (minimum) / 429s", *[
            f"{r['calls'][destination]['data_calls']:,} ({r['calls'][destination]['minimum_calls']:,}) / "
            f"{r['calls'][destination]['http_429']}" for r in runs]))
        rows.append((f"{destination} share of limit while backlogged", *[
            f"{r['utilisation'][destination]['share_of_limit_percent']}%" for r in runs]))
    rows.append(("lost / duplicated", *[f"{r['integrity']['lost']} / {r['integrity']['duplicated']}" for r in runs]))
    rows.append(("worker CPU (% of wall)",
                 *[", ".join(f"{p}%" for p in r["cpu"]["worker_busy_percent"]) for r in runs]))
    rows.append(("machine busy", *[f"{r['cpu']['machine_busy_percent']}%" for r in runs]))
    rows.append(("drained after the peak", *[_s(r["drained_seconds_after_peak"]) for r in runs]))
    width = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    line = "+-" + "-+-".join("-" * w for w in width) + "-+"
    print("\nSame load, one and two workers")
    print(line)
    for row in rows:
        print("| " + " | ".join(str(cell).ljust(w) for cell, w in zip(row, width, strict=True)) + " |")
    print(line)

