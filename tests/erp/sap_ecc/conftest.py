"""An ECC connection taking IDocs from ECDCLNT800, and a writer of that system's IDocs."""
from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

import pytest

from erp.models import ErpConnection
from erp.sap_ecc.models import EccInbound
from erp.sap_ecc.sandbox.idocs import IdocWriter, ticking_clock

os.environ.setdefault("TEST_SAP_ECC_PASSWORD", "sandbox-ecc-password")
ECC_PASSWORD = os.environ["TEST_SAP_ECC_PASSWORD"]
SENDER = "ECDCLNT800"


def ecc_connection(name: str = "ecc", **inbound) -> ErpConnection:
    connection = ErpConnection.objects.create(name=name, kind="sap_ecc", username="ECC_PARTNER",
                                              password_env="TEST_SAP_ECC_PASSWORD")
    EccInbound.objects.create(connection=connection, **{"sender_partner": SENDER, **inbound})
    return connection


def basic_auth(user: str = "ECC_PARTNER", password: str = ECC_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post_idocs(client, body: bytes, *, name: str = "ecc", auth: str | None = None):
    return client.post(f"/ecc/{name}/idocs", data=body, content_type="application/xml; charset=utf-8",
                       HTTP_AUTHORIZATION=auth if auth is not None else basic_auth())


@pytest.fixture
def http():
    """Django's test client (tests/erp's `client` is the SAP B1 Service Layer client)."""
    from django.test import Client

    return Client()


@pytest.fixture
def connection(db):
    return ecc_connection()


@pytest.fixture
def writer():
    return IdocWriter(sender_partner=SENDER, clock=ticking_clock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
                                                                   timedelta(seconds=1)))
