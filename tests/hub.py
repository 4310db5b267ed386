"""Both sandboxes on real sockets and a hub configured against them."""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import requests

from erp.models import ErpConnection
from erp.sap_b1.sandbox import SapB1Sandbox
from esp.default_mappings import mappings_install_defaults
from esp.dotdigital.adapter import DotdigitalDestination
from esp.dotdigital.sandbox import DEMO_API_USER, build_demo_sandbox
from esp.models import EspAccount
from syncapp.models import Flow
from syncapp.sandbox_server import serve_in_thread
from syncapp.services import connection_pull, flow_push
from tests.esp.dotdigital_support import FakeClock, RecordingThrottle

SAP_PASSWORD = os.environ["TEST_SAP_B1_PASSWORD"]
DD_PASSWORD = os.environ["TEST_DOTDIGITAL_PASSWORD"]


def partner(code: str, **fields) -> dict:
    return {
        "CardCode": code, "CardName": f"Customer {code}", "CardType": "cCustomer", "GroupCode": 100,
        "EmailAddress": f"{code.lower()}@example.com", "Currency": "GBP", "Valid": "tYES", "Frozen": "tNO",
        "BPAddresses": [], "U_LoyaltyTier": "Gold", "U_MarketingConsent": "Y", "U_Birthday": None,
    } | fields


class SapClock:
    def __init__(self):
        self.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


class Hub:
    """Both sandboxes on sockets, and the hub configured against them."""

    def __init__(self, *, dd_calls_per_minute: int = 10_000):
        self.sap_clock, self.dd_clock = SapClock(), FakeClock()
        self.sap = SapB1Sandbox(users={("SBODEMOGB", "manager"): SAP_PASSWORD}, clock=self.sap_clock)
        self.dd = build_demo_sandbox(DD_PASSWORD, clock=self.dd_clock, import_delay_seconds=1.0,
                                     calls_per_minute=dd_calls_per_minute)
        self.sap_server, self.dd_server = serve_in_thread(self.sap), serve_in_thread(self.dd)
        self.connection = ErpConnection.objects.create(
            name="b1", base_url=f"{self.sap_server.url}/b1s/v1", company_db="SBODEMOGB", username="manager",
            password_env="TEST_SAP_B1_PASSWORD", page_size=50,
            user_fields=["U_LoyaltyTier", "U_MarketingConsent", "U_Birthday"])
        self.account = EspAccount.objects.create(
            name="dd", region="r1", base_url=f"{self.dd_server.url}/{{region}}", api_user=DEMO_API_USER,
            password_env="TEST_DOTDIGITAL_PASSWORD")
        mappings_install_defaults(destination=self.account)
        self.flow = Flow.objects.create(name="customers", connection=self.connection, destination=self.account)
        self.throttle = RecordingThrottle()

    def destination(self, **options) -> DotdigitalDestination:
        return DotdigitalDestination(self.account, self.throttle, poll_initial_wait=1.0, poll_wait_per_contact=0.0,
                                     sleep=self.dd_clock.sleep, clock=self.dd_clock, **options)

    def sync(self, destination: DotdigitalDestination | None = None):
        pulled = connection_pull(connection=self.connection)
        pushed = flow_push(flow=self.flow, adapter=destination or self.destination())
        return pulled, pushed

    def dd_calls(self) -> int:
        return len(self.dd.call_log)

    def patch_in_sap(self, code: str, **fields) -> None:
        """As a person fixing the record in SAP would, through the Service Layer."""
        self.sap_clock.advance(minutes=3)
        session = requests.Session()
        base = f"{self.sap_server.url}/b1s/v1"
        session.post(f"{base}/Login", json={"CompanyDB": "SBODEMOGB", "UserName": "manager",
                                            "Password": SAP_PASSWORD}).raise_for_status()
        session.patch(f"{base}/BusinessPartners('{code}')", json=fields).raise_for_status()

    def close(self):
        self.sap_server.stop()
        self.dd_server.stop()
