"""HTTP client for dotdigital's v2 data-field API, v3 contacts API and v3 insight data.

Every call goes through the shared `Throttle`, counts itself in `calls`, and turns
HTTP failures into `TransportError` (see `syncapp.adapters`): 5xx, timeouts and
connection errors are transient; 429 waits and retries a bounded number of times;
401/403 raise `AuthenticationFailed`; any other 4xx is permanent and carries the
vendor's error code as `reason_code`.

An answer saying `X-RateLimit-Remaining: 0` pauses the account until its
`X-RateLimit-Reset` (the shared throttle, so every worker, and this client before its
next call): the next call waits for the new allowance instead of being spent on a 429.
dotdigital tracks each tier separately, but which tier a call falls in is not in the
answer beforehand, so the pause holds every call (as a 429's does). Every answer's
figures also go to the shared throttle, which lets a call start only while more calls are
left of the minute than are still on their way from any worker: the last of the minute is
never spent twice (`syncapp.ratelimit`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from syncapp.adapters import AuthenticationFailed, HubFault, Throttle, TransportError
from syncapp.ratelimit import allowance_wait, throttled_call

from . import payloads

logger = logging.getLogger(__name__)

VENDOR_URL_TEMPLATE = "https://{region}-api.dotdigital.com"
# A reset header above this is an epoch timestamp, below it a number of seconds.
EPOCH_THRESHOLD = 1_000_000_000
DEFAULT_RATE_LIMIT_WAIT = 5.0
MAX_RATE_LIMIT_WAIT = 3600.0
# X-RateLimit-Reset comes in whole seconds, rounded which way is unconfirmed: a spent
# allowance waits this much longer, so the next call never lands in the old window.
RESET_MARGIN_SECONDS = 1.0
# A call holds its place among the calls on their way this much past its timeout (a
# worker that died mid-call frees it then).
CALL_LEASE_MARGIN = 10.0
# 429 codes that mean "too many imports queued", not "too many calls": they must not
# hold back the shared throttle. The insight code is not published; it is inferred
# from the contacts one (see sandbox/insight_state.py).
IMPORT_QUEUE_CODES = frozenset({"contacts:tooManyActiveImports", "insightData:tooManyActiveImports"})
_V2_CODE = re.compile(r"\b(ERROR_[A-Z0-9_]+)\b")
_EMAIL_IN_TEXT = re.compile(r"([^\s/@'\"]+)@([^\s/'\"]+)")


def mask_email(value: str) -> str:
    """'jane.doe@example.com' -> 'j***@example.com': enough to debug, not to identify."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_emails(text: str) -> str:
    return _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", text)


def base_url_for(region: str, base_url: str = "") -> str:
    """The account's API root. Empty `base_url` means the vendor's regional host;
    a `{region}` placeholder in `base_url` (e.g. a sandbox's `http://host:port/{region}`)
    is filled in, so the account's region reaches the sandbox too."""
    template = base_url or VENDOR_URL_TEMPLATE
    return template.replace("{region}", region).rstrip("/")


@dataclass(frozen=True)
class RateLimit:
    """The X-RateLimit-* headers of the last response that carried them."""

    limit: int | None
    remaining: int | None
    reset: float | None  # seconds from now, whatever unit the header used
    scope: str


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def seconds_until_reset(value: str | None, now: float) -> float | None:
    """X-RateLimit-Reset as seconds from now.

    dotdigital's own PHP SDK documents the header as seconds until the reset, a
    third-party digest as a UTC epoch timestamp; the unit is unconfirmed, so both
    are accepted and told apart by size.
    """
    number = _number(value)
    if number is None:
        return None
    if number > EPOCH_THRESHOLD:
        number -= now
    return max(number, 0.0)


def parse_rate_limit(headers: Mapping[str, str], now: float) -> RateLimit | None:
    # requests' headers are case-insensitive; HTTP/2 sends them in lower case.
    if not any(h.lower().startswith("x-ratelimit-") for h in headers):
        return None
    limit, remaining = (
        _number(headers.get("X-RateLimit-Limit")),
        _number(headers.get("X-RateLimit-Remaining")),
    )
    return RateLimit(
        limit=int(limit) if limit is not None else None,
        remaining=int(remaining) if remaining is not None else None,
        reset=seconds_until_reset(headers.get("X-RateLimit-Reset"), now),
        scope=headers.get("X-RateLimit-Scope", ""),
    )


def error_code(body: Any) -> str:
    """The vendor's code from a v3 `{errorCode}` or v2 `{"message": "... ERROR_X"}` body."""
    if isinstance(body, dict):
        if body.get("errorCode"):
            return str(body["errorCode"])
        match = _V2_CODE.search(str(body.get("message", "")))
        if match:
            return match.group(1)
    return ""


def error_text(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("description") or body.get("message") or "")
    return str(body or "")[:200]


class DotdigitalClient:
    """One API user's view of dotdigital. Thread-compatible, not thread-safe (`calls`)."""

    def __init__(
        self,
        base_url: str,
        api_user: str,
        password: str,
        *,
        throttle: Throttle,
        timeout: float = 121,  # dotdigital asks clients to allow 121 s per call
        max_rate_limit_waits: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.throttle = throttle
        self.timeout = timeout
        self.max_rate_limit_waits = max_rate_limit_waits
        self.sleep = sleep
        self.clock = clock
        self.calls = 0
        self.rate_limit: RateLimit | None = None
        self._allowance_back_at: float | None = None  # clock time the spent allowance resets
        self._session = session or requests.Session()
        self._session.auth = (api_user, password)
        self._session.headers.update({"Accept": "application/json"})

    # ------------------------------------------------------------ v2 data fields

    def account_info(self) -> dict[str, Any]:
        """GET /v2/account-info: a cheap call to test the connection and region."""
        return self.request("GET", "/v2/account-info")

    def list_data_fields(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v2/data-fields") or []

    def create_data_field(
        self, name: str, type: str, visibility: str = "Private", default: Any = None
    ) -> dict[str, Any] | None:
        body = payloads.data_field_body(name, type, visibility, default)
        return self.request("POST", "/v2/data-fields", json_body=body, expect=(200, 201))

    # ------------------------------------------------------------ v3 contacts

    def import_contacts(
        self, contacts: Sequence[dict[str, Any]], merge_option: str = "overwrite"
    ) -> str:
        """PUT /contacts/v3/import; returns the import id to poll."""
        body = payloads.import_body(contacts, merge_option)
        answer = self.request("PUT", "/contacts/v3/import", json_body=body, expect=(202,))
        import_id = (answer or {}).get("importId")
        if not import_id:
            raise TransportError(
                "dotdigital accepted the import but sent no import id", permanent=False
            )
        return str(import_id)

    def import_status(self, import_id: str) -> dict[str, Any]:
        return self.request("GET", f"/contacts/v3/import/{quote(import_id, safe='')}")

    def upsert_contact(
        self, email: str, data_fields: Mapping[str, Any], merge_option: str = "overwrite"
    ) -> dict[str, Any]:
        """PATCH /contacts/v3/email/{email}: creates (201) or updates (200) one contact."""
        return self.request(
            "PATCH",
            f"/contacts/v3/email/{quote(email, safe='@')}",
            params={"merge-option": payloads.patch_merge_option(merge_option)},
            json_body=payloads.upsert_body(data_fields),
            expect=(200, 201),
        )

    def get_contact(self, email: str) -> dict[str, Any] | None:
        """GET /contacts/v3/email/{email}; None when dotdigital has no such contact."""
        try:
            return self.request("GET", f"/contacts/v3/email/{quote(email, safe='@')}")
        except TransportError as exc:
            if exc.status == 404 and exc.reason_code == "contacts:contactNotFound":
                return None
            raise

    # ------------------------------------------------------------ v3 insight data

    def import_insight(
        self,
        collection_name: str,
        scope: str,
        collection_type: str,
        records: Sequence[dict[str, Any]],
    ) -> str:
        """PUT /insightData/v3/import (202); returns the import id to poll.

        `records` are `{key, json[, contactIdentity]}` (see `insight.insight_record`).
        dotdigital creates a missing collection with `scope` and `collection_type`.
        """
        body = {
            "collectionName": collection_name,
            "collectionScope": scope,
            "collectionType": collection_type,
            "records": list(records),
        }
        answer = self.request("PUT", "/insightData/v3/import", json_body=body, expect=(202,))
        import_id = (answer or {}).get("importId")
        if not import_id:
            raise TransportError(
                "dotdigital accepted the insight import but sent no import id", permanent=False
            )
        return str(import_id)

    def insight_import_status(self, import_id: str) -> dict[str, Any]:
        """GET /insightData/v3/import/{importId}: NotStarted|Processing|Complete|Failed."""
        return self.request("GET", f"/insightData/v3/import/{quote(import_id, safe='')}")

    def get_account_record(self, collection: str, key: str) -> dict[str, Any] | None:
        """GET /insightData/v3/account/{name}/{recordId}: `{key, json, created, updated}`,
        None when the collection or the record does not exist."""
        try:
            return self.request(
                "GET",
                f"/insightData/v3/account/{quote(collection, safe='')}/{quote(key, safe='')}",
            )
        except TransportError as exc:
            if exc.status == 404 and exc.reason_code in (
                "insightData:recordNotFound",
                "insightData:collectionNotFound",
            ):
                return None
            raise

    # ------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        expect: Sequence[int] = (200,),
    ) -> Any:
        """One API call with the throttle, bounded 429 retries and typed errors."""
        shown = mask_emails(path)
        waits = 0
        while True:
            response = self._send(method, path, shown, params, json_body)
            if response.status_code != 429:
                return self._result(response, method, shown, expect)
            body = _json(response)
            wait = self._rate_limit_wait(response, body)
            if waits >= self.max_rate_limit_waits:
                raise TransportError(
                    f"dotdigital kept answering 'too many requests' to {method} {shown}",
                    permanent=False,
                    reason_code=error_code(body) or "rate_limited",
                    status=429,
                    retry_after=wait,
                    response=body,
                )
            waits += 1
            # Too many active imports is a queue limit, not the call rate: other calls
            # may go on, so only a rate-limit 429 holds back the shared throttle.
            if error_code(body) not in IMPORT_QUEUE_CODES:
                self.throttle.defer(wait)
            logger.info("dotdigital 429 on %s %s; waiting %.1f s", method, shown, wait)
            self.sleep(wait)

    def _send(
        self, method: str, path: str, shown: str, params: Any, json_body: Any
    ) -> requests.Response:
        self._wait_for_allowance(method, shown)
        with throttled_call(self.throttle, tells_allowance=True, lease=self.timeout + CALL_LEASE_MARGIN) as answer:
            self.calls += 1
            response = self._exchange(method, path, shown, params, json_body)
            now = self.clock()
            limits = parse_rate_limit(response.headers, now)
            if limits is not None and limits.reset is not None:
                answer.told(limits.remaining, limits.reset + RESET_MARGIN_SECONDS)
        if limits is not None:
            self.rate_limit = limits
            # A 429 waits in request(); an accepted call that spent the last of the
            # allowance pauses the account here, before anyone is refused.
            if limits.remaining is not None and limits.remaining <= 0 and response.status_code != 429:
                wait = _bounded_wait(limits.reset) + RESET_MARGIN_SECONDS
                self._allowance_back_at = now + wait
                try:
                    self.throttle.defer(wait)
                except HubFault:  # this call went through: only the other workers miss the pause
                    logger.warning("Could not pause the shared throttle for dotdigital's reset", exc_info=True)
        logger.debug("dotdigital %s %s -> %s", method, shown, response.status_code)
        return response

    def _exchange(self, method: str, path: str, shown: str, params: Any, json_body: Any) -> requests.Response:
        try:
            return self._session.request(
                method, self.base_url + path, params=params, json=json_body, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise TransportError(
                f"dotdigital did not answer {method} {shown} within {self.timeout:g} s",
                permanent=False,
                reason_code="timeout",
            ) from exc
        except requests.RequestException as exc:
            raise TransportError(
                f"Could not reach dotdigital for {method} {shown}: {type(exc).__name__}",
                permanent=False,
                reason_code="connection_error",
            ) from exc

    def _wait_for_allowance(self, method: str, shown: str) -> None:
        """The last answer said the allowance was spent: wait for its reset."""
        if self._allowance_back_at is None:
            return
        wait, self._allowance_back_at = self._allowance_back_at - self.clock(), None
        if wait > 0:
            logger.info("dotdigital allowance spent; waiting %.1f s for the reset before %s %s",
                        wait, method, shown)
            allowance_wait(wait, self.sleep)  # or a push that may step aside gives its process back

    def _rate_limit_wait(self, response: requests.Response, body: Any) -> float:
        now = self.clock()
        hint = seconds_until_reset(response.headers.get("Retry-After"), now)
        if hint is None:
            hint = seconds_until_reset(response.headers.get("X-RateLimit-Reset"), now)
        return _bounded_wait(hint)

    def _result(
        self, response: requests.Response, method: str, shown: str, expect: Sequence[int]
    ) -> Any:
        status = response.status_code
        body = _json(response)
        if status in expect or (200 <= status < 300 and not expect):
            return body
        code, text = error_code(body), mask_emails(error_text(body))
        if status == 401:
            raise AuthenticationFailed(
                "dotdigital refused the API user or password (401). Check the API user "
                "and the password's environment variable.",
                status=status,
                response=body,
            )
        if status == 403:
            raise AuthenticationFailed(
                "dotdigital denied access (403). The usual cause is the wrong region: the "
                "account lives in another region (r1 Europe, r2 North America, r3 Asia "
                "Pacific); GET /v2/account-info on r1 names the right one. "
                f"{text}".strip(),
                status=status,
                response=body,
            )
        if status >= 500 or 200 <= status < 300:
            raise TransportError(
                f"dotdigital answered {status} to {method} {shown}. {text}".strip(),
                permanent=False,
                reason_code=code or f"http_{status}",
                status=status,
                response=body,
            )
        raise TransportError(
            f"dotdigital refused {method} {shown} ({status}): {text or 'no reason given'}",
            permanent=True,
            reason_code=code or f"http_{status}",
            status=status,
            response=body,
        )


def _bounded_wait(seconds: float | None) -> float:
    """A vendor's wait hint kept between 1 s and an hour; no hint waits DEFAULT_RATE_LIMIT_WAIT."""
    if seconds is None:
        return DEFAULT_RATE_LIMIT_WAIT
    return min(max(seconds, 1.0), MAX_RATE_LIMIT_WAIT)


def _json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
