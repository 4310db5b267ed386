"""dotdigital insight data (v3 transactional data) as a destination: products, orders.

Contract for `InsightPusher.push(entity, collection, items)`:
- "products": account-scope collection of type `catalog`. PushItem.key is the
  product key (normalised SKU) and becomes the record key; PushItem.fields is the
  record json; PushItem.identifier is not used.
- "orders": contact-scope collection `Orders` of type `orders` (the conventional
  collection the official Magento connector writes). PushItem.key is the order key,
  PushItem.identifier the customer's email (`contactIdentity {identifier: "email"}`),
  PushItem.fields the order json.
- One result per item, in order. One import per batch, split only to keep each body
  under the documented 50 MB. The import's report gives the verdicts, read either by the
  push itself (polling until Complete or Failed) or, with `settle` off, by `confirm` later:
  the records are then "submitted" with the import id as receipt. So are the records of an
  import the push stopped polling (still running at `poll_deadline`, or its status unreadable):
  sent again, they could land beside it and be overwritten by it.
  A record listed in `failures[]` (matched by key) is permanent with reason_code =
  failureReason, except a missing contact (ContactEmailDoesNotExist,
  ContactIdDoesNotExist): transient with category "waiting_for_customer", because the
  customer push will create the contact and the order then goes through. A record
  neither failed nor covered by the report's counts is transient ("not_in_report"),
  never silently accepted. An import that ends Failed fails every record permanently.

Limits. Bodies are the only documented size limit (50 MB, no per-call record cap);
batch sizes below keep a typical body at 5-15 MB and the byte split guarantees the
limit. dotdigital runs at most 5 insight imports at once per account: every import sent
is registered (import_slots.py, shared by the workers) until its report is read, and a
push waits for a free slot, reading the oldest import's status, rather than send a sixth.
The last two slots are kept for time-sensitive records (new orders, dispatches).
When the cap is hit anyway (another integration on the account), dotdigital answers 429;
the client waits and retries a few times without slowing other calls, then the batch fails
as a transient TransportError and the engine retries it later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from syncapp.adapters import (
    AuthenticationFailed,
    DestinationLimits,
    PushItem,
    PushResult,
    SubmittedItem,
    TransportError,
)
from syncapp.ratelimit import TIME_SENSITIVE, current_call_class

from . import payloads
from .client import DotdigitalClient
from .import_slots import MAX_ACTIVE_IMPORTS, ImportSlots

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 45 * 1024 * 1024  # under the documented 50 MB, with margin
# A confirm pass (one pusher, every batch of rows the engine hands it) asks about imports for at
# most this long: each status read waits for the account's allowance behind more urgent calls, and
# a pass over a backfill's 50 imports held a worker's process for minutes. The rest are asked by
# the next pass, and the process goes back to pulls and pushes meanwhile.
CONFIRM_SECONDS = 10.0
# Of dotdigital's five concurrent imports, those only time-sensitive records may take.
SLOTS_KEPT_FOR_TIME_SENSITIVE = 2
DEFAULT_CATALOG_COLLECTION = "Catalog_Default"
ORDERS_COLLECTION = "Orders"
DONE, FAILED = "Complete", "Failed"
PENDING = ("NotStarted", "Processing")
WAITING_FOR_CUSTOMER = "waiting_for_customer"
MISSING_CONTACT = ("ContactEmailDoesNotExist", "ContactIdDoesNotExist")


@dataclass(frozen=True)
class InsightEntity:
    scope: str  # account | contact
    collection_type: str
    batch_size: int


INSIGHT_ENTITIES: dict[str, InsightEntity] = {
    # Magento's connector uses 5000 for the catalog; a product record is 1-3 KB.
    "products": InsightEntity("account", "catalog", 5_000),
    # Orders carry lines and addresses (2-5 KB); 2000 keeps a body near 10 MB.
    "orders": InsightEntity("contact", "orders", 2_000),
    # Dispatch signals belong to the customer, so programs can act on the contact.
    "dispatch_events": InsightEntity("contact", "custom", 2_000),
    # Back-in-stock / low-stock signals: dotdigital has no stock field, so the record carries it.
    "stock_events": InsightEntity("account", "custom", 5_000),
}
STOCK_EVENTS_COLLECTION = "StockEvents"
DISPATCH_EVENTS_COLLECTION = "Dispatches"

# failureReason -> what a person reads (v3 status enum plus the v2 extras).
FAILURE_MESSAGES = {
    "InvalidClientKey": "dotdigital refused the record key (empty or malformed)",
    "InvalidContactIdentifier": "dotdigital could not tell which contact owns this record",
    "InvalidJson": "dotdigital refused the record as invalid JSON",
    "DuplicateKey": "the same key appeared more than once in one import",
    "ContactIdDoesNotExist": "the customer is not yet a dotdigital contact",
    "ContactEmailDoesNotExist": "the customer's email is not yet a dotdigital contact",
    "JsonContainsNestedArray": "dotdigital does not accept arrays nested in arrays",
    "JsonKeyTooLong": "a field name in the record is too long for dotdigital",
    "JsonKeyInvalidCharacters": "a field name in the record has characters dotdigital refuses",
    "JsonValueTooLong": "a value in the record is too long for dotdigital",
    "JsonValueIncompatibleWithSchema": (
        "a field changed type: the collection already holds this field with another type, "
        "and dotdigital never changes a field's type once set"
    ),
    "JsonNumberValueTooLarge": "a number in the record is too large for dotdigital",
}


def limits_for(entity: str, calls_per_minute: int) -> DestinationLimits:
    spec = INSIGHT_ENTITIES[entity]
    # No single-call path: every batch is one import, so call counts stay predictable.
    return DestinationLimits(spec.batch_size, calls_per_minute, single_call_threshold=0)


def collection_for(entity: str, account: Any) -> str:
    """The collection an entity writes to for this account."""
    if entity == "products":
        return getattr(account, "catalog_collection", "") or DEFAULT_CATALOG_COLLECTION
    if entity == "stock_events":
        return STOCK_EVENTS_COLLECTION
    if entity == "dispatch_events":
        return DISPATCH_EVENTS_COLLECTION
    return ORDERS_COLLECTION


def record_key(entity: str, item: PushItem) -> str:
    """The insight record key: for products the SKU (what the shop and the catalog call
    the product) when the engine gives one in `identifier`, else the ERP key."""
    if entity == "products" and item.identifier:
        return str(item.identifier)
    return str(item.key)


# The order fields dotdigital's own e-commerce integrations send (the Magento connector:
# id, purchaseDate, orderStatus, currency, orderSubtotal, orderTotal, deliveryTotal,
# discountAmount, products with sku/name/qty/price; contract esp-apis.md), plus the three
# this hub has always sent (orderNumber, refundedTotal, lastReturnDate). The engine's
# order is vendor-neutral and carries more, for other destinations: none of it may leak
# into the Orders collection, where a field, once there, keeps its type for good.
# dotdigital name -> the engine's name.
ORDER_FIELDS: dict[str, str] = {
    "id": "id", "orderNumber": "orderNumber", "purchaseDate": "purchaseDate", "orderStatus": "orderStatus",
    "currency": "currency", "orderSubtotal": "orderSubtotal", "orderTotal": "orderTotal",
    "deliveryTotal": "shippingTotal", "discountAmount": "discountTotal", "refundedTotal": "refundedTotal",
    "lastReturnDate": "lastReturnDate", "products": "products",
}
# `category`: the item's category by name, one text per line (the vendor's own order
# example has a product `Category`; a name segments well, and stays one type for good).
ORDER_PRODUCT_FIELDS = ("sku", "name", "qty", "price", "category")
_LEFT_OUT_WHEN_NULL = ("category",)  # an item without a category: no field, as the vendor's own lines


def order_json(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's order as dotdigital's integrations shape it; fields absent stay absent."""
    record = {name: fields[source] for name, source in ORDER_FIELDS.items() if source in fields}
    if isinstance(record.get("products"), list):
        record["products"] = [{name: product[name] for name in ORDER_PRODUCT_FIELDS if name in product
                               and not (name in _LEFT_OUT_WHEN_NULL and product[name] is None)}
                              if isinstance(product, Mapping) else product for product in record["products"]]
    return record


def insight_record(entity: str, item: PushItem) -> dict[str, Any]:
    """One `upsertInsightRecord`: `{key, json[, contactIdentity]}`."""
    fields = order_json(item.fields) if entity == "orders" else dict(item.fields)
    record: dict[str, Any] = {"key": record_key(entity, item), "json": fields}
    if INSIGHT_ENTITIES[entity].scope == "contact":
        record["contactIdentity"] = {"identifier": "email", "value": item.identifier}
    return record


def insight_records_list(client: DotdigitalClient, collection: str, *, scope: str = "contact",
                         page_size: int = 1000) -> Iterator[dict[str, Any]]:
    """Every record of a collection as dotdigital lists it (`{key, json, created, updated,
    ownerContactId?}`), page by page: `GET /insightData/v3/contacts/{name}` (contact scope,
    all contacts) or `/account/{name}`, `limit` 1..5000, following `_links.next.marker`
    until there is none. Each page is one call through the client, so the account's
    throttle and 429 handling apply; a collection that does not exist yet lists nothing."""
    if not 1 <= page_size <= 5000:
        raise ValueError("page_size must be 1..5000")
    path = f"/insightData/v3/{'contacts' if scope == 'contact' else 'account'}/{quote(collection, safe='')}"
    marker = ""
    while True:
        params = {"limit": str(page_size)} | ({"marker": marker} if marker else {})
        try:
            page = client.request("GET", path, params=params) or {}
        except TransportError as exc:
            if exc.status == 404 and exc.reason_code == "insightData:collectionNotFound":
                return
            raise
        yield from page.get("_items") or []
        following = ((page.get("_links") or {}).get("next") or {}).get("marker")
        if not following or following == marker:
            return
        marker = following


def describe(reason: str, details: Sequence[Any] = ()) -> str:
    message = FAILURE_MESSAGES.get(reason) or f"dotdigital did not import this record ({reason})"
    extra = "; ".join(str(d) for d in details if d)
    return f"{message}: {extra}" if extra else message


class InsightPusher:
    """Pushes insight records through one client: one import per batch, whose report gives
    each record's verdict. `settle` decides who reads the report: the push itself, polling
    as dotdigital asks (every 5-30 s), or `confirm` later, so a worker's process is free
    while dotdigital processes the import."""

    def __init__(
        self,
        client: DotdigitalClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_initial_wait: float = 5.0,
        poll_max_wait: float = 30.0,
        poll_deadline: float = 900.0,
        slots: ImportSlots | None = None,
    ) -> None:
        self.client = client
        self.sleep = sleep
        self.clock = clock
        self.poll_initial_wait = poll_initial_wait
        self.poll_max_wait = poll_max_wait
        self.poll_deadline = poll_deadline
        self.slots = slots or ImportSlots(f"client-{id(client)}")
        self._finished: dict[str, Mapping[str, Any]] = {}  # reports read by this pusher's confirms
        self._confirm_ends: float | None = None

    def push(self, entity: str, collection: str, items: Sequence[PushItem], *,
             settle: bool = True) -> list[PushResult]:
        """See the module docstring. With `settle` off, every record sent is "submitted"
        (receipt: the import id) and `confirm` gives its verdict. Raises AuthenticationFailed,
        and TransportError when nothing could be sent at all (transient: the engine retries
        the batch)."""
        spec = INSIGHT_ENTITIES[entity]
        results: list[PushResult | None] = [None] * len(items)
        sendable: list[int] = []
        for index, item in enumerate(items):
            problem = _local_problem(spec, item)
            if problem:
                results[index] = PushResult(item.key, "permanent", reason_code=problem[0],
                                            message=problem[1])
            else:
                sendable.append(index)
        records = [insight_record(entity, items[i]) for i in sendable]
        start, sent_any = 0, False
        for chunk in payloads.chunk_by_bytes(records, MAX_IMPORT_BYTES):
            positions = sendable[start : start + len(chunk)]
            start += len(chunk)
            batch = [items[i] for i in positions]
            try:
                import_id = self._submit(spec, collection, chunk)
                chunk_results = (self._settle(import_id, batch, chunk) if settle else
                                 payloads.submitted_results(batch, chunk, import_id))
            except AuthenticationFailed:
                raise
            except TransportError as exc:
                if exc.transient and not sent_any:
                    raise  # nothing landed yet: the whole call failed
                chunk_results = _all(batch, chunk, exc)
            sent_any = True
            for position, result in zip(positions, chunk_results, strict=True):
                results[position] = result
        return [r for r in results if r is not None]

    def confirm(self, entity: str, items: Sequence[SubmittedItem]) -> list[PushResult]:
        """Verdicts for submitted records whose import dotdigital has finished: one status
        call per import (none when a push waiting for a slot already read it, or an earlier
        confirm of this pusher did), for at most CONFIRM_SECONDS. Records of an import still
        running, too recent or not reached are left out and asked about again."""
        by_import: dict[str, list[SubmittedItem]] = {}
        for item in items:
            by_import.setdefault(item.receipt, []).append(item)
        results: list[PushResult] = []
        # dotdigital asks for the first poll 5 s after the import: one sent since is not asked
        # about (the push that sent it times the next confirm), so no call finds it still running.
        if self._confirm_ends is None:  # one budget for the pass, however many batches of rows it has
            self._confirm_ends = self.clock() + CONFIRM_SECONDS
        recent, ends = time.time() - self.poll_initial_wait, self._confirm_ends
        for import_id, group in by_import.items():
            report = self._finished.get(import_id) or self.slots.report(import_id)
            if report is None and (max(_epoch(i.submitted_at) for i in group) > recent or self.clock() >= ends):
                continue
            records = [insight_record(entity, PushItem(i.key, i.identifier, i.fields)) for i in group]
            if report is None:
                try:
                    report = self.client.insight_import_status(import_id) or {}
                except AuthenticationFailed:
                    raise
                except TransportError as exc:
                    if exc.status != 404:
                        raise
                    # dotdigital no longer knows the import: nobody can tell what it did.
                    self.slots.free(import_id)
                    results.extend(_all(group, records, TransportError(
                        f"dotdigital no longer knows insight import {import_id}; the record will be sent again",
                        permanent=False, reason_code="not_in_report", response=exc.response)))
                    continue
                if report.get("status") in PENDING:
                    self.slots.still_running(import_id)
                    continue
                self.slots.free(import_id)
            # The engine confirms in batches of rows, and an import's rows may span two of them.
            self._finished[import_id] = report
            results.extend(self._verdicts(import_id, report, group, records))
        return results

    def read_back(self, collection: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Account records by key (`{key, json, created, updated}`); unknown keys left out."""
        found: dict[str, dict[str, Any]] = {}
        for key in keys:
            record = self.client.get_account_record(collection, key)
            if record is not None:
                found[key] = record
        return found

    def _submit(self, spec: InsightEntity, collection: str, records: list[dict[str, Any]]) -> str:
        self._slot_wait()
        import_id = self.client.import_insight(collection, spec.scope, spec.collection_type, records)
        self.slots.take(import_id)
        return import_id

    def _slot_wait(self) -> None:
        """Until the account runs fewer than five imports (fewer than three, for records that are
        not time-sensitive: the last two are kept for new orders and dispatches, which must not
        wait for a backfill's imports to finish): the oldest one's status is read (and kept for
        its confirm) rather than sending a sixth for dotdigital to refuse."""
        started, wait = self.clock(), self.poll_initial_wait
        most = MAX_ACTIVE_IMPORTS - (0 if current_call_class() == TIME_SENSITIVE else SLOTS_KEPT_FOR_TIME_SENSITIVE)
        while True:
            active = self.slots.active()
            if len(active) < most:
                return
            oldest = active[0]
            try:
                report = self.client.insight_import_status(oldest) or {}
            except AuthenticationFailed:
                raise
            except TransportError as exc:
                if exc.status != 404:
                    raise
                self.slots.free(oldest)  # unknown to dotdigital: not running there
                continue
            if report.get("status") not in PENDING:
                self.slots.free(oldest, report)
                continue
            self.slots.still_running(oldest)
            if self.clock() - started >= self.poll_deadline:
                raise TransportError(f"dotdigital was still processing {len(active)} insight imports for this "
                                     f"account after {self.poll_deadline:.0f} s", permanent=False,
                                     reason_code="too_many_imports")
            self.sleep(wait)
            wait = min(wait * 2, self.poll_max_wait)

    def _settle(self, import_id: str, items: Sequence[PushItem], records: list[dict[str, Any]]) -> list[PushResult]:
        try:
            report = self._wait(import_id)
        except BaseException:
            self.slots.free(import_id)
            raise
        if report is None:
            # Still running at dotdigital, so it keeps its slot: sent again now, these records could be
            # overwritten by it later. The confirm step reads its report instead.
            return payloads.submitted_results(items, records, import_id)
        self.slots.free(import_id)
        return self._verdicts(import_id, report, items, records)

    def _verdicts(self, import_id: str, report: Mapping[str, Any], items: Sequence[Any],
                  records: list[dict[str, Any]]) -> list[PushResult]:
        status = str(report.get("status"))
        if status != DONE:
            message = f"dotdigital reported insight import {import_id} as {status}"
            return _all(
                items,
                records,
                TransportError(message, permanent=True, reason_code=status, response=dict(report)),
            )
        failures = {str(f.get("key")): f for f in report.get("failures") or []}
        summary = report.get("summary") or {}
        # Records not in failures count as imported only when the counts say every other
        # record of the import was imported; otherwise nobody can tell which ones were.
        total = summary.get("totalRecords")
        counted = isinstance(total, int) and summary.get("totalImported") == total - len(failures)
        results = [
            _from_report(item, record, failures.get(record["key"]), counted, report)
            for item, record in zip(items, records, strict=True)
        ]
        logger.info(
            "dotdigital insight import %s: %d accepted, %d refused, %d retried",
            import_id,
            sum(r.outcome == "accepted" for r in results),
            sum(r.outcome == "permanent" for r in results),
            sum(r.outcome == "transient" for r in results),
        )
        return results

    def _wait(self, import_id: str) -> dict[str, Any] | None:
        """Poll with doubling waits while NotStarted/Processing. None when it is still running at
        the deadline, or its status could not be read: the confirm step asks."""
        started = self.clock()
        wait = self.poll_initial_wait
        while True:
            self.sleep(wait)
            try:
                report = self.client.insight_import_status(import_id) or {}
            except TransportError as exc:
                if not exc.transient:
                    raise
                logger.warning("dotdigital insight import %s: its status could not be read (%s); it is "
                               "confirmed later", import_id, exc.message)
                return None
            if report.get("status") not in PENDING:
                return report
            self.slots.still_running(import_id)
            elapsed = self.clock() - started
            if elapsed >= self.poll_deadline:
                logger.warning("dotdigital insight import %s was still %s after %.0f s; it is confirmed later",
                               import_id, report.get("status"), elapsed)
                return None
            wait = min(wait * 2, self.poll_max_wait, max(self.poll_deadline - elapsed, 0.01))


def _epoch(moment: Any) -> float:
    return moment.timestamp() if hasattr(moment, "timestamp") else float(moment or 0)


def _local_problem(spec: InsightEntity, item: PushItem) -> tuple[str, str] | None:
    """Refuse before sending what dotdigital would refuse for sure."""
    if not str(item.key).strip():
        return "InvalidClientKey", FAILURE_MESSAGES["InvalidClientKey"]
    if spec.scope == "contact" and not (item.identifier or "").strip():
        return "missing_email", "the record has no customer email, so no contact can own it"
    return None


def _from_report(
    item: PushItem,
    record: dict[str, Any],
    failure: Mapping[str, Any] | None,
    counted: bool,
    report: Mapping[str, Any],
) -> PushResult:
    if failure is not None:
        reason = str(failure.get("failureReason") or "Unknown")
        waiting = reason in MISSING_CONTACT
        return PushResult(
            key=item.key,
            outcome="transient" if waiting else "permanent",
            reason_code=reason,
            category=WAITING_FOR_CUSTOMER if waiting else "",
            message=describe(reason, failure.get("details") or ()),
            request=record,
            response=dict(failure),
        )
    if counted:
        return PushResult(
            key=item.key,
            outcome="accepted",
            remote_id=str(item.key),
            request=record,
            response={"importId": report.get("importId")},
        )
    return PushResult(
        key=item.key,
        outcome="transient",
        reason_code="not_in_report",
        message="dotdigital's import report does not account for this record; it will be sent again",
        request=record,
        response={"importId": report.get("importId"), "summary": report.get("summary")},
    )


def _all(items: Sequence[PushItem], records: Sequence[dict[str, Any]], exc: TransportError) -> list[PushResult]:
    return payloads.batch_results(items, records, exc)
