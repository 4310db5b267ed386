"""DELVRY07 (DESADV / SHPORD / WHSCON) -> the canonical delivery (SAP B1's `document_data` shape).

Segments read (contract 2.8; in DELVRY0x they all sit inside E1EDL20):
- E1EDL20: VBELN (doc_entry, doc_num), and the tracking number by options.tracking_fields
  (BOLNR, TRAID, ... by name; EXIDV means the first handling unit's E1EDL37 EXIDV).
- E1ADRM1 PARTNER_Q AG (else WE): card_code, PARTNER_ID as sent.
- E1EDL18 QUALF: PGI (goods issued), DEL (the delivery was deleted in SAP).
- E1EDT13 QUALF 006: goods issue, ISDD the actual date (NTANF the planned one);
  QUALF 007: the delivery date, doc_due_date from NTANF.
- E1EDL24 items: line_num int(POSNR), item_code MATNR (E1EDL26 / E1EDL24 MATNR_LONG wins),
  description ARKTX, quantity LFIMG, warehouse WERKS[-LGORT], and the order line it ships:
  base_type 17, base_entry int(VGBEL), base_line int(VGPOS) (the order's line_num is its
  POSEX, i.e. the same item number). E1EDL41 BSTNR gives num_at_card (the customer's PO).

Dispatch fires on goods issue only: a delivery with neither an actual goods-issue date
(E1EDT13 006 ISDD) nor E1EDL18 PGI gives None; the adapter keeps the IDoc as applied
without dispatch and the goods-issue IDoc (a later DESADV/WHSCON) brings the delivery.
doc_date is the goods-issue date (actual, else planned, else the IDoc's CREDAT).
A delivery with E1EDL18 DEL is returned cancelled (and closed) whether or not goods left.

Batch split: sub-items (HIPOS set) that ship the same order line as their main item
repeat the main item's quantity split by batch and are left out, so partial shipments
add up as in SAP B1. A BOM's component items name their own order lines and are kept.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from erp.sap_ecc.idoc_xml import ParsedIdoc, Segment
from erp.sap_ecc.messages.common import (
    DEFAULT_OPTIONS,
    DELIVERIES,
    ORDER_OBJECT_TYPE,
    EccOptions,
    Reader,
    converted,
    created_at,
    delivery_partner,
    descendants,
    document_key,
    first_descendant,
    material_of,
    qualified,
    unpadded,
    warehouse_code,
)
from syncapp.adapters import SourceRecord


def has_goods_issue(idoc: ParsedIdoc) -> bool:
    """True when the delivery has left the warehouse (E1EDT13 006 with ISDD, or E1EDL18 PGI)."""
    issue = qualified(descendants(idoc, "E1EDT13"), "QUALF", "006")
    actual = issue.get("ISDD").strip() if issue else ""
    return bool(actual and actual != "00000000") or _status(idoc, "PGI")


def is_deleted(idoc: ParsedIdoc) -> bool:
    return _status(idoc, "DEL")


def delivery_record(idoc: ParsedIdoc, options: EccOptions = DEFAULT_OPTIONS) -> SourceRecord | None:
    """One DELVRY IDoc -> SourceRecord of "deliveries" keyed str(int(VBELN)), or None
    when goods have not been issued yet (and the delivery is not deleted)."""
    header = first_descendant(idoc, "E1EDL20")
    number = header.get("VBELN").strip() if header else ""
    if header is not None and number and not has_goods_issue(idoc) and not is_deleted(idoc):
        return None
    reader = Reader(idoc, f"delivery {unpadded(number)}" if number else "a delivery")
    return converted(idoc, DELIVERIES, document_key(number), reader.subject,
                     lambda: _delivery_data(reader, header, options))


def _delivery_data(reader: Reader, header: Segment | None, options: EccOptions) -> dict[str, Any]:
    idoc = reader.idoc
    if header is None:
        raise reader.fail("has no delivery header (E1EDL20), so it cannot be read. Check the IDoc in SAP (WE02).")
    text = header.get("VBELN").strip()
    if text and not text.isdigit():
        raise reader.fail(f"has a delivery number (E1EDL20 VBELN) with letters in it ({text[:35]!r}); the hub "
                          "keys deliveries by number. Check the output settings sending it.")
    number = reader.integer(text, "delivery number", "E1EDL20 VBELN")
    card_code = delivery_partner(idoc, "AG") or delivery_partner(idoc, "WE")
    if not card_code:
        raise reader.fail("has no sold-to or ship-to party (E1ADRM1 with PARTNER_Q AG or WE), so we cannot tell "
                          "whose it is. Check the partners of the delivery in SAP.")
    cancelled = is_deleted(idoc)
    due = qualified(descendants(idoc, "E1EDT13"), "QUALF", "007")
    orders = {segment.get("BSTNR").strip() for segment in descendants(idoc, "E1EDL41")} - {""}
    return {
        "doc_entry": number,
        "doc_num": number,
        "doc_type": DELIVERIES,
        "card_code": card_code,
        "num_at_card": sorted(orders)[0] if len(orders) == 1 else "",
        "doc_date": _goods_issue_date(reader).isoformat(),
        "doc_due_date": _iso(reader.date(due.get("NTANF") if due else "", "delivery date", "E1EDT13 QUALF 007 NTANF")),
        "currency": "",
        "foreign_currency": False,
        "doc_total": 0.0, "vat_total": 0.0, "discount_percent": 0.0, "discount_total": 0.0,
        "freight_total": 0.0, "rounding_total": 0.0, "doc_total_local": 0.0, "vat_total_local": 0.0,
        "status": "closed" if cancelled else "open",
        "cancelled": cancelled,
        "is_cancellation": False,
        "tracking_number": _tracking_number(header, idoc, options),
        "source_updated_at": created_at(idoc.control),
        "lines": _lines(reader),
    }


def _lines(reader: Reader) -> list[dict[str, Any]]:
    items = descendants(reader.idoc, "E1EDL24")
    shipped = {item.get("POSNR").strip().lstrip("0"): _ships(item) for item in items}
    lines = []
    for item in items:
        line_num = reader.integer(item.get("POSNR"), "item number", "E1EDL24 POSNR", where="has an item that")
        higher = item.get("HIPOS").strip().lstrip("0")
        if higher and shipped.get(higher) == _ships(item):
            continue  # a batch-split sub-item: its main item carries the quantity
        where = f"item {line_num}"
        order, order_item = item.get("VGBEL").strip(), item.get("VGPOS").strip()
        base_entry = reader.integer(order, "order number", "E1EDL24 VGBEL", where=where) if order else None
        base_line = reader.integer(order_item, "order item", "E1EDL24 VGPOS", where=where) if order else None
        lines.append({
            "line_num": line_num,
            "item_code": material_of(item, item.first("E1EDL26")),
            "description": item.get("ARKTX").strip(),
            "quantity": reader.number(item.get("LFIMG"), "delivered quantity", "E1EDL24 LFIMG", where=where),
            "price": 0.0,
            "line_total": 0.0,
            "warehouse_code": warehouse_code(item.get("WERKS"), item.get("LGORT")),
            "line_status": "open",
            "base_type": ORDER_OBJECT_TYPE if base_entry is not None else None,
            "base_entry": base_entry,
            "base_line": base_line,
        })
    return sorted(lines, key=lambda line: line["line_num"])


def _ships(item: Segment) -> tuple[str, str]:
    return item.get("VGBEL").strip().lstrip("0"), item.get("VGPOS").strip().lstrip("0")


def _goods_issue_date(reader: Reader) -> date:
    issue = qualified(descendants(reader.idoc, "E1EDT13"), "QUALF", "006")
    if issue is not None:
        for field in ("ISDD", "NTANF"):
            day = reader.date(issue.get(field), "goods issue date", f"E1EDT13 QUALF 006 {field}")
            if day is not None:
                return day
    stamp = created_at(reader.idoc.control)
    if stamp is None:
        raise reader.fail("has no goods issue date (E1EDT13 QUALF 006 ISDD) and the IDoc no creation date "
                          "(CREDAT). Check the IDoc in SAP (WE02).")
    return stamp.date()


def _tracking_number(header: Segment, idoc: ParsedIdoc, options: EccOptions) -> str:
    for field in options.tracking_fields:
        if field == "EXIDV":
            value = next((unit.get("EXIDV").strip() for unit in descendants(idoc, "E1EDL37")
                          if unit.get("EXIDV").strip()), "")
        else:
            value = header.get(field).strip()
        if value:
            return value
    return ""


def _status(idoc: ParsedIdoc, qualifier: str) -> bool:
    return qualified(descendants(idoc, "E1EDL18"), "QUALF", qualifier) is not None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
