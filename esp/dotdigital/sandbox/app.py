"""A framework-free WSGI stand-in for dotdigital (v2 data fields, v3 contacts, v3
insight data; the insight rules are in insight_state.py).

Region: one sandbox plays all three regional hosts on one socket. A path prefix
`/r1`, `/r2` or `/r3` stands for the host `https://{region}-api.dotdigital.com`;
the account lives in `region` only, and the other prefixes answer 403 "Access is
denied" like another region's host does. A bare path is the account's own host.
Point an account at it with base_url `http://127.0.0.1:PORT/{region}`.

Rate limit: one fixed one-minute window per sandbox (dotdigital tracks limits per
account); every response carries X-RateLimit-Limit/Remaining/Reset/Scope, Reset in
seconds (or an epoch timestamp with `reset_header="epoch"`, the other reading of the
unconfirmed docs). Over the limit: 429, not counted.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from .campaign_state import CampaignState
from .consent import suppressed_since, withdraw
from .insight_state import MAX_ACTIVE_IMPORTS as MAX_INSIGHT_IMPORTS
from .insight_state import InsightState
from .state import AccountState, SandboxError, bad_json
from .state import iso as state_iso

REGIONS = ("r1", "r2", "r3")
MAX_BODY_BYTES = 50 * 1024 * 1024
_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    429: "Too Many Requests",
}


@dataclass(frozen=True)
class Exchange:
    """One request as it arrived and the answer given, for contract tests."""

    method: str
    path: str  # without the region prefix
    query: str
    request_headers: dict[str, str]  # Authorization redacted
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


class DotdigitalSandbox:
    """WSGI app with in-memory state; see the module docstring for its rules."""

    def __init__(
        self,
        api_users: dict[str, str],
        region: str = "r1",
        calls_per_minute: int = 600,
        import_delay_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        max_active_imports: int = 25,
        reset_header: str = "seconds",
        max_active_insight_imports: int = MAX_INSIGHT_IMPORTS,
    ) -> None:
        self.api_users = dict(api_users)
        self.region = region
        self.calls_per_minute = calls_per_minute
        self.import_delay_seconds = import_delay_seconds
        self.clock = clock
        self.reset_header = reset_header
        self.state = AccountState(max_active_imports=max_active_imports)
        # Contact-scoped insight records need the contact to exist in this same account.
        self.insight = InsightState(self._find_contact, max_active_insight_imports)
        # Email campaigns and their reporting (campaign_state.py): sends, opens, clicks, revenue.
        self.campaigns = CampaignState()
        self.call_log: list[tuple[str, str, int]] = []
        self.exchanges: list[Exchange] = []
        self._lock = threading.RLock()
        self._window_start = 0.0
        self._window_calls = 0

    # ------------------------------------------------------------ test hooks

    @property
    def contacts(self) -> dict[str, dict[str, Any]]:
        """Contacts by lower-cased email, after any imports that are due."""
        with self._lock:
            self.state.settle(self.clock())
            return self.state.contacts

    @property
    def data_fields(self) -> dict[str, dict[str, Any]]:
        return self.state.data_fields

    def suppress(self, email: str) -> None:
        with self._lock:
            self.state.suppress(email, self.clock())

    def unsubscribe(self, email: str, reason: str = "Unsubscribed") -> dict[str, Any]:
        """The contact unsubscribes (or, by `reason`, hard bounces or complains) at dotdigital,
        without the hub; listed by suppressed-since from now on (consent.py)."""
        with self._lock:
            self.state.settle(self.clock())
            return withdraw(self.state, email, self.clock(), reason)

    @property
    def resubscribed(self) -> list[dict[str, Any]]:
        """Every unsubscribed contact an import subscribed again, in order."""
        with self._lock:
            self.state.settle(self.clock())
            return list(self.state.resubscribed)

    def edit_contact(self, email: str, data_fields: dict[str, Any]) -> dict[str, Any]:
        """Change a contact's data fields as a person in dotdigital's app would, without
        the hub (names as the account spells them, unknown names refused). For tests of
        drift detection; returns the contact as stored."""
        with self._lock:
            self.state.settle(self.clock())
            contact = self.state.contact("email", email)
            contact["dataFields"].update(self.state.check_fields(data_fields))
            contact["updated"] = state_iso(self.clock())
            return contact

    @property
    def insight_collections(self) -> dict[str, dict[str, Any]]:
        """name -> {scope, type, records: {key: json}}, after any imports that are due."""
        with self._lock:
            self._settle(self.clock())
            return {
                name: {
                    "scope": c["scope"],
                    "type": c["type"],
                    "records": {k: r["json"] for k, r in c["records"].items()},
                }
                for name, c in self.insight.collections.items()
            }

    def _find_contact(self, identifier: str, value: str) -> dict[str, Any] | None:
        try:
            return self.state.contact(identifier, value)
        except SandboxError:
            return None

    def _settle(self, now: float) -> None:
        # Contact imports first: an insight import may name a contact they create.
        self.state.settle(now)
        self.insight.settle(now)

    def set_calls_per_minute(self, n: int) -> None:
        with self._lock:
            self.calls_per_minute = n

    def fail_next_import(self, status: str = "RejectedByWatchdog") -> None:
        self.state.fail_next_import_with = status

    def fail_next_insight_import(self) -> None:
        self.insight.fail_next_import = True

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        # PEP 3333 hands the decoded path over as latin-1; emails may be UTF-8.
        raw_path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        query = environ.get("QUERY_STRING", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        region, path = _split_region(raw_path)
        with self._lock:
            now = self.clock()
            self._settle(now)
            status, payload, extra = self._handle(method, path, region, query, body, environ, now)
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                **extra,
                **self._rate_headers(now),
            }
            data = b"" if payload is None else json.dumps(payload).encode()
            headers["Content-Length"] = str(len(data))
            self.call_log.append((method, path, status))
            self.exchanges.append(
                Exchange(
                    method, path, query, _request_headers(environ), body, status, headers, data
                )
            )
        start_response(f"{status} {_REASONS.get(status, 'Error')}", list(headers.items()))
        return [data]

    def _handle(
        self,
        method: str,
        path: str,
        region: str | None,
        query: str,
        body: bytes,
        environ: dict[str, Any],
        now: float,
    ) -> tuple[int, Any, dict[str, str]]:
        v3 = path.startswith(("/contacts/v3", "/insightData/v3"))
        service = "insightData" if path.startswith("/insightData") else "contacts"
        try:
            if region is not None and region != self.region:
                raise SandboxError(
                    403,
                    "ERROR_APIUSER_INVALID" if not v3 else f"{service}:forbidden",
                    "Forbidden - Access is denied",
                )
            if not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
                return (
                    401,
                    _envelope(
                        v3,
                        SandboxError(
                            401,
                            f"{service}:unauthorized" if v3 else "ERROR_INVALID_LOGIN",
                            "Authorization has been denied for this request.",
                        ),
                    ),
                    {"WWW-Authenticate": 'Basic realm="dotdigital sandbox"'},
                )
            self._count_call(now, v3, service)
            if len(body) > MAX_BODY_BYTES:
                raise SandboxError(
                    413, f"{service}:requestTooLarge", "The request body exceeds 50 MB"
                )
            status, payload = self._route(method, path, parse_qs(query), body, now)
            return status, payload, {}
        except SandboxError as error:
            return error.status, _envelope(v3, error), {}

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, now: float
    ) -> tuple[int, Any]:
        state = self.state
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["insightData", "v3"]:
            return self._route_insight(method, path, parts[2:], body, now, query)
        if path == "/v2/account-info" and method == "GET":
            return 200, self._account_info()
        if parts[:2] == ["v2", "campaigns"]:
            return self.campaigns.route(method, parts[2:], query)
        if parts[:3] == ["v2", "contacts", "suppressed-since"] and len(parts) == 4 and method == "GET":
            return 200, suppressed_since(state, parts[3], query)
        if path == "/v2/data-fields":
            if method == "GET":
                return 200, list(state.data_fields.values())
            if method == "POST":
                return 201, state.create_field(_json(body, v3=False))
        elif path == "/contacts/v3/import":
            if method == "PUT":
                import_id = state.submit_import(
                    _json(body, v3=True), now, self.import_delay_seconds
                )
                return 202, {"importId": import_id}
        elif len(parts) == 4 and parts[:3] == ["contacts", "v3", "import"]:
            if method == "GET":
                return 200, state.import_status(parts[3])
        elif len(parts) == 4 and parts[:2] == ["contacts", "v3"]:
            if method == "GET":
                return 200, state.contact(parts[2], parts[3])
            if method == "PATCH":
                merge = (query.get("merge-option") or ["overwrite"])[0]
                contact, created = state.patch(parts[2], parts[3], _json(body, v3=True), merge, now)
                return (201 if created else 200), contact
        else:
            raise SandboxError(
                404,
                "contacts:notFound" if path.startswith("/contacts") else "ERROR_RESOURCE_NOT_FOUND",
                f"No resource at {path}",
            )
        raise SandboxError(
            405,
            "contacts:methodNotAllowed"
            if path.startswith("/contacts")
            else "ERROR_METHOD_NOT_ALLOWED",
            f"{method} is not allowed on {path}",
        )

    def _route_insight(
        self, method: str, path: str, parts: list[str], body: bytes, now: float,
        query: dict[str, list[str]] | None = None,
    ) -> tuple[int, Any]:
        """PUT /import, GET /import/{id}, GET /account/{name}/{recordId}; the record lists
        GET /account/{name} and GET /contacts/{name} (paged); DELETE of a contact's record."""
        if len(parts) == 2 and parts[0] in ("account", "contacts") and method == "GET":
            return 200, self.insight.list_records(parts[1], "account" if parts[0] == "account" else "contact",
                                                  query or {})
        if len(parts) == 5 and parts[0] == "contacts" and method == "DELETE":
            self.insight.delete_contact_record(parts[1], parts[2], parts[3], parts[4])
            return 204, None
        if parts == ["import"]:
            if method == "PUT":
                import_id = self.insight.submit(
                    _json(body, v3=True, service="insightData"), now, self.import_delay_seconds
                )
                return 202, {"importId": import_id}
        elif len(parts) == 2 and parts[0] == "import":
            if method == "GET":
                return 200, self.insight.status(parts[1], now)
        elif len(parts) == 3 and parts[0] == "account":
            if method == "GET":
                return 200, self.insight.account_record(parts[1], parts[2])
        else:
            raise SandboxError(404, "insightData:notFound", f"No resource at {path}")
        raise SandboxError(
            405, "insightData:methodNotAllowed", f"{method} is not allowed on {path}"
        )

    # ------------------------------------------------------------ rules

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except ValueError:
            return False
        return user in self.api_users and self.api_users[user] == password

    def _count_call(self, now: float, v3: bool, service: str = "contacts") -> None:
        self._roll_window(now)
        if self._window_calls >= self.calls_per_minute:
            # The body of a tiered 429 is undocumented; the envelope matches the API version.
            raise SandboxError(
                429,
                f"{service}:tooManyRequests" if v3 else "ERROR_APIUSAGE_EXCEEDED",
                "The API rate limit for this account has been exceeded.",
            )
        self._window_calls += 1

    def _roll_window(self, now: float) -> None:
        start = now - (now % 60)
        if start != self._window_start:
            self._window_start, self._window_calls = start, 0

    def _rate_headers(self, now: float) -> dict[str, str]:
        self._roll_window(now)
        reset_in = max(1, math.ceil(self._window_start + 60 - now))
        reset = str(reset_in) if self.reset_header == "seconds" else str(math.ceil(now) + reset_in)
        return {
            "X-RateLimit-Limit": str(self.calls_per_minute),
            "X-RateLimit-Remaining": str(max(self.calls_per_minute - self._window_calls, 0)),
            "X-RateLimit-Reset": reset,
            "X-RateLimit-Scope": "tiered",
        }

    def _account_info(self) -> dict[str, Any]:
        props = {
            "Name": "Sandbox account",
            "ApiEndpoint": f"https://{self.region}-api.dotdigital.com/",
            "ApiCallsRemaining": str(max(self.calls_per_minute - self._window_calls, 0)),
            "TimeZoneIana": "Europe/London",
            "CurrencyCode": "GBP",
        }
        return {
            "id": 1,
            "properties": [{"name": k, "type": "String", "value": v} for k, v in props.items()],
        }


def _split_region(path: str) -> tuple[str | None, str]:
    head, _, rest = path.lstrip("/").partition("/")
    if head in REGIONS:
        return head, "/" + rest
    return None, path or "/"


def _json(body: bytes, *, v3: bool, service: str = "contacts") -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        if v3:
            error = bad_json("The request JSON is badly formed")
            error.code = f"{service}:badJson"
            raise error from None
        raise SandboxError(
            400, "ERROR_MALFORMED_REQUEST", "The request body is not valid JSON."
        ) from None


def _envelope(v3: bool, error: SandboxError) -> dict[str, Any]:
    if not v3:
        return {"message": f"{error.description} {error.code}"}
    payload: dict[str, Any] = {"errorCode": error.code, "description": error.description}
    if error.details:
        payload["details"] = error.details
    return payload


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        k[5:].replace("_", "-").title(): str(v) for k, v in environ.items() if k.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    if "Authorization" in headers:
        headers["Authorization"] = headers["Authorization"].split(" ", 1)[0] + " <redacted>"
    return headers
