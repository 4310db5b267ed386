"""The destination side of the reconciliation: what each destination holds.

Where the destination's API can list orders, they are read back from it into a snapshot
(`read_back_orders`): dotdigital lists the Orders insight collection, paged
(`esp.dotdigital.insight.insight_records_list`). Ometria documents no order-listing
endpoint (contract 2.5: unsubscribes, profiles and lists only), so its side is the hub's
own ledger: the orders flow's outbox rows Ometria accepted, with the payload accepted.
Each reconciliation says which source its destination figures come from.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models.fields.json import KT
from django.utils import timezone
from django.utils.dateparse import parse_date

from esp.order_status import status_map
from syncapp.models import Flow, OutboxItem, OutboxStatus

from .erp_side import CANCELLED, LIVE, PARTIALLY_REFUNDED, REFUNDED, ZERO, cents
from .models import ReadBack, ReadBackOrder
from .periods import Period

READ_BACK_KINDS = {"dotdigital"}  # destinations whose API lists orders
PAGE_SIZE = 1000  # the list's largest page (its answer holds at most 1000 records)


@dataclass(frozen=True)
class DestinationOrder:
    key: str
    order_number: str
    purchase_date: date | None
    currency: str
    value: Decimal
    refunded: Decimal
    status: str
    state: str

    @property
    def counted(self) -> Decimal:
        return ZERO if self.state == CANCELLED else self.value


@dataclass
class DestinationSide:
    source: str  # "read_back" | "ledger"
    source_text: str
    read_at: object  # datetime of the snapshot, or None
    orders: dict[str, DestinationOrder]
    error: str = ""
    read_back_id: int | None = None  # the snapshot read, for the set-based screening


def amount(value) -> Decimal:
    """A destination's number (a JSON float) to the cent; anything else is 0."""
    if value is None or isinstance(value, bool):
        return ZERO
    try:
        return cents(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return ZERO


def finance_state(status: str, refunded: Decimal, statuses: dict[str, str]) -> str:
    """The finance state a destination's order status says, in the account's own names."""
    text = (status or "").lower()
    if text and text == str(statuses.get("cancelled", "")).lower():
        return CANCELLED
    if text and text == str(statuses.get("refunded", "")).lower():
        return REFUNDED
    return PARTIALLY_REFUNDED if refunded > 0 else LIVE


def _day(value) -> date | None:
    if not value:
        return None
    try:
        return parse_date(str(value)[:10])
    except ValueError:
        return None


# ------------------------------------------------------------------ read back (dotdigital)


def _dotdigital_records(flow: Flow, client=None) -> Iterable[dict]:
    from esp.dotdigital.adapter import DEFAULT_CALLS_PER_MINUTE
    from esp.dotdigital.client import DotdigitalClient, base_url_for
    from esp.dotdigital.insight import ORDERS_COLLECTION, insight_records_list
    from syncapp.ratelimit import throttle_for

    account = flow.destination
    if client is None:
        # The account's own bucket: a read-back takes its turn with the pushes, never around them.
        throttle = throttle_for(account, account.calls_per_minute or DEFAULT_CALLS_PER_MINUTE)
        client = DotdigitalClient(base_url_for(account.region, account.base_url), account.api_user,
                                  account.password(), throttle=throttle)
    return insight_records_list(client, ORDERS_COLLECTION, scope="contact", page_size=PAGE_SIZE)


def _snapshot_row(read_back: ReadBack, record: dict) -> ReadBackOrder:
    data = record.get("json") if isinstance(record.get("json"), dict) else {}
    return ReadBackOrder(
        read_back=read_back, record_key=str(record.get("key"))[:100],
        order_number=str(data.get("orderNumber") or data.get("id") or "")[:100],
        purchase_date=_day(data.get("purchaseDate")), currency=str(data.get("currency") or "")[:10],
        order_total=amount(data.get("orderTotal")), refunded_total=amount(data.get("refundedTotal")),
        status=str(data.get("orderStatus") or "")[:40])


def read_back_orders(*, flow: Flow, records: Iterable[dict] | None = None, client=None) -> ReadBack:
    """Read every order record of the flow's destination into a new snapshot; the older
    snapshots go once it is complete. A failed read is kept with its error and the
    previous snapshot stays the destination side."""
    if records is None and flow.destination.kind not in READ_BACK_KINDS:
        raise ValueError(f"{flow.destination.kind} cannot list its orders; its side is the hub's ledger")
    read_back = ReadBack.objects.create(flow=flow, started_at=timezone.now())
    try:
        batch: list[ReadBackOrder] = []
        count = 0
        for record in records if records is not None else _dotdigital_records(flow, client):
            batch.append(_snapshot_row(read_back, record))
            if len(batch) >= 5000:
                ReadBackOrder.objects.bulk_create(batch)
                count += len(batch)
                batch = []
        ReadBackOrder.objects.bulk_create(batch)
        count += len(batch)
    except Exception as error:  # the read is recorded as failed, then the caller sees the error
        ReadBack.objects.filter(pk=read_back.pk).update(status=ReadBack.Status.FAILED, finished_at=timezone.now(),
                                                        error=str(getattr(error, "message", error))[:2000])
        raise
    with transaction.atomic():
        ReadBack.objects.filter(pk=read_back.pk).update(status=ReadBack.Status.FINISHED, records=count,
                                                        finished_at=timezone.now())
        ReadBack.objects.filter(flow=flow).exclude(pk=read_back.pk).delete()
    read_back.refresh_from_db()
    return read_back


def latest_read_back(flow: Flow) -> ReadBack | None:
    return (ReadBack.objects.filter(flow=flow, status=ReadBack.Status.FINISHED).order_by("-finished_at", "-pk")
            .first())


def _from_snapshot(read_back: ReadBack, period: Period, keys: Iterable[str], statuses, *,
                   only_keys: bool = False) -> dict[str, DestinationOrder]:
    fields = ("record_key", "order_number", "purchase_date", "currency", "order_total", "refunded_total", "status")
    found = {}
    if not only_keys:
        found = {row[0]: row for row in ReadBackOrder.objects.filter(
            read_back=read_back, purchase_date__range=(period.date_from, period.date_to)).values_list(*fields)}
    # An ERP order of the period the destination dates otherwise is still found by key.
    elsewhere = [key for key in keys if key not in found]
    for start in range(0, len(elsewhere), 5000):
        for row in ReadBackOrder.objects.filter(read_back=read_back,
                                                record_key__in=elsewhere[start:start + 5000]).values_list(*fields):
            found[row[0]] = row
    return {key: DestinationOrder(key, number, day, currency, cents(Decimal(total)), cents(Decimal(refunded)),
                                  status, finance_state(status, Decimal(refunded), statuses))
            for key, (_, number, day, currency, total, refunded, status) in found.items()}


# ------------------------------------------------------------------ ledger (Ometria and others)


def _from_ledger(flow: Flow, period: Period, keys: set[str], statuses, *,
                 only_keys: bool = False) -> dict[str, DestinationOrder]:
    """Accepted outbox rows: the payload a destination accepted is the row's payload."""
    accepted = OutboxItem.objects.filter(flow=flow, status=OutboxStatus.ACCEPTED)
    if only_keys:
        found: dict[str, DestinationOrder] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), 5000):
            chunk = set(ordered[start:start + 5000])
            found |= _ledger_rows(accepted.filter(record_key__in=chunk), period, chunk, statuses)
        return found
    return _ledger_rows(accepted, period, keys, statuses)


def _ledger_rows(accepted, period: Period, keys: set[str], statuses) -> dict[str, DestinationOrder]:
    rows = (accepted.annotate(day=KT("payload__purchaseDate"), total=KT("payload__orderTotal"),
                      refunded=KT("payload__refundedTotal"), order_status=KT("payload__orderStatus"),
                      currency=KT("payload__currency"), number=KT("payload__orderNumber"))
            .values_list("record_key", "day", "total", "refunded", "order_status", "currency", "number"))
    first, last = period.date_from.isoformat(), period.date_to.isoformat()
    found = {}
    for key, day, total, refunded, order_status, currency, number in rows.iterator(chunk_size=5000):
        day_text = str(day or "")[:10]
        if key not in keys and not (first <= day_text <= last):
            continue
        value, refund = amount(total), amount(refunded)
        found[key] = DestinationOrder(key, str(number or ""), _day(day_text), str(currency or ""), value, refund,
                                      str(order_status or ""), finance_state(str(order_status or ""), refund,
                                                                             statuses))
    return found


def side_header(flow: Flow) -> DestinationSide:
    """Where the flow's destination figures come from (no orders loaded yet)."""
    name = flow.destination.name
    if flow.destination.kind in READ_BACK_KINDS:
        read_back = latest_read_back(flow)
        failed = ReadBack.objects.filter(flow=flow, status=ReadBack.Status.FAILED).order_by("-started_at").first()
        error = failed.error if failed and (read_back is None or failed.started_at > read_back.started_at) else ""
        if read_back is None:
            return DestinationSide("read_back", f"Read back from {name}: not read yet.", None, {}, error)
        text = (f"Read back from {name}'s Orders collection ({read_back.records} records listed) "
                f"at {timezone.localtime(read_back.finished_at):%Y-%m-%d %H:%M}.")
        return DestinationSide("read_back", text, read_back.finished_at, {}, error, read_back.pk)
    text = (f"{name} offers no way to list its orders: its figures are the hub's ledger of the pushes "
            f"{name} accepted.")
    return DestinationSide("ledger", text, timezone.now(), {})


def side_orders(*, flow: Flow, side: DestinationSide, period: Period, keys: set[str],
                only_keys: bool = False) -> dict[str, DestinationOrder]:
    """The destination's orders dated in the period plus those of `keys` (or only those)."""
    statuses = status_map(flow.destination)
    if side.source == "read_back":
        if side.read_back_id is None:
            return {}
        read_back = ReadBack.objects.get(pk=side.read_back_id)
        return _from_snapshot(read_back, period, keys, statuses, only_keys=only_keys)
    return _from_ledger(flow, period, keys, statuses, only_keys=only_keys)


def destination_side(*, flow: Flow, period: Period, erp_keys: set[str], only_keys: bool = False) -> DestinationSide:
    """What the flow's destination holds: every order dated in the period there plus those
    of `erp_keys` (or, with `only_keys`, just those of `erp_keys`)."""
    side = side_header(flow)
    side.orders = side_orders(flow=flow, side=side, period=period, keys=erp_keys, only_keys=only_keys)
    return side
