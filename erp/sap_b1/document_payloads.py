"""Service Layer marketing documents (SAPB1.Document) -> one canonical sales-document shape.

Five source entities share EntityType SAPB1.Document (key DocEntry, lines in
DocumentLines, contract 1.7) and this one converter:

    entity          resource        tables      object type (BaseType of lines copied from it)
    "orders"        Orders          ORDR/RDR1   17
    "deliveries"    DeliveryNotes   ODLN/DLN1   15
    "invoices"      Invoices        OINV/INV1   13
    "credit_notes"  CreditNotes     ORIN/RIN1   14
    "returns"       Returns         ORDN/RDN1   16

Canonical data (see `document_data`): doc_entry, doc_num, doc_type (the entity name),
card_code, num_at_card, doc_date, doc_due_date, currency, doc_total, vat_total,
discount_percent, discount_total, freight_total, rounding_total, doc_total_local,
vat_total_local, foreign_currency, status ("open"|"closed"), cancelled, is_cancellation,
tracking_number, contact_person_code, source_updated_at, lines [{line_num, item_code, description, quantity,
price, line_total, warehouse_code, line_status, base_type, base_entry, base_line}].

Amounts (SAPB1.Document, metadata): DocTotal = lines after the header discount
(DiscountPercent, TotalDiscount) + freight (DocumentAdditionalExpenses, LineTotal before
tax) + VatSum (tax on lines and freight) + RoundingDiffAmount. Those are in the company's
local currency. A document in a foreign currency (DocCurrency) also carries the same
figures in that currency: DocTotalFc, VatSumFc, TotalDiscountFC, RoundingDiffAmountFC,
each expense's LineTotalFC and each line's RowTotalFC; on a local-currency document SAP
leaves them 0. So a non-zero DocTotalFc marks a foreign-currency document (our reading of
the fields, **unconfirmed** by SAP's documentation), and the canonical `doc_total`,
`vat_total`, `discount_total`, `freight_total`, `rounding_total` and line totals are then the
foreign figures, in `currency`: what the customer paid. `doc_total_local` and
`vat_total_local` keep the local figures for sums over many documents (customer figures).

Business checks (an unknown item, a total that does not add up, an unknown customer)
are NOT made here: such a document is well formed and is passed on for the rules to
judge. Only a document we cannot read at all becomes `data=None` with an `error`
written for the finance or marketing person who fixes it in SAP; this never raises.

Cancellation (contract 1.7): an order is cancelled in place, the same DocEntry turns
`Cancelled=tYES` and `DocumentStatus=bost_Close` with a new UpdateDate, so the change
arrives in the next delta read. Deliveries and invoices are cancelled by a separate
*cancellation document* (`CancelStatus=csCancellation`); the original gets
`CancelStatus=csYes`. Both are reported: `cancelled` (this document is cancelled) and
`is_cancellation` (this document reverses another one). Vendor behaviour unconfirmed.
"""
from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from erp.sap_b1.payloads import Unreadable, parse_b1_date, parse_b1_time, unexpected_value
from syncapp.adapters import SourceRecord

ORDERS, DELIVERIES, INVOICES = "orders", "deliveries", "invoices"
CREDIT_NOTES, RETURNS = "credit_notes", "returns"
# entity -> (Service Layer collection, BoObjectTypes code, label for people)
DOCUMENT_ENTITIES: dict[str, tuple[str, int, str]] = {
    ORDERS: ("Orders", 17, "Sales order"),
    DELIVERIES: ("DeliveryNotes", 15, "Delivery"),
    INVOICES: ("Invoices", 13, "A/R invoice"),
    CREDIT_NOTES: ("CreditNotes", 14, "A/R credit memo"),
    RETURNS: ("Returns", 16, "Return"),
}
PLURAL_LABELS = {ORDERS: "Sales orders", DELIVERIES: "Deliveries", INVOICES: "A/R invoices",
                 CREDIT_NOTES: "A/R credit memos", RETURNS: "Returns"}
OBJECT_TYPES = {code: entity for entity, (_, code, _) in DOCUMENT_ENTITIES.items()}

DOCUMENT_SELECT_FIELDS: tuple[str, ...] = (
    "DocEntry", "DocNum", "CardCode", "NumAtCard", "DocDate", "DocDueDate", "DocCurrency",
    "DocRate", "DocTotal", "DocTotalFc", "VatSum", "VatSumFc", "DiscountPercent", "TotalDiscount",
    "TotalDiscountFC", "RoundingDiffAmount", "RoundingDiffAmountFC", "DocumentStatus", "Cancelled",
    "CancelStatus", "TrackingNumber", "ContactPersonCode", "CreationDate", "UpdateDate", "UpdateTime", "DocumentLines",
    "DocumentAdditionalExpenses",
)
DOCUMENT_SELECT = ",".join(DOCUMENT_SELECT_FIELDS)

# BoStatus by member name (v1 output) or DB value. bost_Paid / bost_Delivered are terminal
# states of a document, so they count as closed for marketing.
STATUSES = {"bost_Open": "open", "O": "open", "bost_Close": "closed", "C": "closed",
            "bost_Paid": "closed", "P": "closed", "bost_Delivered": "closed", "D": "closed"}
YES_NO = {"tYES": True, "Y": True, "tNO": False, "N": False}
CANCEL_STATUSES = {"csYes": "cancelled", "Y": "cancelled", "csNo": "", "N": "",
                   "csCancellation": "cancellation", "C": "cancellation"}


def to_document_record(entity: str, raw: Any) -> SourceRecord:
    """One Document of `entity` -> SourceRecord keyed by str(DocEntry). Version: the
    last-changed stamp in ISO form ("" if SAP gave none)."""
    if not isinstance(raw, dict):
        raw = {"value": raw}
    entry = raw.get("DocEntry")
    key = str(entry) if entry not in (None, "") else ""
    try:
        data = document_data(entity, raw)
    except Exception as exc:  # noqa: BLE001 - never raises (Unreadable, or a value SAP never sends)
        stamp = f"{raw.get('UpdateDate') or ''} {raw.get('UpdateTime') or ''}".strip()
        error = str(exc) if isinstance(exc, Unreadable) else unexpected_value(
            DOCUMENT_ENTITIES[entity][2], key, exc)
        return SourceRecord(entity=entity, key=key, version=stamp[:40], data=None, raw=raw,
                            error=error)
    stamp = data["source_updated_at"]
    return SourceRecord(entity=entity, key=key, version=stamp.isoformat() if stamp else "",
                        data=data, raw=raw)


def record_converter(entity: str) -> Any:
    """`to_record` for an EntitySpec: raw -> SourceRecord of `entity`."""
    return lambda raw: to_document_record(entity, raw)


def document_data(entity: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Canonical fields of one Document; raises Unreadable with a reason."""
    label = DOCUMENT_ENTITIES[entity][2]
    entry = raw.get("DocEntry")
    if not _is_int(entry):
        raise Unreadable(
            f"A {label.lower()} in SAP{_hint(raw)} has no usable internal number (DocEntry "
            f"{entry!r}), so it cannot be matched to anything. Check the document in SAP.")
    reader = _Reader(f"{label} {raw.get('DocNum') or entry}{_hint(raw)}")
    cancel_status = reader.enum("cancel status", raw.get("CancelStatus"), CANCEL_STATUSES, "")
    cancelled = reader.enum("cancelled flag", raw.get("Cancelled"), YES_NO, False)
    foreign = reader.number("foreign-currency total (DocTotalFc)", raw.get("DocTotalFc")) != 0

    def amount(what: str, local: str, in_currency: str) -> float:
        return reader.number(what, raw.get(in_currency if foreign else local))

    expenses = reader.rows(raw.get("DocumentAdditionalExpenses"), what="freight (additional expenses)")
    freight = sum(reader.number("freight amount", row.get("LineTotalFC" if foreign else "LineTotal"))
                  for row in expenses)
    return {
        "doc_entry": int(entry),
        "doc_num": reader.integer("document number (DocNum)", raw.get("DocNum")),
        "doc_type": entity,
        "card_code": reader.required_text("customer code (CardCode)", raw.get("CardCode")),
        "num_at_card": _text(raw.get("NumAtCard")),
        "doc_date": reader.date("document date", raw.get("DocDate"), required=True),
        "doc_due_date": reader.date("due date", raw.get("DocDueDate")),
        "currency": _text(raw.get("DocCurrency")),
        "foreign_currency": foreign,
        "doc_total": amount("document total", "DocTotal", "DocTotalFc"),
        "vat_total": amount("tax total (VatSum)", "VatSum", "VatSumFc"),
        "discount_percent": reader.number("discount %", raw.get("DiscountPercent")),
        "discount_total": amount("discount total", "TotalDiscount", "TotalDiscountFC"),
        "freight_total": round(freight, 6),
        "rounding_total": amount("rounding difference", "RoundingDiffAmount", "RoundingDiffAmountFC"),
        "doc_total_local": reader.number("document total", raw.get("DocTotal")),
        "vat_total_local": reader.number("tax total (VatSum)", raw.get("VatSum")),
        "status": reader.enum("status", raw.get("DocumentStatus"), STATUSES, "open"),
        # The flag and the cancel status share one column (CANCELED); either may be sent.
        "cancelled": cancelled or cancel_status == "cancelled",
        "is_cancellation": cancel_status == "cancellation",
        "tracking_number": _text(raw.get("TrackingNumber")),
        # The buyer at the customer (a ContactEmployees InternalCode); SAP sends 0 or none for none.
        "contact_person_code": reader.integer("contact person (ContactPersonCode)", raw.get("ContactPersonCode"))
        or None,
        "source_updated_at": reader.updated_at(raw),
        "lines": [_line(reader, row, foreign) for row in reader.rows(raw.get("DocumentLines"))],
    }


# ------------------------------------------------------------------ helpers


def _line(reader: _Reader, row: dict[str, Any], foreign: bool) -> dict[str, Any]:
    line_num = row.get("LineNum")
    if not _is_int(line_num):
        raise Unreadable(f"{reader.name} has a line without a line number ({line_num!r}). "
                         "Check the document in SAP.")
    where = f"line {int(line_num) + 1}"  # LineNum is 0-based; people count from 1
    base_type = row.get("BaseType")
    if base_type in (None, "", -1, "-1"):  # -1 is SAP's "not copied from anything"
        base = (None, None, None)
    else:
        base = (reader.integer(f"{where} base document type", base_type),
                reader.integer(f"{where} base document", row.get("BaseEntry")),
                reader.integer(f"{where} base line", row.get("BaseLine")))
    return {
        "line_num": int(line_num),
        "item_code": _text(row.get("ItemCode")),
        "description": _text(row.get("ItemDescription")),
        "quantity": reader.number(f"{where} quantity", row.get("Quantity")),
        "price": reader.number(f"{where} price", row.get("Price")),
        # RowTotalFC is the line in the document's foreign currency; LineTotal is local.
        "line_total": reader.number(f"{where} line total", row.get("RowTotalFC" if foreign else "LineTotal")),
        "warehouse_code": _text(row.get("WarehouseCode")),
        "line_status": reader.enum(f"{where} status", row.get("LineStatus"), STATUSES, "open"),
        "base_type": base[0], "base_entry": base[1], "base_line": base[2],
    }


class _Reader:
    """Reads typed values of one document, naming it in every complaint."""

    def __init__(self, name: str) -> None:
        self.name = name

    def integer(self, what: str, value: Any) -> int | None:
        if value in (None, ""):
            return None
        if not _is_int(value):
            raise Unreadable(f"{self.name} has a {what} that is not a whole number ({value!r}).")
        return int(value)

    def number(self, what: str, value: Any) -> float:
        """An Edm.Double. Absent means zero (SAP omits zeros on some versions); a string
        means an import or proxy mangled the value (e.g. '12,99'), so it is refused."""
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value \
                or value in (float("inf"), float("-inf")):
            raise Unreadable(f"{self.name} has a {what} that is not a number ({value!r}). "
                             "Correct it in SAP.")
        return float(value)

    def required_text(self, what: str, value: Any) -> str:
        text = _text(value)
        if not text:
            raise Unreadable(f"{self.name} has no {what}, so we cannot tell whose it is. "
                             "Check the document in SAP.")
        return text

    def date(self, what: str, value: Any, *, required: bool = False) -> str | None:
        if value in (None, ""):
            if required:
                raise Unreadable(f"{self.name} has no {what}. Check the document in SAP.")
            return None
        day = parse_b1_date(value)
        if day is None:
            raise Unreadable(f"{self.name} has an unreadable {what} ({value!r}).")
        return day.isoformat()

    def enum(self, what: str, value: Any, members: dict[str, Any], default: Any) -> Any:
        if value in (None, ""):
            return default
        if not isinstance(value, str) or value not in members:
            raise Unreadable(f"{self.name} has a {what} we do not recognise ({value!r}).")
        return members[value]

    def rows(self, value: Any, *, what: str = "document lines") -> list[dict[str, Any]]:
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise Unreadable(f"{self.name} has {what} we cannot read.")
        return value

    def updated_at(self, raw: dict[str, Any]) -> datetime | None:
        """UpdateDate + UpdateTime as aware UTC (the server's wall clock, read as UTC, as
        for partners); CreationDate when never updated (Documents have no CreateTime)."""
        for date_key, time_key in (("UpdateDate", "UpdateTime"), ("CreationDate", None)):
            if raw.get(date_key) in (None, ""):
                continue
            day = parse_b1_date(raw[date_key])
            moment = parse_b1_time(raw.get(time_key)) if time_key else None
            if day is None or moment is False:
                value = raw[date_key] if day is None else raw.get(time_key or "")
                raise Unreadable(f"{self.name} has an unreadable last-changed date or time "
                                 f"({value!r}). Re-save the document in SAP.")
            return datetime.combine(day, moment or time(0), tzinfo=UTC)
        return None


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int)


def _hint(raw: dict[str, Any]) -> str:
    reference = _text(raw.get("NumAtCard"))
    return f" (web order {reference})" if reference else ""


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
