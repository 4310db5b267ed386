"""Marketing documents in the sandbox: Orders, DeliveryNotes, Invoices, CreditNotes, Returns.

All five share EntityType SAPB1.Document (key DocEntry, Int32) with DocumentLines
(ComplexType SAPB1.DocumentLine); each collection numbers its own DocEntry, as each
table (ORDR, ODLN, ...) does in SAP. `DocumentHooks` is mixed into `SapB1Sandbox`; it
relies on the sandbox's `_lock`, `_generation`, `_stamp`, `clock`, `_collection` and
`_single`.

Routes (answered like the Service Layer v1):
- GET /Orders (with $filter/$select/$orderby/$top/$skip and paging), GET /Orders(12),
  GET /Orders(DocEntry=12); the same for the other four collections.
- POST /Orders (create; 201 with the document). Lines copied from a base document
  (BaseType/BaseEntry/BaseLine) lower the base line's RemainingOpenQuantity and close
  it, and the base document once every line is closed, stamping the base's UpdateDate.
- PATCH /Orders(12) (204): header fields; DocumentLines merge by LineNum (a line without
  LineNum is added), or replace the collection with `B1S-ReplaceCollectionsOnPatch:
  true`; totals are recomputed and UpdateDate/UpdateTime stamped. Closed documents refuse.
- POST /Orders(12)/Cancel, /Close, /Reopen (bound actions on SAPB1.Document, no return
  type in the metadata, so 204). Cancel sets Cancelled=tYES, CancelStatus=csYes,
  DocumentStatus=bost_Close and closes every line; it is refused once any line was
  copied to a target document (partly delivered), as SAP refuses it. Reopen is served on
  Orders only.
- Other documents (a delivery, an invoice, a credit memo, a return) are cancelled by a
  *cancellation document* (contract 1.7): POST /DeliveryNotes(7)/Cancel (204) or
  /CreateCancellationDocument (200 with the new document). The original turns
  Cancelled=tYES, CancelStatus=csYes, bost_Close; a new document of the same collection
  (next DocEntry/DocNum) repeats its customer, currency, freight and lines with
  CancelStatus=csCancellation, Cancelled=tNO, bost_Close, each line based on the line it
  reverses (BaseType = the original's object type). The original's own base lines get
  their open quantity back and reopen (a cancelled delivery reopens its order). Refused
  when the document was copied on (an invoiced delivery). That this is what SAP writes,
  line by line, is **unconfirmed** (community), and whether CreateCancellationDocument
  also adds the document (rather than returning a draft to add) is **unconfirmed** too:
  here it adds it.
- DELETE on any document: 400 / -5006 (sales documents cannot be deleted, SLGuide 3.5.4).

Amounts (see `recompute`): lines, header discount, freight (DocumentAdditionalExpenses,
LineTotal in local currency before tax, taxed by its TaxCode) and tax add up to DocTotal
in the local currency (GBP). A document in another DocCurrency has its prices in that
currency and DocRate local units per foreign unit; it also gets the foreign figures
(RowTotalFC, LineTotalFC, VatSumFc, TotalDiscountFC, DocTotalFc), which SAP leaves 0 on a
local-currency document. A PATCH that sends DocumentAdditionalExpenses replaces them.

Error codes other than -5006, -2028 and -1000 are the sandbox's own (unconfirmed).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from erp.sap_b1.sandbox.errors import SandboxError

# Service Layer collection -> (hub entity name, BoObjectTypes code, BoObjectTypes member).
DOCUMENT_RESOURCES: dict[str, tuple[str, int, str]] = {
    "Orders": ("orders", 17, "oOrders"),
    "DeliveryNotes": ("deliveries", 15, "oDeliveryNotes"),
    "Invoices": ("invoices", 13, "oInvoices"),
    "CreditNotes": ("credit_notes", 14, "oCreditNotes"),
    "Returns": ("returns", 16, "oReturns"),
}
RESOURCE_OF = {entity: name for name, (entity, _, _) in DOCUMENT_RESOURCES.items()}
RESOURCE_BY_CODE = {code: name for name, (_, code, _) in DOCUMENT_RESOURCES.items()}
# Properties this sandbox keeps; all exist on SAPB1.Document / SAPB1.DocumentLine.
DOCUMENT_PROPERTIES: tuple[str, ...] = (
    "DocEntry", "DocNum", "Series", "DocType", "DocDate", "DocDueDate", "TaxDate",
    "CardCode", "CardName", "NumAtCard", "DocCurrency", "DocRate", "DocTotal", "DocTotalFc",
    "VatSum", "VatSumFc", "DiscountPercent", "TotalDiscount", "TotalDiscountFC",
    "RoundingDiffAmount", "RoundingDiffAmountFC", "DocumentStatus", "Cancelled", "CancelStatus",
    "CreationDate", "UpdateDate", "UpdateTime", "DocTime", "DocObjectCode",
    "TrackingNumber", "Comments", "ShipToCode", "Address2", "DocumentLines",
    "DocumentAdditionalExpenses", "ContactPersonCode",
)
DOCUMENT_LINE_PROPERTIES: tuple[str, ...] = (
    "LineNum", "DocEntry", "ItemCode", "ItemDescription", "Quantity", "Price", "UnitPrice",
    "DiscountPercent", "LineTotal", "RowTotalFC", "TaxCode", "TaxTotal", "Currency",
    "WarehouseCode", "LineStatus", "BaseType", "BaseEntry", "BaseLine",
    "RemainingOpenQuantity", "ShipDate",
)
# SAPB1.DocumentAdditionalExpense: freight and other charges on the document.
EXPENSE_PROPERTIES: tuple[str, ...] = (
    "ExpenseCode", "LineNum", "LineTotal", "LineTotalFC", "TaxCode", "TaxSum", "TaxSumFC", "Remarks",
)
DOCUMENT_ALL_PROPERTIES = frozenset(DOCUMENT_PROPERTIES)
LINE_ALL_PROPERTIES = frozenset(DOCUMENT_LINE_PROPERTIES)
EXPENSE_ALL_PROPERTIES = frozenset(EXPENSE_PROPERTIES)
# Written by SAP, never by a client.
READ_ONLY = frozenset({
    "DocEntry", "DocNum", "DocumentStatus", "Cancelled", "CancelStatus", "CreationDate",
    "UpdateDate", "UpdateTime", "DocObjectCode", "DocTotal", "DocTotalFc", "VatSum", "VatSumFc",
    "TotalDiscount", "TotalDiscountFC", "RoundingDiffAmountFC",
})
EXPENSE_READ_ONLY = frozenset({"LineNum", "LineTotalFC", "TaxSumFC"})
TAX_RATES = {"S": 0.20, "R": 0.05, "Z": 0.0}  # UK VAT groups of the demo company
LOCAL_CURRENCY = "GBP"  # the demo company's
CANCEL_ACTIONS = ("Cancel", "CreateCancellationDocument")
_DOC_KEY = re.compile(r"^/([A-Za-z]+)\((?:DocEntry=)?(\d+)\)(?:/([A-Za-z]+))?$")
_DOC_COLLECTION = re.compile(r"^/([A-Za-z]+)$")
_ENUMS = {
    "DocumentStatus": {"O": "bost_Open", "C": "bost_Close"},
    "LineStatus": {"O": "bost_Open", "C": "bost_Close"},
    "DocType": {"I": "dDocument_Items", "S": "dDocument_Service"},
}

Answer = tuple[int, list[tuple[str, str]], Any]


class DocumentHooks:
    """Test hooks, routes and document rules for the five document collections."""

    documents: dict[str, dict[str, dict[str, Any]]]  # collection -> str(DocEntry) -> doc
    _stamp: Callable[[str], dict[str, str]]

    def _init_documents(self) -> None:
        self.documents = {name: {} for name in DOCUMENT_RESOURCES}
        self._next_entry = dict.fromkeys(DOCUMENT_RESOURCES, 1)

    # ------------------------------------------------------------ test hooks

    def add_document(self, entity: str, document: dict[str, Any]) -> dict[str, Any]:
        """Store one document as given (malformed values too), filling SAP's defaults
        (DocEntry/DocNum when absent, statuses, stamps, LineTotal, totals when DocTotal is
        absent) and applying its base links to the base documents, as SAP does."""
        with self._lock:
            return self.add_documents(entity, [document], link_bases=True)[0]

    def add_documents(self, entity: str, documents: Iterable[dict[str, Any]],
                      *, link_bases: bool = False) -> list[dict[str, Any]]:
        """Bulk load; by default documents are taken as already consistent with their
        base documents (demo data computes the statuses itself)."""
        name = _resource_name(entity)
        stored = []
        with self._lock:
            table, stamp = self.documents[name], self._stamp("Update")
            defaults = _document_defaults(name, stamp)
            for document in documents:
                record = _fill(defaults | dict(document), self._next_entry[name])
                entry = record.get("DocEntry")
                if isinstance(entry, int) and entry >= self._next_entry[name]:
                    self._next_entry[name] = entry + 1
                if link_bases:
                    self._link_bases(record, stamp)
                table[str(entry) if entry is not None else f"__missing_{len(table)}"] = record
                stored.append(record)
            self._generation += 1
        return stored

    def update_document(self, entity: str, doc_entry: int, **fields: Any) -> dict[str, Any]:
        """Change fields as given (no totals recomputed) and stamp UpdateDate/UpdateTime."""
        with self._lock:
            record = self.documents[_resource_name(entity)][str(doc_entry)]
            record.update(fields)
            record.update(self._stamp("Update"))
            self._generation += 1
            return record

    def document(self, entity: str, doc_entry: int) -> dict[str, Any]:
        return self.documents[_resource_name(entity)][str(doc_entry)]

    def cancel_document(self, entity: str, doc_entry: int) -> dict[str, Any]:
        """Cancel as a person in SAP would: an order in place, any other document by a
        cancellation document, which is returned (the order itself for an order)."""
        name = _resource_name(entity)
        if name == "Orders":
            self._act(name, str(doc_entry), "Cancel")
            return self.document(name, doc_entry)
        return self._cancel_by_document(name, str(doc_entry))

    # ------------------------------------------------------------ routes

    def _route_documents(self, method: str, path: str, params: dict[str, str],
                         environ: dict[str, Any], body: Callable[[], Any]) -> Answer | None:
        """The answer for a document path, or None when `path` is not one."""
        keyed, collection = _DOC_KEY.match(path), _DOC_COLLECTION.match(path)
        name = (keyed or collection).group(1) if (keyed or collection) else None
        if name not in DOCUMENT_RESOURCES:
            return None
        resource = self.resources[name]
        if collection:
            if method == "GET":
                return self._collection(resource, params, environ)
            if method == "POST":
                return 201, [], self._create_document(name, body())
        elif keyed:
            entry, action = keyed.group(2), keyed.group(3)
            if action is None and method == "GET":
                return 200, [], self._single(resource, entry, params)
            if action is None and method == "PATCH":
                replace = environ.get("HTTP_B1S_REPLACECOLLECTIONSONPATCH", "").lower()
                self._patch_document(name, entry, body(), replace_lines=replace == "true")
                return 204, [], None
            if action is None and method == "DELETE":
                raise SandboxError(400, -5006,
                                   "The requested action is not supported for this object.")
            if method == "POST" and name != "Orders" and action in CANCEL_ACTIONS:
                created = self._cancel_by_document(name, entry)
                if action == "Cancel":
                    return 204, [], None
                return 200, [], {"odata.metadata": f"/b1s/v1/$metadata#{name}/@Element"} | created
            if method == "POST" and action in ("Close", "Cancel", "Reopen"):
                if action == "Reopen" and name != "Orders":
                    raise SandboxError(400, -5006, "The requested action is not supported "
                                                   "for this object.")
                self._act(name, entry, action)
                return 204, [], None
        raise SandboxError(405, -1000, f"Method {method} is not allowed on '{path[1:]}'")

    # ------------------------------------------------------------ writes

    def _create_document(self, name: str, body: Any) -> dict[str, Any]:
        fields = _writable(body)
        if not fields.get("CardCode"):
            raise SandboxError(400, -10, "Enter a business partner code (CardCode)")
        lines = fields.get("DocumentLines") or []
        if not lines:
            raise SandboxError(400, -5002, "To generate this document, first define the "
                                           "item or service")
        with self._lock:
            for line in lines:
                if line.get("BaseType") not in (None, -1) and self._base_line(line) is None:
                    raise SandboxError(400, -2028, "Base document line not found "
                                                   f"({line.get('BaseEntry')}/{line.get('BaseLine')})")
            fields["DocumentLines"] = [line | {"LineNum": n} for n, line in enumerate(lines)]
            record = self.add_document(DOCUMENT_RESOURCES[name][0], recompute(fields))
            return {"odata.metadata": f"/b1s/v1/$metadata#{name}/@Element"} | record

    def _patch_document(self, name: str, entry: str, body: Any, *, replace_lines: bool) -> None:
        fields = _writable(body)
        with self._lock:
            record = self._existing(name, entry)
            if record.get("DocumentStatus") != "bost_Open":
                raise SandboxError(400, -5002, "Cannot update a closed or cancelled document")
            lines = fields.pop("DocumentLines", None)
            if lines is not None:
                record["DocumentLines"] = _merge_lines(record.get("DocumentLines") or [],
                                                       lines, replace_lines)
            record.update(fields)
            for line in record["DocumentLines"]:
                line.setdefault("DocEntry", record.get("DocEntry"))
            _number_expenses(record)
            recompute(record)
            record.update(self._stamp("Update"))
            self._generation += 1

    def _act(self, name: str, entry: str, action: str) -> None:
        with self._lock:
            record = self._existing(name, entry)
            closed = record.get("DocumentStatus") != "bost_Open"
            lines = record.get("DocumentLines") or []
            if action == "Reopen":
                if not closed or record.get("Cancelled") == "tYES":
                    raise SandboxError(400, -5002, "Only a closed, not cancelled, document "
                                                   "can be reopened")
                record["DocumentStatus"] = "bost_Open"
                for line in lines:
                    if (line.get("RemainingOpenQuantity") or 0) > 0:
                        line["LineStatus"] = "bost_Open"
            else:
                if closed:
                    raise SandboxError(400, -5002, "Document is already closed")
                if action == "Cancel" and any(
                        (line.get("RemainingOpenQuantity") or 0) < (line.get("Quantity") or 0)
                        for line in lines):
                    raise SandboxError(400, -5002, "Cannot cancel: the document has been "
                                                   "copied to a target document")
                record["DocumentStatus"] = "bost_Close"
                for line in lines:
                    line["LineStatus"] = "bost_Close"
                if action == "Cancel":
                    record["Cancelled"], record["CancelStatus"] = "tYES", "csYes"
            record.update(self._stamp("Update"))
            self._generation += 1

    def _cancel_by_document(self, name: str, entry: str) -> dict[str, Any]:
        """See the module docstring: the original is cancelled, a cancellation document
        reverses it, and its base lines get their open quantity back."""
        with self._lock:
            record = self._existing(name, entry)
            lines = record.get("DocumentLines") or []
            if record.get("Cancelled") == "tYES" or record.get("CancelStatus") == "csCancellation":
                raise SandboxError(400, -5002, "Document is already cancelled or is a cancellation")
            if any((line.get("RemainingOpenQuantity") or 0) < (line.get("Quantity") or 0) for line in lines):
                raise SandboxError(400, -5002, "Cannot cancel: the document has been copied to a "
                                               "target document")
            stamp = self._stamp("Update")
            code = DOCUMENT_RESOURCES[name][1]
            reverse = {key: record[key] for key in (
                "CardCode", "CardName", "NumAtCard", "DocCurrency", "DocRate", "DiscountPercent",
                "DocType", "Series") if key in record} | {
                "DocDate": stamp["UpdateDate"], "DocDueDate": stamp["UpdateDate"],
                "TaxDate": stamp["UpdateDate"], "CreationDate": stamp["UpdateDate"],
                "DocumentStatus": "bost_Close", "Cancelled": "tNO", "CancelStatus": "csCancellation",
                "DocumentAdditionalExpenses": [{k: v for k, v in expense.items() if k in (
                    "ExpenseCode", "LineNum", "LineTotal", "TaxCode", "Remarks")}
                    for expense in record.get("DocumentAdditionalExpenses") or []],
                "DocumentLines": [{k: v for k, v in line.items() if k in (
                    "ItemCode", "ItemDescription", "Quantity", "Price", "UnitPrice", "DiscountPercent",
                    "TaxCode", "Currency", "WarehouseCode")} | {
                    "LineNum": n, "LineStatus": "bost_Close", "RemainingOpenQuantity": 0.0,
                    "BaseType": code, "BaseEntry": record.get("DocEntry"), "BaseLine": line.get("LineNum")}
                    for n, line in enumerate(lines)],
            }
            for line in lines:  # the goods are back: the base lines are open again
                found = self._base_line(line)
                if found is None:
                    continue
                base, base_line = found
                base_line["RemainingOpenQuantity"] = float(base_line.get("RemainingOpenQuantity") or 0) + float(
                    line.get("Quantity") or 0)
                base_line["LineStatus"] = "bost_Open"
                if base.get("Cancelled") != "tYES":
                    base["DocumentStatus"] = "bost_Open"
                base.update(stamp)
            record.update(Cancelled="tYES", CancelStatus="csYes", DocumentStatus="bost_Close")
            for line in lines:
                line["LineStatus"] = "bost_Close"
            record.update(stamp)
            created = self.add_documents(name, [recompute(reverse)])[0]
            return created

    # ------------------------------------------------------------ base links

    def _link_bases(self, record: dict[str, Any], stamp: dict[str, str]) -> None:
        """Copying a line lowers the base line's open quantity; a base line at zero
        closes, and the base document closes when all its lines are closed."""
        touched = []
        for line in record.get("DocumentLines") or []:
            found = self._base_line(line) if isinstance(line, dict) else None
            if found is None:
                continue
            base, base_line = found
            quantity = line.get("Quantity")
            if not isinstance(quantity, int | float):
                continue
            left = max(0.0, float(base_line.get("RemainingOpenQuantity") or 0) - quantity)
            base_line["RemainingOpenQuantity"] = left
            if left <= 0:
                base_line["LineStatus"] = "bost_Close"
            touched.append(base)
        for base in touched:
            if all(row.get("LineStatus") == "bost_Close" for row in base["DocumentLines"]):
                base["DocumentStatus"] = "bost_Close"
            base.update(stamp)

    def _base_line(self, line: dict[str, Any]) -> tuple[dict, dict] | None:
        name = RESOURCE_BY_CODE.get(line.get("BaseType"))  # type: ignore[arg-type]
        base = self.documents[name].get(str(line.get("BaseEntry"))) if name else None
        for row in (base or {}).get("DocumentLines") or []:
            if row.get("LineNum") == line.get("BaseLine"):
                return base, row
        return None

    def _existing(self, name: str, entry: str) -> dict[str, Any]:
        record = self.documents[name].get(str(int(entry)))
        if record is None:
            raise SandboxError(404, -2028, "No matching records found (ODBC -2028)")
        return record


# ------------------------------------------------------------------ document rules


def recompute(document: dict[str, Any]) -> dict[str, Any]:
    """Line totals, tax and header totals as SAP derives them (no rounding):
    LineTotal = Quantity x Price (x DocRate for a foreign-currency document, whose
    RowTotalFC is Quantity x Price); TaxTotal by TaxCode; DocTotal = lines less the header
    discount, plus freight, plus tax on both. The foreign figures follow the same sums."""
    foreign = (document.get("DocCurrency") or LOCAL_CURRENCY) != LOCAL_CURRENCY
    rate = float(document.get("DocRate") or 1.0) if foreign else 1.0
    share = 1 - float(document.get("DiscountPercent") or 0) / 100
    local, in_currency = [0.0, 0.0], [0.0, 0.0]  # (net, tax) of the lines
    for line in document.get("DocumentLines") or []:
        amount = round(float(line.get("Quantity") or 0) * float(line.get("Price") or 0), 2)
        tax_rate = TAX_RATES.get(line.get("TaxCode"), 0.2)
        line["LineTotal"] = round(amount * rate, 2)
        line["RowTotalFC"] = amount if foreign else 0.0
        line["TaxTotal"] = round(line["LineTotal"] * tax_rate, 2)
        local[0] += line["LineTotal"]
        local[1] += line["TaxTotal"]
        in_currency[0] += amount
        in_currency[1] += amount * tax_rate
    freight, freight_fc = [0.0, 0.0], [0.0, 0.0]  # (net, tax) of the expenses
    for expense in document.get("DocumentAdditionalExpenses") or []:
        amount = float(expense.get("LineTotal") or 0)
        tax_rate = TAX_RATES.get(expense.get("TaxCode"), 0.2)
        expense["TaxSum"] = round(amount * tax_rate, 2)
        expense["LineTotalFC"] = round(amount / rate, 2) if foreign else 0.0
        expense["TaxSumFC"] = round(expense["LineTotalFC"] * tax_rate, 2)
        freight[0] += amount
        freight[1] += expense["TaxSum"]
        freight_fc[0] += expense["LineTotalFC"]
        freight_fc[1] += expense["TaxSumFC"]
    document["TotalDiscount"] = round(local[0] * (1 - share), 2)
    document["VatSum"] = round(local[1] * share + freight[1], 2)
    document["DocTotal"] = round(local[0] * share + freight[0] + document["VatSum"], 2)
    document["RoundingDiffAmount"] = document["RoundingDiffAmountFC"] = 0.0
    if foreign:
        document["TotalDiscountFC"] = round(in_currency[0] * (1 - share), 2)
        document["VatSumFc"] = round(in_currency[1] * share + freight_fc[1], 2)
        document["DocTotalFc"] = round(in_currency[0] * share + freight_fc[0] + document["VatSumFc"], 2)
    else:
        document["TotalDiscountFC"] = document["VatSumFc"] = document["DocTotalFc"] = 0.0
    return document


_FULL_LINE = frozenset({"LineNum", "DocEntry", "LineStatus", "BaseType", "BaseEntry", "BaseLine",
                        "TaxCode", "Currency", "DiscountPercent", "RemainingOpenQuantity",
                        "UnitPrice"})


def line_defaults(line_num: int) -> dict[str, Any]:
    return {"LineNum": line_num, "LineStatus": "bost_Open", "BaseType": -1, "BaseEntry": None,
            "BaseLine": None, "TaxCode": "S", "Currency": "GBP", "DiscountPercent": 0.0}


def _document_defaults(name: str, stamp: dict[str, str]) -> dict[str, Any]:
    return {
        "DocType": "dDocument_Items", "DocumentStatus": "bost_Open", "Cancelled": "tNO",
        "CancelStatus": "csNo", "DocCurrency": "GBP", "DocRate": 1.0, "DiscountPercent": 0.0,
        "DocObjectCode": DOCUMENT_RESOURCES[name][2], "Series": 1, "NumAtCard": None,
        "TrackingNumber": None, "Comments": None, "DocDate": stamp["UpdateDate"],
        "DocDueDate": stamp["UpdateDate"], "TaxDate": stamp["UpdateDate"],
        "CreationDate": stamp["UpdateDate"], "DocTime": stamp["UpdateTime"],
        "DocumentLines": [], "DocumentAdditionalExpenses": [],
    } | stamp


def _fill(record: dict[str, Any], next_entry: int) -> dict[str, Any]:
    """DocEntry/DocNum when absent; line defaults; LineTotal and totals when absent."""
    record.setdefault("DocEntry", next_entry)
    if record.get("DocEntry") is None:
        record["DocEntry"] = next_entry
    record.setdefault("DocNum", record["DocEntry"])
    _number_expenses(record)
    lines = record.get("DocumentLines")
    if isinstance(lines, list):
        # Complete lines (bulk data) are kept as they are: merging 400,000 dicts is slow.
        record["DocumentLines"] = lines = [
            line if isinstance(line, dict) and line.keys() >= _FULL_LINE else
            line_defaults(n) | {"DocEntry": record["DocEntry"]} | line
            if isinstance(line, dict) else line for n, line in enumerate(lines)]
        for line in lines:
            if isinstance(line, dict):
                line.setdefault("RemainingOpenQuantity", line.get("Quantity"))
                line.setdefault("UnitPrice", line.get("Price"))
        if "DocTotal" not in record and all(_priced(line) for line in lines):
            recompute(record)  # malformed figures are kept as given, totals left out
    return record


def _number_expenses(record: dict[str, Any]) -> None:
    expenses = record.get("DocumentAdditionalExpenses")
    if isinstance(expenses, list):
        for n, expense in enumerate(expenses):
            if isinstance(expense, dict):
                expense["LineNum"] = n


def _priced(line: Any) -> bool:
    return isinstance(line, dict) and all(
        isinstance(line.get(name), int | float | None) and not isinstance(line.get(name), bool)
        for name in ("Quantity", "Price"))


def _merge_lines(current: list[dict[str, Any]], patch: Any, replace: bool) -> list[dict]:
    if not isinstance(patch, list) or not all(isinstance(line, dict) for line in patch):
        raise SandboxError(400, -1000, "DocumentLines must be a collection")
    by_num = {line.get("LineNum"): line for line in current}
    kept = by_num if not replace else {
        line.get("LineNum"): line for line in current if any(
            p.get("LineNum") == line.get("LineNum") for p in patch)}
    for line in current:
        if line.get("LineNum") not in kept and line.get("LineStatus") != "bost_Open":
            raise SandboxError(400, -5002, "A closed line cannot be removed")
    next_num = max((n for n in by_num if isinstance(n, int)), default=-1) + 1
    for change in patch:
        _check_line(change)
        line = kept.get(change.get("LineNum")) if "LineNum" in change else None
        if line is None and "LineNum" in change:
            raise SandboxError(400, -2028, f"Line {change['LineNum']} not found")
        if line is None:
            line = line_defaults(next_num)
            kept[next_num] = line
            next_num += 1
        elif line.get("LineStatus") != "bost_Open":
            raise SandboxError(400, -5002, f"Line {line.get('LineNum')} is closed")
        done = float(line.get("Quantity") or 0) - float(line.get("RemainingOpenQuantity") or 0)
        line.update({k: _ENUMS.get(k, {}).get(v, v) for k, v in change.items()})
        line["RemainingOpenQuantity"] = max(0.0, float(line.get("Quantity") or 0) - done)
        line.setdefault("UnitPrice", line.get("Price"))
    return list(kept.values())


def _writable(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SandboxError(400, -1000, "The request body must be a JSON object")
    for name in body:
        if name not in DOCUMENT_ALL_PROPERTIES:
            raise SandboxError(400, -1000, f"Property '{name}' of 'Document' is invalid")
        if name in READ_ONLY:
            raise SandboxError(400, -1000, f"Property '{name}' of 'Document' is read-only")
    if "DocumentLines" in body:
        lines = body["DocumentLines"]
        if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
            raise SandboxError(400, -1000, "DocumentLines must be a collection")
        for line in lines:
            _check_line(line)
    if "DocumentAdditionalExpenses" in body:
        _check_expenses(body["DocumentAdditionalExpenses"])
    return {k: _ENUMS.get(k, {}).get(v, v) if isinstance(v, str) else v
            for k, v in body.items()}


def _check_line(line: dict[str, Any]) -> None:
    for name in line:
        if name not in LINE_ALL_PROPERTIES:
            raise SandboxError(400, -1000, f"Property '{name}' of 'DocumentLine' is invalid")
    if not _priced(line):
        raise SandboxError(400, -1000, "Quantity and Price must be numbers")


def _check_expenses(expenses: Any) -> None:
    if not isinstance(expenses, list) or not all(isinstance(row, dict) for row in expenses):
        raise SandboxError(400, -1000, "DocumentAdditionalExpenses must be a collection")
    for row in expenses:
        for name in row:
            if name not in EXPENSE_ALL_PROPERTIES:
                raise SandboxError(400, -1000, f"Property '{name}' of 'DocumentAdditionalExpense' is invalid")
            if name in EXPENSE_READ_ONLY:
                raise SandboxError(400, -1000, f"Property '{name}' of 'DocumentAdditionalExpense' is read-only")
        if not isinstance(row.get("ExpenseCode"), int) or isinstance(row.get("ExpenseCode"), bool):
            raise SandboxError(400, -1000, "Enter an additional expense code (ExpenseCode)")
        amount = row.get("LineTotal")
        if not isinstance(amount, int | float) or isinstance(amount, bool):
            raise SandboxError(400, -1000, "LineTotal of an additional expense must be a number")


def _resource_name(entity: str) -> str:
    if entity in DOCUMENT_RESOURCES:
        return entity
    try:
        return RESOURCE_OF[entity]
    except KeyError:
        raise ValueError(f"not a document collection or entity: {entity!r}") from None
