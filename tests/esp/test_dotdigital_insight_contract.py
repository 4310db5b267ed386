"""Every insight request our client sends and every answer the sandbox gives must match
dotdigital-insight-data-service.json (see dotdigital_contract.py, errata included)."""

from __future__ import annotations

import copy
import dataclasses
import json

import jsonschema
import pytest
from openapi_core import OpenAPI
from openapi_core.validation.request.exceptions import RequestValidationError
from openapi_core.validation.response.exceptions import ResponseValidationError

from syncapp.adapters import PushItem, TransportError

from .dotdigital_contract import INSIGHT_FILE, SPEC_DIR, _document, _v3_error_schema, check_exchange
from .dotdigital_support import world

ALL = ("customers", "products", "orders")


def insight_session(w) -> None:
    """Catalog imports with a type clash, orders before and after the contact exists,
    polls in every state, read-back, and the usual refusals."""
    dest = w.destination(entities=ALL, poll_initial_wait=1.0)
    client = dest.client
    dest.push("products", [PushItem("P1", "", {"name": "Hat", "price": 56})])
    dest.push(
        "products",
        [PushItem("P1", "", {"name": "Hat", "price": "56"}), PushItem("P2", "", {"name": "Cap"})],
    )
    order = PushItem("SO-1", "ann@example.com", {"orderTotal": 56.0, "currency": "GBP"})
    dest.push("orders", [order])
    dest.push("customers", [PushItem("C1", "ann@example.com", {"FIRSTNAME": "Ann"})])
    dest.push("orders", [order])
    dest.read_back("products", ["P1", "missing"])
    client.get_account_record("NoSuchCollection", "P1")
    dest.insight.poll_initial_wait = 0.3  # catch an import NotStarted, then Processing
    dest.push("products", [PushItem("P3", "", {"name": "Scarf"})])
    with pytest.raises(TransportError):
        client.insight_import_status("00000000-0000-0000-0000-000000000000")
    with pytest.raises(TransportError):
        client.import_insight("1-starts-with-a-digit", "account", "catalog", [{"key": "k", "json": {}}])
    with pytest.raises(TransportError):
        client.import_insight("Orders", "account", "catalog", [{"key": "k", "json": {}}])
    with pytest.raises(TransportError):
        w.client(password="wrong").insight_import_status("x")
    with pytest.raises(TransportError):
        w.client(region="r2").get_account_record("Catalog_Default", "P1")
    w.sandbox.import_delay_seconds = 10_000
    for n in range(5):
        client.import_insight("Busy", "account", "custom", [{"key": str(n), "json": {"n": n}}])
    with pytest.raises(TransportError):
        w.client(max_rate_limit_waits=0).import_insight("Busy", "account", "custom", [{"key": "6", "json": {}}])


def test_an_insight_session_keeps_to_the_published_contract():
    with world(import_delay_seconds=1.5) as w:
        insight_session(w)
        exchanges = [e for e in w.sandbox.exchanges if e.path.startswith("/insightData/v3")]
        statuses = {e.status for e in exchanges}
        assert {200, 202, 400, 401, 403, 404, 429} <= statuses
        bodies = [json.loads(e.response_body or b"null") for e in exchanges]
        seen = {b.get("status") for b in bodies if isinstance(b, dict)}
        assert {"NotStarted", "Processing", "Complete"} <= seen
        reasons = {
            f["failureReason"] for b in bodies if isinstance(b, dict) for f in b.get("failures", [])
        }
        assert {"JsonValueIncompatibleWithSchema", "ContactEmailDoesNotExist"} <= reasons
        off_contract = 0
        for exchange in w.sandbox.exchanges:  # the contacts calls too
            if b'"1-starts-with-a-digit"' in exchange.request_body:
                # Sent on purpose against the name pattern: the checker must say so, and
                # the sandbox's refusal must still be a documented error envelope.
                off_contract += 1
                with pytest.raises(RequestValidationError):
                    check_exchange(exchange)
                assert exchange.status == 400
                jsonschema.validate(json.loads(exchange.response_body), _v3_error_schema(INSIGHT_FILE))
                continue
            check_exchange(exchange)
        assert off_contract == 1


def _exchanges(w):
    w.destination().push("products", [PushItem("P1", "", {"name": "Hat"})])
    put = next(e for e in w.sandbox.exchanges if e.method == "PUT")
    status = [e for e in w.sandbox.exchanges if e.path.startswith("/insightData/v3/import/")][-1]
    return put, status


def _with_body(exchange, change, *, request: bool):
    body = json.loads(exchange.request_body if request else exchange.response_body)
    change(body)
    field = "request_body" if request else "response_body"
    return dataclasses.replace(exchange, **{field: json.dumps(body).encode()})


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.update(collectionScope="global"),
        lambda b: b.update(collectionType="products"),
        lambda b: b.update(collectionName="9lives"),
        lambda b: b.update(records=[]),
        lambda b: b["records"][0].update(key=123),
        lambda b: b["records"][0].update(sku="P1"),  # a field outside the record schema
        lambda b: b["records"][0].pop("json"),
    ],
)
def test_the_contract_check_catches_a_client_that_drifts(change):
    with world() as w:
        put, _ = _exchanges(w)
        check_exchange(put)
        with pytest.raises(RequestValidationError):
            check_exchange(_with_body(put, change, request=True))


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.update(status="Finished"),  # the spec's own example, but not its enum
        lambda b: b.update(failures=[]),  # minItems 1: leave it out instead
        lambda b: b["summary"].update(totalImported="1"),
        lambda b: b.update(failures=[{"key": "P1", "json": {}, "failureReason": "Nope",
                                      "collectionOwner": {"ownerType": "account"}}]),
        lambda b: b.update(failures=[{"key": "P1", "json": {}, "failureReason": "InvalidJson"}]),
    ],
)
def test_the_contract_check_catches_a_sandbox_that_drifts(change):
    with world() as w:
        _, status = _exchanges(w)
        check_exchange(status)
        with pytest.raises(ResponseValidationError):
            check_exchange(_with_body(status, change, request=False))


def test_undeclared_statuses_and_bad_error_envelopes_are_caught():
    with world() as w:
        _, status = _exchanges(w)
        with pytest.raises(AssertionError):
            check_exchange(dataclasses.replace(status, status=418))
        too_many = dataclasses.replace(
            status, status=429, response_body=json.dumps({"message": "busy"}).encode()
        )
        with pytest.raises(jsonschema.ValidationError):
            check_exchange(too_many)


def test_the_errata_only_close_the_allof_records():
    """The published document rejects its own import example; the errata accept it and
    still refuse fields outside the record, and leave every other schema alone."""
    raw = json.loads((SPEC_DIR / INSIGHT_FILE).read_text())
    patched = _document(INSIGHT_FILE)
    changed = {
        name
        for name, schema in raw["components"]["schemas"].items()
        if patched["components"]["schemas"][name] != schema
    }
    assert changed == {"upsertInsightRecord", "returnedInsightRecord"}
    example = raw["paths"]["/insightData/v3/import"]["put"]["requestBody"]["content"][
        "application/json"
    ]["examples"]["Account level Insight data"]["value"]

    def validator(document):
        document = copy.deepcopy(document)
        schema = {"$ref": "#/components/schemas/v3_import_body", "components": document["components"]}
        return jsonschema.Draft4Validator(schema)

    assert not validator(raw).is_valid(example)
    assert validator(patched).is_valid(example)
    extra = copy.deepcopy(example)
    extra["records"][0]["surprise"] = 1
    assert not validator(patched).is_valid(extra)
    OpenAPI.from_dict(patched)  # still a valid OpenAPI document
