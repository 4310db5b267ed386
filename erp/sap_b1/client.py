"""HTTP to the SAP Business One Service Layer, and its errors.

One `ServiceLayerClient` per connection: it logs in on its first request, keeps the
B1SESSION/ROUTEID cookies for every later one (one login per run: the caller keeps the
client for the run and calls `logout()` at its end), logs in again once when the session
has timed out, retries transient failures with bounded exponential backoff, and turns
every failure into `TransportError`. The session's idle timeout (`SessionTimeout` in
the login answer) is tracked, so a session that has surely lapsed is replaced before a
request is spent on a 401.
"""
from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from erp.sap_b1.batch import Answer, BatchUnreadable, Operation, batch_answers, batch_request
from syncapp.adapters import AuthenticationFailed, TransportError

log = logging.getLogger(__name__)

SESSION_COOKIES = ("B1SESSION", "ROUTEID")
INVALID_SESSION_CODE = "301"
DEFAULT_SESSION_MINUTES = 30  # the Service Layer's default idle timeout
# Log in afresh this long before the idle timeout: our clock and SAP's see the last
# request a little apart.
SESSION_MARGIN_SECONDS = 30.0
# 408 and 429 are "try again later", not "this request is wrong".
TRANSIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Page:
    """One page of a collection: its rows and the server's next link, if any."""

    rows: list[dict[str, Any]]
    next_link: str | None


def parse_error(body: Any) -> tuple[str, str]:
    """(code, message) from a v1 or v2 error envelope; ('', '') if the body is not one.

    v1: {"error": {"code": -10, "message": {"lang": "en-us", "value": "..."}}}
    v2: {"error": {"code": "-2039", "message": "..."}} (code may be a string, message plain)
    """
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return "", ""
    error = body["error"]
    code = error.get("code")
    message = error.get("message")
    if isinstance(message, dict):
        message = message.get("value", "")
    return ("" if code is None else str(code)).strip(), str(message or "")


class ServiceLayerClient:
    """A logged-in conversation with one company database.

    `get`, `get_page`, `get_pages`, `patch`, `post` and `batch` raise `TransportError` (permanent
    for 4xx other than 401/408/429, transient for 5xx/429/408/timeouts/connection
    errors) or `AuthenticationFailed` when the Login itself is refused.
    """

    def __init__(
        self,
        base_url: str,
        company_db: str,
        username: str,
        password: str,
        *,
        page_size: int,
        timeout: float,
        verify_tls: bool,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.company_db = company_db
        self.username = username
        self._password = password
        self.page_size = page_size
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.http = session or requests.Session()
        self.clock = clock
        self._cookies: dict[str, str] = {}
        self._session_seconds = DEFAULT_SESSION_MINUTES * 60.0
        self._last_sent = 0.0  # when the session was last used (our clock): SAP's idle timer restarts then

    def __repr__(self) -> str:  # never show the password or the session
        return f"<ServiceLayerClient {self.base_url} {self.company_db}/{self.username}>"

    # ------------------------------------------------------------ session

    @property
    def logged_in(self) -> bool:
        return "B1SESSION" in self._cookies

    def login(self) -> None:
        """POST /Login and keep the session cookies. Refused -> AuthenticationFailed."""
        body = {"CompanyDB": self.company_db, "UserName": self.username, "Password": self._password}
        response = self._send("POST", self._url("Login"), json=body, with_session=False)
        if response.status_code != 200:
            _, message = parse_error(_json(response))
            if response.status_code >= 500 or response.status_code in TRANSIENT_STATUSES:
                raise self._error(response, "login could not be completed")
            raise AuthenticationFailed(
                f"SAP Business One refused the login for {self.username!r} on "
                f"{self.company_db!r}: {message or response.reason}",
                status=response.status_code,
                response=_json(response),
            )
        self._cookies = {k: v for k, v in response.cookies.items() if k in SESSION_COOKIES}
        if "B1SESSION" not in self._cookies:
            session_id = (_json(response) or {}).get("SessionId")
            if not session_id:
                raise TransportError(
                    "SAP Business One login answered without a session", permanent=True,
                    reason_code="sap_b1:no_session", status=200,
                )
            self._cookies["B1SESSION"] = session_id
        self._session_seconds = _session_seconds((_json(response) or {}).get("SessionTimeout"))
        # requests also files Set-Cookie in its jar; we send our own copy explicitly.
        self.http.cookies.clear()
        log.info("Logged in to SAP Business One %s as %s", self.company_db, self.username)

    def logout(self) -> None:
        """POST /Logout, so SAP ends the session now rather than keeping it open until its
        idle timeout; best effort, never raises. A session already lapsed costs no call."""
        if not self.logged_in:
            return
        if not self._session_lapsed():
            try:
                self._send("POST", self._url("Logout"), with_session=True)
            except TransportError:
                pass
        self._cookies = {}

    def _session_lapsed(self) -> bool:
        """SAP has surely dropped the session for idleness: a request would be refused."""
        return self.clock() - self._last_sent >= self._session_seconds - SESSION_MARGIN_SECONDS

    # ------------------------------------------------------------ requests

    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """GET a path or next link; the decoded JSON body, or None for 204."""
        return _json(self.request("GET", path, params=params, **kw))

    def get_page(self, path: str, params: dict[str, Any] | None = None) -> Page:
        """GET one page of a collection, asking for `page_size` rows.

        Bytes that are not valid UTF-8 do not fail the page: they are decoded as lone
        surrogates, so only the records holding them are refused (as unreadable, by
        `erp.record_checks`). A page that is not a JSON collection at all raises
        TransportError (reason "sap_b1:unreadable_page", naming the page): the pull
        stops there and nothing after it is read, so nothing is skipped unseen."""
        headers = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        response = self.request("GET", path, params=params, headers=headers)
        if response.status_code == 204 or not response.content:
            return Page(rows=[], next_link=None)
        try:
            body = decode_json(response)
        except ValueError as error:
            raise _unreadable_page(path, params, f"not JSON: {error}"[:200]) from None
        if not isinstance(body, dict) or not isinstance(body.get("value", []), list) \
                or not all(isinstance(row, dict) for row in body.get("value", [])):
            raise _unreadable_page(path, params, "not a collection of records")
        next_link = body.get("odata.nextLink") or body.get("@odata.nextLink")
        return Page(rows=list(body.get("value", [])), next_link=next_link or None)

    def get_pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Page]:
        """Yield every page, following `odata.nextLink` / `@odata.nextLink`."""
        page = self.get_page(path, params)
        yield page
        while page.next_link:
            page = self.get_page(page.next_link)
            yield page

    def patch(self, path: str, body: dict[str, Any]) -> None:
        self.request("PATCH", path, json=body)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return _json(self.request("POST", path, json=body))

    def batch(self, operations: Sequence[Operation]) -> list[Answer | None]:
        """POST $batch, each operation in its own changeset (erp.sap_b1.batch): one answer
        per operation, in order, None for one SAP left unanswered. A refused batch as a
        whole raises TransportError like any request."""
        root = urlsplit(self.base_url).path.rstrip("/")
        content_type, body = batch_request(operations, root=root)
        response = self.request("POST", "$batch", data=body, headers={"Content-Type": content_type})
        try:
            return batch_answers(response.headers.get("Content-Type", ""), response.content, len(operations))
        except (BatchUnreadable, UnicodeDecodeError) as error:
            raise TransportError(f"SAP Business One answered a batch the hub cannot read ({error})",
                                 permanent=False, reason_code="sap_b1:unreadable_batch",
                                 status=response.status_code) from None

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        """Send with the session, re-login once on an expired session, retry transients."""
        url = self._url(path)
        attempt = 0
        relogged = False
        while True:
            try:
                if self.logged_in and self._session_lapsed():
                    log.info("SAP Business One session idle past its timeout; logging in again")
                    self._cookies = {}
                if not self.logged_in:
                    self.login()
                response = self._send(method, url, with_session=True, **kw)
                if response.status_code < 400:
                    return response
                if self._session_expired(response) and not relogged:
                    relogged = True
                    log.info("SAP Business One session expired; logging in again")
                    self._cookies = {}
                    self.login()
                    continue
                raise self._error(response)
            except AuthenticationFailed:
                raise
            except TransportError as error:
                if error.permanent or attempt >= self.max_retries:
                    raise
                attempt += 1
                delay = self._delay(attempt, error.retry_after)
                log.warning(
                    "SAP Business One %s %s failed (%s); retry %d/%d in %.1fs",
                    method, urlsplit(url).path, error.message, attempt, self.max_retries, delay,
                )
                time.sleep(delay)

    # ------------------------------------------------------------ internals

    def _url(self, path: str) -> str:
        """Absolute URL for a path, an absolute link or a root-relative link."""
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith("/"):  # e.g. "/b1s/v1/BusinessPartners?$skip=20"
            parts = urlsplit(self.base_url)
            return f"{parts.scheme}://{parts.netloc}{path}"
        return f"{self.base_url}/{path}"

    def _send(self, method: str, url: str, *, with_session: bool, **kw: Any) -> requests.Response:
        cookies = dict(self._cookies) if with_session else None
        self._last_sent = self.clock()
        try:
            return self.http.request(
                method, url, cookies=cookies, timeout=self.timeout, verify=self.verify_tls, **kw
            )
        except requests.Timeout as exc:
            raise TransportError(
                f"SAP Business One did not answer within {self.timeout}s",
                permanent=False, reason_code="timeout",
            ) from exc
        except requests.RequestException as exc:
            raise TransportError(
                f"Could not reach SAP Business One at {urlsplit(url).netloc}: "
                f"{type(exc).__name__}",
                permanent=False, reason_code="connection_error",
            ) from exc

    @staticmethod
    def _session_expired(response: requests.Response) -> bool:
        code, _ = parse_error(_json(response))
        return response.status_code == 401 or code == INVALID_SESSION_CODE

    @staticmethod
    def _error(response: requests.Response, context: str = "") -> TransportError:
        body = _json(response)
        code, message = parse_error(body)
        status = response.status_code
        permanent = 400 <= status < 500 and status not in TRANSIENT_STATUSES and status != 401
        retry_after = _retry_after(response.headers.get("Retry-After"))
        text = message or response.reason or f"HTTP {status}"
        prefix = f"SAP Business One {context}: " if context else "SAP Business One: "
        return TransportError(
            f"{prefix}{text}",
            permanent=permanent,
            reason_code=f"sap_b1:{code}" if code else f"http_{status}",
            status=status,
            retry_after=retry_after,
            response=body if body is not None else response.text[:2000],
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, 60.0)
        base = self.backoff_seconds * (2 ** (attempt - 1))
        return base + random.uniform(0, base / 2)  # jitter so workers do not retry in step


def _json(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return decode_json(response)
    except ValueError:
        return None


def decode_json(response: requests.Response) -> Any:
    """The body as JSON, invalid UTF-8 bytes kept as lone surrogates (U+DC80-U+DCFF)
    rather than failing the whole body or silently becoming U+FFFD (what
    `requests`' own decoding does): a damaged name must be seen, not guessed.
    Raises ValueError when the body is not JSON."""
    try:
        text = response.content.decode(response.encoding or "utf-8", errors="surrogateescape")
    except LookupError:  # a charset Python does not know: SAP speaks UTF-8
        text = response.content.decode("utf-8", errors="surrogateescape")
    return json.loads(text)


def _unreadable_page(path: str, params: dict[str, Any] | None, why: str) -> TransportError:
    where = urlsplit(path).path.rsplit("/", 1)[-1] or path
    skip = (params or {}).get("$skip") or dict(parse_qsl(urlsplit(path).query)).get("$skip") or 0
    first = int(skip) + 1 if str(skip).isdigit() else skip
    return TransportError(
        f"SAP Business One sent a page of {where} (from row {first}) the hub cannot read ({why}). "
        "The pull stops at this page and reads it again next time; nothing after it was skipped.",
        permanent=True, reason_code="sap_b1:unreadable_page", status=200,
    )


def _session_seconds(minutes: Any) -> float:
    """The login answer's SessionTimeout (minutes) in seconds; the default when absent."""
    try:
        value = float(minutes)
    except (TypeError, ValueError):
        return DEFAULT_SESSION_MINUTES * 60.0
    return value * 60.0 if value > 0 else DEFAULT_SESSION_MINUTES * 60.0


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
