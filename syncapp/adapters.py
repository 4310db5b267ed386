"""The interface between the engine and the vendor packages.

The engine knows these types only; `erp/<vendor>/adapter.py` and
`esp/<vendor>/adapter.py` implement them, and one registry per side names them
(`erp/registry.py`, `esp/registry.py`). Nothing here names a vendor.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# ---------------------------------------------------------------- errors


class HubFault(Exception):
    """The hub's own machinery failed (its rate limiter or task broker in Redis): not the
    record's fault nor the destination's. Rows are given back untouched and the fault is
    shown as the hub's own incident (syncapp.incidents)."""

    def __init__(self, message: str, *, kind: str = "redis") -> None:
        super().__init__(message)
        self.message, self.kind = message, kind


class TransportError(Exception):
    """One error type at every vendor boundary.

    `permanent` errors will fail the same way again (bad credentials, a rejected
    record); `transient` ones may pass later (timeouts, 5xx, 429) and are retried with
    backoff. `retry_after` is the vendor's own hint in seconds, when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        reason_code: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        response: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.reason_code = reason_code
        self.status = status
        self.retry_after = retry_after
        self.response = response

    @property
    def transient(self) -> bool:
        return not self.permanent


class AuthenticationFailed(TransportError):
    """Credentials refused: permanent until a person fixes the connection."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("reason_code", "authentication_failed")
        super().__init__(message, permanent=True, **kwargs)


# ---------------------------------------------------------------- sources


@dataclass(frozen=True)
class SourceRecord:
    """One record as a source adapter understood it.

    `data` holds canonical fields named after the mirror model's fields (for a
    Business Partner: card_code, card_name, card_type, email, ...). When the record
    could not be understood, `data` is None and `error` says why in plain words; the
    engine turns it into an ingest exception and goes on with the batch.
    """

    entity: str
    key: str
    version: str
    data: dict[str, Any] | None
    raw: dict[str, Any]
    error: str | None = None
    reason_code: str = ""  # a more precise reason than "unreadable_record", when known


@dataclass(frozen=True)
class SourceBatch:
    """One page of changes and the cursor to store once the page is saved.

    `on_stored`, when set, is called with the ingest result inside the transaction that
    stores the page: a source that pushes (IDocs) marks what it handed over as applied or
    failed in the same commit, so a crash can neither lose nor repeat it."""

    records: list[SourceRecord]
    cursor: dict[str, Any]
    on_stored: Callable[[Any], None] | None = None
    screened: bool = False  # the records are records_check's answer already (syncapp.page_lookahead)


class SourceAdapter(Protocol):
    def __init__(self, connection: Any) -> None: ...

    def read_changes(self, entity: str, cursor: dict[str, Any] | None) -> Iterator[SourceBatch]:
        """Yield pages of records changed since `cursor` (None = everything)."""

    def read_one(self, entity: str, key: str) -> SourceRecord | None:
        """Read one record now, e.g. to re-check it on retry; None if it no longer exists."""

    # A source that pushes its records (IDocs) cannot be asked again; it implements
    # instead, and the engine calls it on Retry in place of read_one:
    # def reprocess(self, entity: str, keys: list[str]) -> list[str]:
    #     """Apply the stored messages of these records again now; the keys now applied."""
    # and, for the health page, what it received but has not applied yet:
    # def inbound_backlog(self) -> tuple[int, datetime | None]:   # (count, oldest receipt)
    # A source the hub calls implements the connection probe's one cheap documented call:
    # def probe(self) -> None:   # raises AuthenticationFailed or TransportError


# ---------------------------------------------------------------- destinations


@dataclass(frozen=True)
class DestinationLimits:
    """What the vendor documents; the engine batches and throttles by these."""

    batch_size: int  # most records one bulk call may carry
    calls_per_minute: int  # default account rate when the account sets none
    single_call_threshold: int = 0  # batches this small go through single upserts
    # Most calls the bucket lets through back to back; 0 = min(rate per minute, 10).
    # A vendor counting per second (Ometria: 4 per second) needs it at that count.
    burst: int = 0


@dataclass(frozen=True)
class FieldSpec:
    """A destination field the mappings write to. `type` is String|Numeric|Date|Boolean."""

    name: str
    type: str = "String"


@dataclass
class PushItem:
    """One record to send. `key` is the stable ERP key; `identifier` the destination's
    own identifier (an email for contacts); `fields` the mapped values."""

    key: str
    identifier: str
    fields: dict[str, Any] = field(default_factory=dict)


Outcome = Literal["accepted", "submitted", "permanent", "transient"]


@dataclass
class PushResult:
    """How one item ended. `reason_code` is the vendor's code when it gave one;
    `category` is the engine's own name for the failure when the adapter recognises it
    ("invalid_email", "contact_suppressed", "authentication_failed"), so the engine never
    needs to know a vendor's codes.

    "submitted" means the destination took the record but validates it later (Ometria
    answers 200 first and lists validation errors afterwards): the record is not accepted
    until the adapter's `confirm()` says so. `remote_id` then holds the vendor's receipt
    (a request id), which `confirm()` gets back."""

    key: str
    outcome: Outcome
    remote_id: str | None = None
    reason_code: str = ""
    category: str = ""
    message: str = ""
    request: Any = None
    response: Any = None


@dataclass(frozen=True)
class SubmittedItem:
    """A record the destination took but has not validated yet (see PushResult)."""

    key: str
    identifier: str
    receipt: str
    submitted_at: Any  # aware datetime of the push
    fields: dict[str, Any] = field(default_factory=dict)


class Throttle(Protocol):
    """Token bucket shared by every worker pushing to one destination account."""

    def acquire(self, cost: int = 1) -> None:
        """Block until `cost` tokens are available."""

    def defer(self, seconds: float) -> None:
        """The vendor said 'slow down': nobody calls for `seconds`."""


class DestinationAdapter(Protocol):
    default_limits: DestinationLimits  # class attribute: the vendor's documented limits
    limits: DestinationLimits  # this account's (the account may set its own rate)

    def __init__(self, account: Any, throttle: Throttle) -> None: ...

    def ensure_fields(self, entity: str, fields: Sequence[FieldSpec]) -> list[str]:
        """Create the fields the destination lacks; return the names created."""

    def push(self, entity: str, items: Sequence[PushItem]) -> list[PushResult]:
        """Send items; one result per item. Raises TransportError when the whole call fails."""

    def read_back(self, entity: str, identifiers: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What the destination holds now, by identifier (for reconciliation and drift)."""

    def probe(self) -> None:
        """The connection probe's one cheap documented call through the account's bucket.
        Raises AuthenticationFailed (credentials refused) or TransportError (unreachable, 429)."""

    # Optional: what of a planned record of `entity` the vendor receives, when less than the
    # engine's vendor-neutral payload (a function of the PushItem), else None. The outbox
    # compares this, so a change the vendor would never see sends nothing.
    @staticmethod
    def record_view(entity: str) -> Callable[[PushItem], Any] | None: ...

    # Only adapters whose push() returns "submitted" results implement the two below.
    confirm_interval: float  # seconds between two confirm() calls for one flow

    def confirm(self, entity: str, items: Sequence[SubmittedItem]) -> list[PushResult]:
        """Final outcomes ("accepted", "permanent", "transient") for the submitted items it
        can decide now; items it leaves out stay submitted and are asked about again.
        "transient" sends the record again (e.g. its validation errors may have been lost)."""


class NoThrottle:
    """For tests and one-off tools that must not wait."""

    def acquire(self, cost: int = 1) -> None:
        return None

    def defer(self, seconds: float) -> None:
        return None
