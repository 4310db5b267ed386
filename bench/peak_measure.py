"""What bench_peak measures: lag per class, calls against the minimum, 429s, records lost
and duplicated, health samples and CPU.

Two clocks of arrival are kept. "At destination" is the vendor's own record: the call
that carried the change (the taps in peak_support) plus the vendor's processing time
(dotdigital's import, Ometria's validation). "Accepted" is the hub's bookkeeping, every
transition of an outbox row to accepted, logged by a row trigger this benchmark
installs on its own database (an accepted row is accepted again later when it changes,
so its accepted_at alone would hide the first arrival). A customer row planned again while
its send was out stays pending with the newer content when that send is accepted: the
hub records the acceptance (accepted_generation) and the row goes again. Such an acceptance
of an older content is logged too, with the change marker of the content sent, which a
second trigger notes at each claim of a customers flow's row.
"""
from __future__ import annotations

import math
import os
from bisect import bisect_left
from collections import Counter, defaultdict
from datetime import UTC, datetime

# Row triggers with a WHEN clause: a row that is not becoming accepted costs one comparison,
# and no statement has to keep its old and new rows for a transition table.
ACCEPT_LOG_SQL = """
CREATE TABLE bench_accepts (flow_id integer, record_key text, accepted_at timestamptz, marker integer, status text);
CREATE FUNCTION bench_log_accept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_accepts VALUES (NEW.flow_id, NEW.record_key, NEW.accepted_at,
    (substring(NEW.payload::text from '#c([0-9]+)'))::integer,
    coalesce(NEW.payload->>'orderStatus', NEW.payload->>'status', ''));
  RETURN NULL; END $$;
CREATE TRIGGER bench_accepts_update AFTER UPDATE ON {table} FOR EACH ROW
  WHEN (NEW.status = 'accepted' AND NEW.accepted_at IS DISTINCT FROM OLD.accepted_at)
  EXECUTE FUNCTION bench_log_accept();
CREATE TRIGGER bench_accepts_insert AFTER INSERT ON {table} FOR EACH ROW WHEN (NEW.status = 'accepted')
  EXECUTE FUNCTION bench_log_accept();
"""
# Customers flows only: the content each claim sends (its generation and change marker), and
# an acceptance of an older content than the row now holds, with that content's marker.
OLDER_ACCEPTS_SQL = """
CREATE TABLE bench_sends (flow_id integer, record_key text, generation integer, marker integer);
CREATE INDEX bench_sends_row ON bench_sends (flow_id, record_key, generation);
CREATE TABLE bench_older_accepts (flow_id integer, record_key text, accepted_at timestamptz, marker integer);
CREATE FUNCTION bench_log_send() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_sends VALUES (NEW.flow_id, NEW.record_key, NEW.sent_generation,
    (substring(NEW.payload::text from '#c([0-9]+)'))::integer);
  RETURN NULL; END $$;
CREATE FUNCTION bench_log_older_accept() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_older_accepts SELECT NEW.flow_id, NEW.record_key, NEW.accepted_at, max(marker)
    FROM bench_sends WHERE flow_id = NEW.flow_id AND record_key = NEW.record_key
    AND generation = NEW.accepted_generation;
  RETURN NULL; END $$;
CREATE TRIGGER bench_sends_claim AFTER UPDATE ON {table} FOR EACH ROW
  WHEN (NEW.flow_id IN ({flows}) AND NEW.sent_generation IS DISTINCT FROM OLD.sent_generation)
  EXECUTE FUNCTION bench_log_send();
CREATE TRIGGER bench_older_accepts_update AFTER UPDATE ON {table} FOR EACH ROW
  WHEN (NEW.flow_id IN ({flows}) AND NEW.status <> 'accepted'
        AND NEW.accepted_generation IS DISTINCT FROM OLD.accepted_generation)
  EXECUTE FUNCTION bench_log_older_accept();
"""
# --trace-outbox: every write to a customers-flow row, with the writing transaction and the
# wall clock, to show how a customer change was lost.
TRACE_SQL = """
CREATE TABLE bench_trace (at timestamptz, txid bigint, backend integer, flow_id integer, record_key text,
                          status text, generation integer, marker integer, old_marker integer);
CREATE FUNCTION bench_trace_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  INSERT INTO bench_trace VALUES (clock_timestamp(), txid_current(), pg_backend_pid(), NEW.flow_id, NEW.record_key,
    NEW.status, NEW.generation, (substring(NEW.payload::text from '#c([0-9]+)'))::integer,
    (substring(OLD.payload::text from '#c([0-9]+)'))::integer);
  RETURN NULL; END $$;
CREATE TRIGGER bench_trace_update AFTER UPDATE ON {table} FOR EACH ROW WHEN (NEW.flow_id IN ({flows}))
  EXECUTE FUNCTION bench_trace_row();
"""
UNSETTLED = ("pending", "in_flight", "submitted")


def accept_log_install(*, customer_flows: list[int], trace_flows: list[int] = ()) -> None:
    from django.db import connection

    from syncapp.models import OutboxItem

    table = connection.ops.quote_name(OutboxItem._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(ACCEPT_LOG_SQL.format(table=table))
        cursor.execute(OLDER_ACCEPTS_SQL.format(table=table, flows=_id_list(customer_flows)))
        if trace_flows:
            cursor.execute(TRACE_SQL.format(table=table, flows=_id_list(trace_flows)))


def _id_list(pks: list[int]) -> str:
    return ", ".join(str(int(pk)) for pk in pks)


def trace_read(keys: list[tuple[int, str]]) -> list[tuple]:
    """The traced writes of these (flow id, key) rows, in order."""
    from django.db import connection

    rows = []
    with connection.cursor() as cursor:
        for flow_id, key in keys:
            cursor.execute("SELECT extract(epoch FROM at), txid, backend, flow_id, record_key, status, generation, "
                           "marker, old_marker FROM bench_trace WHERE flow_id = %s AND record_key = %s ORDER BY at",
                           [flow_id, key])
            rows += cursor.fetchall()
    return rows


def accept_log_read(since: datetime) -> dict[tuple[int, str], list[tuple[float, int, str]]]:
    """(flow id, key) -> [(accepted epoch, change marker, order status)] in time order."""
    from django.db import connection

    found: dict[tuple[int, str], list] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute("SELECT flow_id, record_key, extract(epoch FROM accepted_at), coalesce(marker, 0), status "
                       "FROM bench_accepts WHERE accepted_at >= %s UNION ALL "
                       "SELECT flow_id, record_key, extract(epoch FROM accepted_at), coalesce(marker, 0), '' "
                       "FROM bench_older_accepts WHERE accepted_at >= %s ORDER BY 3", [since, since])
        for flow_id, key, at, marker, status in cursor:
            found[(flow_id, key)].append((float(at), marker, status))
    return found


def accepted_counts() -> dict[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT flow_id, count(*) FROM bench_accepts GROUP BY flow_id")
        return dict(cursor.fetchall())


# ------------------------------------------------------------------ lag


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {"n": len(ordered), "p50": rank(0.50), "p95": rank(0.95), "max": ordered[-1]}


def _first(arrivals, since: float, wanted=None) -> float | None:
    """The first arrival at or after `since` whose marker satisfies `wanted`."""
    for at, marker in arrivals:
        if at >= since - 1.0 and (wanted is None or wanted(marker)):  # 1 s: SAP's clock and ours are one clock
            return at
    return None


class LagBook:
    """Lag per class and destination, to the destination's record and to the hub's acceptance."""

    def __init__(self, *, hub, log, backfill_entries: int, backfill_started: float | None, accepts, args) -> None:
        self.hub, self.log, self.accepts, self.args = hub, log, accepts, args
        self.backfill_entries, self.backfill_started = backfill_entries, backfill_started
        dd_arrivals = {slot: sorted(times) for slot, times in hub.dd_tap.received.arrivals.items()}
        om_arrivals = {slot: sorted(times) for slot, times in hub.om_tap.received.arrivals.items()}
        self.arrivals = {"dotdigital": dd_arrivals, "ometria": om_arrivals}
        self.delay = {"dotdigital": args.dd_import_delay, "ometria": args.om_validation_delay}
        self.flow_ids = {name: flow.pk for name, flow in hub.flows.items()}
        self.missing: dict[str, list[str]] = defaultdict(list)  # "<class>/<destination>" -> keys never arrived
        self.missing_rows: set[tuple[str, str]] = set()  # (flow name, key) of every change that never arrived
        self.missing_detail: dict[str, list[dict]] = defaultdict(list)  # the first few, with what did arrive

    def _measure(self, name: str, destination: str, cases) -> dict:
        """`cases`: (started, slot, flow name, key, arrival test, acceptance test)."""
        at_destination, accepted = [], []
        arrivals, delay = self.arrivals[destination], self.delay[destination]
        for started, slot, flow, key, wanted, accept_wanted in cases:
            arrived = _first(arrivals.get(slot, ()), started, wanted)
            if arrived is None:
                self.missing[f"{name}/{destination}"].append(key)
                if not name.startswith(" "):
                    self.missing_rows.add((flow, key))
                if len(self.missing_detail[f"{name}/{destination}"]) < 5:
                    self.missing_detail[f"{name}/{destination}"].append({
                        "key": key, "started": started, "arrivals": arrivals.get(slot, [])[-5:],
                        "accepted": self.accepts.get((self.flow_ids[flow], key), [])[-5:]})
            else:
                at_destination.append(arrived + delay - started)
            rows = [(at, (marker, status)) for at, marker, status in self.accepts.get((self.flow_ids[flow], key), ())]
            took = _first(rows, started, accept_wanted)
            if took is not None:
                accepted.append(took - started)
        return {"class": name, "destination": destination, "at_destination": percentiles(at_destination),
                "accepted": percentiles(accepted), "never_arrived": len(self.missing[f"{name}/{destination}"])}

    def all(self) -> list[dict]:
        log = self.log
        new = [(at, entry) for entry, at in log.orders.items()]
        rows = [
            self._measure("new orders", "dotdigital", [
                (at, ("Orders", str(e)), "dd_orders", str(e), None, None) for at, e in new]),
            self._measure("new orders", "ometria", [
                (at, ("orders", str(log.doc_nums[e])), "om_orders", str(e), None, None) for at, e in new]),
            self._measure("  of which for new customers", "dotdigital", [
                (at, ("Orders", str(e)), "dd_orders", str(e), None, None) for at, e in new
                if e in log.new_customer_orders]),
            self._measure("  of which for new customers", "ometria", [
                (at, ("orders", str(log.doc_nums[e])), "om_orders", str(e), None, None) for at, e in new
                if e in log.new_customer_orders]),
            self._measure("dispatches", "dotdigital", [
                (at, ("Dispatches", f"{e}:dispatched"), "dd_dispatch", f"{e}:dispatched", None, None)
                for e, at in log.deliveries.items()]),
            self._measure("dispatches", "ometria", [
                (at, ("orders", str(log.doc_nums[e])), "om_orders", str(e), lambda s: s == "shipped",
                 lambda m: m[1] in ("shipped", "dispatched")) for e, at in log.deliveries.items()]),
        ]
        for destination, flow in (("dotdigital", "dd_customers"), ("ometria", "om_customers")):
            rows.append(self._measure("customer changes", destination, [
                (at, ("contacts", code), flow, code, lambda m, s=seq: m >= s, lambda m, s=seq: m[0] >= s)
                for code, seq, at, _ in log.changes]))
        for destination, flow in (("dotdigital", "dd_customers"), ("ometria", "om_customers")):
            rows.append(self._measure("  of which new customers", destination, [
                (at, ("contacts", code), flow, code, lambda m, s=seq: m >= s, lambda m, s=seq: m[0] >= s)
                for code, seq, at, new in log.changes if new]))
        if self.backfill_started is not None:
            start, entries = self.backfill_started, range(1, self.backfill_entries + 1)
            rows.append(self._measure("backfill", "dotdigital", [
                (start, ("Orders", str(e)), "dd_orders", str(e), None, None) for e in entries]))
            rows.append(self._measure("backfill", "ometria", [
                (start, ("orders", str(100000 + e)), "om_orders", str(e), None, None) for e in entries]))
        return rows


def _push_starts(flow, keys: list[str]) -> dict[str, float]:
    """When the push run that first got each record accepted started."""
    from syncapp.models import SyncRunOutcome

    starts: dict[str, float] = {}
    accepted = SyncRunOutcome.objects.filter(flow_id=flow.pk, record_key__in=keys, outcome="accepted", run__kind="push")
    for key, started in accepted.order_by("id").values_list("record_key", "run__started_at"):
        starts.setdefault(key, started.timestamp())
    return starts


def lag_path(*, hub, log, ticks: list[float], delay: float) -> dict:
    """Where a time-sensitive record's lag to dotdigital goes, per class, from the hub's own
    stamps: the wait for the next scheduled pull (the latest tick before the row was planned,
    less the change), that pull until the record's page was planned (its wait for a process,
    the reading and the pages before), the wait to be sent (push task and allowance), and
    dotdigital's import. Also, per deliveries pull, its first dispatch planned after it started."""
    from syncapp.models import OutboxItem, SyncRun

    arrivals = {slot: sorted(times) for slot, times in hub.dd_tap.received.arrivals.items()}
    out = {}
    for name, flow, slot, cases in (
            ("dispatches", "dd_dispatch", "Dispatches", {f"{e}:dispatched": at for e, at in log.deliveries.items()}),
            ("new orders", "dd_orders", "Orders",  # those delivered were planned again when they were
             {str(e): at for e, at in log.orders.items() if e not in log.deliveries})):
        rows = OutboxItem.objects.filter(flow=hub.flows[flow], record_key__in=list(cases))
        stamps = {key: (planned, accepted) for key, planned, accepted in
                  rows.values_list("record_key", "planned_at", "accepted_at")}
        planned = {key: at for key, (at, _) in stamps.items()}
        pushed = _push_starts(hub.flows[flow], list(cases))
        parts = defaultdict(list)
        for key, changed in cases.items():
            at = planned.get(key)
            arrived = _first(arrivals.get((slot, key), ()), changed)
            if at is None or arrived is None:
                continue
            at = at.timestamp()
            tick = ticks[max(0, bisect_left(ticks, at) - 1)]
            parts["to the pull's tick"].append(tick - changed)
            parts["tick to planned"].append(at - tick)
            parts["planned to sent"].append(arrived - at)
            if (push_start := pushed.get(key)) is not None and at <= push_start <= arrived:
                # Of which: waiting for a push task to start (the queue, a free process), then
                # that push until the call (its claim, the allowance, earlier batches).
                parts["planned to its push's start"].append(push_start - at)
                parts["its push's start to sent"].append(arrived - push_start)
            if (accepted := stamps[key][1]) is not None and accepted.timestamp() >= arrived:
                # dotdigital's verdict is read no sooner than its documented first poll, 5 s on.
                parts["sent to accepted"].append(accepted.timestamp() - arrived)
        out[name] = {part: percentiles(values) for part, values in parts.items()} | {
            "import": {"n": len(parts["planned to sent"]), "p50": delay, "p95": delay, "max": delay}}
    firsts = []
    since = datetime.fromtimestamp(ticks[0], UTC) if ticks else datetime.now(UTC)
    for started, finished in SyncRun.objects.filter(kind=SyncRun.Kind.PULL, entity="deliveries", started_at__gte=since,
                                                    finished_at__isnull=False).values_list("started_at", "finished_at"):
        first = (OutboxItem.objects.filter(flow=hub.flows["dd_dispatch"], planned_at__gte=started,
                                           planned_at__lte=finished).order_by("planned_at")
                 .values_list("planned_at", flat=True).first())
        if first is not None:
            firsts.append((first - started).total_seconds())
    out["deliveries pull: first dispatch planned after its start"] = percentiles(firsts)
    return out


def lag_goals(*, log, args, minutes: float) -> dict[str, dict]:
    """Per destination: one schedule interval plus the time the documented rate needs to
    send one interval's time-sensitive records (new orders and dispatches), plus the
    vendor's processing. The batch sizes are the hub's (dotdigital documents none)."""
    intervals = max(minutes * 60 / args.interval, 1.0)
    orders, dispatches = len(log.orders) / intervals, len(log.deliveries) / intervals
    om_calls = math.ceil(orders / 100) + math.ceil(dispatches / 100)
    dd_imports = math.ceil(orders / 2000) + math.ceil(dispatches / 2000)
    om_seconds = om_calls / 4 + args.om_validation_delay
    dd_seconds = max(0, dd_imports - 1) * 60 / 35 + args.dd_import_delay
    return {
        "ometria": {"records_per_interval": round(orders + dispatches), "calls": om_calls,
                    "rate_minimum_seconds": om_seconds, "goal_seconds": args.interval + om_seconds},
        "dotdigital": {"records_per_interval": round(orders + dispatches), "imports": dd_imports,
                       "rate_minimum_seconds": dd_seconds, "goal_seconds": args.interval + dd_seconds},
    }


# ------------------------------------------------------------------ calls


BATCH_MAXIMUM = {("dotdigital", "contacts"): 10_000, ("dotdigital", "Orders"): 2_000,
                 ("dotdigital", "Dispatches"): 2_000, ("ometria", "contacts"): 100, ("ometria", "orders"): 100}


def max_in_window(stamps: list[float], window: float) -> int:
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def calls_summary(destination: str, tap, *, limit_per_second: float) -> dict:
    calls = sorted(tap.calls, key=lambda c: c.at)
    data = [c for c in calls if c.kind == "data"]
    by_collection = {}
    for collection in sorted({c.collection for c in data}):
        mine = [c for c in data if c.collection == collection]
        ok = [c for c in mine if 200 <= c.status < 300]
        biggest = BATCH_MAXIMUM.get((destination, collection), 100)
        new_records = sum(c.new_records for c in ok)
        minimum = sum(math.ceil(c.new_records / biggest) for c in ok)
        by_collection[collection] = {
            "calls": len(mine), "accepted_calls": len(ok), "http_429": sum(c.status == 429 for c in mine),
            "other_refusals": sum(not (200 <= c.status < 300) and c.status != 429 for c in mine),
            "records_sent": sum(c.records for c in ok), "records_new_content": new_records,
            "resent_records": sum(c.records - c.new_records for c in ok),
            "batch_maximum": biggest, "minimum_calls": minimum, "floor_calls": math.ceil(new_records / biggest),
            "mean_records_per_call": round(sum(c.records for c in ok) / len(ok), 1) if ok else None,
        }
    push_stamps = [c.at for c in data]
    span = (push_stamps[-1] - push_stamps[0]) if len(push_stamps) > 1 else 0.0
    total_calls = sum(v["calls"] for v in by_collection.values())
    minimum = sum(v["minimum_calls"] for v in by_collection.values())
    refusals = [c for c in calls if c.status == 429]
    return {
        "collections": by_collection, "data_calls": total_calls, "minimum_calls": minimum,
        "floor_calls": sum(v["floor_calls"] for v in by_collection.values()),
        "calls_over_minimum_percent": round(100 * (total_calls - minimum) / minimum, 2) if minimum else None,
        "polls": sum(c.kind == "poll" for c in calls), "errors_reads": sum(c.kind == "errors_read" for c in calls),
        "setup_calls": sum(c.kind == "setup" for c in calls), "other_calls": sum(c.kind == "other" for c in calls),
        "http_429": len(refusals), "http_429_by_reason": dict(Counter(c.refusal or "rate" for c in refusals)),
        "http_429_by_kind": dict(Counter(c.kind for c in refusals)),
        "max_calls_any_60s": max_in_window([c.at for c in calls if c.kind != "errors_read"], 60.0),
        "max_push_calls_any_1s": max_in_window(push_stamps, 1.0),
        "push_span_seconds": span,
        "push_calls_per_second": round(len(push_stamps) / span, 3) if span else None,
        "limit_per_second": limit_per_second,
        "calls_per_minute_timeline": _per_minute([c.at for c in calls if c.kind != "errors_read"]),
    }


def _per_minute(stamps: list[float]) -> list[int]:
    if not stamps:
        return []
    first = stamps[0]
    counts = Counter(int((s - first) // 60) for s in stamps)
    return [counts.get(m, 0) for m in range(max(counts) + 1)]


def busy_share(stamps: list[float], *, start: float, end: float, window: float) -> float:
    """Share of `window`-long slots between start and end that saw at least one call."""
    slots = max(1, int((end - start) // window))
    ordered = sorted(stamps)
    used = 0
    for n in range(slots):
        at = bisect_left(ordered, start + n * window)
        used += at < len(ordered) and ordered[at] < start + (n + 1) * window
    return used / slots


# ------------------------------------------------------------------ lost and duplicated


def integrity(*, hub, log, backfill_entries: int) -> dict:
    """Every ERP record each flow must hold: accepted (and at the destination), an open
    exception, or still unsettled; anything else is lost. Duplicates: two destination
    records for one ERP key."""
    from exceptions.models import SyncException
    from syncapp.models import OutboxItem

    codes = sorted({code for code, *_ in log.changes} | set(hub.pool_codes))
    entries = [str(e) for e in range(1, backfill_entries + 1)] + [str(e) for e in log.orders]
    dispatched = [f"{e}:dispatched" for e in log.deliveries]
    expected = {"dd_customers": codes, "om_customers": codes, "dd_orders": entries, "om_orders": entries,
                "dd_dispatch": dispatched}
    dd_contacts = Counter(str((c.get("dataFields") or {}).get("CARDCODE")) for c in hub.dd.contacts.values())
    collections = hub.dd.insight_collections
    dd_orders = collections.get("Orders", {}).get("records", {})
    dd_dispatch = collections.get("Dispatches", {}).get("records", {})
    hub.om.settle(everything=True)
    om_contacts = Counter(str(c.get("customer_id")) for c in hub.om.records("contact").values())
    om_orders = hub.om.records("order")
    doc_nums = {str(e): str(100000 + int(e)) for e in entries}
    held = {
        "dd_customers": lambda k: dd_contacts.get(k, 0) > 0, "om_customers": lambda k: om_contacts.get(k, 0) > 0,
        "dd_orders": lambda k: k in dd_orders, "om_orders": lambda k: doc_nums[k] in om_orders,
        "dd_dispatch": lambda k: k in dd_dispatch,
    }
    result = {}
    for name, keys in expected.items():
        flow = hub.flows[name]
        status = dict(OutboxItem.objects.filter(flow=flow).values_list("record_key", "status"))
        open_exceptions = set(SyncException.objects.filter(
            flow=flow, status__in=(SyncException.Status.OPEN, SyncException.Status.RETRYING))
            .values_list("record_key", flat=True))
        counts, lost = Counter(), []
        for key in keys:
            state = status.get(key)
            if key in open_exceptions:
                counts["open_exception"] += 1
            elif state == "accepted":
                if held[name](key):
                    counts["accepted"] += 1
                else:
                    counts["accepted_but_absent"] += 1
                    lost.append(key)
            elif state in UNSETTLED or state == "held":
                counts[f"unsettled_{state}"] += 1
            else:
                counts[f"lost_{state or 'no_row'}"] += 1
                lost.append(key)
        result[name] = {"expected": len(keys), **counts, "lost": len(lost), "lost_sample": lost[:10]}
    known_nums = set(doc_nums.values())
    duplicates = {
        "dd_contacts_sharing_a_cardcode": sum(1 for n in dd_contacts.values() if n > 1),
        "om_contacts_sharing_a_customer_id": sum(1 for n in om_contacts.values() if n > 1),
        "dd_orders_sharing_an_order_number": sum(1 for n in Counter(
            str(r.get("orderNumber") or r.get("id")) for r in dd_orders.values()).values() if n > 1),
        "om_orders_not_an_erp_order": sum(1 for key in om_orders if key not in known_nums),
        "dd_dispatch_signals_sharing_an_order": sum(1 for n in Counter(
            str(r.get("orderId")) for r in dd_dispatch.values()).values() if n > 1),
    }
    return {"flows": result, "lost": sum(v["lost"] for v in result.values()),
            "duplicated": sum(duplicates.values()), "duplicates": duplicates,
            "unsettled": sum(n for v in result.values() for k, n in v.items() if k.startswith("unsettled")),
            "open_exceptions": sum(v.get("open_exception", 0) for v in result.values())}


def changes_lost(*, hub, book: LagBook) -> list[tuple[str, str]]:
    """Changes that never reached their destination, whose record is neither an open
    exception nor still on its way: lost, even where the record itself was accepted."""
    from exceptions.models import SyncException
    from syncapp.models import OutboxItem

    lost = []
    by_flow: dict[str, list[str]] = defaultdict(list)
    for name, key in sorted(book.missing_rows):
        by_flow[name].append(key)
    for name, keys in by_flow.items():  # one query per flow and status set, not two per key
        flow = hub.flows[name]
        accounted = set(SyncException.objects.filter(flow=flow, status__in=(
            SyncException.Status.OPEN, SyncException.Status.RETRYING)).values_list("record_key", flat=True))
        accounted |= set(OutboxItem.objects.filter(flow=flow, status__in=(*UNSETTLED, "held"))
                         .values_list("record_key", flat=True))
        lost += [(name, key) for key in keys if key not in accounted]
    return lost


# Which flow sent what a destination's tap calls a collection.
RESENT_FLOWS = {("dotdigital", "contacts"): "dd_customers", ("dotdigital", "Orders"): "dd_orders",
                ("dotdigital", "Dispatches"): "dd_dispatch", ("ometria", "contacts"): "om_customers",
                ("ometria", "orders"): "om_orders"}


def resent_histories(*, hub, destination: str, tap, sample: int = 6) -> dict:
    """Why records went again with content the destination had: for each record re-sent, the
    engine's own story of it (every run's outcome for the row, with the run's kind, trigger and
    times, and its exceptions), summed up by pattern, with a few stories in full."""
    from django.db.models import F

    from exceptions.models import SyncException
    from syncapp.models import OutboxItem, SyncRunOutcome

    by_flow: dict[int, list] = defaultdict(list)
    for collection, key, at, first in tap.received.resent:
        name = RESENT_FLOWS.get((destination, collection))
        if name in hub.flows:
            by_flow[hub.flows[name].pk].append((collection, key, at, first))
    for flow_id, resent in by_flow.items():  # Ometria knows an order by its id, the hub by its ERP key
        known_as = dict(OutboxItem.objects.filter(flow_id=flow_id, remote_id__in={key for _, key, *_ in resent})
                        .exclude(remote_id=F("record_key")).values_list("remote_id", "record_key"))
        by_flow[flow_id] = [(c, known_as.get(key, key), at, first) for c, key, at, first in resent]
    patterns: Counter = Counter()
    stories = []
    for flow_id, resent in by_flow.items():
        keys = sorted({key for _, key, *_ in resent})
        outcomes = defaultdict(list)
        for key, outcome, answer, kind, entity, started, finished in (
                SyncRunOutcome.objects.filter(flow_id=flow_id, record_key__in=keys).order_by("id").values_list(
                    "record_key", "outcome", "answer", "run__kind", "run__entity", "run__started_at",
                    "run__finished_at")):
            outcomes[key].append((outcome, answer[:80], entity or kind, started.timestamp(),
                                  finished.timestamp() if finished else None))
        raised = defaultdict(list)
        for key, reason, status, first_seen, last_seen in SyncException.objects.filter(
                flow_id=flow_id, record_key__in=keys).values_list("record_key", "reason_code", "status",
                                                                  "first_seen", "last_seen"):
            raised[key].append((reason, status, first_seen.timestamp(), last_seen.timestamp()))
        for collection, key, *_ in resent:
            pattern = " > ".join(f"{outcome}/{run}" for outcome, _, run, *_ in outcomes[key])
            patterns[(collection, pattern)] += 1
        for collection, key, at, first in resent[:: max(1, len(resent) // sample)][:sample]:
            stories.append({"collection": collection, "key": key, "sent_again_at": at, "first_sent_at": first,
                            "outcomes": outcomes[key], "exceptions": raised[key]})
    return {"records": len(tap.received.resent),
            "patterns": [{"collection": c, "pattern": p, "records": n} for (c, p), n in patterns.most_common(8)],
            "examples": stories}


def exception_reasons() -> dict[str, int]:
    from django.db.models import Count

    from exceptions.models import SyncException

    rows = (SyncException.objects.filter(status__in=(SyncException.Status.OPEN, SyncException.Status.RETRYING))
            .values_list("reason_code").annotate(n=Count("id")))
    return dict(rows)


# ------------------------------------------------------------------ health page and CPU


def health_sample(flows: list, *, previous: dict[int, int], seconds: float) -> tuple[dict, dict[int, int]]:
    """The health page's figures per flow, plus records accepted since the last sample."""
    from django.db.models import Count

    from syncapp.health import flows_by_priority, flows_health
    from syncapp.models import Flow, OutboxItem

    counts = accepted_counts()
    classes, calls = flows_by_priority(flows=flows)  # the health page's "by priority" section
    by_class = defaultdict(dict)
    for c in classes:
        by_class[c.flow.pk][c.label] = {"accepted_15min": c.accepted, "p50": c.p50, "p95": c.p95, "max": c.max,
                                        "ready": c.ready}
    spent = {c.flow.pk: {"calls_15min": c.calls, "accepted_15min": c.accepted} for c in calls}
    pending = dict(OutboxItem.objects.filter(flow__in=flows, status="pending").values_list("flow_id")
                   .annotate(n=Count("id")))
    rows = {}
    for row in flows_health(flows=Flow.objects.filter(pk__in=[f.pk for f in flows])):
        done = counts.get(row.flow.pk, 0) - previous.get(row.flow.pk, 0)
        rows[row.flow.name] = {
            "light": row.light, "backlog": row.backlog, "pending": pending.get(row.flow.pk, 0),
            "lag_seconds": row.lag_seconds,
            "throughput_per_minute": round(row.throughput_per_minute, 1),
            "accepted_per_minute_now": round(done * 60 / seconds, 1) if seconds else None,
            "problems": row.problems,
            "by_priority": by_class.get(row.flow.pk, {}), "calls": spent.get(row.flow.pk, {}),
        }
    return rows, counts


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process, its reaped children and its live ones (a prefork
    worker's pool), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    own = sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks
    return own + sum(process_cpu_seconds(child) or 0.0 for child in _live_children(pid))


def _live_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))
