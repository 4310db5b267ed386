"""ORDERS05 (ORDERS / ORDRSP / ORDCHG) -> the canonical sales order (SAP B1's `document_data` shape).

Segments read (contract 2.7):
- E1EDK01: BELNR (the order number: doc_entry and doc_num), CURCY, HWAER, ACTION, ABGRU.
- E1EDKA1 PARVW AG: the sold-to party, card_code (KUNNR as sent, padded).
- E1EDK02 QUALF 001: the customer's purchase order, i.e. the web order reference (num_at_card).
- E1EDK03: doc_date from IDDAT 012 (document date), else 022 (PO date), else 025 (created on),
  else the IDoc's CREDAT; doc_due_date from IDDAT 002 (requested delivery date).
- E1EDP01 items: line_num int(POSEX); item_code from E1EDP19 QUALF 002 (our material number,
  IDTNR_LONG when present) else QUALF 001; description KTEXT; quantity MENGE; price VPREI/PEINH;
  line_total NETWR, else E1EDP26 QUALF 003 (net value); warehouse WERKS[-LGORT].
- E1EDS01 totals: SUMID 002 net, 005 tax, 003 gross (else net + tax); without E1EDS01 the net
  is the sum of the lines and the tax 0.

Item ACTION 003 deletes the item: it is absent from `lines`. An item with a reason for
rejection (ABGRU) stays, closed. An ORDCHG carries only the items that changed, so with
the order's `previous_lines` the other items are kept: 001/002 (and any other action)
replace or add a line, 003 removes it.

Cancelled (how ECC sends a whole-order cancellation is unconfirmed, contract 2.7): the
header's ACTION is 003, or the header carries a reason for rejection (E1EDK01 ABGRU: not a
standard E1EDK01 field, so only an extension or a mapping fills it; AUGRU is the order
*reason*, not a rejection, and is ignored), or the IDoc deletes or rejects items and no
open line remains. A cancelled order is "closed".

Amounts are in CURCY; `foreign_currency` is True when the local currency (HWAER) differs,
but the local totals are the same figures: WKURS's direction and scale are not confirmed,
so no conversion is attempted.
"""
from __future__ import annotations

from typing import Any

from erp.sap_ecc.idoc_xml import ParsedIdoc, Segment
from erp.sap_ecc.messages.common import (
    ORDERS,
    Reader,
    converted,
    created_at,
    descendants,
    document_key,
    first_descendant,
    message_name,
    partner,
    qualified,
    unpadded,
    warehouse_code,
)
from syncapp.adapters import SourceRecord

DELETE = "003"
ORDER_DATES = ("012", "022", "025")


def order_record(idoc: ParsedIdoc, previous_lines: list[dict[str, Any]] | None = None) -> SourceRecord:
    """One ORDERS05 IDoc -> SourceRecord of "orders", keyed str(int(BELNR))."""
    header = first_descendant(idoc, "E1EDK01")
    number = header.get("BELNR").strip() if header else ""
    reader = Reader(idoc, f"sales order {unpadded(number)}" if number else "a sales order")
    return converted(idoc, ORDERS, document_key(number), reader.subject,
                     lambda: _order_data(reader, header, previous_lines))


def _order_data(reader: Reader, header: Segment | None, previous_lines: list[dict[str, Any]] | None) -> dict:
    idoc = reader.idoc
    number = document_number(reader, header, "order number")
    items = [(item.get("ACTION").strip(), item_line(reader, item)) for item in descendants(idoc, "E1EDP01")]
    if message_name(idoc) == "ORDCHG" and previous_lines is not None:
        merged = {int(line["line_num"]): dict(line) for line in previous_lines}
    else:
        merged = {}
    for action, line in items:
        if action == DELETE:
            merged.pop(line["line_num"], None)
        else:
            merged[line["line_num"]] = line
    lines = [merged[num] for num in sorted(merged)]
    some_rejected = any(action == DELETE or line["line_status"] == "closed" for action, line in items)
    cancelled = (header.get("ACTION").strip() == DELETE or bool(header.get("ABGRU").strip())
                 or (some_rejected and not any(line.get("line_status", "open") == "open" for line in lines)))
    return {
        **document_header(reader, header, number, "orders", ORDER_DATES),
        "doc_due_date": _iso(reader.date(_date_field(idoc, "002"), "requested delivery date",
                                         "E1EDK03 IDDAT 002 DATUM")),
        **totals(reader, lines),
        "status": "closed" if cancelled else "open",
        "cancelled": cancelled,
        "lines": lines,
    }


# ------------------------------------------------------------------ shared with billing


def document_number(reader: Reader, header: Segment | None, meaning: str) -> int:
    if header is None:
        raise reader.fail("has no header segment (E1EDK01), so it cannot be read. Check the IDoc in SAP (WE02).")
    text = header.get("BELNR").strip()
    if text and not text.isdigit():
        raise reader.fail(f"has an {meaning} (E1EDK01 BELNR) with letters in it ({text[:35]!r}); the hub keys "
                          "sales documents by number. Check the output settings sending it.")
    return reader.integer(text, meaning, "E1EDK01 BELNR")


def document_header(reader: Reader, header: Segment, number: int, doc_type: str,
                    date_qualifiers: tuple[str, ...]) -> dict[str, Any]:
    """The header fields orders and billing documents share (E1EDK01/KA1/K02/K03)."""
    idoc = reader.idoc
    card_code = partner(idoc, "AG") or (partner(idoc, "RE") or partner(idoc, "RG") if doc_type != "orders" else "")
    if not card_code:
        raise reader.fail("has no sold-to party (E1EDKA1 with PARVW AG), so we cannot tell whose it is. "
                          "Check the partner functions of the document in SAP.")
    reference = qualified(descendants(idoc, "E1EDK02"), "QUALF", "001")
    currency, local = header.get("CURCY").strip(), header.get("HWAER").strip()
    return {
        "doc_entry": number,
        "doc_num": number,
        "doc_type": doc_type,
        "card_code": card_code,
        "num_at_card": reference.get("BELNR").strip() if reference else "",
        "doc_date": _iso(document_date(reader, date_qualifiers)),
        "doc_due_date": None,
        "currency": currency,
        "foreign_currency": bool(currency and local and currency != local),
        "status": "open",
        "cancelled": False,
        "is_cancellation": False,
        "tracking_number": "",
        "source_updated_at": created_at(idoc.control),
    }


def document_date(reader: Reader, qualifiers: tuple[str, ...]):
    for qualifier in qualifiers:
        day = reader.date(_date_field(reader.idoc, qualifier), "document date", f"E1EDK03 IDDAT {qualifier} DATUM")
        if day is not None:
            return day
    stamp = created_at(reader.idoc.control)
    if stamp is None:
        raise reader.fail(f"has no document date (E1EDK03 IDDAT {' / '.join(qualifiers)}) and the IDoc no "
                          "creation date (CREDAT). Check the IDoc in SAP (WE02).")
    return stamp.date()


def item_line(reader: Reader, item: Segment) -> dict[str, Any]:
    """One E1EDP01 as a canonical line (base_* left empty)."""
    posex = item.get("POSEX").strip()
    line_num = reader.integer(posex, "item number", "E1EDP01 POSEX", where="has an item that")
    where = f"item {line_num}"
    idents = descendants(item, "E1EDP19")
    ident = qualified(idents, "QUALF", "002") or qualified(idents, "QUALF", "001")
    texts = [segment.get("KTEXT").strip() for segment in ([ident] if ident else []) + idents]
    unit = reader.number(item.get("PEINH"), "price unit", "E1EDP01 PEINH", where=where) or 1.0
    if item.get("NETWR").strip():
        total = reader.number(item.get("NETWR"), "net value", "E1EDP01 NETWR", where=where)
    else:
        amount = qualified(descendants(item, "E1EDP26"), "QUALF", "003")
        total = reader.number(amount.get("BETRG") if amount else "", "net value", "E1EDP26 QUALF 003 BETRG",
                              where=where)
    return {
        "line_num": line_num,
        "item_code": ((ident.get("IDTNR_LONG").strip() or ident.get("IDTNR").strip()) if ident else ""),
        "description": next((text for text in texts if text), ""),
        "quantity": reader.number(item.get("MENGE"), "quantity", "E1EDP01 MENGE", where=where),
        "price": round(reader.number(item.get("VPREI"), "price", "E1EDP01 VPREI", where=where) / unit, 6),
        "line_total": total,
        "warehouse_code": warehouse_code(item.get("WERKS"), item.get("LGORT")),
        "line_status": "closed" if item.get("ABGRU").strip() else "open",
        "base_type": None, "base_entry": None, "base_line": None,
    }


def totals(reader: Reader, lines: list[dict[str, Any]], *, net_ids: tuple[str, ...] = ("002",),
           gross_ids: tuple[str, ...] = ("003",)) -> dict[str, float]:
    """doc_total (gross) and vat_total from E1EDS01, in the document's currency."""
    sums = {s.get("SUMID").strip(): s for s in descendants(reader.idoc, "E1EDS01")}

    def amount(ids: tuple[str, ...], meaning: str) -> float | None:
        for sumid in ids:
            if sumid in sums and sums[sumid].get("SUMME").strip():
                return reader.number(sums[sumid].get("SUMME"), meaning, f"E1EDS01 SUMID {sumid} SUMME")
        return None

    net = amount(net_ids, "net total")
    tax = amount(("005",), "tax total") or 0.0
    gross = amount(gross_ids, "gross total")
    if net is None:
        net = round(sum(float(line.get("line_total") or 0) for line in lines), 6)
    gross = round(net + tax, 6) if gross is None else gross
    return {"doc_total": gross, "vat_total": tax, "discount_percent": 0.0, "discount_total": 0.0,
            "freight_total": 0.0, "rounding_total": 0.0, "doc_total_local": gross, "vat_total_local": tax}


def _date_field(idoc: ParsedIdoc, qualifier: str) -> str:
    found = qualified(descendants(idoc, "E1EDK03"), "IDDAT", qualifier)
    return found.get("DATUM") if found else ""


def _iso(day) -> str | None:
    return day.isoformat() if day else None
