"""The peak-trading hub: SAP B1, dotdigital and Ometria sandboxes on sockets, each
destination behind a call tap, and the hub configured as `seed_demo` configures it.

The taps see every call as the vendor received it: when, what status, and which ERP
keys (with the customer-change marker or the order status) it carried. That is the
destination's own record of arrival, independent of the hub's bookkeeping.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import re
import threading
import time
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench_customers import B1_PASSWORD_ENV, DD_API_USER, DD_PASSWORD_ENV

from erp.sap_b1.sandbox.app import SapB1Sandbox
from erp.sap_b1.sandbox.documents import DOCUMENT_RESOURCES

OM_KEY_ENV = "BENCH_OMETRIA_API_KEY"
DD_LOW_TIER_PER_MINUTE = 35  # contract 1.7: "Low - Basic: 35 calls per minute"
OM_REQUESTS_PER_SECOND = 4  # contract 2.3 (the older page; the sandbox's default)
OM_QUEUE_LIMIT = 50_000  # contract 2.2
OM_GRACE_SECONDS = 10  # seed_demo's validation grace
MARKER = re.compile(r"#c(\d+)")
_REGION = re.compile(r"^/r[123](/.*)$")


# ------------------------------------------------------------------ SAP, indexed as SAP is


class IndexedSapB1Sandbox(SapB1Sandbox):
    """The SAP sandbox, answering the delta reads of sales documents (the hub's
    `(UpdateDate gt 'D' or (UpdateDate eq 'D' and UpdateTime ge 'T'))`, ordered by
    UpdateDate, UpdateTime, DocEntry; the overlap re-read's window is also bounded above,
    `... and (UpdateDate lt 'D' or (UpdateDate eq 'D' and UpdateTime lt 'T'))`) from a
    sorted index, as the Service Layer answers them from its database. The generic sandbox
    copies and sorts every document for each page after any change; at 100,000+ documents
    that is seconds per page, spent in this process, which would be billed to the hub's
    pulls. Any other query goes the generic way."""

    DELTA = re.compile(r"^\(UpdateDate gt '(\d{4}-\d{2}-\d{2})' or "
                       r"\(UpdateDate eq '\1' and UpdateTime ge '(\d{2}:\d{2}(?::\d{2})?)'\)\)"
                       r"(?: and \(UpdateDate lt '(\d{4}-\d{2}-\d{2})' or "
                       r"\(UpdateDate eq '\3' and UpdateTime lt '(\d{2}:\d{2}(?::\d{2})?)'\)\))?$")
    ORDER = "UpdateDate asc,UpdateTime asc,DocEntry asc"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._indexes: dict[str, tuple[int, list[tuple]]] = {}

    def _query(self, resource, params):
        where = params.get("$filter")
        window = self.DELTA.match(where) if where else None
        if resource.name not in DOCUMENT_RESOURCES or params.get("$orderby") != self.ORDER or (where and not window):
            return super()._query(resource, params)
        with self._lock:
            built = self._indexes.get(resource.name)
            if built is None or built[0] != self._generation:
                index = sorted((row.get("UpdateDate") or "", row.get("UpdateTime") or "", int(row["DocEntry"]), key)
                               for key, row in resource.rows.items())
                built = self._indexes[resource.name] = (self._generation, index)
            index = built[1]
            start = bisect_left(index, (window.group(1), window.group(2))) if window else 0
            end = bisect_left(index, (window.group(3), window.group(4))) if window and window.group(3) else None
            return [key for *_, key in index[start:end]]


# ------------------------------------------------------------------ what a destination received


@dataclass
class Call:
    at: float
    method: str
    path: str
    status: int
    kind: str  # data, poll, errors_read, setup, other
    collection: str = ""
    records: int = 0
    new_records: int = 0  # records whose exact content this destination had not received before
    refusal: str = ""  # a 429's reason: "rate" or "queue"


@dataclass
class Received:
    """Per collection and ERP key: each arrival as (time, marker), marker being the
    customer-change number (#c<n>) or the order status the record carried."""

    arrivals: dict[tuple[str, str], list[tuple[float, object]]] = field(default_factory=lambda: defaultdict(list))
    digests: dict[tuple[str, str], str] = field(default_factory=dict)
    # (collection, key, sent at, first sent at) of each record sent again with content already received
    resent: list[tuple[str, str, float, float]] = field(default_factory=list)


class CallTap:
    """WSGI middleware in front of a destination sandbox. Bodies are parsed on a thread of
    their own, after the vendor answered, so the tap adds no time to a call."""

    def __init__(self, app, parse) -> None:
        self.app, self.parse = app, parse
        self.calls: list[Call] = []
        self.received = Received()
        self.recording = False
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        seen: dict = {}

        def capture(status, headers, exc_info=None):
            seen["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        at = time.time()
        answer = list(self.app(environ, capture))
        if self.recording:
            method, path = environ["REQUEST_METHOD"].upper(), environ.get("PATH_INFO", "")
            refused = b"".join(answer) if seen.get("status") == 429 else b""
            self._queue.put((at, method, path, seen.get("status", 0), body, refused))
        return answer

    def settled(self, timeout: float = 60.0) -> None:
        """Wait until every call so far is parsed."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)

    def _drain(self) -> None:
        while True:
            at, method, path, status, body, refused = self._queue.get()
            try:
                call, items = self.parse(at, method, path, status, body)
                if status == 429:
                    call.refusal = "queue" if b"waiting to be processed" in refused else "rate"
                if 200 <= status < 300:
                    for collection, key, marker, digest in items:
                        slot = (collection, key)
                        again = self.received.digests.get(slot) == digest
                        call.new_records += not again
                        if again:
                            self.received.resent.append((collection, key, at, self.received.arrivals[slot][0][0]))
                        self.received.digests[slot] = digest
                        self.received.arrivals[slot].append((at, marker))
                self.calls.append(call)
            finally:
                self._queue.task_done()


def _digest(record) -> str:
    return hashlib.blake2b(json.dumps(record, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


def _marker(record) -> int:
    found = MARKER.findall(json.dumps(record, default=str))
    return max(map(int, found)) if found else 0


def parse_dotdigital(at, method, path, status, body):
    match = _REGION.match(path)
    path = match.group(1) if match else path
    items: list[tuple] = []
    if path == "/contacts/v3/import" and method == "PUT":
        rows = json.loads(body or b"{}").get("contacts") or []
        items = [("contacts", str((row.get("dataFields") or {}).get("CARDCODE")), _marker(row), _digest(row))
                 for row in rows]
        call = Call(at, method, path, status, "data", "contacts", len(rows))
    elif path.startswith("/contacts/v3/import/") or path.startswith("/insightData/v3/import/"):
        call = Call(at, method, path, status, "poll")
    elif path == "/insightData/v3/import" and method == "PUT":
        payload = json.loads(body or b"{}")
        name, rows = payload.get("collectionName", ""), payload.get("records") or []
        items = [(name, str(row.get("key")), (row.get("json") or {}).get("orderStatus", ""), _digest(row))
                 for row in rows]
        call = Call(at, method, path, status, "data", name, len(rows))
    elif path.startswith("/contacts/v3/") and method == "PATCH":
        row = json.loads(body or b"{}")
        items = [("contacts", str((row.get("dataFields") or {}).get("CARDCODE")), _marker(row), _digest(row))]
        call = Call(at, method, path, status, "data", "contacts", 1)
    elif path.startswith("/v2/data-fields"):
        call = Call(at, method, path, status, "setup")
    else:
        call = Call(at, method, path, status, "other")
    return call, items


def parse_ometria(at, method, path, status, body):
    if path == "/v2/push" and method == "POST":
        rows = json.loads(body or b"[]")
        kind = rows[0].get("@type", "") if rows else ""
        collection = {"contact": "contacts", "order": "orders"}.get(kind, kind)
        items = []
        for row in rows:
            if kind == "contact":
                items.append((collection, str(row.get("customer_id")), _marker(row), _digest(row)))
            else:
                items.append((collection, str(row.get("id")), row.get("status", ""), _digest(row)))
        return Call(at, method, path, status, "data", collection, len(rows)), items
    if path == "/v2/push/_errors":
        return Call(at, method, path, status, "errors_read"), []
    return Call(at, method, path, status, "other"), []


# ------------------------------------------------------------------ the hub


@dataclass
class PeakHub:
    sap: object
    dd: object
    om: object
    dd_tap: CallTap
    om_tap: CallTap
    servers: list
    connection: object
    dd_account: object
    om_account: object
    flows: dict  # "dd_customers", "dd_orders", "dd_dispatch", "om_customers", "om_orders" -> Flow
    pool_codes: list = field(default_factory=list)

    def close(self) -> None:
        for server in self.servers:
            server.stop()


def hub_build(*, args, partners, orders) -> PeakHub:
    """Sandboxes loaded with the customer pool and the older orders, served on sockets; the
    hub configured as seed_demo does (one connection, dotdigital and Ometria accounts,
    five flows, default mappings)."""
    from erp.models import ErpConnection
    from erp.sap_b1.sandbox.demo import COMPANY_DB, USERNAME
    from esp.default_mappings import mappings_install_defaults
    from esp.dotdigital.sandbox import DotdigitalSandbox
    from esp.models import EspAccount
    from esp.ometria.sandbox import OmetriaSandbox
    from syncapp.models import Flow
    from syncapp.sandbox_server import serve_in_thread

    sap = IndexedSapB1Sandbox(users={(COMPANY_DB, USERNAME): os.environ[B1_PASSWORD_ENV]})
    sap.add_business_partners(partners)
    sap.add_documents("orders", orders)
    dd = DotdigitalSandbox(api_users={DD_API_USER: os.environ[DD_PASSWORD_ENV]},
                           calls_per_minute=DD_LOW_TIER_PER_MINUTE, import_delay_seconds=args.dd_import_delay)
    om = OmetriaSandbox([os.environ[OM_KEY_ENV]], requests_per_second=OM_REQUESTS_PER_SECOND,
                        queue_limit=OM_QUEUE_LIMIT, validation_delay=args.om_validation_delay, keep_exchanges=False)
    dd_tap, om_tap = CallTap(dd, parse_dotdigital), CallTap(om, parse_ometria)
    servers = [serve_in_thread(sap), serve_in_thread(dd_tap), serve_in_thread(om_tap)]
    sap_url, dd_url, om_url = (server.url for server in servers)

    extra = {"page_size": args.page_size} if args.page_size else {}
    connection = ErpConnection.objects.create(
        name="demo-b1", kind="sap_b1", base_url=f"{sap_url}/b1s/v1", company_db=COMPANY_DB, username=USERNAME,
        password_env=B1_PASSWORD_ENV, verify_tls=False,
        user_fields=["U_LoyaltyTier", "U_MarketingConsent", "U_Birthday"], **extra)
    dd_account = EspAccount.objects.create(
        name="demo-dotdigital", kind="dotdigital", region="r1", base_url=f"{dd_url}/{{region}}",
        api_user=DD_API_USER, password_env=DD_PASSWORD_ENV, calls_per_minute=DD_LOW_TIER_PER_MINUTE)
    om_account = EspAccount.objects.create(
        name="demo-ometria", kind="ometria", base_url=om_url, api_user="", password_env=OM_KEY_ENV,
        options={"collection": "demo_customers", "validation_grace_seconds": OM_GRACE_SECONDS})
    mappings_install_defaults(destination=dd_account)
    mappings_install_defaults(destination=om_account)
    flows = {}
    for name, account, entity in (("dd_customers", dd_account, "customers"), ("dd_orders", dd_account, "orders"),
                                  ("dd_dispatch", dd_account, "dispatch_events"),
                                  ("om_customers", om_account, "customers"), ("om_orders", om_account, "orders")):
        flows[name] = Flow.objects.create(name=f"demo-{name.replace('_', '-')}", connection=connection,
                                          destination=account, entity=entity)
    return PeakHub(sap, dd, om, dd_tap, om_tap, servers, connection, dd_account, om_account, flows,
                   [p["CardCode"] for p in partners])


def hub_first_sync(hub: PeakHub) -> dict:
    """Bring the customer pool to both destinations before the peak (the hub has been
    running for a while): limits lifted for the set-up only, then put back to the
    documented ones, and the vendors' logs cleared."""
    from esp.ometria.sandbox.app import RateLimiter
    from syncapp.models import OutboxItem, OutboxStatus
    from syncapp.services import connection_pull, flow_confirm_pass, flow_push

    started = time.perf_counter()
    hub.dd.set_calls_per_minute(1_000_000)
    hub.om.push_limiter = RateLimiter(1000, 0.05)
    hub.om.read_limiter = RateLimiter(1000, 0.05)
    for account in (hub.dd_account, hub.om_account):
        account.calls_per_minute = 1_000_000
        account.save(update_fields=["calls_per_minute"])
    options = dict(hub.om_account.options)
    # The hub reckons Ometria validates 50 records a second; the sandbox is quicker, and the
    # set-up should not wait on the estimate (the peak keeps it).
    hub.om_account.options = options | {"min_processing_rate": 100_000, "validation_grace_seconds": 1}
    hub.om_account.save(update_fields=["options"])
    run = connection_pull(connection=hub.connection, entity="business_partners")
    for name in ("dd_customers", "om_customers"):
        flow_push(flow=hub.flows[name])
    flow = hub.flows["om_customers"]
    deadline = time.monotonic() + 300
    while OutboxItem.objects.filter(flow=flow, status=OutboxStatus.SUBMITTED).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("Ometria never confirmed the customer pool")
        time.sleep(2)
        flow_confirm_pass(flow=flow)
    statuses = dict(Counter(OutboxItem.objects.values_list("status", flat=True)))
    hub.dd.set_calls_per_minute(DD_LOW_TIER_PER_MINUTE)
    hub.om.push_limiter = RateLimiter(OM_REQUESTS_PER_SECOND, 0.05)
    hub.om.read_limiter = RateLimiter(OM_REQUESTS_PER_SECOND, 0.05)
    hub.dd_account.calls_per_minute = DD_LOW_TIER_PER_MINUTE
    hub.om_account.calls_per_minute = None
    hub.om_account.options = options
    for account in (hub.dd_account, hub.om_account):
        account.save(update_fields=["calls_per_minute", "options"])
    with hub.dd._lock:
        hub.dd.call_log.clear()
        hub.dd.exchanges.clear()
    with hub.om._lock:
        hub.om.call_log.clear()
        hub.om.push_times.clear()
    return {"partners_read": run.records_read, "seconds": time.perf_counter() - started, "outbox": statuses}


def dd_exchanges_trim(hub: PeakHub) -> None:
    """The dotdigital sandbox keeps every body it received; the tap has what it needs."""
    with hub.dd._lock:
        hub.dd.exchanges.clear()
