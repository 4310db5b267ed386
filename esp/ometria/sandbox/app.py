"""A framework-free WSGI stand-in for Ometria's Data API push endpoint.

Routes: `POST /v2/push`, `GET /v2/push/_errors`, `GET /v2/profiles?email=` (profiles.py: its
path is unconfirmed, counted with the Data API reads). Every call needs `X-Ometria-Auth`
with a known key, else 403 "API key is not authorised to access this resource".
Synchronous refusals (400) are whole-call: a body that is not a JSON array, an empty
array, more than 100 records, or records of more than one `@type`. The synchronous
error body is `{"status": "ERROR", "message": ...}` (unconfirmed; v1's shape).

Rates: 4 requests per second on push and, separately, 4 per second on the Data API
reads, each counted in a sliding one-second window: at most 4 calls let through in any
second, the strictest reading of "4 requests per second" (Ometria's algorithm is
unconfirmed). A client that banks calls (a bucket with a burst of 4 lets 4 through at
once after an idle spell, then one every 0.25 s: 7 or 8 in that second) is refused.
`jitter` (default 50 ms) shortens the window by that much, the slack any limiter keyed
on arrival time needs for network jitter, so a client pacing itself at exactly the limit
is not refused for a packet that arrived a millisecond early. Over the rate: 429, no
Retry-After (none documented).

Two choices where Ometria's documentation is silent are options, so the hub is tested
against each: `error_paths` "record" (default) names the record in each error's path
(`order[WEB-1] > currency`), "root" gives the documented form (`root > currency`), which
does not say which record, and "index" the form seen from Ometria in issue 10
(`root[0] > currency`: the record's position in its call's array, not its id; the
contract does not show it); `errors_newest_first` lists the errors newest first instead
of oldest first. The queue: records taken
but not yet validated; a call that would take it over `queue_limit` (50,000) is
refused with 429. Every push answer carries `X-QueueSize-Limit` and
`X-QueueSize-Remaining`.

What happens to records after the 200 is in state.py; the rules are in rules.py.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from .profiles import PROFILES_PATH, profiles_for_email
from .state import AccountState
from .unsubscribes import UNSUBSCRIBES_PATH, unsubscribe, unsubscribes_listed

MAX_RECORDS = 100
FORBIDDEN = "API key is not authorised to access this resource"
_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests"}


@dataclass(frozen=True)
class Exchange:
    """One request as it arrived and the answer given (the key redacted)."""

    method: str
    path: str
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes
    at: float


class RateLimiter:
    """At most `rate` calls in any sliding one-second window (less `jitter`), counting only
    calls it lets through."""

    def __init__(self, rate: float, jitter: float) -> None:
        self.rate, self.jitter = rate, jitter
        self.window = 1.0 - jitter
        self.times: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()
        if len(self.times) >= max(int(self.rate), 1):
            return False
        self.times.append(now)
        return True


class SandboxError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class OmetriaSandbox:
    """WSGI app with in-memory state; see the module docstring for its rules."""

    def __init__(
        self,
        api_keys: Iterable[str],
        *,
        requests_per_second: float = 4.0,
        reads_per_second: float = 4.0,
        jitter: float = 0.05,
        queue_limit: int = 50_000,
        validation_delay: float = 1.0,
        processing_rate: float | None = None,
        clock: Callable[[], float] = time.time,
        keep_exchanges: bool = True,
        error_paths: str = "record",
        errors_newest_first: bool = False,
    ) -> None:
        if error_paths not in ("record", "root", "index"):
            raise ValueError("error_paths is 'record', 'root' or 'index'")
        self.api_keys = set(api_keys)
        self.push_limiter = RateLimiter(requests_per_second, jitter)
        self.read_limiter = RateLimiter(reads_per_second, jitter)
        self.queue_limit = queue_limit
        self.validation_delay = validation_delay
        self.processing_rate = processing_rate
        self.clock = clock
        self.keep_exchanges = keep_exchanges
        self.state = AccountState(root_paths=error_paths == "root", index_paths=error_paths == "index")
        self.errors_newest_first = errors_newest_first
        self.exchanges: list[Exchange] = []
        self.call_log: list[tuple[str, str, int]] = []
        self.push_times: list[float] = []  # arrival of each push let through (rate checks in benchmarks)
        self._lock = threading.RLock()

    # ------------------------------------------------------------ inspection (tests, demo)

    def settle(self, *, everything: bool = False) -> None:
        """Validate what is due now (everything queued with `everything`)."""
        with self._lock:
            self.state.settle(self.clock(), everything=everything)

    def contact(self, record_id: str, collection: str = "customers") -> dict[str, Any] | None:
        self.settle()
        with self._lock:
            found = self.state.contacts.get((collection, record_id))
            return dict(found) if found else None

    def records(self, kind: str) -> dict[Any, dict[str, Any]]:
        """Stored records of one type by id ((collection, id) for contacts), after due validation."""
        self.settle()
        with self._lock:
            store = {"contact": self.state.contacts, "order": self.state.orders, "product": self.state.products,
                     "custom_event": self.state.custom_events}[kind]
            return {key: dict(value) for key, value in store.items()}

    @property
    def errors(self) -> list[dict[str, str]]:
        self.settle()
        with self._lock:
            return list(self.state.errors)

    @property
    def queued(self) -> int:
        self.settle()
        with self._lock:
            return self.state.queued_records

    def pause_validation(self) -> None:
        with self._lock:
            self.state.paused = True

    def resume_validation(self) -> None:
        with self._lock:
            self.state.paused = False

    def edit_contact(self, record_id: str, collection: str = "customers", **changes: Any) -> dict[str, Any]:
        """Change a stored contact as a person at Ometria would (a marketer in the app, the
        contact in the preference centre), without the hub: `properties` are merged, other
        fields replaced. For tests of drift detection; returns the contact as stored."""
        self.settle()
        with self._lock:
            stored = self.state.contacts[(collection, record_id)]
            properties = changes.pop("properties", None)
            stored.update(changes)
            if properties is not None:
                stored["properties"] = {**(stored.get("properties") or {}), **properties}
            return dict(stored)

    def unsubscribe(self, record_id: str, collection: str = "customers", **how: str) -> dict[str, Any]:
        """The contact unsubscribes at Ometria, without the hub (unsubscribes.py)."""
        self.settle()
        with self._lock:
            return unsubscribe(self.state, record_id, collection, self.clock(), **how)

    @property
    def resubscribed(self) -> list[tuple[str, str]]:
        """(collection, id) of every opted-out contact a push opted in again, in order."""
        self.settle()
        with self._lock:
            return list(self.state.resubscribed)

    def is_forced_optin(self, record_id: str, collection: str = "customers") -> bool:
        with self._lock:
            return (collection, record_id) in self.state.forced_optin

    def calls(self, method: str = "POST", path: str = "/v2/push", status: int | None = None) -> int:
        with self._lock:
            return sum(1 for m, p, s in self.call_log if m == method and p == path and (status is None or s == status))

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "") or "/"
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        with self._lock:
            now = self.clock()
            self.state.settle(now)
            extra: dict[str, str] = {}
            try:
                status, payload = self._handle(method, path, body, environ, now, extra)
            except SandboxError as error:
                status, payload = error.status, {"status": "ERROR", "message": error.message}
            if path == "/v2/push":
                extra.update(self._queue_headers())
            data = json.dumps(payload).encode()
            headers = {"Content-Type": "application/json; charset=utf-8", **extra, "Content-Length": str(len(data))}
            self.call_log.append((method, path, status))
            if self.keep_exchanges:
                self.exchanges.append(Exchange(method, path, body, status, headers, data, now))
        start_response(f"{status} {_REASONS.get(status, 'Error')}", list(headers.items()))
        return [data]

    def _handle(self, method: str, path: str, body: bytes, environ: dict[str, Any], now: float,
                extra: dict[str, str]) -> tuple[int, Any]:
        if path not in ("/v2/push", "/v2/push/_errors", PROFILES_PATH, UNSUBSCRIBES_PATH):
            raise SandboxError(404, f"No resource at {path}")
        if environ.get("HTTP_X_OMETRIA_AUTH", "") not in self.api_keys:
            raise SandboxError(403, FORBIDDEN)
        if path == PROFILES_PATH:
            self._read_allowed(method, path, now)
            return 200, self._profiles(parse_qs(environ.get("QUERY_STRING", "")))
        if path == UNSUBSCRIBES_PATH:
            self._read_allowed(method, path, now)
            return 200, unsubscribes_listed(self.state, parse_qs(environ.get("QUERY_STRING", "")))
        if path == "/v2/push/_errors":
            self._read_allowed(method, path, now)
            listed = list(self.state.errors)
            return 200, listed[::-1] if self.errors_newest_first else listed
        if method != "POST":
            raise SandboxError(405, f"{method} is not allowed on {path}")
        if not self.push_limiter.allow(now):
            raise SandboxError(429, "Rate limit exceeded: at most 4 push requests per second")
        self.push_times.append(now)
        records = _records(body)
        if self.state.queued_records + len(records) > self.queue_limit:
            raise SandboxError(429, f"Too many records waiting to be processed (the limit is {self.queue_limit})")
        return 200, self.state.receive(records, now, self.validation_delay, self.processing_rate)

    def _read_allowed(self, method: str, path: str, now: float) -> None:
        """A Data API read: GET only, within its own rate."""
        if method != "GET":
            raise SandboxError(405, f"{method} is not allowed on {path}")
        if not self.read_limiter.allow(now):
            raise SandboxError(429, "Rate limit exceeded: at most 4 Data API requests per second")

    def _profiles(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """Profiles whose email is the one asked for (PROFILES_PATH: path unconfirmed)."""
        email = (query.get("email") or [""])[0].strip()
        if not email:
            raise SandboxError(400, "Payload invalid: give the email address to look up (?email=).")
        return profiles_for_email(self.state.contacts, email)

    def _queue_headers(self) -> dict[str, str]:
        remaining = max(self.queue_limit - self.state.queued_records, 0)
        return {"X-QueueSize-Limit": str(self.queue_limit), "X-QueueSize-Remaining": str(remaining)}


def _records(body: bytes) -> list[Any]:
    try:
        records = json.loads(body or b"null")
    except ValueError:
        raise SandboxError(400, "Payload invalid: the body is not valid JSON.") from None
    if not isinstance(records, list):
        raise SandboxError(400, "Payload invalid: expected a JSON array of records.")
    if not records:
        raise SandboxError(400, "Payload invalid: the array holds no records.")
    if len(records) > MAX_RECORDS:
        raise SandboxError(400, f"Payload invalid: at most {MAX_RECORDS} records per request, not {len(records)}.")
    types = {record.get("@type") for record in records if isinstance(record, dict)}
    if len(types) > 1:
        raise SandboxError(400, "Payload invalid: all records of one request must have the same @type.")
    return records
