"""Ometria's profiles read endpoint as the sandbox and the client play it. Its path,
`GET /v2/profiles?email=`, is UNCONFIRMED (esp-apis.md 2.5: seen in public code)."""
from __future__ import annotations

import logging

import pytest
import requests

from esp.ometria.client import OmetriaClient
from esp.ometria.profiles import contact_fields_from_profile
from esp.ometria.sandbox import build_demo_sandbox
from syncapp.adapters import AuthenticationFailed, TransportError
from syncapp.sandbox_server import serve_in_thread
from tests.esp.dotdigital_support import FakeClock, RecordingThrottle

KEY = "sandbox-ometria-key"


@pytest.fixture
def om():
    clock = FakeClock()
    sandbox = build_demo_sandbox(KEY, clock=clock, validation_delay=0.0, requests_per_second=1000)
    server = serve_in_thread(sandbox)
    requests.post(f"{server.url}/v2/push", headers={"X-Ometria-Auth": KEY}, timeout=5, json=[
        {"@type": "contact", "@collection": "customers", "id": "C1", "customer_id": "C1", "email": "Ann@example.com",
         "firstname": "Ann", "lastname": "Lee", "country_id": "GB", "marketing_optin": "EXPLICITLY_OPTEDIN",
         "properties": {"loyalty_tier": "Gold"}}]).raise_for_status()
    sandbox.settle(everything=True)
    yield sandbox, server, clock
    server.stop()


def _client(server, key=KEY, reads=None):
    return OmetriaClient(server.url, key, throttle=RecordingThrottle(), read_throttle=reads or RecordingThrottle(),
                         max_rate_limit_waits=0, sleep=lambda s: None)


def test_a_profile_is_found_by_email_without_regard_to_case_in_the_documented_shape(om):
    _, server, _ = om
    (profile,) = _client(server).profiles("ann@EXAMPLE.com")
    assert set(profile) == {"id", "email", "phone_number", "customer_id", "firstname", "lastname", "gender",
                            "country", "marketing_optin", "timezone", "date_of_birth", "lifecycle_status",
                            "is_email_valid", "properties"}
    assert (profile["customer_id"], profile["firstname"], profile["country"]) == ("C1", "Ann", "GB")
    assert profile["properties"] == {"loyalty_tier": "Gold"}
    assert _client(server).profiles("nobody@example.com") == []


def test_profiles_are_read_through_the_data_api_bucket_and_counted_with_its_reads(om):
    sandbox, server, _ = om
    reads = RecordingThrottle()
    _client(server, reads=reads).profiles("ann@example.com")
    assert reads.acquired == 1
    sandbox.read_limiter.rate = 1  # Ometria's Data API at one read a second
    sandbox.read_limiter.times.clear()
    requests.get(f"{server.url}/v2/push/_errors", headers={"X-Ometria-Auth": KEY}, timeout=5)
    with pytest.raises(TransportError) as refused:  # the errors list used this second's one read
        _client(server).profiles("ann@example.com")
    assert refused.value.status == 429


def test_a_wrong_key_is_refused(om):
    _, server, _ = om
    with pytest.raises(AuthenticationFailed):
        _client(server, key="wrong").profiles("ann@example.com")


def test_the_email_looked_up_is_never_in_a_log_line_or_an_error(om, caplog):
    _, server, _ = om
    server.stop()
    caplog.set_level(logging.DEBUG, logger="esp.ometria.client")
    with pytest.raises(TransportError) as failed:
        _client(server).profiles("ann@example.com")
    assert "ann@" not in failed.value.message and "ann@" not in caplog.text


def test_a_profile_reads_back_in_the_mapped_names():
    profile = {"firstname": "Ann", "lastname": "Lee Smith", "country": "FR", "marketing_optin": "EXPLICITLY_OPTEDIN",
               "properties": {"loyalty_tier": "Gold"}}
    sent = {"name": "Ann Lee Smith", "country_id": "GB", "marketing_optin": "Y", "loyalty_tier": "Gold",
            "customer_group": 100, "timestamp_acquired": "2026-01-01"}
    assert contact_fields_from_profile(profile, sent) == {
        "name": "Ann Lee Smith", "country_id": "FR", "marketing_optin": "Y", "loyalty_tier": "Gold",
        "customer_group": None}  # timestamp_acquired: a profile does not show it, so it is not compared
    assert contact_fields_from_profile({**profile, "firstname": "Jo"}, sent)["name"] == "Jo Lee Smith"
    assert contact_fields_from_profile({**profile, "marketing_optin": "EXPLICITLY_OPTEDOUT"},
                                       sent)["marketing_optin"] == "EXPLICITLY_OPTEDOUT"
