"""The sandboxes model consent as the contracts describe it, over a real socket: what a
read-back lists, and a push that would subscribe an unsubscribed contact again is seen."""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import requests

from esp.consent_changes import HARD_BOUNCED, UNSUBSCRIBED
from esp.dotdigital.client import DotdigitalClient
from esp.dotdigital.consent import suppressions_since
from esp.dotdigital.sandbox import DEMO_API_USER
from esp.dotdigital.sandbox import build_demo_sandbox as build_dotdigital
from esp.ometria.client import OmetriaClient
from esp.ometria.consent import unsubscribes_since
from esp.ometria.sandbox import build_demo_sandbox as build_ometria
from syncapp.sandbox_server import serve_in_thread
from tests.esp.dotdigital_support import FakeClock, RecordingThrottle

DD_PASSWORD = os.environ["TEST_DOTDIGITAL_PASSWORD"]
OM_KEY = os.environ.setdefault("TEST_OMETRIA_API_KEY", "sandbox-ometria-key")


@pytest.fixture
def dotdigital():
    clock = FakeClock()
    sandbox = build_dotdigital(DD_PASSWORD, clock=clock, import_delay_seconds=0.0)
    server = serve_in_thread(sandbox)
    client = DotdigitalClient(f"{server.url}/r1", DEMO_API_USER, DD_PASSWORD, throttle=RecordingThrottle(),
                              sleep=clock.sleep, clock=clock)
    yield sandbox, client, clock
    server.stop()


@pytest.fixture
def ometria():
    sandbox = build_ometria(OM_KEY, validation_delay=0.0, requests_per_second=1000)
    server = serve_in_thread(sandbox)
    session = requests.Session()
    yield sandbox, OmetriaClient(server.url, OM_KEY, throttle=RecordingThrottle(), session=session)
    session.close()  # a kept-alive connection would hold the server's stop
    server.stop()


def _import(client, clock, row: dict) -> None:
    client.import_contacts([{"matchIdentifier": "email", "identifiers": {"email": "ann@example.com"},
                             "dataFields": {}, **row}])
    clock.sleep(1)


def test_dotdigital_lists_unsubscribes_and_bounces_since_a_date_with_their_reason(dotdigital):
    sandbox, client, clock = dotdigital
    sandbox.unsubscribe("ann@example.com")
    clock.sleep(60)
    sandbox.unsubscribe("bob@example.com", reason="HardBounced")
    since = datetime.fromtimestamp(clock.now, UTC) - timedelta(seconds=30)

    changes = list(suppressions_since(client, since))

    assert [(c.email, c.status, c.reason) for c in changes] == [("bob@example.com", HARD_BOUNCED, "HardBounced")]
    assert sandbox.contacts["bob@example.com"]["status"] == "suppressed"


def test_an_import_subscribing_an_unsubscribed_contact_at_dotdigital_is_seen(dotdigital):
    sandbox, client, clock = dotdigital
    sandbox.unsubscribe("ann@example.com")

    _import(client, clock, {"dataFields": {"FULLNAME": "Ann"}})  # no status: it stays unsubscribed
    assert sandbox.contacts["ann@example.com"]["status"] == "unsubscribed" and sandbox.resubscribed == []
    _import(client, clock, {"channelProperties": {"email": {"status": "subscribed"}}})

    assert sandbox.contacts["ann@example.com"]["status"] == "subscribed"
    assert [entry["email"] for entry in sandbox.resubscribed] == ["ann@example.com"]


def test_ometria_lists_unsubscribes_but_not_opt_outs_pushed_through_the_api(ometria):
    sandbox, client = ometria
    client.push([{"@type": "contact", "@collection": "customers", "id": c, "email": f"{c.lower()}@example.com",
                  "marketing_optin": "EXPLICITLY_OPTEDIN"} for c in ("C001", "C002")])
    client.push([{"@type": "contact", "@collection": "customers", "id": "C002", "email": "c002@example.com",
                  "marketing_optin": "EXPLICITLY_OPTEDOUT"}])
    sandbox.settle(everything=True)
    sandbox.unsubscribe("C001", kind="preferences_centre")

    changes = list(unsubscribes_since(client, datetime.now(UTC) - timedelta(hours=1)))

    assert [(c.email, c.status, c.reason) for c in changes] == [("c001@example.com", UNSUBSCRIBED,
                                                                  "preferences centre")]


def test_a_forced_opt_in_subscribing_an_unsubscribed_contact_at_ometria_is_seen(ometria):
    sandbox, client = ometria
    contact = {"@type": "contact", "@collection": "customers", "id": "C001", "email": "c001@example.com",
               "marketing_optin": "EXPLICITLY_OPTEDIN"}
    client.push([contact])
    sandbox.settle(everything=True)
    sandbox.unsubscribe("C001")

    client.push([contact])  # unforced: the opt-out wins
    sandbox.settle(everything=True)
    assert sandbox.contact("C001")["marketing_optin"] == "EXPLICITLY_OPTEDOUT" and sandbox.resubscribed == []
    client.push([{**contact, "@force_optin": True}])
    sandbox.settle(everything=True)

    assert sandbox.contact("C001")["marketing_optin"] == "EXPLICITLY_OPTEDIN"
    assert sandbox.resubscribed == [("customers", "C001")]


def test_an_unsubscribe_written_through_dotdigitals_api_is_listed_with_the_contacts_own(dotdigital):
    sandbox, client, clock = dotdigital
    client.create_data_field("MARKETINGCONSENT", "Boolean")
    since = datetime.fromtimestamp(clock.now, UTC)
    client.upsert_contact("ann@example.com", {"MARKETINGCONSENT": False})  # PATCH: the ERP's opt-out
    _import(client, clock, {"identifiers": {"email": "bob@example.com"},
                            "channelProperties": {"email": {"status": "unsubscribed"}}})

    changes = list(suppressions_since(client, since))

    assert [(c.email, c.status) for c in changes] == [("ann@example.com", UNSUBSCRIBED),
                                                      ("bob@example.com", UNSUBSCRIBED)]
    assert sandbox.contacts["ann@example.com"]["dataFields"]["MARKETINGCONSENT"] is False
