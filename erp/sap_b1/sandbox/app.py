"""A framework-free WSGI app that plays the SAP Business One Service Layer (/b1s/v1).

It serves Login/Logout with B1SESSION cookies and an idle timeout, and the
BusinessPartners, Items, Warehouses, ItemGroups (`item_groups`) and document collections
(`documents`) with $filter/$select/$orderby/$top/$skip and server-driven paging, single
entities by key, PATCH (and POST for partners),
`$batch` (multipart/mixed changesets) and `UserFieldsMD` (user fields, enforced on
Business Partner writes: `user_fields`), answering errors in the documented v1 envelope.
State lives in memory; tests reach in through the plain methods marked "test hook" (item
hooks: `items.ItemHooks`, document hooks and routes: `documents.DocumentHooks`).
"""
from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from erp.sap_b1.sandbox import query
from erp.sap_b1.sandbox.batches import BatchHooks
from erp.sap_b1.sandbox.contacts import ContactEmployees
from erp.sap_b1.sandbox.documents import DOCUMENT_ALL_PROPERTIES, DocumentHooks
from erp.sap_b1.sandbox.errors import SandboxError
from erp.sap_b1.sandbox.errors import envelope as _envelope
from erp.sap_b1.sandbox.item_groups import DEFAULT_GROUPS, ITEM_GROUP_PROPERTIES, ItemGroupHooks
from erp.sap_b1.sandbox.items import ITEM_ALL_PROPERTIES, WAREHOUSE_PROPERTIES, ItemHooks
from erp.sap_b1.sandbox.user_fields import UserFieldHooks

ROOT = "/b1s/v1"
DEFAULT_PAGE_SIZE = 20
# Properties this sandbox keeps on a BusinessPartner (all exist on SAPB1.BusinessPartner).
BP_PROPERTIES: tuple[str, ...] = (
    "CardCode", "CardName", "CardType", "GroupCode", "EmailAddress", "Phone1", "Phone2",
    "Cellular", "Currency", "Valid", "Frozen", "City", "Country", "ZipCode",
    "CreateDate", "CreateTime", "UpdateDate", "UpdateTime", "BPAddresses", "ContactEmployees",
)
# The demo company's own user-defined fields (company-specific, so not in SAP's metadata).
USER_FIELDS: dict[str, str] = {
    "U_LoyaltyTier": "Edm.String",
    "U_MarketingConsent": "Edm.String",
    "U_Birthday": "Edm.DateTime",
}
PROPERTIES = frozenset((*BP_PROPERTIES, *USER_FIELDS))
_COLLECTION = re.compile(r"^/([A-Za-z]+)$")
_KEY = re.compile(r"^/([A-Za-z]+)\((?:([A-Za-z]+)=)?'((?:[^']|'')*)'\)$")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Resource:
    """One entity set: its name, EntityType name, key property and known properties."""

    name: str
    type_name: str
    key: str
    properties: frozenset[str]
    rows: dict[str, dict[str, Any]]


RESOURCE_NAMES = ("BusinessPartners", "Items", "Warehouses", "ItemGroups")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SapB1Sandbox(ItemHooks, ItemGroupHooks, DocumentHooks, UserFieldHooks, BatchHooks):
    """In-memory Service Layer for one or more companies' users (data is shared)."""

    def __init__(
        self,
        users: dict[tuple[str, str], str],
        session_timeout_minutes: int = 30,
        clock: Callable[[], datetime] = _utcnow,
        next_link_style: str = "relative",
    ) -> None:
        self.users = dict(users)
        self.session_timeout = timedelta(minutes=session_timeout_minutes)
        self.clock = clock
        self.next_link_style = next_link_style  # "relative" (to the root) or "absolute_path"
        self.partners: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.warehouses: dict[str, dict[str, Any]] = {}
        self.item_groups: dict[str, dict[str, Any]] = {str(g["Number"]): dict(g) for g in DEFAULT_GROUPS}
        self.contact_employees = ContactEmployees()
        self.resources = {
            "BusinessPartners": Resource("BusinessPartners", "BusinessPartner", "CardCode",
                                         PROPERTIES, self.partners),
            "Items": Resource("Items", "Item", "ItemCode", ITEM_ALL_PROPERTIES, self.items),
            "Warehouses": Resource("Warehouses", "Warehouse", "WarehouseCode",
                                   WAREHOUSE_PROPERTIES, self.warehouses),
            "ItemGroups": Resource("ItemGroups", "ItemGroups", "Number", ITEM_GROUP_PROPERTIES, self.item_groups),
        }
        self._init_documents()
        for name, rows in self.documents.items():
            self.resources[name] = Resource(name, "Document", "DocEntry",
                                            DOCUMENT_ALL_PROPERTIES, rows)
        self.sessions: dict[str, datetime] = {}
        self.request_log: list[tuple[str, str, dict[str, str]]] = []
        self.login_count = 0
        self._failures: list[tuple[int, float | None]] = []
        self._byte_swaps: list[tuple[bytes, bytes]] = []
        self._lock = threading.RLock()
        self._generation = 0
        self._cache: dict[str, tuple[Any, list[str]]] = {}
        self._init_user_fields()

    # ------------------------------------------------------------ test hooks

    def add_business_partner(self, partner: dict[str, Any]) -> dict[str, Any]:
        """Store a partner as given (malformed values too), filling SAP's defaults."""
        with self._lock:
            record = self._defaults() | dict(partner)
            code = str(record.get("CardCode") or f"__missing_{len(self.partners)}")
            persons = record["ContactEmployees"]
            if isinstance(persons, list) and all(isinstance(row, dict) for row in persons):  # else kept as given
                record["ContactEmployees"] = self.contact_employees.numbered(code, persons)
            self.partners[code] = record
            self._generation += 1
            return record

    def add_business_partners(self, partners: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for partner in partners:
                self.add_business_partner(partner)

    def update_business_partner(self, card_code: str, **fields: Any) -> dict[str, Any]:
        """Change fields and stamp UpdateDate/UpdateTime from the clock, as SAP does.
        ContactEmployees given here replace the list (B1S-ReplaceCollectionsOnPatch)."""
        with self._lock:
            record = self.partners[card_code]
            if "ContactEmployees" in fields:
                fields["ContactEmployees"] = self.contact_employees.numbered(card_code, fields["ContactEmployees"])
            record.update(fields)
            record.update(self._stamp("Update"))
            self._generation += 1
            return record

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def swap_bytes_next(self, old: bytes, new: bytes) -> None:
        """The next GET answer has the bytes `old` replaced by `new` (test hook): plays a
        Service Layer that sends text which is not valid UTF-8, or a body cut short."""
        with self._lock:
            self._byte_swaps.append((old, new))

    def fail_next(self, count: int, status: int = 500, retry_after: float | None = None) -> None:
        """The next `count` requests (Login included) answer `status`."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    # ------------------------------------------------------------ WSGI

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        with self._lock:
            self.request_log.append((method, path, params))
            failure = self._failures.pop(0) if self._failures else None
        try:
            if failure:
                status, retry_after = failure
                headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
                raise _Injected(status, headers)
            if not path.startswith(ROOT):
                raise SandboxError(404, -1000, f"Resource not found for the segment '{path}'")
            status, headers, body = self._route(method, path[len(ROOT):], params, environ)
        except _Injected as injected:
            status, headers = injected.status, injected.headers
            body = _envelope(-1, f"Service unavailable (sandbox injected HTTP {status})")
        except SandboxError as error:
            status, headers, body = error.status, [], _envelope(error.code, error.message)
        with self._lock:
            swap = self._byte_swaps.pop(0) if self._byte_swaps and method == "GET" else None
        return _respond(start_response, status, headers, body, swap)

    def _route(
        self, method: str, path: str, params: dict[str, str], environ: Environ
    ) -> tuple[int, list[tuple[str, str]], Any]:
        if path == "/Login" and method == "POST":
            return self._login(_read_json(environ))
        session = self._session(environ)
        if path == "/Logout" and method == "POST":
            with self._lock:
                self.sessions.pop(session, None)
            return 204, [], None
        if path == "/$batch" and method == "POST":
            return self._batch(environ)
        answer = self._route_user_fields(method, path, params, lambda: _read_json(environ))
        if answer is not None:
            return answer
        answer = self._route_documents(method, path, params, environ, lambda: _read_json(environ))
        if answer is None:  # ItemGroups(<Number>): an integer key, unquoted
            answer = self._route_item_group(method, path, lambda: _read_json(environ))
        if answer is not None:
            return answer
        collection, keyed = _COLLECTION.match(path), _KEY.match(path)
        match = collection or keyed
        resource = self.resources.get(match.group(1)) if match else None
        if resource is None or (keyed and keyed.group(2) not in (None, resource.key)):
            raise SandboxError(404, -1000, f"Resource not found for the segment '{path[1:]}'")
        if collection:
            if method == "GET":
                return self._collection(resource, params, environ)
            if method == "POST" and resource.name == "BusinessPartners":
                return 201, [], self._create(_read_json(environ))
        elif keyed:
            code = keyed.group(3).replace("''", "'")
            if method == "GET":
                return 200, [], self._single(resource, code, params)
            if method == "PATCH" and resource.name not in ("Warehouses", "ItemGroups"):
                fields = _validated(_read_json(environ), resource)
                self._user_field_values_check(resource.name, fields)
                fields.pop(resource.key, None)  # a PATCH cannot rename a record
                if resource.name == "Items":
                    self._patch_item(code, fields)
                else:
                    replace = environ.get("HTTP_B1S_REPLACECOLLECTIONSONPATCH", "").lower() == "true"
                    self._patch(code, fields, replace_collections=replace)
                return 204, [], None
        raise SandboxError(405, -1000, f"Method {method} is not allowed on '{path[1:]}'")

    # ------------------------------------------------------------ session

    def _login(self, body: dict[str, Any]) -> tuple[int, list[tuple[str, str]], Any]:
        key = (str(body.get("CompanyDB", "")), str(body.get("UserName", "")))
        if key not in self.users or self.users[key] != body.get("Password"):
            raise SandboxError(401, 100000027, "Login failed")
        session_id = str(uuid.uuid4())
        with self._lock:
            self.sessions[session_id] = self.clock()
            self.login_count += 1
        minutes = int(self.session_timeout.total_seconds() // 60)
        headers = [
            ("Set-Cookie", f"B1SESSION={session_id}; path={ROOT}; HttpOnly"),
            ("Set-Cookie", "ROUTEID=.node1; path=/b1s"),
        ]
        body = {
            "odata.metadata": f"{ROOT}/$metadata#B1Sessions/@Element",
            "SessionId": session_id,
            "Version": "1000110",
            "SessionTimeout": minutes,
        }
        return 200, headers, body

    def _session(self, environ: Environ) -> str:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        session_id = cookie["B1SESSION"].value if "B1SESSION" in cookie else ""
        now = self.clock()
        with self._lock:
            last_seen = self.sessions.get(session_id)
            if last_seen is None or now - last_seen > self.session_timeout:
                self.sessions.pop(session_id, None)
                raise SandboxError(401, 301, "Invalid session or session already timeout.")
            self.sessions[session_id] = now
        return session_id

    # ------------------------------------------------------------ collections

    def _collection(
        self, resource: Resource, params: dict[str, str], environ: Environ
    ) -> tuple[int, list[tuple[str, str]], Any]:
        select = _select(params, resource)
        codes = self._query(resource, params)
        skip, top = _int_param(params, "$skip", 0), _int_param(params, "$top", None)
        codes = codes[skip:] if top is None else codes[skip : skip + top]
        page_size, preferred = _page_size(environ)
        page = codes if page_size == 0 else codes[:page_size]
        with self._lock:
            value = [_project(resource.rows[code], select) for code in page]
        body: dict[str, Any] = {"odata.metadata": f"{ROOT}/$metadata#{resource.name}"}
        body["value"] = value
        if len(page) < len(codes):
            following = {k: v for k, v in params.items() if k not in ("$skip", "$top")}
            following["$skip"] = str(skip + len(page))
            if top is not None:
                following["$top"] = str(top - len(page))
            link = f"{resource.name}?" + urlencode(following, quote_via=quote, safe="$,'():")
            body["odata.nextLink"] = f"{ROOT}/{link}" if self.next_link_style != "relative" else link
        headers = [("Preference-Applied", f"odata.maxpagesize={page_size}")] if preferred else []
        return 200, headers, body

    def _query(self, resource: Resource, params: dict[str, str]) -> list[str]:
        """Keys matching $filter in $orderby order; cached until the data changes."""
        props = resource.properties
        try:
            predicate = query.parse_filter(params["$filter"], props) if params.get(
                "$filter") else None
            order = query.parse_orderby(params["$orderby"], props) if params.get(
                "$orderby") else []
        except query.QueryError as error:
            raise SandboxError(400, -1000, str(error)) from None
        cache_key = (self._generation, params.get("$filter"), params.get("$orderby"))
        with self._lock:
            cached = self._cache.get(resource.name)
            if cached and cached[0] == cache_key:
                return cached[1]
            if predicate is None and not order:
                codes = list(resource.rows)
            else:
                rows = [row | {"__key": key} for key, row in resource.rows.items()]
                if predicate:
                    rows = [row for row in rows if predicate(row)]
                codes = [row["__key"] for row in query.sort_rows(rows, order)]
            self._cache[resource.name] = (cache_key, codes)
            return codes

    def _single(self, resource: Resource, code: str, params: dict[str, str]) -> dict[str, Any]:
        select = _select(params, resource)
        with self._lock:
            if code not in resource.rows:
                raise SandboxError(404, -2028, "No matching records found (ODBC -2028)")
            body = {"odata.metadata": f"{ROOT}/$metadata#{resource.name}/@Element"}
            return body | _project(resource.rows[code], select)

    # ------------------------------------------------------------ business partners

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = _validated(body, self.resources["BusinessPartners"])
        self._user_field_values_check("BusinessPartners", fields)
        code = str(fields.get("CardCode") or "")
        if not code:
            raise SandboxError(400, -10, "Enter a business partner code (CardCode)")
        with self._lock:
            if code in self.partners:
                raise SandboxError(
                    400, -10,
                    f"1320000140 - Business partner code '{code}' already assigned to a "
                    "business partner; enter a unique business partner code",
                )
            record = self._defaults() | fields
            record["ContactEmployees"] = self.contact_employees.numbered(code, record["ContactEmployees"])
            self.partners[code] = record
            self._generation += 1
            return {"odata.metadata": f"{ROOT}/$metadata#BusinessPartners/@Element"} | record

    def _patch(self, code: str, fields: dict[str, Any], *, replace_collections: bool = False) -> None:
        with self._lock:
            if code not in self.partners:
                raise SandboxError(404, -2028, "No matching records found (ODBC -2028)")
            if "ContactEmployees" in fields and not replace_collections:
                fields["ContactEmployees"] = self.contact_employees.merged(
                    code, self.partners[code].get("ContactEmployees") or [], fields["ContactEmployees"])
            self.update_business_partner(code, **fields)

    def _defaults(self) -> dict[str, Any]:
        stamp = self._stamp("Create") | self._stamp("Update")
        return {"CardType": "cCustomer", "Valid": "tYES", "Frozen": "tNO", "BPAddresses": [],
                "ContactEmployees": []} | stamp

    def _stamp(self, prefix: str) -> dict[str, str]:
        now = self.clock().astimezone(UTC)
        return {f"{prefix}Date": now.strftime("%Y-%m-%d"), f"{prefix}Time": now.strftime("%H:%M:%S")}


class _Injected(Exception):
    def __init__(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status, self.headers = status, headers


def _validated(body: dict[str, Any], resource: Resource) -> dict[str, Any]:
    """Writable known properties only; enum DB values become member names."""
    if not isinstance(body, dict):
        raise SandboxError(400, -1000, "The request body must be a JSON object")
    fields = {}
    for name, value in body.items():
        if name not in resource.properties or name.startswith(("Create", "Update")):
            raise SandboxError(
                400, -1000, f"Property '{name}' of '{resource.type_name}' is invalid")
        enum = query.ENUMS.get(name)
        fields[name] = enum.get(value, value) if enum and isinstance(value, str) else value
    return fields


def _select(params: dict[str, str], resource: Resource) -> list[str] | None:
    if not params.get("$select"):
        return None
    try:
        return query.parse_select(params["$select"], resource.properties)
    except query.QueryError as error:
        raise SandboxError(400, -1000, str(error)) from None


def _project(record: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    chosen = record if select is None else {name: record.get(name) for name in select}
    return json.loads(json.dumps(chosen))  # a copy, so callers never alias our state


def _int_param(params: dict[str, str], name: str, default: int | None) -> int | None:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise SandboxError(400, -1000, f"Invalid value for {name}") from None
    if value < 0:
        raise SandboxError(400, -1000, f"Invalid value for {name}")
    return value


def _page_size(environ: Environ) -> tuple[int, bool]:
    """(page size, whether a Prefer header asked for it)."""
    prefer = environ.get("HTTP_PREFER", "")
    match = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", prefer)
    if match:
        return int(match.group(1)), True
    if environ.get("HTTP_B1S_PAGESIZE", "").isdigit():
        return int(environ["HTTP_B1S_PAGESIZE"]), False
    return DEFAULT_PAGE_SIZE, False


def _read_json(environ: Environ) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise SandboxError(400, -1000, "The request body is not valid JSON") from None


_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


def _respond(
    start_response: StartResponse, status: int, headers: list[tuple[str, str]], body: Any,
    swap: tuple[bytes, bytes] | None = None,
) -> list[bytes]:
    payload = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    if swap:
        payload = payload.replace(*swap)
    headers = list(headers)
    if body is not None and not isinstance(body, bytes):
        headers.append(("Content-Type", "application/json;odata=minimalmetadata;charset=utf-8"))
    headers.append(("Content-Length", str(len(payload))))
    start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
    return [payload]
