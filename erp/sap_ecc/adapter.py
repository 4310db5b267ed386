"""SAP ECC as a source: the IDocs it pushed, applied in order into the mirror.

ECC does not answer queries, so this adapter reads the hub's own IDoc store: every open
IDoc (64 received, 66 waiting) of an entity, oldest first by SERIAL (else CREDAT/CRETIM,
then DOCNUM), page by page through the engine's own pull (`connection_pull`). Each page
holds at most one IDoc per object, so a change and a later change of one order are
applied in turn (goods movements excepted: deltas of one material fold into one level).
What became of each IDoc (53 applied, 51 error, 66 waiting, 68 obsolete) is written by
`SourceBatch.on_stored`, inside the transaction that stores the page.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Min

from erp.models import Item
from syncapp.adapters import SourceBatch, SourceRecord

from . import decisions
from .families import APPLY_ORDER, DELTA_FAMILIES, DOCUMENT_ENTITIES
from .idoc_xml import ParsedIdoc, idoc_from_raw
from .inbound import ecc_options
from .messages.billing import billing_record
from .messages.common import message_name
from .messages.customers import business_partner_record
from .messages.deliveries import delivery_record
from .messages.materials import item_record
from .messages.orders import order_record
from .messages.stock import StockUnreadable, stock_changes
from .models import EccInbound, Idoc

PAGE_SIZE = 1000


@dataclass
class Page:
    """One page's records and what to write about each IDoc once the page is stored."""

    records: list[SourceRecord] = field(default_factory=list)
    sources: dict[str, list[Idoc]] = field(default_factory=dict)  # record key -> the IDocs it applies
    settled: list[tuple[Idoc, str, str]] = field(default_factory=list)  # (idoc, status, text) decided already


class EccSource:
    """`SourceAdapter` of an `ErpConnection` of kind sap_ecc (see the module docstring)."""

    entities = APPLY_ORDER
    pushes = True  # health shows what it received and has not applied (inbound_backlog)

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.inbound = EccInbound.objects.get(connection=connection)
        self.options = ecc_options(self.inbound)

    # ------------------------------------------------------------ the SourceAdapter side

    def read_changes(self, entity: str, cursor: dict[str, Any] | None) -> Iterator[SourceBatch]:
        """Pages of the open IDocs of `entity` (the cursor is unused: the store is the queue)."""
        if entity == "warehouses":
            yield from self._warehouses()
            return
        if entity not in APPLY_ORDER:
            return  # e.g. returns: no IDoc the hub applies carries them, so there is never anything to read
        queue = list(Idoc.objects.filter(connection=self.connection, entity=entity, status__in=Idoc.OPEN)
                     .order_by("sequence", "id").values_list("id", flat=True))
        while queue:
            chosen, queue = _one_per_object(queue, entity)
            idocs = Idoc.objects.in_bulk(chosen)
            page = self._page(entity, [idocs[pk] for pk in chosen if pk in idocs])
            yield SourceBatch(records=page.records, cursor={},
                              on_stored=lambda stored, page=page: decisions.page_settle(self.connection, page, stored))

    def read_one(self, entity: str, key: str) -> SourceRecord | None:
        """ECC cannot be asked; the engine calls `reprocess` instead (kept for the protocol)."""
        return None

    def reprocess(self, entity: str, keys: list[str]) -> list[str]:
        """Apply the failed or waiting IDocs of these records again, now; the keys applied."""
        return decisions.objects_reprocess(self.connection, entity, keys)

    def inbound_backlog(self) -> tuple[int, datetime | None]:
        found = Idoc.objects.filter(connection=self.connection, status__in=Idoc.OPEN).aggregate(
            count=Count("id"), oldest=Min("received_at"))
        return found["count"], found["oldest"]

    def close(self) -> None:
        return None

    # ------------------------------------------------------------ configuration files

    SETTINGS = ("sender_partner", "max_body_bytes", "deleted_customers", "credit_memo_types", "inbound_folder")

    @classmethod
    def settings_export(cls, connection) -> dict[str, Any]:
        inbound = EccInbound.objects.filter(connection=connection).first()
        return {name: getattr(inbound, name) for name in cls.SETTINGS} if inbound else {}

    @classmethod
    def settings_apply(cls, connection, values: dict[str, Any]) -> None:
        unknown = set(values) - set(cls.SETTINGS)
        if unknown:
            raise ValueError(f"unknown ECC settings {sorted(unknown)}; known: {', '.join(cls.SETTINGS)}.")
        inbound = EccInbound.objects.filter(connection=connection).first() or EccInbound(connection=connection)
        for name, value in values.items():
            setattr(inbound, name, value)
        try:
            inbound.full_clean(exclude=["connection"])
        except ValidationError as error:
            raise ValueError("; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())) from None
        inbound.save()

    # ------------------------------------------------------------ one page

    def _page(self, entity: str, idocs: list[Idoc]) -> Page:
        page = Page()
        held = decisions.held_back(self.connection, entity, idocs)
        live = []
        for idoc in idocs:
            verdict = held.get(idoc.pk)
            if verdict is None:
                live.append(idoc)
            elif verdict.status:
                page.settled.append((idoc, verdict.status, verdict.text))
            # else: left open for a later run (its customer's master data is still queued)
        if entity == "item_stock":
            self._stock_page(live, page)
            return page
        partners = decisions.customer_partners(self.connection, live) if entity == "business_partners" else {}
        for idoc in live:
            self._record_page(entity, idoc, page, partners.get(idoc.pk))
        return page

    def _record_page(self, entity: str, idoc: Idoc, page: Page, partner: ParsedIdoc | None) -> None:
        parsed = _parsed(idoc)
        if entity == "business_partners":
            debmas, address = (parsed, partner) if idoc.family == "DEBMAS" else (partner, parsed)
            if debmas is None:
                page.settled.append((idoc, Idoc.Status.WAITING, decisions.WAITING_FOR_DEBMAS.format(
                    key=idoc.display_key)))
                return
            record = business_partner_record(debmas, address, self.options)
        elif entity == "orders":
            # ORDCHG may carry only the changed items: the others keep their lines.
            previous = decisions.order_lines(self.connection, idoc.object_key) \
                if message_name(parsed) == "ORDCHG" else None
            record = order_record(parsed, previous)
        elif entity == "deliveries":
            record = delivery_record(parsed)
            if record is None:
                page.settled.append((idoc, Idoc.Status.APPLIED, decisions.NO_GOODS_ISSUE))
                return
        elif entity in ("invoices", "credit_notes"):
            record = billing_record(parsed, self.options)
        elif entity == "items":
            record = item_record(parsed)
            if record.data is not None:
                # An item record carries its stock: what the mirror holds, with the levels a
                # MATMAS-driven snapshot (E1MARDM LABST) sends.
                record.data["stock"] = decisions.stock_with_snapshot(self.connection, record.key, parsed)
        else:
            raise ValueError(entity)
        if record.key != idoc.object_key and record.data is not None:
            record = SourceRecord(entity=record.entity, key=idoc.object_key, version=record.version,
                                  data=record.data, raw=record.raw, error=record.error)
        if record.entity != entity:  # e.g. a billing document that is a credit memo after all
            page.settled.append((idoc, Idoc.Status.ERROR, f"The IDoc is a {record.entity}, not a {entity}."))
            return
        page.records.append(record)
        page.sources[record.key] = [idoc]

    def _stock_page(self, idocs: list[Idoc], page: Page) -> None:
        """Fold the page's movements and snapshots into one level per material and place.
        An IDoc moving a material the mirror does not know waits for its material master."""
        parsed: list[tuple[Idoc, list]] = []
        for idoc in idocs:
            try:
                parsed.append((idoc, stock_changes(_parsed(idoc))))
            except StockUnreadable as error:
                page.settled.append((idoc, Idoc.Status.ERROR, str(error)))
        codes = {change.item_code for _, changes in parsed for change in changes}
        known = set(Item.objects.filter(connection=self.connection, item_code__in=list(codes))
                    .values_list("item_code", flat=True))
        changes_by_item: dict[str, list] = {}
        for idoc, changes in parsed:
            unknown = sorted({change.item_code for change in changes} - known)
            if unknown:
                page.settled.append((idoc, Idoc.Status.WAITING, decisions.WAITING_FOR_MATMAS.format(
                    materials=", ".join(code.lstrip("0") or code for code in unknown))))
                continue
            for change in changes:
                changes_by_item.setdefault(change.item_code, []).append(change)
                page.sources.setdefault(change.item_code, [])
                if idoc not in page.sources[change.item_code]:
                    page.sources[change.item_code].append(idoc)
        levels = decisions.stock_levels_many(self.connection, list(changes_by_item))
        for code, changes in changes_by_item.items():
            current = {row["warehouse_code"]: dict(row) for row in levels.get(code, [])}
            for change in changes:
                row = current.setdefault(change.warehouse_code, {"warehouse_code": change.warehouse_code,
                                                                 "in_stock": 0.0, "committed": 0.0, "ordered": 0.0})
                row["in_stock"] = change.quantity if change.absolute else row["in_stock"] + change.quantity
            page.records.append(SourceRecord(
                entity="item_stock", key=code, version="", data={"item_code": code, "stock": list(current.values())},
                raw={"idocs": [idoc.docnum for idoc in page.sources[code]]}))

    def _warehouses(self) -> Iterator[SourceBatch]:
        """ECC's plants and storage locations the stock IDocs name, as warehouses."""
        codes = decisions.warehouse_codes(self.connection)
        records = [SourceRecord(entity="warehouses", key=code, version="", raw={"code": code},
                                data={"warehouse_code": code, "warehouse_name": decisions.warehouse_name(code),
                                      "inactive": False}) for code in codes]
        yield SourceBatch(records=records, cursor={})


def _one_per_object(queue: list[int], entity: str) -> tuple[list[int], list[int]]:
    """The next page: up to PAGE_SIZE IDocs, the first open one of each object (in order);
    the rest wait for the next page. Stock folds several IDocs of one material."""
    if entity == "item_stock":
        return queue[:PAGE_SIZE], queue[PAGE_SIZE:]
    keys = dict(Idoc.objects.filter(pk__in=queue[:PAGE_SIZE * 4]).values_list("id", "object_key"))
    chosen, later, seen = [], [], set()
    for pk in queue:
        key = keys.get(pk)
        if key is None or len(chosen) >= PAGE_SIZE or key in seen:
            later.append(pk)
            continue
        seen.add(key)
        chosen.append(pk)
    return chosen, later


def _parsed(idoc: Idoc) -> ParsedIdoc:
    return idoc_from_raw(idoc.raw_xml)


__all__ = ["DELTA_FAMILIES", "DOCUMENT_ENTITIES", "EccSource"]
