"""Every request our client sends and every answer the sandbox gives must match
dotdigital's published OpenAPI documents (see dotdigital_contract.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from openapi_core.validation.request.exceptions import RequestValidationError
from openapi_core.validation.response.exceptions import ResponseValidationError

from syncapp.adapters import FieldSpec, PushItem, TransportError

from .dotdigital_contract import check_exchange
from .dotdigital_support import world


def realistic_session(w) -> None:
    """Fields, a bulk import with refusals, polls, upserts, reads and the usual errors."""
    w.sandbox.suppress("gone@example.com")
    dest = w.destination()
    client = dest.client
    client.account_info()
    dest.ensure_fields("customers", [FieldSpec("CARDCODE"), FieldSpec("BALANCE", "Numeric")])
    with pytest.raises(TransportError):
        client.create_data_field("CARDCODE", "String")
    emails = ["ann@example.com", "bad-email", "gone@example.com", "bob@example.com"]
    dest.push(
        "customers",
        [PushItem(f"C{n}", e, {"CARDCODE": f"C{n}", "BALANCE": n}) for n, e in enumerate(emails)],
    )
    dest.push(
        "customers",
        [PushItem("C0", "ann@example.com", {"BALANCE": 9.5}), PushItem("C9", "new@example.com")],
    )
    dest.push("customers", [PushItem("C1", "bad-email")])
    dest.read_back("customers", ["ann@example.com", "nobody@example.com"])
    with pytest.raises(TransportError):
        client.import_status("00000000-0000-0000-0000-000000000000")
    with pytest.raises(TransportError):
        client.upsert_contact("ann@example.com", {"NOSUCHFIELD": 1})
    for call in (lambda c: c.list_data_fields(), lambda c: c.get_contact("ann@example.com")):
        with pytest.raises(TransportError):
            call(w.client(password="wrong"))
        with pytest.raises(TransportError):
            call(w.client(region="r3"))

    def sleep_then_lift_the_limit(seconds: float) -> None:
        w.clock.sleep(seconds)
        w.sandbox.set_calls_per_minute(600)

    w.sandbox.set_calls_per_minute(0)  # the next calls are over the limit
    w.client(sleep=sleep_then_lift_the_limit).get_contact("ann@example.com")
    w.sandbox.set_calls_per_minute(0)
    w.client(sleep=sleep_then_lift_the_limit).list_data_fields()


def test_a_realistic_session_keeps_to_the_published_contract():
    with world(import_delay_seconds=1.5) as w:
        realistic_session(w)
        statuses = {e.status for e in w.sandbox.exchanges}
        assert {200, 201, 202, 400, 401, 403, 404, 429} <= statuses
        for exchange in w.sandbox.exchanges:
            check_exchange(exchange)


def _import_exchange(w):
    w.destination().push("customers", [PushItem(f"K{n}", f"k{n}@example.com") for n in range(3)])
    put = next(e for e in w.sandbox.exchanges if e.method == "PUT")
    status = [e for e in w.sandbox.exchanges if e.path.startswith("/contacts/v3/import/")][-1]
    return put, status


def test_the_contract_check_catches_a_client_that_drifts():
    with world() as w:
        put, _ = _import_exchange(w)
        body = json.loads(put.request_body)
        body["mergeOption"] = "merge"
        drifted = dataclasses.replace(put, request_body=json.dumps(body).encode())
        with pytest.raises(RequestValidationError):
            check_exchange(drifted)


def test_the_contract_check_catches_a_sandbox_that_drifts():
    with world() as w:
        _, status = _import_exchange(w)
        report = json.loads(status.response_body)
        report["created"][0]["contactId"] = "not-a-number"
        drifted = dataclasses.replace(status, response_body=json.dumps(report).encode())
        with pytest.raises(ResponseValidationError):
            check_exchange(drifted)
        undeclared = dataclasses.replace(status, status=418)
        with pytest.raises(AssertionError):
            check_exchange(undeclared)
