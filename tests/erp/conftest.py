"""Fixtures for the SAP Business One room: a sandbox on a real socket and a fake clock."""
from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from erp.models import ErpConnection
from erp.sap_b1.client import ServiceLayerClient
from erp.sap_b1.sandbox import SapB1Sandbox
from syncapp.sandbox_server import RunningSandbox, serve_in_thread

COMPANY = "SBODEMOGB"
USER = "manager"


class FakeClock:
    """A settable clock; `advance` moves it like time passing in SAP."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, hour: int, minute: int, second: int = 0) -> datetime:
        self.now = self.now.replace(hour=hour, minute=minute, second=second)
        return self.now


@pytest.fixture
def password() -> str:
    return os.environ["TEST_SAP_B1_PASSWORD"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 22, 9, 0, 0, tzinfo=UTC))


@pytest.fixture
def sandbox(clock: FakeClock, password: str) -> SapB1Sandbox:
    return SapB1Sandbox(users={(COMPANY, USER): password}, clock=clock)


class _Switch:
    """One socket server for the session; each test plugs in its own sandbox
    (stopping a server costs half a second of polling)."""

    def __init__(self) -> None:
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def _shared_server() -> Iterator[tuple[RunningSandbox, _Switch]]:
    switch = _Switch()
    running = serve_in_thread(switch)
    yield running, switch
    running.stop()


@pytest.fixture
def server(sandbox: SapB1Sandbox, _shared_server) -> Iterator[RunningSandbox]:
    running, switch = _shared_server
    switch.app = sandbox
    yield running
    switch.app = None


@pytest.fixture
def base_url(server: RunningSandbox) -> str:
    return f"{server.url}/b1s/v1"


@pytest.fixture
def connection(base_url: str) -> ErpConnection:
    """Unsaved: the adapter only reads its fields, so no database is needed."""
    return ErpConnection(
        name="b1-test", kind="sap_b1", base_url=base_url, company_db=COMPANY, username=USER,
        password_env="TEST_SAP_B1_PASSWORD", verify_tls=False, page_size=10,
        delta_overlap_minutes=2, timeout_seconds=5,
    )


@pytest.fixture
def client(base_url: str, password: str) -> ServiceLayerClient:
    return make_client(base_url, password)


def make_client(base_url: str, password: str, **kwargs) -> ServiceLayerClient:
    options = {"page_size": 10, "timeout": 5, "verify_tls": False, "backoff_seconds": 0.0}
    return ServiceLayerClient(base_url, COMPANY, USER, password, **(options | kwargs))


def partner(code: str, **fields) -> dict:
    """A well-formed customer as the Service Layer shows it."""
    return {
        "CardCode": code, "CardName": f"Customer {code}", "CardType": "cCustomer",
        "GroupCode": 100, "EmailAddress": f"{code.lower()}@example.com", "Phone1": None,
        "Phone2": None, "Cellular": None, "Currency": "GBP", "Valid": "tYES", "Frozen": "tNO",
        "BPAddresses": [], "U_LoyaltyTier": "Gold", "U_MarketingConsent": "Y",
        "U_Birthday": None,
    } | fields
