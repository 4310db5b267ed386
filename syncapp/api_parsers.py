"""The one request parser of the whole REST API: JSON, bounded in size, depth and text.

Every endpoint reads its body through `BoundedJSONParser` (settings REST_FRAMEWORK
DEFAULT_PARSER_CLASSES), so none can be made to answer 500 by a body it cannot hold:
- a body over `SYNC_API_MAX_BODY_BYTES` is a 413, refused before it is read whole;
- JSON nested deeper than `SYNC_API_MAX_JSON_DEPTH` is a 400 "nested too deeply" (the
  decoder itself would raise RecursionError a few thousand levels down);
- a string no database can store (a lone UTF-16 surrogate, "\\ud800") is a 400.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def json_problem_find(*, data: Any, max_depth: int) -> str | None:
    """Why `data` (parsed JSON) must be refused, or None. Depth counts containers: `{}` is 1,
    `{"lines": [{}]}` is 3. Walks without recursion, so any depth is safe to inspect."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                return f"JSON nested too deeply: at most {max_depth} levels of objects and arrays."
            stack.extend((item, depth + 1) for item in value.values())
            stack.extend((key, depth) for key in value)
        elif isinstance(value, list):
            if depth > max_depth:
                return f"JSON nested too deeply: at most {max_depth} levels of objects and arrays."
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "A string holds an invalid character (a lone surrogate, e.g. \\ud800)."
    return None


class BoundedJSONParser(JSONParser):
    """JSONParser with the limits above; strict JSON (no NaN) as DRF's STRICT_JSON says."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.SYNC_API_MAX_BODY_BYTES
        request = parser_context.get("request")
        declared = request.META.get("CONTENT_LENGTH", "") if request is not None else ""
        if declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"The request body is over {limit} bytes.")
        body = stream.read(limit + 1)  # a lying or missing Content-Length is caught here
        if len(body) > limit:
            raise RequestTooLarge(f"The request body is over {limit} bytes.")
        try:
            text = body.decode(get_encoding(parser_context))
            data = json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            raise ParseError(f"JSON nested too deeply: at most {settings.SYNC_API_MAX_JSON_DEPTH} levels "
                             f"of objects and arrays.") from None
        except (ValueError, LookupError) as exc:  # UnicodeDecodeError is a ValueError
            raise ParseError(f"JSON parse error - {exc}") from None
        problem = json_problem_find(data=data, max_depth=settings.SYNC_API_MAX_JSON_DEPTH)
        if problem:
            raise ParseError(problem)
        return data
