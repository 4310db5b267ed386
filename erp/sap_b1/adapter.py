"""SAP Business One as a source: Business Partners, Items, item stock, Warehouses and the
sales documents (orders, deliveries, invoices, credit_notes, returns).

Entities and cursors:

- "business_partners", "items": delta reads by UpdateDate/UpdateTime. Cursor
  {"updated_at": "<ISO-8601 UTC>", "reread_to": "<ISO-8601 UTC>"}: the stamp of the newest
  record read so far ({"updated_at": None} if nothing carried one), and the minute the
  overlap re-read has reached (absent before the first re-read). None or {} reads everything.
- "orders", "deliveries", "invoices", "credit_notes", "returns" (Orders, DeliveryNotes,
  Invoices, CreditNotes, Returns; see `document_payloads`): delta reads by
  UpdateDate/UpdateTime with the same cursor and overlap window; key str(DocEntry).
- "item_stock", "warehouses", "item_groups": always full reads (stock movements may not bump
  OITM.UpdateDate; OWHS has no change stamp). Every batch carries {"full": True} and the
  cursor passed in is ignored. (OWHS and OITB have no change stamp.)

A delta read with an overlap window reads the new changes first (from the cursor's
minute on) and the overlap re-read after them: in a peak the window re-reads minutes of
just-edited records, and a new order must not wait behind them to be planned. Each
minute is re-read once, when the overlap has passed since it ended (`reread_to` in the
cursor says how far that has got). The cursor moves on only with the last batch, once the
re-read is done too, so a read that stops half-way is repeated whole (the re-read is
harmless: unchanged records cost no call).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from erp.contact_persons import split_contact_key
from erp.sap_b1 import document_payloads, item_payloads, payloads
from erp.sap_b1.client import ServiceLayerClient
from syncapp.adapters import SourceBatch, SourceRecord, TransportError

log = logging.getLogger(__name__)

NOT_SUPPLIER = "CardType ne 'cSupplier'"
MAX_RESTARTS = 5
MAX_REREAD = 50
# Each time SAP's order moves under the paging by more than the re-read covers, the rest of
# the read re-reads twice as much (up to 2**MAX_WIDENING times, and at most half a page).
MAX_WIDENING = 3
READ_AHEAD = timedelta(seconds=30)  # a delta read may go on reading new changes for at least this long
FULL_CURSOR: dict[str, Any] = {"full": True}


@dataclass(frozen=True)
class EntitySpec:
    """How one source entity is read: resource, key, $select, conversion, read mode.

    `delta` entities are ordered by (UpdateDate, UpdateTime, key) so the cursor only moves
    forward; full entities are ordered by key so $skip paging is stable.
    """

    entity: str
    resource: str
    key_field: str
    select: str
    to_record: Callable[[Any], SourceRecord]
    label: str  # plural, for people: "Business partners"
    delta: bool
    base_filter: str | None = None
    keep: Callable[[SourceRecord], bool] | None = None
    int_key: bool = False  # keys are Int32 (DocEntry): `Orders(12)`, not `Orders('12')`

    @property
    def order_by(self) -> str:
        if self.delta:
            return f"UpdateDate asc,UpdateTime asc,{self.key_field} asc"
        return f"{self.key_field} asc"


class SapB1Source:
    """`SourceAdapter` for one `ErpConnection` of kind sap_b1.

    Entities: "business_partners" (customers and leads; suppliers are filtered out at
    the source), "items", "item_stock", "warehouses", "item_groups" and the five sales-document
    entities (see the module docstring).
    Business Partner UDFs come from `connection.user_fields`, item UDFs from the optional
    `connection.item_user_fields`.
    """

    entities = (payloads.ENTITY, item_payloads.ITEMS, item_payloads.ITEM_STOCK,
                item_payloads.WAREHOUSES, item_payloads.ITEM_GROUPS, *document_payloads.DOCUMENT_ENTITIES)
    # Its next page does not depend on this one being stored (plain HTTP reads), so the
    # engine fetches and screens it meanwhile (syncapp.page_lookahead).
    pages_read_ahead = True

    def __init__(
        self,
        connection: Any,
        *,
        client: ServiceLayerClient | None = None,
        udfs: Sequence[str] | None = None,
        item_udfs: Sequence[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.connection = connection
        self.clock = clock or (lambda: datetime.now(UTC))
        self.client = client or ServiceLayerClient(
            connection.base_url,
            connection.company_db,
            connection.username,
            connection.password(),
            page_size=connection.page_size,
            timeout=connection.timeout_seconds,
            verify_tls=connection.verify_tls,
        )
        if udfs is None:
            udfs = getattr(connection, "user_fields", None) or ()
        if item_udfs is None:
            item_udfs = getattr(connection, "item_user_fields", None) or ()
        self.udfs = tuple(udfs)
        self.item_udfs = tuple(item_udfs)
        self.overlap = timedelta(minutes=connection.delta_overlap_minutes)
        self.specs = {spec.entity: spec for spec in self._specs()}

    def _specs(self) -> list[EntitySpec]:
        ip = item_payloads
        return [
            EntitySpec(
                payloads.ENTITY, payloads.RESOURCE, "CardCode",
                payloads.select_clause(self.udfs), payloads.to_source_record,
                "Business partners", delta=True, base_filter=NOT_SUPPLIER,
                keep=lambda r: not (r.data and r.data["card_type"] == "supplier"),
            ),
            EntitySpec(ip.ITEMS, ip.ITEMS_RESOURCE, "ItemCode",
                       ip.item_select_clause(self.item_udfs), ip.to_item_record, "Items",
                       delta=True),
            EntitySpec(ip.ITEM_STOCK, ip.ITEMS_RESOURCE, "ItemCode", ip.STOCK_SELECT,
                       ip.to_stock_record, "Item stock levels", delta=False),
            EntitySpec(ip.WAREHOUSES, ip.WAREHOUSES_RESOURCE, "WarehouseCode",
                       ip.WAREHOUSE_SELECT, ip.to_warehouse_record, "Warehouses",
                       delta=False),
            EntitySpec(ip.ITEM_GROUPS, ip.ITEM_GROUPS_RESOURCE, "Number", ip.ITEM_GROUP_SELECT,
                       ip.to_item_group_record, "Item groups", delta=False, int_key=True),
            *(
                EntitySpec(entity, resource, "DocEntry", document_payloads.DOCUMENT_SELECT,
                           document_payloads.record_converter(entity),
                           document_payloads.PLURAL_LABELS[entity], delta=True, int_key=True)
                for entity, (resource, _, _) in document_payloads.DOCUMENT_ENTITIES.items()
            ),
        ]

    # ------------------------------------------------------------ reads

    def read_changes(self, entity: str, cursor: dict[str, Any] | None) -> Iterator[SourceBatch]:
        """Yield one SourceBatch per page; for delta entities None or {} reads everything.

        Pages are fetched by $skip, and each page re-reads the tail of the previous one:
        if a record changes mid-read it jumps to the end of the order (or a row is added
        or removed) and shifts every later row, so plain $skip paging would silently skip
        a row. We re-read a few rows and resume after the last key we saw; if that key is
        gone we restart from the stored cursor (delta; the overlap window makes re-reads
        harmless) or from the start (full reads; upserts are idempotent).
        """
        spec = self._spec(entity)
        since = _cursor_time(cursor) if spec.delta else None
        # A read ends at a minute's start (SAP compares stamps by the minute): in a peak, records
        # stamped while it goes on would keep adding pages at its end, and a read that never
        # ends never moves its cursor; they are the next delta read's. It is the first minute's
        # start at least READ_AHEAD after the read began: a pull that ticks late in a minute
        # would otherwise stop within seconds and leave a whole interval of new orders waiting.
        began = self.clock()
        bound = _minute(began + READ_AHEAD) + timedelta(minutes=1)
        if since is None or not self.overlap:
            # A full read (a backfill, a first load) stops once it reaches records stamped after
            # that, but asks for no upper bound: a record whose date SAP cannot compare must still
            # be read (and reported).
            yield from self._read_restarting(spec, since, back=self.overlap, stop_after=bound if spec.delta else None)
            return
        # New changes first, then the overlap re-read (see the module docstring). Until the
        # last batch every batch carries the cursor passed in: a read stopped half-way is repeated.
        newest = since
        for batch in self._read_restarting(spec, since, back=timedelta(0), until=bound):
            newest = max(newest, _cursor_time(batch.cursor) or newest)
            yield replace(batch, cursor=cursor)
        reread_from, reread_until = self._reread_window(cursor, since, began)
        if reread_from < reread_until:
            for batch in self._read_restarting(spec, reread_from, back=timedelta(0), until=reread_until):
                yield replace(batch, cursor=cursor)
        yield SourceBatch(records=[], cursor=_cursor(newest, reread_to=max(reread_from, reread_until)))

    def _reread_window(self, cursor: dict[str, Any], since: datetime, began: datetime) -> tuple[datetime, datetime]:
        """The minutes to read again: those within the overlap before the cursor (a change SAP
        shows late is stamped in a minute already read), each once, when the overlap has passed
        since it ended. Re-reading the whole window on every pull read each minute two or three
        times: in a peak 10,000 unchanged orders a pull, and 15,000 a pull after it with nothing
        new. `reread_to` is where the last re-read got to (absent in a cursor from before it)."""
        window_start = _minute(since - self.overlap)
        reread_from = max(_cursor_time(cursor, "reread_to") or window_start, window_start)
        # Up to the cursor's minute (the new changes were read from there).
        reread_until = min(_minute(since), _minute(began - self.overlap))
        return reread_from, reread_until

    def _read_restarting(self, spec: EntitySpec, since: datetime | None, *, back: timedelta,
                         until: datetime | None = None, stop_after: datetime | None = None) -> Iterator[SourceBatch]:
        """Read from (since - back) on (up to `until`; or to the first page holding a record
        stamped at or after `stop_after`), starting again where it got to when SAP's order
        moved under the paging."""
        restarts = shifts = 0
        start = since - back if since is not None else None
        while True:
            try:
                yield from self._read_from(spec, since, back=back, until=until, stop_after=stop_after,
                                           widening=min(shifts, MAX_WIDENING))
                return
            except _Shifted as shifted:
                # In a peak, deliveries edit orders the read has passed, and every row after
                # them moves up by more than a page's re-read covers, above all while the
                # machine is slow: every restart came back to the same minute, the sixth failed
                # the pull, and the pulls after it read its range again (one read 39,240 orders
                # in 216 s while new orders waited).
                shifts += 1
                # Only restarts that got no further count: a long read in a busy ERP is
                # shifted again and again, but goes on from where it got to each time.
                moved_on = shifted.since is not None and (start is None or shifted.since > start)
                restarts = 0 if moved_on else restarts + 1
                if restarts > MAX_RESTARTS:
                    raise TransportError(
                        f"{spec.label} in SAP kept changing while we read them; "
                        "the next run will pick up from where this one stopped.",
                        permanent=False, reason_code="sap_b1:moving_target",
                    ) from None
                # From the minute it had reached, not `back` before it: the rows a shift can
                # hide come after the last one read. (An overlap re-read restarting from the
                # cursor minus the overlap read its whole window again each time.)
                since = start = shifted.since
                back = timedelta(0)
                log.info("SAP B1 %s moved during paging; restarting from %s",
                         spec.resource, since)

    def read_one(self, entity: str, key: str) -> SourceRecord | None:
        """GET <Resource>('KEY') (documents: <Resource>(DocEntry)); None when SAP says it
        no longer exists, or when a document key is not a DocEntry at all. A contact
        person's key (`C001#3`) reads its company, which carries it."""
        spec = self._spec(entity)
        if entity == payloads.ENTITY and (person := split_contact_key(key)):
            return self._read_one(spec, key) or self._read_one(spec, person[0])
        return self._read_one(spec, key)

    def _read_one(self, spec: EntitySpec, key: str) -> SourceRecord | None:
        if spec.int_key:
            if not str(key).isdigit():
                return None
            path = f"{spec.resource}({int(key)})"
        else:
            path = f"{spec.resource}('{key.replace(chr(39), chr(39) * 2)}')"
        try:
            raw = self.client.get(path, {"$select": spec.select})
        except TransportError as error:
            if error.status == 404:
                return None
            raise
        return spec.to_record(raw)

    def probe(self) -> None:
        """The connection probe's cheap documented call: POST /Login with the hub's
        credentials, then /Logout. Raises AuthenticationFailed when refused,
        TransportError when the Service Layer cannot be reached."""
        self.client.login()
        self.client.logout()

    def close(self) -> None:
        self.client.logout()

    # ------------------------------------------------------------ internals

    def _read_from(self, spec: EntitySpec, since: datetime | None, *, back: timedelta,
                   until: datetime | None = None, stop_after: datetime | None = None,
                   widening: int = 0) -> Iterator[SourceBatch]:
        params = {"$select": spec.select, "$orderby": spec.order_by}
        if where := self._filter(spec, since, back=back, until=until):
            params["$filter"] = where
        reread = 0
        cursor_time = since
        reached = since - back if since is not None else None  # the newest stamp this pass has read
        skip = 0
        anchor: str | None = None
        while True:
            page = self.client.get_page(
                spec.resource, {**params, "$skip": skip} if skip else params
            )
            rows = page.rows
            if anchor is not None and reread:
                keys = [str(row.get(spec.key_field)) for row in rows[: reread + 1]]
                if anchor not in keys:
                    raise _Shifted(reached)
                rows = rows[keys.index(anchor) + 1 :]
            records = [spec.to_record(row) for row in rows]
            if spec.delta:
                reached = _newest(records, reached)
            if spec.keep:
                records = [r for r in records if spec.keep(r)]
            if spec.delta:
                cursor_time = _newest(records, cursor_time)
            if rows or anchor is None:
                cursor = _cursor(cursor_time) if spec.delta else dict(FULL_CURSOR)
                yield SourceBatch(records=records, cursor=cursor)
            if not page.next_link or not page.rows:
                return
            if stop_after is not None and cursor_time is not None and cursor_time >= stop_after:
                return  # the rest changed after the read began
            anchor = str(page.rows[-1].get(spec.key_field))
            # A tenth of the page (the server may cap its size), more after a shift (MAX_WIDENING).
            reread = min(MAX_REREAD << widening, (len(page.rows) // 10) << widening, len(page.rows) // 2)
            skip = max(0, _next_skip(page.next_link, skip + len(page.rows)) - reread)

    def _filter(self, spec: EntitySpec, since: datetime | None, *, back: timedelta,
                until: datetime | None = None) -> str | None:
        if since is None:
            return spec.base_filter
        # The Service Layer compares UpdateDate by day and UpdateTime by hour:minute only,
        # so we ask from the start of the (cursor - back) minute (up to the `until` minute).
        start = since - back
        day, minute = payloads.b1_date(start), payloads.b1_minute(start)
        window = (f"(UpdateDate gt '{day}' or "
                  f"(UpdateDate eq '{day}' and UpdateTime ge '{minute}'))")
        if until is not None:
            end_day, end_minute = payloads.b1_date(until), payloads.b1_minute(until)
            window += (f" and (UpdateDate lt '{end_day}' or "
                       f"(UpdateDate eq '{end_day}' and UpdateTime lt '{end_minute}'))")
        return f"{spec.base_filter} and {window}" if spec.base_filter else window

    def _spec(self, entity: str) -> EntitySpec:
        try:
            return self.specs[entity]
        except KeyError:
            raise ValueError(f"SAP Business One source cannot read {entity!r}") from None


class _Shifted(Exception):
    def __init__(self, since: datetime | None) -> None:
        self.since = since


def _newest(records: list[SourceRecord], moment: datetime | None) -> datetime | None:
    for record in records:
        stamp = record.data.get("source_updated_at") if record.data else None
        if stamp is not None and (moment is None or stamp > moment):
            moment = stamp
    return moment


def _cursor(moment: datetime | None, *, reread_to: datetime | None = None) -> dict[str, Any]:
    cursor = {"updated_at": moment.isoformat() if moment else None}
    if reread_to is not None:
        cursor["reread_to"] = reread_to.isoformat()
    return cursor


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _cursor_time(cursor: dict[str, Any] | None, field: str = "updated_at") -> datetime | None:
    value = (cursor or {}).get(field)
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"SAP B1 cursor must be timezone-aware: {value!r}")
    return moment


def _next_skip(next_link: str, fallback: int) -> int:
    values = parse_qs(urlsplit(next_link).query).get("$skip")
    try:
        return int(values[0]) if values else fallback
    except ValueError:
        return fallback
