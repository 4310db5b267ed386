"""What becomes of each IDoc: held back (waiting, obsolete), applied or failed, and the
status history that says so; reprocessing after a fix."""
from __future__ import annotations

from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from erp.models import SalesOrder, StockLevel
from exceptions.models import Stage
from exceptions.services import exception_raise
from syncapp.bulksql import bulk_insert

from .families import DELTA_FAMILIES, DOCUMENT_ENTITIES
from .idoc_xml import ParsedIdoc, idoc_from_raw
from .models import Idoc, IdocObjectState, IdocStatusRecord

APPLIED = "Applied to the mirror."
NO_GOODS_ISSUE = ("Applied: the delivery has no goods issue yet, so no dispatch is sent; the IDoc that posts the "
                  "goods issue (DESADV/WHSCON) sends it.")
WAITING_FOR_DEBMAS = ("Waiting for customer {key}'s master data (DEBMAS): an address cannot be applied to a customer "
                      "the hub has not received. It moves by itself when the DEBMAS arrives.")
WAITING_FOR_CUSTOMER = ("Waiting for customer {key}'s master data: its IDoc {docnum} {state}. This document moves by "
                        "itself once that IDoc is reprocessed and applied (IDoc monitor, Reprocess).")
WAITING_FOR_MATMAS = ("Waiting for the material master (MATMAS) of material {materials}: stock cannot be kept for a "
                      "product the hub has not received. It moves by itself when the MATMAS arrives.")
OBSOLETE = ("Not applied: IDoc {newer} for the same {what}, created later in SAP, was already applied, and this "
            "older one must not undo it. Kept for reference.")
_WHAT = {"business_partners": "customer", "orders": "order", "deliveries": "delivery", "invoices": "invoice",
         "credit_notes": "credit memo", "items": "material", "item_stock": "material"}


@dataclass(frozen=True)
class Verdict:
    status: str  # "" = leave it open for a later run
    text: str = ""


def held_back(connection, entity: str, idocs: list[Idoc]) -> dict[int, Verdict]:
    """IDocs of a page not to apply now: obsolete ones, and documents whose customer's
    latest master data failed (waiting, 66) or is still queued (left open)."""
    verdicts: dict[int, Verdict] = {}
    states = {(state.family, state.object_key): state for state in IdocObjectState.objects.filter(
        connection=connection, family__in={idoc.family for idoc in idocs},
        object_key__in={idoc.object_key for idoc in idocs}).select_related("last_idoc")}
    for idoc in idocs:
        state = states.get((idoc.family, idoc.object_key))
        if (idoc.family not in DELTA_FAMILIES and state is not None and state.last_sequence > idoc.sequence
                and state.last_idoc_id != idoc.pk):
            newer = state.last_idoc.display_number if state.last_idoc else "?"
            verdicts[idoc.pk] = Verdict(Idoc.Status.OBSOLETE,
                                        OBSOLETE.format(newer=newer, what=_WHAT.get(entity, "object")))
    if entity in DOCUMENT_ENTITIES:
        customers = _latest_customer_idocs(connection, {idoc.customer_key for idoc in idocs if idoc.customer_key})
        for idoc in idocs:
            latest = customers.get(_unpadded(idoc.customer_key))
            if idoc.pk in verdicts or latest is None or latest.status == Idoc.Status.APPLIED:
                continue
            if latest.status == Idoc.Status.READY:
                verdicts[idoc.pk] = Verdict("")
            elif latest.status in (Idoc.Status.ERROR, Idoc.Status.WAITING):
                state = "failed" if latest.status == Idoc.Status.ERROR else "is itself waiting"
                verdicts[idoc.pk] = Verdict(Idoc.Status.WAITING, WAITING_FOR_CUSTOMER.format(
                    key=_unpadded(idoc.customer_key), docnum=latest.display_number, state=state))
    return verdicts


def _latest_customer_idocs(connection, keys: set[str]) -> dict[str, Idoc]:
    """The newest DEBMAS per customer (any padding), obsolete ones aside."""
    if not keys:
        return {}
    wanted = {_unpadded(key) for key in keys} | keys | {key.zfill(10) for key in keys if key.isdigit()}
    latest: dict[str, Idoc] = {}
    for idoc in (Idoc.objects.filter(connection=connection, family="DEBMAS", object_key__in=wanted)
                 .exclude(status=Idoc.Status.OBSOLETE).only("id", "docnum", "object_key", "status", "sequence")
                 .order_by("sequence", "id")):
        latest[_unpadded(idoc.object_key)] = idoc
    return latest


def customer_partners(connection, idocs: list[Idoc]) -> dict[int, ParsedIdoc | None]:
    """For each customer IDoc of a page, the other half it is built with, in one query:
    a DEBMAS takes the newest address applied or queued behind it in this run (so a
    customer sent with its e-mail is planned once, complete, never first "without
    e-mail"); an ADRMAS takes the newest applied DEBMAS (None: it waits for one)."""
    if not idocs:
        return {}
    newest: dict[tuple[str, str], Idoc] = {}
    for other in (Idoc.objects.filter(connection=connection, object_key__in={idoc.object_key for idoc in idocs},
                                      family__in=["DEBMAS", "ADRMAS"],
                                      status__in=[Idoc.Status.APPLIED, Idoc.Status.READY])
                  .only("id", "family", "object_key", "status", "sequence", "control", "raw_xml")
                  .order_by("sequence", "id")):
        if other.family == "ADRMAS" or other.status == Idoc.Status.APPLIED:
            newest[(other.family, other.object_key)] = other
    partners = {}
    for idoc in idocs:
        other = newest.get(("ADRMAS" if idoc.family == "DEBMAS" else "DEBMAS", idoc.object_key))
        partners[idoc.pk] = _parsed(other) if other else None
    return partners


def order_lines(connection, key: str) -> list[dict[str, Any]] | None:
    order = SalesOrder.objects.filter(connection=connection, doc_entry=int(key)).first() if key.isdigit() else None
    if order is None:
        return None
    return [{"line_num": line.line_num, "item_code": line.item_code, "description": line.description,
             "quantity": float(line.quantity), "price": float(line.price), "line_total": float(line.line_total),
             "warehouse_code": line.warehouse_code, "line_status": line.line_status, "base_type": line.base_type,
             "base_entry": line.base_entry, "base_line": line.base_line} for line in order.lines.order_by("line_num")]


def stock_levels(connection, item_code: str) -> list[dict[str, Any]]:
    return stock_levels_many(connection, [item_code]).get(item_code, [])


def stock_with_snapshot(connection, item_code: str, parsed: ParsedIdoc) -> list[dict[str, Any]]:
    from .messages.stock import StockUnreadable, stock_changes

    levels = {row["warehouse_code"]: row for row in stock_levels(connection, item_code)}
    try:
        snapshot = [change for change in stock_changes(parsed) if change.absolute and change.item_code == item_code]
    except StockUnreadable:
        snapshot = []  # the item is still applied; its stock stays as it was
    for change in snapshot:
        row = levels.setdefault(change.warehouse_code, {"warehouse_code": change.warehouse_code, "in_stock": 0.0,
                                                        "committed": 0.0, "ordered": 0.0})
        row["in_stock"] = change.quantity
    return list(levels.values())


def stock_levels_many(connection, item_codes: list[str]) -> dict[str, list[dict[str, Any]]]:
    levels: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for code, warehouse, in_stock, committed, ordered in StockLevel.objects.filter(
            connection=connection, item_code__in=item_codes).values_list(
            "item_code", "warehouse_code", "in_stock", "committed", "ordered").order_by("item_code", "warehouse_code"):
        levels[code].append({"warehouse_code": warehouse, "in_stock": in_stock, "committed": committed,
                             "ordered": ordered})
    return levels


def warehouse_codes(connection) -> list[str]:
    """Every plant / storage location the mirror's stock and the open stock IDocs name."""
    from .messages.stock import StockUnreadable, stock_changes

    codes = set(StockLevel.objects.filter(connection=connection).values_list("warehouse_code", flat=True))
    for idoc in Idoc.objects.filter(connection=connection, entity="item_stock", status__in=Idoc.OPEN):
        with suppress(StockUnreadable):
            codes |= {change.warehouse_code for change in stock_changes(_parsed(idoc))}
    return sorted(codes)


def warehouse_name(code: str) -> str:
    plant, _, location = code.partition("-")
    return f"Plant {plant}, storage location {location}" if location else f"Plant {plant}"


# ------------------------------------------------------------------ settling a page


def page_settle(connection, page, stored) -> None:
    """Inside the page's transaction: each IDoc's new status, its history, the objects'
    newest applied IDoc, and an exception for each IDoc that failed or waits."""
    failed = {record.key: record.error or "The record could not be read." for record in stored.unreadable}
    outcome: dict[int, tuple[Idoc, str, str]] = {}
    for key, idocs in page.sources.items():
        for idoc in idocs:
            if key in failed:
                outcome[idoc.pk] = (idoc, Idoc.Status.ERROR, failed[key])
            elif idoc.pk not in outcome:
                outcome[idoc.pk] = (idoc, Idoc.Status.APPLIED, APPLIED)
    for idoc, status, text in page.settled:
        outcome[idoc.pk] = (idoc, status, text)
    statuses_write(connection, list(outcome.values()), engine_raised=set(failed))


def statuses_write(connection, outcomes: list[tuple[Idoc, str, str]], *, engine_raised: set[str] = frozenset()) -> None:
    now = timezone.now()
    changed = [(idoc, status, text) for idoc, status, text in outcomes
               if (idoc.status, idoc.status_text) != (status, text)]
    by_verdict: dict[tuple[str, str], list[int]] = defaultdict(list)
    for idoc, status, text in changed:
        by_verdict[(status, text)].append(idoc.pk)
    for (status, text), pks in by_verdict.items():
        Idoc.objects.filter(pk__in=pks).update(status=status, status_text=text, status_changed_at=now)
    bulk_insert(IdocStatusRecord, ["idoc", "status", "text", "at"],
                [(idoc.pk, status, text, now) for idoc, status, text in changed])
    applied = {}
    for idoc, status, _ in outcomes:
        if status == Idoc.Status.APPLIED and idoc.family not in DELTA_FAMILIES and idoc.object_key:
            current = applied.get((idoc.family, idoc.object_key))
            if current is None or current.sequence < idoc.sequence:
                applied[(idoc.family, idoc.object_key)] = idoc
    if applied:
        bulk_insert(IdocObjectState, ["connection", "family", "object_key", "last_sequence", "last_idoc"],
                    [(connection.pk, family, key, idoc.sequence, idoc.pk) for (family, key), idoc in applied.items()],
                    conflict=["connection", "family", "object_key"], update=["last_sequence", "last_idoc"])
    for idoc, status, text in changed:
        if status in (Idoc.Status.ERROR, Idoc.Status.WAITING) and idoc.object_key not in engine_raised:
            idoc_exception_raise(connection, idoc, status, text)


def idoc_exception_raise(connection, idoc: Idoc, status: str, text: str) -> None:
    """The same dashboard as every other record: an IDoc that failed or waits is its record's exception."""
    reason = "idoc_waiting" if status == Idoc.Status.WAITING else "idoc_failed"
    exception_raise(connection=connection, entity=idoc.entity or "business_partners",
                    record_key=idoc.object_key or f"IDoc {idoc.display_number}", stage=Stage.INGEST,
                    reason_code=reason, message=f"IDoc {idoc.display_number} ({idoc.message_type}): {text}",
                    source_payload={"docnum": idoc.docnum, "message_type": idoc.message_type,
                                    "control": idoc.control})


# ------------------------------------------------------------------ reprocessing


def idocs_requeue(connection, idocs) -> list[Idoc]:
    """Failed or waiting IDocs back to 64, saying a person asked."""
    chosen = list(idocs.filter(connection=connection, status__in=[Idoc.Status.ERROR, Idoc.Status.WAITING]))
    now = timezone.now()
    Idoc.objects.filter(pk__in=[idoc.pk for idoc in chosen]).update(
        status=Idoc.Status.READY, status_text="Reprocess requested.", status_changed_at=now)
    IdocStatusRecord.objects.bulk_create(
        [IdocStatusRecord(idoc_id=idoc.pk, status=Idoc.Status.READY, text="Reprocess requested.", at=now)
         for idoc in chosen])
    return chosen


def objects_reprocess(connection, entity: str, keys: list[str]) -> list[str]:
    """Retry from the exceptions dashboard: the records' failed or waiting IDocs, applied now."""
    from .apply import idocs_apply

    idocs_requeue(connection, Idoc.objects.filter(entity=entity, object_key__in=keys))
    idocs_apply(connection)
    return list(Idoc.objects.filter(connection=connection, entity=entity, object_key__in=keys,
                                    status=Idoc.Status.APPLIED).values_list("object_key", flat=True).distinct())


def _unpadded(key: str) -> str:
    return key.lstrip("0") or key


def _parsed(idoc: Idoc) -> ParsedIdoc:
    return idoc_from_raw(idoc.raw_xml)
