"""Check recorded sandbox exchanges against dotdigital's published OpenAPI documents.

Requests and responses are validated with openapi-core against
/work/shared/contracts/dotdigital-openapi (v3 contacts for /contacts/v3, v3 insight data
for /insightData/v3, the v2 document, itself OpenAPI 3.0, for /v2). Statuses a document does not declare (v2 declares no
errors at all; a tiered 429 and a wrong-region 403 appear in none) are held to the
error envelopes of the contract notes, section 1.8, instead: v3 bodies must match the
spec's own `errorResponse` schema, v2 bodies `{"message": "... ERROR_X"}`.

Errata (insight document only, see `_insight_errata`): its record schemas combine an
object that says `additionalProperties: false` with another object through `allOf`,
so under JSON Schema every record fails, including the document's own examples
(`key` and `json` are "additional" to the first member). The checker merges such
`allOf` members into one closed object: the same properties, the same required
names, still no other properties. Nothing else in the document is changed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from esp.dotdigital.sandbox import Exchange
from tests.contracts import CONTRACTS

SPEC_DIR = Path(
    os.environ.get("DOTDIGITAL_OPENAPI_DIR", str(CONTRACTS / "dotdigital-openapi"))
)
V2_FILE, V3_FILE = "dotdigital-v2-api-swagger.json", "dotdigital-contacts-service.json"
INSIGHT_FILE = "dotdigital-insight-data-service.json"
FILES = {"v2": V2_FILE, "v3": V3_FILE, "insight": INSIGHT_FILE}
VENDOR_HOST = "https://r1-api.dotdigital.com"
V2_ERROR = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string", "pattern": r"(ERROR_[A-Z0-9_]+)$"}},
}
# Statuses the documents leave out but the contract notes describe.
UNDECLARED_ALLOWED = {"v2": {400, 401, 403, 404, 429}, "v3": {403, 429}, "insight": {403, 429}}
RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Scope",
)


@dataclass
class WireRequest:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class WireResponse:
    data: bytes
    status_code: int
    content_type: str
    headers: Headers


@cache
def _document(name: str) -> dict[str, Any]:
    document = json.loads((SPEC_DIR / name).read_text())
    return _insight_errata(document) if name == INSIGHT_FILE else document


@cache
def _openapi(name: str) -> OpenAPI:
    if name == INSIGHT_FILE:
        return OpenAPI.from_dict(_document(name))
    return OpenAPI.from_file_path(str(SPEC_DIR / name))


def _version(path: str) -> str:
    if path.startswith("/insightData/v3"):
        return "insight"
    return "v3" if path.startswith("/contacts/v3") else "v2"


def _insight_errata(document: dict[str, Any]) -> dict[str, Any]:
    """Merge `allOf` members into one closed object where a member closes itself."""
    schemas = document["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        return resolve(schemas[ref.rsplit("/", 1)[-1]]) if ref else schema

    for name, schema in schemas.items():
        members = [resolve(m) for m in schema.get("allOf", [])]
        if not any(m.get("additionalProperties") is False for m in members):
            continue
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for member in members:
            merged["properties"].update(member.get("properties", {}))
            merged["required"] += [r for r in member.get("required", []) if r not in merged["required"]]
        merged["additionalProperties"] = False
        if schema.get("description"):
            merged["description"] = schema["description"]
        schemas[name] = merged
    return document


def _template(document: dict[str, Any], path: str) -> str | None:
    """The spec path an actual path falls under, literal segments first (as openapi-core)."""
    matches = []
    for template in document["paths"]:
        pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path):
            matches.append((template.count("{"), template))
    return min(matches)[1] if matches else None


def wire(exchange: Exchange) -> tuple[WireRequest, WireResponse]:
    headers = Headers(list(exchange.request_headers.items()))
    request = WireRequest(
        host_url=VENDOR_HOST,
        path=exchange.path,
        method=exchange.method.lower(),
        body=exchange.request_body or None,
        content_type=headers.get("Content-Type", "application/octet-stream"),
        parameters=RequestParameters(
            query=ImmutableMultiDict(_query(exchange.query)),
            header=headers,
            cookie=ImmutableMultiDict(),
        ),
    )
    response_headers = Headers(list(exchange.response_headers.items()))
    response = WireResponse(
        data=exchange.response_body,
        status_code=exchange.status,
        content_type=response_headers.get("Content-Type", "").split(";")[0],
        headers=response_headers,
    )
    return request, response


def _query(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def check_exchange(exchange: Exchange) -> None:
    """Raise if the request or the response breaks the published contract."""
    version = _version(exchange.path)
    name = FILES[version]
    document = _document(name)
    template = _template(document, exchange.path)
    assert template, f"{exchange.method} {exchange.path} is not in {name}"
    operation = document["paths"][template].get(exchange.method.lower())
    assert operation, f"{exchange.method} {template} is not in {name}"
    for header in RATE_HEADERS:
        assert header in exchange.response_headers, f"{header} missing on {exchange.path}"
    request, response = wire(exchange)
    spec = _openapi(name)
    spec.validate_request(request)
    declared = operation.get("responses", {})
    if str(exchange.status) in declared or "default" in declared:
        spec.validate_response(request, response)
        return
    assert exchange.status in UNDECLARED_ALLOWED[version], (
        f"{exchange.method} {template} answered {exchange.status}, which {name} does not declare"
    )
    schema = V2_ERROR if version == "v2" else _v3_error_schema(name)
    jsonschema.validate(json.loads(exchange.response_body), schema)


@cache
def _v3_error_schema(name: str = V3_FILE) -> dict[str, Any]:
    schemas = _document(name)["components"]["schemas"]
    schema = json.loads(json.dumps(schemas["errorResponse"]))
    schema["properties"]["details"]["items"] = schemas["errorResponse_details"]
    return schema
