"""What every IDoc converter shares: options, the control record, keys, values, errors.

Values arrive as IDoc-XML text (contract 2.1): dates `YYYYMMDD` (`00000000` is SAP's empty
date), times `HHMMSS`, decimals with a `.` point (`5602.800`; SAP may put the minus sign
last, `12.50-`), keys zero-padded as SAP sends them. A value we cannot read raises
`Unreadable` with a sentence naming the IDoc (number without padding), the document and
the field; each converter turns it into `SourceRecord(data=None, error=...)` and never
raises.

Segments are found wherever they sit in the tree (`descendants`): the basic types nest
differently (DELVRY07 puts E1ADRM1 and E1EDL24 inside E1EDL20, WMMBID puts E1MBXYI
inside E1MBXYH), and extensions may wrap standard segments.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from erp.sap_ecc.idoc_xml import ParsedIdoc, Segment
from syncapp.adapters import SourceRecord

log = logging.getLogger(__name__)

BUSINESS_PARTNERS, ORDERS, DELIVERIES = "business_partners", "orders", "deliveries"
INVOICES, CREDIT_NOTES, ITEMS, ITEM_STOCK = "invoices", "credit_notes", "items", "item_stock"
ORDER_OBJECT_TYPE = 17  # the canonical base_type of a line copied from a sales order (SAP B1's code)


@dataclass(frozen=True)
class EccOptions:
    """Per-connection choices where SAP customers differ (contract Part 3, open points).

    deleted_customers: "mark" sends a deleted or blocked customer with U_ERP_STATUS only;
        "suppress" also sets U_MarketingConsent "N" (the default mappings make it false).
    credit_memo_types: billing types (E1EDK14 QUALF 015) or E1EDK01 BSART values of a credit memo.
    tracking_fields: where the parcel tracking number is, first non-empty wins:
        E1EDL20 fields by name, or EXIDV (the handling unit, E1EDL37).
    cancellation_types: billing types of a cancellation document (S1 cancels an invoice,
        S2 a credit memo); such a document is flagged `is_cancellation` and never counted.
    """

    deleted_customers: str = "mark"  # "mark" | "suppress"
    credit_memo_types: tuple[str, ...] = ("G2", "RE", "CRME")
    tracking_fields: tuple[str, ...] = ("BOLNR", "TRAID", "EXIDV")
    cancellation_types: tuple[str, ...] = ("S1", "S2")


DEFAULT_OPTIONS = EccOptions()


class Unreadable(ValueError):
    """A value a person must fix in SAP; the message is shown to them as it is."""


# ------------------------------------------------------------------ control record


def sequence_of(control: dict[str, str]) -> str:
    """A string that sorts IDocs of one object oldest first (contract 2.5): SERIAL
    (20 characters, left-justified) else CREDAT+CRETIM, then DOCNUM right-aligned to 16
    digits as a tie-break. The same IDoc always gives the same string (at most 36 long)."""
    serial = (control.get("SERIAL") or "").strip()
    stamp = serial or (control.get("CREDAT") or "").strip() + (control.get("CRETIM") or "").strip()
    docnum = (control.get("DOCNUM") or "").strip()
    return f"{stamp[:20]:<20}{docnum:0>16}"


def unpadded(key: str) -> str:
    """'0000099009' -> '99009', for people to read; a key with letters is kept as it is
    (SAP's ALPHA/MATN1 output conversion strips zeros only from numeric keys)."""
    text = (key or "").strip()
    if text.isdigit():
        return text.lstrip("0") or "0"
    return text


def idoc_label(control: dict[str, str]) -> str:
    """'IDoc 64132944 (DEBMAS)': how messages name an IDoc (WE02 shows the same number)."""
    number = unpadded(control.get("DOCNUM") or "") or "(no number)"
    message = (control.get("MESTYP") or "").strip()
    return f"IDoc {number} ({message})" if message else f"IDoc {number}"


def created_at(control: dict[str, str]) -> datetime | None:
    """CREDAT + CRETIM as an aware datetime. SAP stamps them in the sending system's
    local time, which the IDoc does not name; we read them as UTC, as the SAP B1 stamps
    are. None when absent or unreadable (the control record is the receiver's concern)."""
    day = _date_or_none((control.get("CREDAT") or "").strip())
    if day is None:
        return None
    moment = _time_or_none((control.get("CRETIM") or "").strip() or "000000")
    return datetime.combine(day, moment or time(0), tzinfo=UTC)


# ------------------------------------------------------------------ which object an IDoc is about

# Kinds of message, found by basic type first (IDOCTYP stays the basic type when an
# extension is used, with CIMTYP naming the extension), then by message type.
CUSTOMER, ADDRESS, ORDER, DELIVERY = "customer", "address", "order", "delivery"
BILLING, MATERIAL, STOCK_LIST, GOODS_MOVEMENT = "billing", "material", "stock_list", "goods_movement"
_BY_BASIC_TYPE = (("DEBMAS", CUSTOMER), ("ADRMAS", ADDRESS), ("ORDERS", ORDER), ("DELVRY", DELIVERY),
                  ("INVOIC", BILLING), ("MATMAS", MATERIAL), ("LOISTD", STOCK_LIST), ("WMMBID", GOODS_MOVEMENT))
_BY_MESSAGE_TYPE = {"DEBMAS": CUSTOMER, "ADRMAS": ADDRESS, "ORDERS": ORDER, "ORDRSP": ORDER, "ORDCHG": ORDER,
                    "DESADV": DELIVERY, "SHPORD": DELIVERY, "WHSCON": DELIVERY, "DELVRY": DELIVERY,
                    "INVOIC": BILLING, "MATMAS": MATERIAL, "LOISTD": STOCK_LIST, "WMMBXY": GOODS_MOVEMENT}


def message_kind(idoc: ParsedIdoc) -> str | None:
    """customer | address | order | delivery | billing | material | stock_list |
    goods_movement, or None for a message type the hub does not read."""
    basic = _last_name(idoc.basic_type)
    for prefix, kind in _BY_BASIC_TYPE:
        if prefix in basic:
            return kind
    return _BY_MESSAGE_TYPE.get(message_name(idoc))


def message_name(idoc: ParsedIdoc) -> str:
    """MESTYP without a customer namespace: '/ABC/ORDCHG' -> 'ORDCHG'."""
    return _last_name(idoc.message_type)


def object_of(idoc: ParsedIdoc, options: EccOptions = DEFAULT_OPTIONS) -> tuple[str, str] | None:
    """(canonical entity, object key) of the object an IDoc changes, for sequencing.

    Customers keep KUNNR as sent (padded), materials MATNR (MATNR_LONG wins); documents
    are keyed str(int(number)), as the mirror's doc_entry is an integer. A document number
    with letters is returned as sent (stripped), so its IDocs still sequence together and
    the converter explains why it cannot be read. None when the IDoc names no object
    (`no_object_reason` says why)."""
    kind = message_kind(idoc)
    if kind == CUSTOMER:
        return _pair(BUSINESS_PARTNERS, _field_of(idoc, "E1KNA1M", "KUNNR"))
    if kind == ADDRESS:
        owner = first_descendant(idoc, "E1ADRMAS")
        if owner is None or owner.get("OBJ_TYPE").strip() != "KNA1":
            return None
        return _pair(BUSINESS_PARTNERS, owner.get("OBJ_ID").strip())
    if kind == ORDER:
        return _pair(ORDERS, document_key(_field_of(idoc, "E1EDK01", "BELNR")))
    if kind == DELIVERY:
        return _pair(DELIVERIES, document_key(_field_of(idoc, "E1EDL20", "VBELN")))
    if kind == BILLING:
        return _pair(billing_entity(idoc, options), document_key(billing_number(idoc)))
    if kind == MATERIAL:
        header = first_descendant(idoc, "E1MARAM")
        return _pair(ITEMS, material_of(header) if header else "")
    if kind in (STOCK_LIST, GOODS_MOVEMENT):
        row = first_descendant(idoc, "E1MDSTL" if kind == STOCK_LIST else "E1MBXYI")
        return _pair(ITEM_STOCK, material_of(row) if row else "")
    return None


def no_object_reason(idoc: ParsedIdoc) -> str:
    """Why `object_of` gave None, in words for the IDoc monitor."""
    label = idoc_label(idoc.control)
    kind = message_kind(idoc)
    if kind is None:
        return (f"{label} is of a message type the hub does not read (basic type "
                f"{idoc.basic_type or 'not given'}). Check the partner profile (WE20) sending it.")
    if kind == ADDRESS:
        return (f"{label} is an address that does not belong to a customer (only OBJ_TYPE KNA1 is read), "
                "or names no owner (E1ADRMAS OBJ_ID). Nothing to apply.")
    where = {CUSTOMER: "customer number (E1KNA1M KUNNR)", ORDER: "order number (E1EDK01 BELNR)",
             DELIVERY: "delivery number (E1EDL20 VBELN)", BILLING: "billing document number (E1EDK01 BELNR)",
             MATERIAL: "material number (E1MARAM MATNR)", STOCK_LIST: "material number (E1MDSTL MATNR)",
             GOODS_MOVEMENT: "material number (E1MBXYI MATNR)"}[kind]
    return f"{label} has no {where}, so it cannot be matched to anything. Check the IDoc in SAP (WE02)."


def customer_of(idoc: ParsedIdoc) -> str | None:
    """The sold-to party (KUNNR as sent) a document IDoc belongs to, so it can wait for
    its customer's DEBMAS; None for other IDocs or when no sold-to is named."""
    kind = message_kind(idoc)
    if kind in (ORDER, BILLING):
        return partner(idoc, "AG") or None
    if kind == DELIVERY:
        return delivery_partner(idoc, "AG") or None
    return None


def billing_entity(idoc: ParsedIdoc, options: EccOptions = DEFAULT_OPTIONS) -> str:
    """"credit_notes" when E1EDK01 BSART or the billing type (E1EDK14 QUALF 015) is one
    of the options' credit-memo types, else "invoices" (contract 2.11, unconfirmed)."""
    header = first_descendant(idoc, "E1EDK01")
    kinds = {header.get("BSART").strip()} if header else set()
    kinds.add(billing_type(idoc))
    return CREDIT_NOTES if kinds & set(options.credit_memo_types) else INVOICES


def billing_type(idoc: ParsedIdoc) -> str:
    """FKART (F2, G2, S1, ...) from E1EDK14 QUALF 015, or ''."""
    org = qualified(descendants(idoc, "E1EDK14"), "QUALF", "015")
    return org.get("ORGID").strip() if org else ""


def billing_number(idoc: ParsedIdoc) -> str:
    """E1EDK01 BELNR, else the invoice reference E1EDK02 QUALF 009."""
    number = _field_of(idoc, "E1EDK01", "BELNR")
    if number:
        return number
    reference = qualified(descendants(idoc, "E1EDK02"), "QUALF", "009")
    return reference.get("BELNR").strip() if reference else ""


def document_key(number: str) -> str:
    """'0000001390' -> '1390'; letters are kept as sent (stripped); '' stays ''."""
    text = (number or "").strip()
    return str(int(text)) if text.isdigit() else text


# ------------------------------------------------------------------ segments


def descendants(container: ParsedIdoc | Segment, name: str) -> list[Segment]:
    """Every segment called `name` under `container`, at any depth, in document order."""
    if isinstance(container, ParsedIdoc):
        return [Segment.from_json(data) for data in _named(container, name)]
    return [segment for segment in walk(container) if segment.name == name]


def first_descendant(container: ParsedIdoc | Segment, name: str) -> Segment | None:
    if isinstance(container, ParsedIdoc):
        found = _named(container, name)
        return Segment.from_json(found[0]) if found else None
    return next((segment for segment in walk(container) if segment.name == name), None)


def _named(idoc: ParsedIdoc, name: str) -> list[dict]:
    """The IDoc's segments called `name`, in document order, remembered per IDoc: found in
    the parsed tree when there is one (receiving reads a few key fields only), else by one
    walk over the stored dicts."""
    index = idoc.__dict__.setdefault("_by_name", {})
    if name not in index:
        found = idoc.find(name)
        if found is None:
            if "_walked" not in idoc.__dict__:
                stack = list(reversed(idoc.segments_data))
                while stack:
                    data = stack.pop()
                    index.setdefault(("walked", data["segment"]), []).append(data)
                    stack.extend(reversed(data.get("children") or ()))
                idoc.__dict__["_walked"] = True
            found = index.get(("walked", name), [])
        index[name] = found
    return index[name]


def walk(container: ParsedIdoc | Segment) -> Iterator[Segment]:
    stack = list(reversed(container.segments if isinstance(container, ParsedIdoc) else container.children))
    while stack:
        segment = stack.pop()
        yield segment
        stack.extend(reversed(segment.children))


def qualified(segments: Iterable[Segment], qualifier: str, value: str) -> Segment | None:
    """The first segment whose qualifier field (QUALF, IDDAT, PARVW, ...) is `value`."""
    return next((s for s in segments if s.get(qualifier).strip() == value), None)


def partner(idoc: ParsedIdoc, function: str) -> str:
    """PARTN of the E1EDKA1 with PARVW `function` (AG sold-to, WE ship-to, RE, RG), as sent."""
    found = qualified(descendants(idoc, "E1EDKA1"), "PARVW", function)
    return found.get("PARTN").strip() if found else ""


def delivery_partner(idoc: ParsedIdoc, function: str) -> str:
    """PARTNER_ID of the E1ADRM1 with PARTNER_Q `function` (DELVRY), as sent."""
    found = qualified(descendants(idoc, "E1ADRM1"), "PARTNER_Q", function)
    return found.get("PARTNER_ID").strip() if found else ""


def material_of(segment: Segment | None, long_from: Segment | None = None) -> str:
    """MATNR as sent (zero-padded to 18 by MATN1); the S/4 40-character MATNR_LONG wins
    when present, on the segment itself or on `long_from` (DELVRY's E1EDL26)."""
    if segment is None:
        return ""
    for source in (long_from, segment):
        if source is not None and source.get("MATNR_LONG").strip():
            return source.get("MATNR_LONG").strip()
    return segment.get("MATNR").strip()


def warehouse_code(werks: str, lgort: str) -> str:
    """Plant and storage location as one warehouse: '1000-0001', or '1000' without one."""
    werks, lgort = (werks or "").strip(), (lgort or "").strip()
    return f"{werks}-{lgort}" if lgort else werks


def is_customer_segment(name: str) -> bool:
    """A segment of a customer namespace (`_-ABC_-...`) or customer range (Z*, Y*):
    SAP's own segment names start with E1/E2."""
    return name.startswith(("_-", "Z", "Y"))


_UDF_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def customer_fields(idoc: ParsedIdoc | None) -> dict[str, str]:
    """Every field of every customer segment as a user field, 'U_<FIELD>' (characters a
    UDF name cannot hold become '_'); the first occurrence of a name wins."""
    fields: dict[str, str] = {}
    if idoc is None:
        return fields
    for segment in walk(idoc):
        if is_customer_segment(segment.name):
            for name, value in segment.fields.items():
                fields.setdefault("U_" + _UDF_UNSAFE.sub("_", name), value)
    return fields


def idoc_raw(idoc: ParsedIdoc) -> dict[str, Any]:
    """What a record keeps as its raw payload: the control record and the parsed segments."""
    return {"control": dict(idoc.control), "segments": idoc.segments_json()}


def idoc_reference(idoc: ParsedIdoc) -> dict[str, Any]:
    """A readable record's raw payload: its control record, naming the IDoc whose XML the
    IDoc monitor keeps (copying every segment into each mirror row would double the work
    of applying an order for nothing anyone reads)."""
    return {"control": dict(idoc.control), "idoc": unpadded(idoc.docnum)}


# ------------------------------------------------------------------ values


class Reader:
    """Reads typed values of one IDoc, naming the IDoc and `subject` in every complaint."""

    def __init__(self, idoc: ParsedIdoc, subject: str) -> None:
        self.idoc = idoc
        self.subject = subject  # "sales order 1390", "customer 99009"

    def fail(self, sentence: str) -> Unreadable:
        return Unreadable(f"{idoc_label(self.idoc.control)}: {self.subject} {sentence}")

    def number(self, value: str, meaning: str, field: str, *, where: str = "") -> float:
        """A decimal as SAP writes it; absent means 0."""
        text = (value or "").strip()
        if not text:
            return 0.0
        match = _NUMBER.match(text)
        if not match:
            raise self._bad(meaning, field, text, "a number", where)
        sign, digits, trailing = match.groups()
        amount = float(digits)
        return round(-amount if "-" in (sign + trailing) else amount, 6)

    def integer(self, value: str, meaning: str, field: str, *, where: str = "") -> int:
        text = (value or "").strip()
        if not text.isdigit():
            if not text:
                raise self.fail(f"{_at(where)}has no {meaning} ({field}). Check the IDoc in SAP (WE02).")
            raise self._bad(meaning, field, text, "a whole number", where)
        return int(text)

    def date(self, value: str, meaning: str, field: str, *, where: str = "") -> date | None:
        """YYYYMMDD; empty or SAP's empty date 00000000 gives None."""
        text = (value or "").strip()
        if not text or text == "00000000":
            return None
        day = _date_or_none(text)
        if day is None:
            raise self._bad(meaning, field, text, "a date (YYYYMMDD)", where)
        return day

    def _bad(self, meaning: str, field: str, text: str, kind: str, where: str) -> Unreadable:
        shown = text if len(text) <= 40 else text[:37] + "..."
        article = "an" if meaning[:1] in "aeiou" else "a"
        return self.fail(f"{_at(where)}has {article} {meaning} ({field}) that is not {kind}: {shown!r}. "
                         "Correct it in SAP and send the IDoc again.")


_NUMBER = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)(-?)$")


def _at(where: str) -> str:
    return f"{where} " if where else ""


def converted(
    idoc: ParsedIdoc, entity: str, key: str, subject: str, build: Callable[[], dict[str, Any]],
    *, version: str | None = None, raw: dict[str, Any] | None = None,
) -> SourceRecord:
    """Run one converter: its data, or data=None with a plain error. Never raises."""
    version = sequence_of(idoc.control) if version is None else version
    try:
        data = build()
    except Unreadable as exc:
        # An unreadable record's exception shows the person every segment it came with.
        return SourceRecord(entity=entity, key=key, version=version, data=None, raw=raw or idoc_raw(idoc),
                            error=str(exc))
    except Exception as exc:  # never raises: a shape no SAP system sends (logged)
        log.warning("%s: %s could not be converted", idoc_label(idoc.control), subject, exc_info=True)
        error = (f"{idoc_label(idoc.control)}: {subject} holds a value of a kind the hub did not expect "
                 f"({type(exc).__name__}). Check the IDoc in SAP (WE02).")
        return SourceRecord(entity=entity, key=key, version=version, data=None, raw=raw or idoc_raw(idoc),
                            error=error)
    return SourceRecord(entity=entity, key=key, version=version, data=data, raw=raw or idoc_reference(idoc))


def _date_or_none(text: str) -> date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _time_or_none(text: str) -> time | None:
    if len(text) != 6 or not text.isdigit():
        return None
    try:
        return time(int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return None


def _field_of(idoc: ParsedIdoc, segment_name: str, field: str) -> str:
    segment = first_descendant(idoc, segment_name)
    return segment.get(field).strip() if segment else ""


def _pair(entity: str, key: str) -> tuple[str, str] | None:
    return (entity, key) if key else None


def _last_name(name: str) -> str:
    """'/ABC/ORDCHG' or '_-ABC_-ORDCHG' -> 'ORDCHG'."""
    text = (name or "").strip().upper()
    return re.split(r"/|_-", text)[-1]
