"""HTTP client for Ometria's Data API: the push endpoint and its errors list.

`X-Ometria-Auth: <key>` on every call [OM-INTRO]; JSON array bodies. Every push goes
through the account's shared `Throttle` (the engine's bucket at the account's rate, 4
per second by default, burst 1: Ometria counts per second, and a bucket that banked 4
calls would let 7 or 8 through in the second after an idle spell); reads of
`/v2/push/_errors` through a second bucket, since the Data API counts them separately
(4 per second) and a read must not cost a push its slot. Both buckets also keep an
arrival window (syncapp/ratelimit.py): a call holds its place until its answer is back,
so network jitter cannot land a fifth call in Ometria's second.

HTTP outcomes -> `TransportError` (see syncapp.adapters):
- 403 (and 401): `AuthenticationFailed` ("API key is not authorised to access this
  resource" [OM-REF]).
- 429: Ometria has two reasons, told apart by the `X-QueueSize-*` headers: the
  request rate, or the asynchronous queue (at most 50,000 records waiting). Either way
  the whole account's throttle is deferred, because both limits are per account, then
  the call is tried again a bounded number of times. No Retry-After or rate headers are
  documented (unconfirmed): a rate 429 waits 1 s (the limit is per second), a full
  queue waits QUEUE_WAIT seconds, doubling, since the queue drains at Ometria's pace.
  Still refused after `max_rate_limit_waits`: a transient error with `retry_after`.
- 5xx, timeouts, connection errors: transient. Any other 4xx: permanent, with
  Ometria's message (the synchronous error body is unconfirmed: `{status, message}`
  as v1 had, or plain text, are both read).

Records over 60 KB are refused before sending (see payloads.record_bytes), so one
oversized order never costs its 99 neighbours their call.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from syncapp.adapters import AuthenticationFailed, Throttle, TransportError
from syncapp.ratelimit import throttled_call

from .payloads import MAX_RECORD_BYTES, MAX_RECORDS_PER_CALL, TOO_LARGE, record_bytes

logger = logging.getLogger(__name__)

VENDOR_URL = "https://api.ometria.com"
PROFILES_PATH = "/v2/profiles"  # unconfirmed (see profiles())
UNSUBSCRIBES_PATH = "/v2/unsubscribes"  # OM-UNSUB
RATE_WAIT = 1.0
QUEUE_WAIT = 10.0
MAX_WAIT = 300.0


class RecordTooLarge(TransportError):
    """One record is over Ometria's 60 KB limit: permanent for that record only."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"{TOO_LARGE} Ometria takes at most {MAX_RECORD_BYTES // 1024} KB per record; this one is "
            f"{size / 1024:.1f} KB. Shorten it (fewer lines or properties) in the ERP.",
            permanent=True, reason_code="record_too_large")
        self.size = size


@dataclass(frozen=True)
class QueueState:
    """The asynchronous import queue as the last push response reported it."""

    limit: int
    remaining: int

    @property
    def queued(self) -> int:
        return max(self.limit - self.remaining, 0)


@dataclass(frozen=True)
class PushAnswer:
    """Ometria's 200: received and authenticated, not validated [OM-PUSH]."""

    status: str
    request_id: str
    accepted: int
    rejected: int
    body: Any
    queue: QueueState | None = None  # Ometria's queue after taking this call (its own answer's headers)


def parse_queue(headers: Mapping[str, str]) -> QueueState | None:
    try:
        return QueueState(int(headers["X-QueueSize-Limit"]), int(headers["X-QueueSize-Remaining"]))
    except (KeyError, TypeError, ValueError):
        return None


def check_size(record: Mapping[str, Any]) -> None:
    size = record_bytes(record)
    if size > MAX_RECORD_BYTES:
        raise RecordTooLarge(size)


def base_url_for(base_url: str = "") -> str:
    return (base_url or VENDOR_URL).rstrip("/")


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body.get("status") or "")
    return str(body or "")[:300]


class OmetriaClient:
    """One Ometria account's Data API. Thread-compatible, not thread-safe (`calls`)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        throttle: Throttle,
        read_throttle: Throttle | None = None,
        timeout: float = 30.0,
        max_rate_limit_waits: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url_for(base_url)
        self.throttle = throttle
        self.read_throttle = read_throttle or throttle
        self.timeout = timeout
        self.max_rate_limit_waits = max_rate_limit_waits
        self.sleep = sleep
        self.calls = 0
        self.rate_limited = 0  # 429 answers seen (for run statistics and the benchmark)
        self.queue: QueueState | None = None
        self._session = session or requests.Session()
        self._session.headers.update({"X-Ometria-Auth": api_key, "Accept": "application/json"})

    # ------------------------------------------------------------ endpoints

    def push(self, records: Sequence[Mapping[str, Any]]) -> PushAnswer:
        """POST /v2/push with one array of at most 100 records of one type."""
        if not records:
            raise ValueError("Ometria push needs at least one record")
        if len(records) > MAX_RECORDS_PER_CALL:
            raise ValueError(f"Ometria takes at most {MAX_RECORDS_PER_CALL} records per call, not {len(records)}")
        types = {record.get("@type") for record in records}
        if len(types) != 1:
            raise ValueError(f"One record type per Ometria call, not {sorted(map(str, types))}")
        for record in records:
            check_size(record)
        body, headers = self._request("POST", "/v2/push", json_body=list(records), throttle=self.throttle,
                                      batch=len(records))
        if not isinstance(body, dict) or not body.get("request_id"):
            raise TransportError("Ometria answered the push without a request id; it will be sent again",
                                 permanent=False, reason_code="no_request_id", response=body)
        return PushAnswer(status=str(body.get("status", "")), request_id=str(body["request_id"]),
                          accepted=int(body.get("accepted") or 0), rejected=int(body.get("rejected") or 0),
                          body=body, queue=parse_queue(headers))

    def push_errors(self) -> list[dict[str, Any]]:
        """GET /v2/push/_errors: the last 100 validation errors, each {error_message,
        error_path}, as listed (their order is unconfirmed; errors_list.py reads both)."""
        body, _ = self._request("GET", "/v2/push/_errors", throttle=self.read_throttle)
        if isinstance(body, dict):  # tolerate an envelope, e.g. {"data": [...]}
            body = body.get("data") or body.get("errors") or []
        if not isinstance(body, list):
            raise TransportError("Ometria's errors list was not a list", permanent=False,
                                 reason_code="bad_errors_list", response=body)
        return [entry for entry in body if isinstance(entry, dict)]

    def profiles(self, email: str) -> list[dict[str, Any]]:
        """GET /v2/profiles?email=: the profiles holding this email address, through the
        Data API's bucket. UNCONFIRMED: Ometria's reference lists a profiles read endpoint
        but its path is not confirmed; this one is what public code calls (esp-apis.md 2.5).
        Its answer is read as a list, or `{"data": [...]}`."""
        # The address goes as a query parameter, never into the path that messages and logs show.
        body, _ = self._request("GET", PROFILES_PATH, throttle=self.read_throttle, params={"email": email})
        if isinstance(body, dict):
            body = body.get("data") or body.get("profiles") or []
        if not isinstance(body, list):
            raise TransportError("Ometria's profiles answer was not a list", permanent=False,
                                 reason_code="bad_profiles_answer", response=body)
        return [profile for profile in body if isinstance(profile, dict)]

    def unsubscribes(self, *, since: str) -> list[dict[str, Any]]:
        """GET /v2/unsubscribes?since=: contacts who unsubscribed since then (not through the
        API), through the Data API's bucket; read as a list, or `{"data": [...]}`."""
        body, _ = self._request("GET", UNSUBSCRIBES_PATH, throttle=self.read_throttle, params={"since": since})
        if isinstance(body, dict):
            body = body.get("data") or []
        if not isinstance(body, list):
            raise TransportError("Ometria's unsubscribes answer was not a list", permanent=False,
                                 reason_code="bad_unsubscribes_answer")
        return [row for row in body if isinstance(row, dict)]

    # ------------------------------------------------------------ transport

    def _request(self, method: str, path: str, *, throttle: Throttle, json_body: Any = None,
                 batch: int = 0, params: Mapping[str, str] | None = None) -> tuple[Any, Mapping[str, str]]:
        """(the answer's body, its headers) once Ometria answered other than 429."""
        waits, queue_wait = 0, QUEUE_WAIT
        while True:
            response = self._send(method, path, json_body, throttle, params)
            if response.status_code != 429:
                return self._result(response, method, path), response.headers
            self.rate_limited += 1
            queue = parse_queue(response.headers)
            queue_full = queue is not None and queue.remaining < max(batch, 1)
            hint = _retry_after(response.headers)
            wait = hint if hint is not None else (queue_wait if queue_full else RATE_WAIT)
            wait = min(max(wait, 0.25), MAX_WAIT)
            reason = "queue_full" if queue_full else "rate_limited"
            if waits >= self.max_rate_limit_waits:
                raise TransportError(
                    "Ometria's queue of records to process stayed full" if queue_full
                    else "Ometria kept answering 'too many requests'",
                    permanent=False, reason_code=reason, status=429, retry_after=wait, response=_json(response))
            waits += 1
            if queue_full:
                queue_wait = min(queue_wait * 2, MAX_WAIT)
            # Both limits are the account's: hold back every worker, not only this one.
            throttle.defer(wait)
            logger.info("Ometria 429 (%s) on %s %s; waiting %.1f s", reason, method, path, wait)
            self.sleep(wait)

    def _send(self, method: str, path: str, json_body: Any, throttle: Throttle,
              params: Mapping[str, str] | None = None) -> requests.Response:
        try:
            # The call holds its place in the account's arrival window until the answer is
            # back: Ometria counts by arrival, which the network can delay (ratelimit.py).
            with throttled_call(throttle):
                self.calls += 1
                response = self._session.request(method, self.base_url + path, json=json_body, params=params,
                                                 timeout=self.timeout)
        except requests.Timeout as exc:
            raise TransportError(f"Ometria did not answer {method} {path} within {self.timeout:g} s",
                                 permanent=False, reason_code="timeout") from exc
        except requests.RequestException as exc:
            raise TransportError(f"Could not reach Ometria for {method} {path}: {type(exc).__name__}",
                                 permanent=False, reason_code="connection_error") from exc
        queue = parse_queue(response.headers)
        if queue is not None:
            self.queue = queue
        logger.debug("Ometria %s %s -> %s", method, path, response.status_code)
        return response

    def _result(self, response: requests.Response, method: str, path: str) -> Any:
        status, body = response.status_code, _json(response)
        if 200 <= status < 300:
            return body
        text = _message(body)
        if status in (401, 403):
            raise AuthenticationFailed(
                f"Ometria refused the API key ({status}: {text or 'not authorised'}). Check the key in the "
                "environment variable the account names.", status=status, response=body)
        if status >= 500:
            raise TransportError(f"Ometria answered {status} to {method} {path}. {text}".strip(), permanent=False,
                                 reason_code=f"http_{status}", status=status, response=body)
        raise TransportError(f"Ometria refused {method} {path} ({status}): {text or 'no reason given'}",
                             permanent=True, reason_code=f"http_{status}", status=status, response=body)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["Retry-After"])
    except (KeyError, TypeError, ValueError):
        return None


def _json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
