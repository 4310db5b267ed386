"""Sandbox rules that the client tests do not reach."""

from __future__ import annotations

import pytest
import requests

from esp.dotdigital.sandbox import DEMO_API_USER
from syncapp.adapters import TransportError

from .dotdigital_support import PASSWORD, world


def test_every_answer_carries_the_rate_limit_headers():
    with world(calls_per_minute=10) as w:
        answer = requests.get(f"{w.server.url}/r1/v2/data-fields", auth=(DEMO_API_USER, PASSWORD))
        assert answer.headers["x-ratelimit-limit"] == "10"
        assert answer.headers["X-RateLimit-Remaining"] == "9"
        assert answer.headers["X-RateLimit-Scope"] == "tiered"
        refused = requests.get(f"{w.server.url}/r1/v2/data-fields", auth=("x", "y"))
        assert refused.status_code == 401 and "X-RateLimit-Reset" in refused.headers


def test_v2_keys_are_accepted_in_any_casing_and_names_are_checked():
    with world() as w:
        url, auth = f"{w.server.url}/r1/v2/data-fields", (DEMO_API_USER, PASSWORD)
        assert (
            requests.post(url, json={"Name": "TIER", "Type": "String"}, auth=auth).status_code
            == 201
        )
        refused = requests.post(url, json={"name": "bad name!"}, auth=auth)
        assert refused.status_code == 400 and refused.json()["message"].endswith(
            "ERROR_PARAMETER_INVALID"
        )


def test_twenty_five_active_imports_is_the_cap():
    with world(import_delay_seconds=60.0) as w:
        client = w.client(max_rate_limit_waits=0)
        entry = {"matchIdentifier": "email", "identifiers": {"email": "a@example.com"}}
        for _ in range(25):
            client.import_contacts([entry])
        with pytest.raises(TransportError) as caught:
            client.import_contacts([entry])
        assert caught.value.reason_code == "contacts:tooManyActiveImports"


def test_merge_options_keep_or_fill_fields():
    with world() as w:
        client = w.client()
        client.upsert_contact("a@example.com", {"FIRSTNAME": "Ann", "LASTNAME": ""})
        client.upsert_contact(
            "a@example.com", {"FIRSTNAME": "", "LASTNAME": "Lee"}, "overwriteIfNotEmpty"
        )
        client.upsert_contact(
            "a@example.com", {"FIRSTNAME": "Zed", "GENDER": "f"}, "overwriteIfEmpty"
        )
        assert w.sandbox.contacts["a@example.com"]["dataFields"] == {
            "FIRSTNAME": "Ann",
            "LASTNAME": "Lee",
            "GENDER": "f",
        }
        client.upsert_contact("a@example.com", {"GENDER": None})
        assert "GENDER" not in w.sandbox.contacts["a@example.com"]["dataFields"]
