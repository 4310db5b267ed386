"""SAP ECC beside SAP B1, both feeding the dotdigital and Ometria sandboxes on sockets.

IDocs reach the hub as ECC's XML-HTTP port sends them (POST /ecc/<name>/idocs through
Django's full request handling) or through the file port (`idoc_import`); the hub then
applies them and pushes, as the workers would."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import Client

from erp.sap_ecc.apply import idocs_apply
from erp.sap_ecc.sandbox.idocs import IdocWriter, ticking_clock
from esp.default_mappings import mappings_install_defaults
from esp.models import EspAccount, SkuRule
from esp.ometria.adapter import OmetriaDestination
from esp.ometria.confirm import ErrorLedger
from esp.ometria.sandbox import build_demo_sandbox
from syncapp.models import Flow
from syncapp.sandbox_server import serve_in_thread
from syncapp.services import flow_push
from tests.esp.dotdigital_support import RecordingThrottle
from tests.hub import Hub
from tests.syncapp.fakes import OffsetClock

from .conftest import SENDER, basic_auth, ecc_connection

OM_KEY = "sandbox-ometria-key"
GRACE = 30
DD_FLOWS = ("customers", "products", "stock_events", "orders", "dispatch_events")
OM_FLOWS = ("customers", "orders")


class EccHub(Hub):
    """Hub's SAP B1 + dotdigital, plus Ometria and an ECC connection with flows to both."""

    def __init__(self):
        import os

        os.environ.setdefault("TEST_OMETRIA_API_KEY", OM_KEY)
        super().__init__()
        ErrorLedger.forget_all()
        self.om_clock = OffsetClock()
        self.om = build_demo_sandbox(os.environ["TEST_OMETRIA_API_KEY"], clock=self.om_clock.frozen(),
                                     validation_delay=2.0, requests_per_second=1000)
        self.om_server = serve_in_thread(self.om)
        self.om_account = EspAccount.objects.create(
            name="om", kind="ometria", base_url=self.om_server.url, password_env="TEST_OMETRIA_API_KEY",
            options={"collection": "customers", "validation_grace_seconds": GRACE})
        mappings_install_defaults(destination=self.om_account)
        ErrorLedger(self.om_account.name).forget()
        self.ecc = ecc_connection()
        SkuRule.objects.create(connection=self.ecc)
        SkuRule.objects.create(connection=self.connection)
        self.ecc_dd = {entity: Flow.objects.create(name=f"ecc-dd-{entity}", connection=self.ecc,
                                                   destination=self.account, entity=entity) for entity in DD_FLOWS}
        self.ecc_om = {entity: Flow.objects.create(name=f"ecc-om-{entity}", connection=self.ecc,
                                                   destination=self.om_account, entity=entity) for entity in OM_FLOWS}
        self.writer = IdocWriter(sender_partner=SENDER, clock=ticking_clock(
            datetime(2026, 11, 30, 9, 0, tzinfo=UTC), timedelta(seconds=1)))
        self.http = Client()

    # ------------------------------------------------------------ ECC sends

    def send(self, *idocs, root: str | None = None) -> dict:
        """One message over the XML-HTTP port; returns the hub's answer."""
        answer = self.http.post(f"/ecc/{self.ecc.name}/idocs", data=self.writer.packet(list(idocs), root=root),
                                content_type="application/xml; charset=utf-8", HTTP_AUTHORIZATION=basic_auth())
        assert answer.status_code == 200, answer.content
        return answer.json()

    # ------------------------------------------------------------ the workers

    def ometria(self) -> OmetriaDestination:
        return OmetriaDestination(self.om_account, RecordingThrottle(), read_throttle=RecordingThrottle(),
                                  clock=self.om_clock, sleep=self.om_clock.sleep)

    def cycle(self):
        """Apply what ECC sent, then push every ECC flow (customers twice: their figures follow orders)."""
        idocs_apply(self.ecc)
        for entity in (*DD_FLOWS, "customers"):
            flow_push(flow=self.ecc_dd[entity], adapter=self.destination())
        for entity in (*OM_FLOWS, "customers"):
            adapter = self.ometria()
            flow_push(flow=self.ecc_om[entity], adapter=adapter)
            self.om_clock.advance(GRACE + 5)
            flow_push(flow=self.ecc_om[entity], adapter=adapter)

    # ------------------------------------------------------------ what the destinations hold

    def dd_contact(self, email: str) -> dict:
        return self.dd.contacts[email]

    def dd_orders(self) -> dict:
        return (self.dd.insight_collections.get("Orders") or {"records": {}})["records"]

    def dd_catalog(self) -> dict:
        return (self.dd.insight_collections.get("Catalog_Default") or {"records": {}})["records"]

    def om_contact(self, card_code: str) -> dict | None:
        return self.om.contact(card_code)

    def om_orders(self) -> list[dict]:
        return list(self.om.records("order").values())

    def close(self):
        super().close()
        self.om_server.stop()
