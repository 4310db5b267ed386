"""The README's demo, in-process: the demo company in both sandboxes on real sockets,
configured by `seed_demo` and synced once, so screenshots show what the demo shows."""
from __future__ import annotations

import io

from django.core.management import call_command

from erp.sap_b1.sandbox.demo import build_demo_sandbox as build_sap_sandbox
from esp.dotdigital.adapter import DotdigitalDestination
from esp.dotdigital.sandbox import build_demo_sandbox as build_dotdigital_sandbox
from esp.ometria.adapter import OmetriaDestination
from esp.ometria.confirm import ErrorLedger
from esp.ometria.sandbox import build_demo_sandbox as build_ometria_sandbox
from syncapp.entities import flow_entity, source_order
from syncapp.health import health_sample_record
from syncapp.models import Flow
from syncapp.sandbox_server import serve_in_thread
from syncapp.services import connection_pull, flow_push
from tests.esp.dotdigital_support import FakeClock, RecordingThrottle
from tests.syncapp.fakes import OffsetClock

SAP_PASSWORD, DD_PASSWORD, OMETRIA_KEY = "demo-b1-password", "demo-dd-password", "demo-ometria-key"
# Customers before their orders; customers again last, to carry the order figures.
PUSH_ORDER = ("customers", "products", "stock_events", "orders", "dispatch_events", "customers")


class Demo:
    """`customers` Business Partners with the demo's mess (bad and shared emails, leads),
    items, warehouses and sales documents; a few contacts suppressed in dotdigital; Ometria
    validating two seconds after it answers (its clock moves when the demo says)."""

    def __init__(self, monkeypatch, *, customers: int = 300):
        monkeypatch.setenv("DEMO_SAP_B1_PASSWORD", SAP_PASSWORD)
        monkeypatch.setenv("DEMO_DOTDIGITAL_PASSWORD", DD_PASSWORD)
        monkeypatch.setenv("DEMO_OMETRIA_API_KEY", OMETRIA_KEY)
        ErrorLedger.forget_all()
        self.sap = build_sap_sandbox(customers, password=SAP_PASSWORD)
        self.dd_clock = FakeClock()  # dotdigital's import waits cost nothing
        self.dd = build_dotdigital_sandbox(DD_PASSWORD, clock=self.dd_clock, import_delay_seconds=1.0)
        for partner in [p for p in self.sap.partners.values() if p.get("EmailAddress")][5:200:40]:
            self.dd.suppress(partner["EmailAddress"].strip())  # as run_sandboxes does
        self.om_clock = OffsetClock()
        self.om = build_ometria_sandbox(OMETRIA_KEY, clock=self.om_clock.frozen(), validation_delay=2.0)
        self.servers = [serve_in_thread(app) for app in (self.sap, self.dd, self.om)]
        sap, dd, om = (self._port(server) for server in self.servers)
        call_command("seed_demo", sap_port=sap, dotdigital_port=dd, ometria_port=om, stdout=io.StringIO())

    @staticmethod
    def _port(server) -> int:
        return int(server.url.rsplit(":", 1)[1])

    def push(self, flow: Flow) -> None:
        account = flow.destination
        if account.kind == "ometria":
            adapter = OmetriaDestination(account, RecordingThrottle(), read_throttle=RecordingThrottle(),
                                         clock=self.om_clock, sleep=self.om_clock.sleep)
            flow_push(flow=flow, adapter=adapter)
            grace = float(account.options.get("validation_grace_seconds", 0))
            self.om_clock.advance(grace + 5)  # Ometria has validated: the next push confirms
        else:
            adapter = DotdigitalDestination(account, RecordingThrottle(), poll_initial_wait=1.0,
                                            poll_wait_per_contact=0.0, sleep=self.dd_clock.sleep, clock=self.dd_clock)
        flow_push(flow=flow, adapter=adapter)

    def sync(self) -> None:
        """One pass of `manage.py sync --once`: pull what the flows read, push each flow."""
        flows = list(Flow.objects.select_related("connection", "destination").order_by("name"))
        sources = {(flow.connection, source) for flow in flows for source in flow_entity(flow.entity).triggers}
        for connection, entity in sorted(sources, key=lambda source: (source[0].name, source_order(source[1]))):
            connection_pull(connection=connection, entity=entity)
        for entity in PUSH_ORDER:
            for flow in flows:
                if flow.entity == entity:
                    self.push(flow)
        health_sample_record()

    def close(self) -> None:
        for server in self.servers:
            server.stop()
