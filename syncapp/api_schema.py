"""The API's error answers, written into the OpenAPI schema (a drf-spectacular postprocessing hook).

drf-spectacular documents only the answers a view declares, but every endpoint can also
refuse: 401 without a valid token, 403 for a role without the capability, 429 after too
many bad tokens, 404 for an id that matches nothing, 400 for a bad filter or body, and
413/415 for a body too large or not JSON (syncapp/api_parsers.py). A client reading the
schema must find them, with their bodies: `{"detail": "..."}`, or for a 400 the fields
and what is wrong with each.
"""
from __future__ import annotations

from typing import Any

_DETAIL = {"$ref": "#/components/schemas/ErrorDetail"}
_COMPONENTS = {
    "ErrorDetail": {
        "type": "object",
        "description": "Why the request was refused.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationErrors": {
        "type": "object",
        "description": "Each field (or `detail`, `non_field_errors`) with what is wrong with it.",
        "additionalProperties": {},
    },
}
_ALWAYS = {"401": "Not authenticated, or the token is invalid, expired or revoked.",
           "403": "Your role does not allow this.",
           "429": "Too many bad API tokens from this address; try again after Retry-After seconds."}
_METHODS = {"get", "put", "post", "patch", "delete"}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses_document(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Add the refusals each operation can answer, without replacing any it declares itself."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(_COMPONENTS)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            parameters = operation.get("parameters", [])
            errors = {code: _response(text, _DETAIL) for code, text in _ALWAYS.items()}
            if any(parameter.get("in") == "path" for parameter in parameters):
                errors["404"] = _response("Nothing matches this id.", _DETAIL)
            elif any(parameter.get("in") == "query" and parameter.get("name") == "cursor" for parameter in parameters):
                errors["404"] = _response("The cursor is not valid (DRF answers an unreadable cursor so).", _DETAIL)
            if "requestBody" in operation or any(parameter.get("in") == "query" for parameter in parameters):
                errors["400"] = _response("The filter or body is not valid.", {"$ref": "#/components/schemas/"
                                                                                       "ValidationErrors"})
            if "requestBody" in operation:
                errors["413"] = _response("The body is larger than the API accepts.", _DETAIL)
                errors["415"] = _response("The body is not JSON.", _DETAIL)
            responses = operation.setdefault("responses", {})
            for code, response in errors.items():
                responses.setdefault(code, response)
    return result
