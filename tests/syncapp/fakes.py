"""Fakes at the one seam the engine has: the adapter interface."""
from __future__ import annotations

import uuid

from syncapp.adapters import DestinationLimits, PushResult, SourceBatch, SourceRecord, TransportError


def bp_record(code: str, *, email: str | None = None, name: str = "", card_type: str = "customer",
              updated: str = "2026-11-01T10:00:00+00:00", udfs: dict | None = None) -> SourceRecord:
    email = f"{code.lower()}@example.com" if email is None else email
    data = {
        "card_code": code, "card_name": name or f"Customer {code}", "card_type": card_type, "email": email,
        "email_normalised": email.strip().lower(), "phone1": "", "phone2": "", "cellular": "",
        "group_code": 100, "currency": "GBP", "valid": True, "frozen": False, "addresses": [],
        "udfs": udfs or {}, "source_updated_at": updated,
    }
    return SourceRecord(entity="business_partners", key=code, version=updated, data=data,
                        raw={"CardCode": code, "EmailAddress": email})


class FakeSource:
    """Serves fixed pages; `fail_after` raises a transient error after that many pages."""

    def __init__(self, pages: list[list[SourceRecord]], fail_after: int | None = None, entity: str = ""):
        self.pages, self.fail_after, self.entity = pages, fail_after, entity
        self.token = uuid.uuid4().hex  # id() could be reused by a later source
        self.cursors_seen: list = []

    def read_changes(self, entity, cursor):
        self.cursors_seen.append(cursor)
        if self.entity and entity != self.entity:
            return  # this fake only plays one entity; the others have no changes
        # Resume only a cursor this source wrote; a new FakeSource is "new changes".
        start = cursor["page"] if cursor and cursor.get("source") == self.token else 0
        for index in range(start, len(self.pages)):
            if self.fail_after is not None and index >= self.fail_after:
                raise TransportError("connection reset", permanent=False)
            yield SourceBatch(records=self.pages[index], cursor={"page": index + 1, "source": self.token})

    def read_one(self, entity, key):
        for page in self.pages:
            for record in page:
                if record.key == key:
                    return record
        return None


# Records that belong to a contact, which must exist first (as dotdigital's insight data).
CONTACT_SCOPED = {"orders", "dispatch_events"}


class FakeDestination:
    """Keeps contacts by identifier (so repeats overwrite, as the real ones do) and can
    fail chosen keys permanently or transiently."""

    limits = DestinationLimits(batch_size=100, calls_per_minute=6000)

    def __init__(self, *, batch_size: int = 100):
        self.limits = DestinationLimits(batch_size=batch_size, calls_per_minute=6000)
        self.contacts: dict[str, dict] = {}
        self.records: dict[tuple[str, str], dict] = {}  # (entity, ERP key) -> fields, for every entity
        self.pushed_keys: list[str] = []
        self.reject: dict[str, str] = {}
        self.transient: set[str] = set()
        self.fail_whole_call: TransportError | None = None
        self.calls = 0
        self.fields_ensured: list = []

    def ensure_fields(self, entity, specs):
        self.fields_ensured.append([s.name for s in specs])
        return []

    def push(self, entity, items):
        self.calls += 1
        if self.fail_whole_call:
            raise self.fail_whole_call
        results = []
        for item in items:
            if item.key in self.reject:
                results.append(PushResult(key=item.key, outcome="permanent", reason_code=self.reject[item.key],
                                          message="refused"))
            elif item.key in self.transient:
                results.append(PushResult(key=item.key, outcome="transient", message="try later"))
            elif entity in CONTACT_SCOPED and item.identifier.lower() not in self.contacts:
                results.append(PushResult(key=item.key, outcome="transient", category="waiting_for_customer",
                                          message="the customer is not a contact yet"))
            else:
                self.records[(entity, item.key)] = dict(item.fields)
                if entity not in CONTACT_SCOPED:
                    self.contacts[item.identifier.lower()] = dict(item.fields)
                self.pushed_keys.append(item.key)
                results.append(PushResult(key=item.key, outcome="accepted", remote_id=f"id-{item.key}"))
        return results

    def read_back(self, entity, identifiers):
        return {i: self.contacts[i.lower()] for i in identifiers if i.lower() in self.contacts}


class OffsetClock:
    """Wall time that can be moved ahead: `sleep` and `advance` add to an offset instead
    of waiting. For vendors that validate later (Ometria), whose verdicts are compared
    with the engine's own timestamps, so the clock must stay near real time."""

    def __init__(self) -> None:
        import time

        self._time = time.time
        self.offset = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self._time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def frozen(self):
        """A clock that starts now and moves only with `sleep` and `advance`: for a sandbox
        whose rate limits must not depend on how fast the machine runs the test."""
        start = self._time()
        return lambda: start + self.offset


class IdMergingDestination(FakeDestination):
    """A destination that identifies an order by its payload's "id" (as Ometria merges
    on id), so a web shop's provisional order and its ERP order are one order there.
    Orders need no contact first (the customer travels inside the order)."""

    merges_orders_by_id = True

    def __init__(self, account=None, throttle=None, **options):
        super().__init__(**options)
        self.orders: dict[str, dict] = {}  # payload id -> the latest order sent under it

    def push(self, entity, items):
        if entity != "orders":
            return super().push(entity, items)
        self.calls += 1
        for item in items:
            self.orders[str(item.fields["id"])] = dict(item.fields)
            self.pushed_keys.append(item.key)
        return [PushResult(key=item.key, outcome="accepted", remote_id=str(item.fields["id"])) for item in items]
