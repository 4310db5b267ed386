"""The account an Ometria sandbox holds: the processing queue, stored records, errors.

Documented choices where Ometria's docs leave room (esp-apis.md sections 2 and 4):
- Receipt: records without an `id`, of an unknown `@type`, or over 60 KB are counted
  as `rejected` in the 200 answer and their errors listed at once; the rest are
  queued, counted as `accepted`, and validated `validation_delay` seconds later (or,
  with `processing_rate`, no faster than that many records per second, in order).
- Validation (rules.py) refuses a whole record: it is not stored, and each problem is
  listed at `/v2/push/_errors` as `{error_message, error_path}`, with the path naming
  the record: `order[WEB-1] > lineitems > 0 > product_id` (or, with `root_paths`, as
  Ometria documents: `root > lineitems > 0 > product_id`; with `index_paths`, by its
  position in the call's array: `root[3] > lineitems > 0 > product_id`). The list keeps the last 100,
  oldest first (app.py can list them newest first).
- Merge on id, per type (contacts per collection, `@collection`, default "default"):
  without `@merge` the record replaces the stored one ("may or may not clear" read as
  clear); with `@merge` unspecified top-level fields are kept (a list such as
  `attributes` is replaced, as documented for products). A field sent as null is
  cleared.
- Consent [OM-FORCE]: without `@force_optin`, an opt-out stored wins over an opt-in,
  and a forced value stands against unforced changes; `@force_optin: true` with
  `marketing_optin` sets it. A missing or NOT_SPECIFIED value leaves consent as it is.
- event_type longer than 31 characters is truncated, not refused [OM-CE].
"""
from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import rules

MAX_RECORD_BYTES = 60 * 1024
TOO_LARGE = "Payload invalid: Record is too large."
TYPES = ("contact", "order", "product", "custom_event")
DEFAULT_COLLECTION = "default"
ERRORS_KEPT = 100


@dataclass
class Batch:
    request_id: str
    due_at: float
    records: list[dict[str, Any]]
    positions: list[int] = field(default_factory=list)  # each record's index in its call's array


@dataclass
class AccountState:
    """In-memory account. Callers hold the sandbox lock."""

    errors_kept: int = ERRORS_KEPT
    root_paths: bool = False  # "root > field", as Ometria documents, instead of naming the record
    index_paths: bool = False  # "root[<index in the call>] > field", as seen from Ometria (issue 10)
    contacts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    forced_optin: set[tuple[str, str]] = field(default_factory=set)
    unsubscribes: list[dict[str, Any]] = field(default_factory=list)  # unsubscribes.py
    resubscribed: list[tuple[str, str]] = field(default_factory=list)  # opted-out contacts a push opted in
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: deque = field(default_factory=deque)
    queue: deque = field(default_factory=deque)
    queued_records: int = 0
    processed: int = 0
    paused: bool = False
    last_due: float = 0.0
    errors_listed: int = 0  # every error ever listed, for tests (the list keeps 100)

    # ------------------------------------------------------------ receipt

    def receive(self, records: list[Any], now: float, delay: float, rate: float | None) -> dict[str, Any]:
        """Take a call's records (already checked: an array, one type, at most 100)."""
        request_id = str(uuid.uuid4())
        accepted: list[dict[str, Any]] = []
        positions: list[int] = []
        rejected = 0
        for position, record in enumerate(records):
            problem = _receipt_problem(record)
            if problem:
                rejected += 1
                self._list_error(problem[1], self._path(record, problem[0], position))
            else:
                accepted.append(record)
                positions.append(position)
        if accepted:
            due = now + delay
            if rate:
                due = max(due, self.last_due + len(accepted) / rate)
            self.last_due = due
            self.queue.append(Batch(request_id, due, accepted, positions))
            self.queued_records += len(accepted)
        return {"status": "OK", "request_id": request_id, "accepted": len(accepted), "rejected": rejected}

    # ------------------------------------------------------------ processing

    def settle(self, now: float, *, everything: bool = False) -> None:
        """Validate and store every batch that is due (all of them with `everything`)."""
        if self.paused and not everything:
            return
        while self.queue and (everything or self.queue[0].due_at <= now):
            batch = self.queue.popleft()
            self.queued_records -= len(batch.records)
            for n, record in enumerate(batch.records):
                self._process(record, batch.positions[n] if n < len(batch.positions) else n)
                self.processed += 1

    def _process(self, record: dict[str, Any], position: int = 0) -> None:
        kind = record["@type"]
        if kind == "contact":
            key = (str(record.get("@collection") or DEFAULT_COLLECTION), str(record["id"]))
            stored = self.contacts.get(key)
            problems = rules.contact_problems(record, stored)
        elif kind == "order":
            key, stored = str(record["id"]), self.orders.get(str(record["id"]))
            problems = rules.order_problems(record)
        elif kind == "product":
            key, stored = str(record["id"]), self.products.get(str(record["id"]))
            problems = rules.product_problems(record, stored)
        else:
            key, stored = str(record["id"]), self.custom_events.get(str(record["id"]))
            problems = rules.custom_event_problems(record, self.contact_known)
        if problems:
            for where, message in problems:
                self._list_error(message, self._path(record, where, position))
            return
        merged = _merge(record, stored)
        if kind == "contact":
            self._apply_consent(key, record, stored, merged)
            self.contacts[key] = merged
        elif kind == "order":
            self.orders[key] = merged
        elif kind == "product":
            self.products[key] = merged
        else:
            merged["event_type"] = str(merged["event_type"])[:rules.EVENT_TYPE_MAX]
            self.custom_events[key] = merged

    def _apply_consent(self, key: tuple[str, str], record: dict, stored: dict | None, merged: dict) -> None:
        value, forced = consent(before=(stored or {}).get("marketing_optin"), forced=key in self.forced_optin,
                                wanted=record.get("marketing_optin"), force=record.get("@force_optin") is True)
        if value is None:
            merged.pop("marketing_optin", None)
        else:
            merged["marketing_optin"] = value
        if (stored or {}).get("marketing_optin") == "EXPLICITLY_OPTEDOUT" and value == "EXPLICITLY_OPTEDIN":
            self.resubscribed.append(key)
        (self.forced_optin.add if forced else self.forced_optin.discard)(key)

    def contact_known(self, identity: str, value: str) -> bool:
        if identity == "identity_email":
            lowered = value.strip().lower()
            return any(str(c.get("email", "")).lower() == lowered for c in self.contacts.values())
        if identity == "identity_account_id":
            return any(str(c.get("customer_id", "")) == value for c in self.contacts.values())
        return any(c.get("id") == value for c in self.contacts.values())  # profile_id: the sandbox's own ids

    def _path(self, record: Any, where: str, position: int = 0) -> str:
        if self.root_paths:
            return f"root > {where}" if where else "root"
        if self.index_paths:
            return f"root[{position}] > {where}" if where else f"root[{position}]"
        return _path(record, where)

    def _list_error(self, message: str, path: str) -> None:
        self.errors.append({"error_message": message, "error_path": path})
        while len(self.errors) > self.errors_kept:
            self.errors.popleft()
        self.errors_listed += 1


def consent(*, before: str | None, forced: bool, wanted: str | None, force: bool) -> tuple[str | None, bool]:
    """(stored marketing_optin, forced) after one update [OM-FORCE]."""
    if force and wanted in ("EXPLICITLY_OPTEDIN", "EXPLICITLY_OPTEDOUT"):
        return wanted, True
    if wanted in (None, "NOT_SPECIFIED"):
        return before or wanted, forced
    if forced or before == "EXPLICITLY_OPTEDOUT":
        return before, forced  # a forced value stands; opt-outs win
    return wanted, False


def record_size(record: Any) -> int:
    return len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())


def _receipt_problem(record: Any) -> tuple[str, str] | None:
    if not isinstance(record, dict):
        return "", "Payload invalid: a record must be an object."
    if record.get("@type") not in TYPES:
        return "@type", f"Payload invalid: unknown record type {record.get('@type')!r}."
    if record.get("id") in (None, ""):
        return "id", "Payload invalid: the record has no id."
    if record_size(record) > MAX_RECORD_BYTES:
        return "", TOO_LARGE
    return None


def _path(record: Any, where: str) -> str:
    kind = record.get("@type") if isinstance(record, dict) else None
    rid = record.get("id") if isinstance(record, dict) else None
    head = f"{kind or 'record'}[{'' if rid is None else rid}]"
    return f"{head} > {where}" if where else head


def _merge(record: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    fields = {k: v for k, v in record.items() if not k.startswith("@")}
    if "@collection" in record:
        fields["collection"] = record["@collection"]
    merged = dict(stored) if record.get("@merge") and stored else {}
    merged.update(fields)
    return {k: v for k, v in merged.items() if v is not None}
