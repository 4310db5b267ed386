"""INVOIC02 (billing documents) -> the canonical invoice or credit memo (SAP B1's `document_data` shape).

Which entity (contract 2.11, unconfirmed): "credit_notes" when E1EDK01 BSART (SD sends
INVO or CRME) or the billing type (E1EDK14 QUALF 015: F2, G2, RE, ...) is one of
options.credit_memo_types; else "invoices". A cancellation billing document (billing type
in options.cancellation_types, S1 / S2) is stored flagged `is_cancellation`, so it is
never counted.

Read as ORDERS05 (see `orders`): E1EDK01 BELNR is the billing document number (else
E1EDK02 QUALF 009), card_code the E1EDKA1 AG (else RE bill-to, else RG payer),
num_at_card E1EDK02 QUALF 001, doc_date E1EDK03 IDDAT 012 / 026 / 025 else CREDAT, lines
from E1EDP01 with base_type 17 / base_entry / base_line from the item's order reference
E1EDP02 QUALF 002 (BELNR + ZEILE). Totals from E1EDS01: net SUMID 002 else 010 (net invoice
value), tax 005, gross 003 else 011 (billed value), else net + tax.
"""
from __future__ import annotations

from typing import Any

from erp.sap_ecc.idoc_xml import ParsedIdoc, Segment
from erp.sap_ecc.messages.common import (
    CREDIT_NOTES,
    DEFAULT_OPTIONS,
    ORDER_OBJECT_TYPE,
    EccOptions,
    Reader,
    billing_entity,
    billing_number,
    billing_type,
    converted,
    descendants,
    document_key,
    first_descendant,
    qualified,
    unpadded,
)
from erp.sap_ecc.messages.orders import document_header, document_number, item_line, totals
from syncapp.adapters import SourceRecord

BILLING_DATES = ("012", "026", "025")


def billing_record(idoc: ParsedIdoc, options: EccOptions = DEFAULT_OPTIONS) -> SourceRecord:
    """One INVOIC IDoc -> SourceRecord of "invoices" or "credit_notes", keyed str(int(number))."""
    entity = billing_entity(idoc, options)
    number = billing_number(idoc)
    what = "credit memo" if entity == CREDIT_NOTES else "invoice"
    reader = Reader(idoc, f"{what} {unpadded(number)}" if number else f"a billing document ({what})")
    return converted(idoc, entity, document_key(number), reader.subject,
                     lambda: _billing_data(reader, entity, number, options))


def _billing_data(reader: Reader, entity: str, number_text: str, options: EccOptions) -> dict[str, Any]:
    idoc = reader.idoc
    header = first_descendant(idoc, "E1EDK01")
    if header is not None and not header.get("BELNR").strip() and number_text:
        header = Segment(header.name, {**header.fields, "BELNR": number_text}, header.children)
    number = document_number(reader, header, "billing document number")
    lines = [_line(reader, item) for item in descendants(idoc, "E1EDP01")]
    return {
        **document_header(reader, header, number, entity, BILLING_DATES),
        **totals(reader, lines, net_ids=("002", "010"), gross_ids=("003", "011")),
        "is_cancellation": billing_type(idoc) in options.cancellation_types,
        "lines": sorted(lines, key=lambda line: line["line_num"]),
    }


def _line(reader: Reader, item: Segment) -> dict[str, Any]:
    line = item_line(reader, item)
    line["line_status"] = "open"  # a billed item carries no rejection
    order = qualified(descendants(item, "E1EDP02"), "QUALF", "002")
    if order is not None and order.get("BELNR").strip():
        where = f"item {line['line_num']}"
        line["base_type"] = ORDER_OBJECT_TYPE
        line["base_entry"] = reader.integer(order.get("BELNR"), "order number", "E1EDP02 QUALF 002 BELNR",
                                            where=where)
        zeile = order.get("ZEILE").strip()
        line["base_line"] = reader.integer(zeile, "order item", "E1EDP02 QUALF 002 ZEILE",
                                           where=where) if zeile else None
    return line
