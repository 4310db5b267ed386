"""Insight data (v3 `/insightData/v3`) as a dotdigital sandbox holds it.

Rules enforced, from the contract notes section 1.5 and the insight OpenAPI (V3I):
- `PUT /import` validates the envelope synchronously (400 `insightData:badJson`,
  `insightData:noRecordsSpecified`) and answers 202 `{importId}`; records are applied
  later. Status goes NotStarted -> Processing (after half the delay) -> Complete.
- At most `max_active_imports` (5, documented) unfinished imports per account; the
  next one is refused with 429. The error code for that refusal is not published:
  `insightData:tooManyActiveImports` is inferred from `contacts:tooManyActiveImports`.
- Collection names follow `^[-A-Za-z_][-A-Za-z0-9_]{1,255}$`, at most 255 characters.
  A bad name is refused with 400 `insightData:badJson` (the only documented 400 code of
  the import operation) with a `details` item for `collectionName` whose text follows
  v2's ERROR_TRANSACTIONAL_DATA_INVALID_COLLECTION_NAME.
- A missing collection is created (empty) when the import is accepted, with its scope
  and type; importing
  into an existing collection with another scope or type is refused (400 badJson):
  names are unique across scopes.
- Records are upserted by key: the same key replaces the record (no duplicate).
- The schema is inferred on first write, per top-level field; a later value of another
  type fails that record alone with failureReason `JsonValueIncompatibleWithSchema`
  (the v3 status enum has no `InconsistentTypes`), the detail worded like the real
  error "A value named 'x' of type List already exists in this collection ...".
  Integers and decimals are one type (Numeric); null infers nothing and always fits.
  Nested objects are extendable and not type-checked below the top level.
- Contact scope: every record needs `contactIdentity`; the contact must already exist
  (insight import never creates contacts): `ContactEmailDoesNotExist` /
  `ContactIdDoesNotExist`, an unknown identifier `InvalidContactIdentifier`. Keys are
  unique per collection; a key re-sent for another contact moves to that contact.
- An array directly inside an array fails its record with `JsonContainsNestedArray`.
- `failures` is left out when empty (the spec sets minItems 1).
"""

from __future__ import annotations

import base64
import bisect
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .state import SandboxError, iso

COLLECTION_NAME = re.compile(r"^[-A-Za-z_][-A-Za-z0-9_]{1,255}$")
COLLECTION_NAME_MAX = 255
SCOPES = ("account", "contact")
TYPES = (
    "cartInsight",
    "catalog",
    "consentInsight",
    "custom",
    "easyEditorExtensions",
    "nostoEmailCampaigns",
    "orders",
    "productCategories",
    "webInsight",
    "wishList",
)
MAX_ACTIVE_IMPORTS = 5
MAX_COLLECTIONS = 1000

ContactLookup = Callable[[str, str], "dict[str, Any] | None"]


def insight_error(status: int, code: str, description: str, details: list | None = None):
    return SandboxError(status, f"insightData:{code}", description, details)


def bad_json(description: str, item: str = "", problem: str = "") -> SandboxError:
    details = [{"item": item, "description": problem}] if item else None
    return insight_error(400, "badJson", description, details)


def value_type(value: Any) -> str | None:
    """The schema type a JSON value infers; None for null (infers nothing)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Numeric"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "List"
    return "Object"


@dataclass
class InsightImport:
    import_id: str
    submitted_at: float
    due_at: float
    body: dict[str, Any]
    report: dict[str, Any] | None = None
    fails: bool = False


@dataclass
class InsightState:
    """Collections and imports of one account. Callers hold the sandbox lock."""

    find_contact: ContactLookup
    max_active_imports: int = MAX_ACTIVE_IMPORTS
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    imports: dict[str, InsightImport] = field(default_factory=dict)
    fail_next_import: bool = False  # test hook: the next import ends as Failed

    # ------------------------------------------------------------ import

    def active_imports(self) -> int:
        return sum(1 for job in self.imports.values() if job.report is None)

    def submit(self, body: Any, now: float, delay: float) -> str:
        """Validate the envelope, queue the import, return its id."""
        if not isinstance(body, dict):
            raise bad_json("The request JSON is badly formed")
        name = body.get("collectionName")
        check_collection_name(name)
        scope, kind = body.get("collectionScope"), body.get("collectionType")
        if scope not in SCOPES:
            raise bad_json("Unknown collectionScope", "collectionScope", str(scope))
        if kind not in TYPES:
            raise bad_json("Unknown collectionType", "collectionType", str(kind))
        records = body.get("records")
        if not isinstance(records, list):
            raise bad_json("The request JSON is badly formed", "records", "not an array")
        if not records:
            raise insight_error(400, "noRecordsSpecified", "No records were specified")
        for index, record in enumerate(records):
            if not isinstance(record, dict) or "key" not in record or "json" not in record:
                raise bad_json(
                    "Each record needs a key and json", f"records[{index}]", "not a record"
                )
        existing = self.collections.get(name)
        if existing and (existing["scope"], existing["type"]) != (scope, kind):
            raise bad_json(
                f"The collection '{name}' already exists as {existing['scope']} / "
                f"{existing['type']}; names are unique across scopes",
                "collectionName",
                "exists with another scope or type",
            )
        if existing is None and len(self.collections) >= MAX_COLLECTIONS:
            raise insight_error(412, "collectionLimitExceeded", "Insight data collection limit exceeded")
        if self.active_imports() >= self.max_active_imports:
            raise insight_error(
                429,
                "tooManyActiveImports",
                "Your import request cannot be accepted as too many imports are being "
                "processed for your account. Please wait for an import to complete and "
                "then resubmit.",
            )
        # Created when the import is accepted, so a second import naming it with another
        # scope is refused at once rather than after the first one finishes.
        self.collections.setdefault(name, _new_collection(scope, kind))
        job = InsightImport(str(uuid.uuid4()), now, now + delay, body, fails=self.fail_next_import)
        self.fail_next_import = False
        self.imports[job.import_id] = job
        return job.import_id

    def settle(self, now: float) -> None:
        """Apply every import whose processing time has passed, oldest first."""
        for job in self.imports.values():
            if job.report is None and job.due_at <= now:
                job.report = (
                    {"importId": job.import_id, "status": "Failed"}
                    if job.fails
                    else self._apply(job.import_id, job.body, now)
                )

    def status(self, import_id: str, now: float) -> dict[str, Any]:
        job = self.imports.get(import_id)
        if job is None:
            raise insight_error(
                404, "importNotFound", f"The import request '{import_id}' could not be found!"
            )
        if job.report is not None:
            return job.report
        halfway = job.submitted_at + (job.due_at - job.submitted_at) / 2
        return {"importId": import_id, "status": "Processing" if now >= halfway else "NotStarted"}

    # ------------------------------------------------------------ records

    def account_record(self, name: str, key: str) -> dict[str, Any]:
        collection = self.collections.get(name)
        if collection is None or collection["scope"] != "account":
            raise insight_error(
                404,
                "collectionNotFound",
                "The collection could not be found",
                [{"item": name, "description": "Not found"}],
            )
        record = collection["records"].get(key)
        if record is None:
            raise insight_error(
                404,
                "recordNotFound",
                "The Insight data record could not be found",
                [{"item": key, "description": f"Not found in the account collection '{name}'"}],
            )
        return {k: record[k] for k in ("key", "json", "created", "updated")}

    def list_records(self, name: str, scope: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """`GET /account/{name}` or `GET /contacts/{name}`: one page, records in ascending
        key order, `{_items, _links}`. See records_page for the paging rules."""
        collection = self.collections.get(name)
        if collection is None or collection["scope"] != scope:
            raise insight_error(404, "collectionNotFound", "The collection could not be found",
                                [{"item": name, "description": "Not found"}])
        return records_page(name, scope, collection["records"], query)

    def delete_contact_record(self, identifier: str, value: str, name: str, key: str) -> None:
        """`DELETE /contacts/{identifier}/{value}/{name}/{recordId}`: 204, or 404 with the
        documented codes (contactNotFound, collectionNotFound, recordNotFound)."""
        contact = self.find_contact(identifier, value)
        if contact is None:
            raise insight_error(404, "contactNotFound", "The following contacts could not be found",
                                [{"item": value, "description": f"Not found using the identifier '{identifier}'"}])
        collection = self.collections.get(name)
        if collection is None or collection["scope"] != "contact":
            raise insight_error(404, "collectionNotFound", "The collection could not be found",
                                [{"item": name, "description": "Not found"}])
        record = collection["records"].get(key)
        if record is None or record.get("ownerContactId") != contact["contactId"]:
            raise insight_error(404, "recordNotFound", "The Insight data record could not be found",
                                [{"item": key, "description": f"Not found in the contacts collection '{name}'"}])
        del collection["records"][key]

    def _apply(self, import_id: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        name, scope = body["collectionName"], body["collectionScope"]
        collection = self.collections.setdefault(name, _new_collection(scope, body["collectionType"]))
        failures: list[dict[str, Any]] = []
        for record in body["records"]:
            owner, reason, details = self._owner(scope, record)
            if reason is None:
                reason, details = _key_problem(record.get("key"), record.get("json"))
            if reason is None:
                reason, details = _nested_array_problem(record["json"])
            if reason is None:
                reason, details = _schema_problem(collection["schema"], record["json"])
            if reason is not None:
                failures.append(
                    {
                        "collectionOwner": _owner_echo(scope, record),
                        "failureReason": reason,
                        "details": details,
                        "key": str(record.get("key")),
                        "json": record.get("json") if isinstance(record.get("json"), dict) else {},
                    }
                )
                continue
            _learn_schema(collection["schema"], record["json"])
            key = str(record["key"])
            previous = collection["records"].get(key)
            collection["records"][key] = {
                "key": key,
                "json": record["json"],
                "created": previous["created"] if previous else iso(now),
                "updated": iso(now),
                "ownerContactId": owner,
            }
        report: dict[str, Any] = {
            "importId": import_id,
            "status": "Complete",
            "collectionName": name,
            "summary": {
                "totalRecords": len(body["records"]),
                "totalImported": len(body["records"]) - len(failures),
                "totalRejected": len(failures),
            },
        }
        if failures:
            report["failures"] = failures
        return report

    def _owner(self, scope: str, record: dict) -> tuple[Any, str | None, list[str]]:
        """(owning contactId, failure reason, details) for one record."""
        if scope == "account":
            return None, None, []
        identity = record.get("contactIdentity")
        if not isinstance(identity, dict) or not identity.get("value"):
            return None, "InvalidContactIdentifier", ["A contact scoped record needs a contactIdentity"]
        identifier, value = str(identity.get("identifier")), str(identity["value"])
        if identifier not in ("email", "contactId"):
            return None, "InvalidContactIdentifier", [f"Unknown identifier '{identifier}'"]
        contact = self.find_contact(identifier, value)
        if contact is None:
            reason = "ContactEmailDoesNotExist" if identifier == "email" else "ContactIdDoesNotExist"
            return None, reason, [f"No contact with {identifier} '{value}'"]
        return contact["contactId"], None, []


def _new_collection(scope: str, kind: str) -> dict[str, Any]:
    return {"scope": scope, "type": kind, "schema": {}, "records": {}}


def check_collection_name(name: Any) -> None:
    if (
        not isinstance(name, str)
        or len(name) > COLLECTION_NAME_MAX
        or not COLLECTION_NAME.match(name)
    ):
        raise bad_json(
            "The collection name is invalid",
            "collectionName",
            "Collection names may contain only alphanumerics, dashes and underscores, "
            "cannot start with a number, and are 2 to 255 characters long",
        )


def _key_problem(key: Any, json_value: Any) -> tuple[str | None, list[str]]:
    if not isinstance(key, str | int) or isinstance(key, bool) or str(key).strip() == "":
        return "InvalidClientKey", ["The record key must be a non-empty string"]
    if not isinstance(json_value, dict):
        return "InvalidJson", ["The record json must be an object"]
    return None, []


def _nested_array_problem(json_value: Any, path: str = "") -> tuple[str | None, list[str]]:
    """An array directly inside an array fails the record (`JsonContainsNestedArray`);
    arrays of objects holding arrays (an order's products with their own lists) are fine."""
    values = json_value.items() if isinstance(json_value, dict) else enumerate(json_value)
    for name, value in values:
        where = f"{path}.{name}" if path else str(name)
        if isinstance(json_value, list) and isinstance(value, list):
            return "JsonContainsNestedArray", [f"'{path}' holds an array inside an array"]
        if isinstance(value, dict | list):
            reason, details = _nested_array_problem(value, where)
            if reason:
                return reason, details
    return None, []


def _schema_problem(schema: dict[str, str], json_value: dict) -> tuple[str | None, list[str]]:
    problems = []
    for name, value in json_value.items():
        known, seen = schema.get(name), value_type(value)
        if known and seen and known != seen:
            problems.append(
                f"A value named '{name}' of type {known} already exists in this collection "
                "and new values must be of this type"
            )
    return ("JsonValueIncompatibleWithSchema", problems) if problems else (None, [])


def _learn_schema(schema: dict[str, str], json_value: dict) -> None:
    for name, value in json_value.items():
        seen = value_type(value)
        if seen and name not in schema:
            schema[name] = seen


def _owner_echo(scope: str, record: dict) -> dict[str, Any]:
    owner: dict[str, Any] = {"ownerType": scope}
    identity = record.get("contactIdentity")
    if scope == "contact" and isinstance(identity, dict):
        owner["contactIdentity"] = {
            "identifier": str(identity.get("identifier")),
            "value": identity.get("value"),
        }
    return owner


# ------------------------------------------------------------ listing records
# The list operations (getAccountInsightData, getAllContactsInsightData) take `limit`
# 1..5000 and an opaque `marker`; the answer's `_items` holds at most 1000 records
# (the schema's maxItems), "returned in ascending order", with `_links.self` and
# `_links.first` always and `next` while more remain. A bad limit or marker is a 400
# `insightData:invalidId` (the operation's only documented 400 code).
PAGE_MAX_ITEMS = 1000
LIMIT_MAX = 5000


def _marker(key: str) -> str:
    return base64.urlsafe_b64encode(f"after:{key}".encode()).decode()


def _after(marker: str) -> str:
    try:
        text = base64.urlsafe_b64decode(marker.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    if not text.startswith("after:"):
        raise insight_error(400, "invalidId", f"The marker value '{marker}' is invalid")
    return text[len("after:"):]


def records_page(name: str, scope: str, records: dict[str, dict[str, Any]],
                 query: dict[str, list[str]]) -> dict[str, Any]:
    raw_limit = (query.get("limit") or [str(PAGE_MAX_ITEMS)])[0]
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LIMIT_MAX:
        raise insight_error(400, "invalidId", f"The limit value '{raw_limit}' is invalid")
    size = min(int(raw_limit), PAGE_MAX_ITEMS)
    marker = (query.get("marker") or [""])[0]
    keys = sorted(records)
    start = bisect.bisect_right(keys, _after(marker)) if marker else 0
    chosen = keys[start:start + size]
    base = f"/insightData/v3/{'account' if scope == 'account' else 'contacts'}/{name}?limit={raw_limit}"
    links: dict[str, Any] = {"self": {"marker": marker, "link": base + (f"&marker={marker}" if marker else "")},
                             "first": {"marker": "", "link": base}}
    if start + size < len(keys) and chosen:
        following = _marker(chosen[-1])
        links["next"] = {"marker": following, "link": f"{base}&marker={following}"}
    items = []
    for key in chosen:
        record = records[key]
        item = {"key": key, "json": record["json"], "created": record["created"], "updated": record["updated"]}
        if record.get("ownerContactId") is not None:
            item["ownerContactId"] = record["ownerContactId"]
        items.append(item)
    return {"_items": items, "_links": links}
