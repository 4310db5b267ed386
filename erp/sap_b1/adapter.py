"""SAP Business One as a source: Business Partners, full and delta reads.

Cursor: {"updated_at": "<ISO-8601 UTC>"} — the UpdateDate/UpdateTime of the last record
on the last page the engine saved ({"updated_at": None} if nothing carried a stamp).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from erp.sap_b1 import payloads
from erp.sap_b1.client import ServiceLayerClient
from syncapp.adapters import SourceBatch, SourceRecord, TransportError

log = logging.getLogger(__name__)

ORDER_BY = "UpdateDate asc,UpdateTime asc,CardCode asc"
NOT_SUPPLIER = "CardType ne 'cSupplier'"
MAX_RESTARTS = 5
MAX_REREAD = 50


class SapB1Source:
    """`SourceAdapter` for one `ErpConnection` of kind sap_b1.

    Entities: "business_partners" (customers and leads; suppliers are filtered out at
    the source). Reads are ordered by (UpdateDate, UpdateTime, CardCode) so the cursor
    only moves forward and is safe to store after each page.
    """

    entities = (payloads.ENTITY,)

    def __init__(
        self,
        connection: Any,
        *,
        client: ServiceLayerClient | None = None,
        udfs: Sequence[str] | None = None,
    ) -> None:
        self.connection = connection
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
        self.udfs = tuple(udfs)
        self.overlap = timedelta(minutes=connection.delta_overlap_minutes)

    # ------------------------------------------------------------ reads

    def read_changes(self, entity: str, cursor: dict[str, Any] | None) -> Iterator[SourceBatch]:
        """Yield one SourceBatch per page; None or an empty cursor reads everything.

        Pages are fetched by $skip, and each page re-reads the tail of the previous one:
        if a record changes mid-read it jumps to the end of the order and shifts every
        later row one place back, so plain $skip paging would silently skip a row. We
        re-read a few rows and resume after the last key we saw; if that key is gone we
        restart from the stored cursor (the overlap window makes re-reads harmless).
        """
        self._check_entity(entity)
        since = _cursor_time(cursor)
        restarts = 0
        while True:
            try:
                yield from self._read_from(since)
                return
            except _Shifted as shifted:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise TransportError(
                        "Business partners in SAP kept changing while we read them; "
                        "the next run will pick up from where this one stopped.",
                        permanent=False, reason_code="sap_b1:moving_target",
                    ) from None
                since = shifted.since
                log.info("SAP B1 rows moved during paging; restarting from %s", since)

    def read_one(self, entity: str, key: str) -> SourceRecord | None:
        """GET BusinessPartners('KEY'); None when SAP says it no longer exists."""
        self._check_entity(entity)
        path = f"{payloads.RESOURCE}('{key.replace(chr(39), chr(39) * 2)}')"
        try:
            raw = self.client.get(path, {"$select": payloads.select_clause(self.udfs)})
        except TransportError as error:
            if error.status == 404:
                return None
            raise
        return payloads.to_source_record(raw)

    def close(self) -> None:
        self.client.logout()

    # ------------------------------------------------------------ internals

    def _read_from(self, since: datetime | None) -> Iterator[SourceBatch]:
        params = {
            "$select": payloads.select_clause(self.udfs),
            "$filter": self._filter(since),
            "$orderby": ORDER_BY,
        }
        reread = 0
        cursor_time = since
        skip = 0
        anchor: str | None = None
        while True:
            page = self.client.get_page(
                payloads.RESOURCE, {**params, "$skip": skip} if skip else params
            )
            rows = page.rows
            if anchor is not None and reread:
                keys = [str(row.get("CardCode")) for row in rows[: reread + 1]]
                if anchor not in keys:
                    raise _Shifted(cursor_time)
                rows = rows[keys.index(anchor) + 1 :]
            records = [payloads.to_source_record(row) for row in rows]
            records = [r for r in records if not (r.data and r.data["card_type"] == "supplier")]
            for record in records:
                stamp = record.data["source_updated_at"] if record.data else None
                if stamp is not None and (cursor_time is None or stamp > cursor_time):
                    cursor_time = stamp
            if rows or anchor is None:
                yield SourceBatch(records=records, cursor=_cursor(cursor_time))
            if not page.next_link or not page.rows:
                return
            anchor = str(page.rows[-1].get("CardCode"))
            reread = min(MAX_REREAD, len(page.rows) // 10)  # the server may cap page size
            skip = max(0, _next_skip(page.next_link, skip + len(page.rows)) - reread)

    def _filter(self, since: datetime | None) -> str:
        if since is None:
            return NOT_SUPPLIER
        # The Service Layer compares UpdateDate by day and UpdateTime by hour:minute only,
        # so we ask from the start of the (cursor - overlap) minute.
        start = since - self.overlap
        day, minute = payloads.b1_date(start), payloads.b1_minute(start)
        return (
            f"{NOT_SUPPLIER} and (UpdateDate gt '{day}' or "
            f"(UpdateDate eq '{day}' and UpdateTime ge '{minute}'))"
        )

    @staticmethod
    def _check_entity(entity: str) -> None:
        if entity != payloads.ENTITY:
            raise ValueError(f"SAP Business One source cannot read {entity!r}")


class _Shifted(Exception):
    def __init__(self, since: datetime | None) -> None:
        self.since = since


def _cursor(moment: datetime | None) -> dict[str, Any]:
    return {"updated_at": moment.isoformat() if moment else None}


def _cursor_time(cursor: dict[str, Any] | None) -> datetime | None:
    value = (cursor or {}).get("updated_at")
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
