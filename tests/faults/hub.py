"""The hub under fault: SAP B1, dotdigital and Ometria sandboxes on sockets behind fault
gates, the hub's configuration pointing at them, and the count of what arrived.

Everything runs in real time (the workers are other processes with their own clocks), so
the sandboxes keep real clocks too; their waits are shortened through their own options
(import delay, validation delay, grace), never by moving a clock.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

from erp.models import ErpConnection
from erp.sap_b1.sandbox import SapB1Sandbox
from esp.default_mappings import mappings_install_defaults
from esp.dotdigital.sandbox import DEMO_API_USER
from esp.dotdigital.sandbox import build_demo_sandbox as build_dotdigital
from esp.models import EspAccount
from esp.ometria.sandbox import build_demo_sandbox as build_ometria
from exceptions.models import SyncException
from syncapp.models import Flow, OutboxItem, OutboxStatus
from tests.hub import partner  # noqa: F401 - the cases build partners as tests.hub does

from .harness import FaultGate, Socket

os.environ.setdefault("TEST_OMETRIA_API_KEY", "sandbox-ometria-key")
SAP_PASSWORD = os.environ["TEST_SAP_B1_PASSWORD"]
DD_PASSWORD = os.environ["TEST_DOTDIGITAL_PASSWORD"]
OM_KEY = os.environ["TEST_OMETRIA_API_KEY"]
ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)
UNSETTLED = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED)


@dataclass
class Tally:
    """One flow's end state against the ERP keys it should hold."""

    expected: int
    at_destination: int
    lost: list[str]
    duplicated: list[str]
    resent: int  # keys the destination took more than once (at-least-once: allowed, shown)
    exceptions: dict[str, str] = field(default_factory=dict)  # key -> reason of its open exception


class FaultHub:
    """SAP B1, dotdigital and Ometria on sockets, and a hub configured against them."""

    def __init__(self, *, dd_import_delay: float = 1.0, om_validation_delay: float = 0.5,
                 om_grace_seconds: float = 2.0, sap_page_size: int = 50, suffix: str = "") -> None:
        self.sap = SapB1Sandbox(users={("SBODEMOGB", "manager"): SAP_PASSWORD})
        self.dd = build_dotdigital(DD_PASSWORD, import_delay_seconds=dd_import_delay, calls_per_minute=100_000)
        self.om = build_ometria(OM_KEY, requests_per_second=4, validation_delay=om_validation_delay)
        self.sap_gate, self.dd_gate, self.om_gate = FaultGate(self.sap), FaultGate(self.dd), FaultGate(self.om)
        self.sap_socket, self.dd_socket, self.om_socket = (
            Socket(self.sap_gate), Socket(self.dd_gate), Socket(self.om_gate))
        self.connection = ErpConnection.objects.create(
            name=f"b1{suffix}", base_url=f"{self.sap_socket.url}/b1s/v1", company_db="SBODEMOGB", username="manager",
            password_env="TEST_SAP_B1_PASSWORD", page_size=sap_page_size, timeout_seconds=30,
            user_fields=["U_LoyaltyTier", "U_MarketingConsent", "U_Birthday"])
        self.dd_account = EspAccount.objects.create(
            name=f"dd{suffix}", region="r1", base_url=f"{self.dd_socket.url}/{{region}}", api_user=DEMO_API_USER,
            password_env="TEST_DOTDIGITAL_PASSWORD", calls_per_minute=6000)
        self.om_account = EspAccount.objects.create(
            name=f"om{suffix}", kind="ometria", base_url=self.om_socket.url, password_env="TEST_OMETRIA_API_KEY",
            options={"collection": "customers", "validation_grace_seconds": om_grace_seconds})
        for account in (self.dd_account, self.om_account):
            mappings_install_defaults(destination=account)
        self.dd_flow = Flow.objects.create(name=f"dd-customers{suffix}", connection=self.connection,
                                           destination=self.dd_account)
        self.om_flow = Flow.objects.create(name=f"om-customers{suffix}", connection=self.connection,
                                           destination=self.om_account)

    def close(self) -> None:
        for socket in (self.sap_socket, self.dd_socket, self.om_socket):
            socket.close()

    # ------------------------------------------------------------ outbox

    def unsettled(self, *flows: Flow) -> int:
        """Rows of these flows still to be sent, being sent, or awaiting validation."""
        return OutboxItem.objects.filter(flow__in=flows or self.flows(), status__in=UNSETTLED).count()

    def flows(self) -> list[Flow]:
        return [self.dd_flow, self.om_flow]

    def rows(self, flow: Flow, status: str) -> list[OutboxItem]:
        return list(OutboxItem.objects.filter(flow=flow, status=status))

    # ------------------------------------------------------------ what each destination holds

    def dd_card_codes(self) -> Counter:
        """CardCode -> contacts carrying it (dotdigital keys contacts by email)."""
        return Counter(str(c["dataFields"].get("CARDCODE")) for c in self.dd.contacts.values()
                       if c["dataFields"].get("CARDCODE") is not None)

    def dd_sends(self) -> Counter:
        """CardCode -> times dotdigital took it (imports answered 202, single upserts 2xx)."""
        sent: Counter = Counter()
        for exchange in list(self.dd.exchanges):
            if exchange.status >= 300 or exchange.method not in ("PUT", "PATCH"):
                continue
            if exchange.path == "/contacts/v3/import":
                rows = json.loads(exchange.request_body or b"[]")
                rows = rows.get("contacts", rows) if isinstance(rows, dict) else rows
            elif exchange.path.startswith("/contacts/v3/"):
                rows = [json.loads(exchange.request_body or b"{}")]
            else:
                continue
            sent.update(str((row.get("dataFields") or {}).get("CARDCODE")) for row in rows if isinstance(row, dict))
        return sent

    def om_contacts(self) -> Counter:
        return Counter(str(contact.get("customer_id") or key[1])
                       for key, contact in self.om.records("contact").items())

    def om_sends(self, kind: str = "contact") -> Counter:
        sent: Counter = Counter()
        for exchange in list(self.om.exchanges):
            if exchange.path == "/v2/push" and exchange.status == 200:
                sent.update(str(r.get("id")) for r in json.loads(exchange.request_body)
                            if isinstance(r, dict) and r.get("@type") == kind)
        return sent

    def tally(self, flow: Flow, expected: list[str]) -> Tally:
        """Each expected key at the destination once, or an open exception saying why."""
        held = self.dd_card_codes() if flow == self.dd_flow else self.om_contacts()
        sends = self.dd_sends() if flow == self.dd_flow else self.om_sends()
        problems = dict(SyncException.objects.filter(flow=flow, status__in=ACTIVE)
                        .values_list("record_key", "reason_code"))
        lost = [key for key in expected if not held.get(key) and key not in problems]
        return Tally(
            expected=len(expected), at_destination=sum(1 for key in expected if held.get(key)), lost=lost,
            duplicated=sorted(key for key, n in held.items() if n > 1),
            resent=sum(1 for key in expected if sends.get(key, 0) > 1),
            exceptions={key: reason for key, reason in problems.items()})


# ---------------------------------------------------------------- health, as a person sees it


def health_rows(*flows: Flow) -> dict[int, object]:
    from syncapp.health import flows_health

    return {row.flow.pk: row for row in flows_health(flows=Flow.objects.filter(pk__in=[f.pk for f in flows]))}


def health_lights(*flows: Flow) -> set[str]:
    return {row.light for row in health_rows(*flows).values()}
