"""Demo data: the sales documents of the demo retailer, as real document flows.

`demo_documents` builds orders for the demo partners and items, and the deliveries,
invoices, credit memos and returns copied from them, with line base links
(BaseType/BaseEntry/BaseLine) and the base documents' open quantities, line statuses,
header statuses and UpdateDate/UpdateTime already moved on as SAP moves them when a
document is copied. The scenarios the hub must handle carry fixed web references
(`SCENARIOS`, NumAtCard). The same inputs, seed and `now` always give the same data.

Each collection numbers its own DocEntry from 1 (as each SAP table does), so an order
and a delivery can share a DocEntry: only the object type tells them apart.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from erp.sap_b1.sandbox.documents import recompute

ORDERS, DELIVERIES, INVOICES = "orders", "deliveries", "invoices"
CREDIT_NOTES, RETURNS = "credit_notes", "returns"
DOCUMENT_ENTITIES = (ORDERS, DELIVERIES, INVOICES, CREDIT_NOTES, RETURNS)  # load order
_OBJECT = {ORDERS: (17, "oOrders", 100000), DELIVERIES: (15, "oDeliveryNotes", 200000),
           INVOICES: (13, "oInvoices", 300000), CREDIT_NOTES: (14, "oCreditNotes", 400000),
           RETURNS: (16, "oReturns", 500000)}  # BaseType code, DocObjectCode, DocNum base
# Scenario -> the order's web reference (NumAtCard).
SCENARIOS: dict[str, str] = {
    "partial_deliveries": "WEB-100901",  # two partial deliveries complete the order
    "partly_delivered_open": "WEB-100902",  # one partial delivery, the order stays open
    "credit_memo": "WEB-100903",  # delivered, invoiced, part credited (BaseType 13)
    "returned": "WEB-100904",  # delivered, one line returned (BaseType 15)
    "cancelled": "WEB-100905",  # Cancelled=tYES, bost_Close
    "edited": "WEB-100906",  # lines changed after creation (UpdateDate > CreationDate)
    "invalid_email": "WEB-100907",  # the customer's email is invalid
    "unknown_item": "WEB-100908",  # one line's ItemCode is not an item in SAP
    "bad_total": "WEB-100909",  # DocTotal does not add up (10.00 too much)
    "freight": "WEB-100910",  # delivery charge (DocumentAdditionalExpenses) in the total
    "cancelled_delivery": "WEB-100911",  # its delivery cancelled by a cancellation document
    "foreign_currency": "WEB-100912",  # in EUR, with freight: DocTotalFc and friends
}
FREIGHT_EXPENSE_CODE = 1  # the demo company's "Freight" additional expense
UNKNOWN_ITEM_CODE = "ZZ-RETIRED-001"
WAREHOUSE = "01"
_EMAIL = re.compile(r"^[^@\s.][^@\s]*@[^@\s]+\.[A-Za-z]{2,}$")


def demo_documents(
    partners: Sequence[dict[str, Any]], items: Sequence[dict[str, Any]], seed: int = 7,
    now: datetime | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """{"orders": [...], "deliveries": [...], "invoices": [...], "credit_notes": [...],
    "returns": [...]}, every document as the Service Layer shows it (load in that order).

    About 30 routine web orders (most delivered, many invoiced, a phone order without a
    web reference) plus one document flow per `SCENARIOS` entry. Needs at least one
    well-formed customer and one sellable item; the invalid-email scenario is left out
    when no customer has an invalid email.
    """
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    good = [p for p in partners if _is_customer(p) and _EMAIL.match(p.get("EmailAddress") or "")]
    bad_email = [p for p in partners if _is_customer(p) and (p.get("EmailAddress") or "").strip()
                 and not _EMAIL.match(p["EmailAddress"])]
    stock = [_sellable(i) for i in items if _sellable(i)]
    if not good or not stock:
        raise ValueError("demo documents need a well-formed customer and a sellable item")
    flows = _Flows(rng, now)
    for n in range(30):
        when = now - timedelta(days=rng.randint(3, 60), minutes=rng.randint(0, 600))
        ref = f"WEB-{100234 + n}" if n % 10 != 9 else None  # every tenth by phone
        order = flows.order(rng.choice(good), rng.sample(stock, rng.randint(1, 4)), when, ref)
        if rng.random() < 0.7:
            delivery = flows.copy(DELIVERIES, ORDERS, order, None, when + timedelta(days=1))
            if rng.random() < 0.6:
                flows.copy(INVOICES, DELIVERIES, delivery, None, when + timedelta(days=1, hours=2))
    base = now - timedelta(days=2)

    def scenario(name: str, customer: dict, lines: int = 3) -> dict[str, Any]:
        goods = rng.sample(stock, lines) if len(stock) >= lines else _pick(stock, lines)
        return flows.order(customer, goods, base - timedelta(days=4), SCENARIOS[name])

    order = scenario("partial_deliveries", rng.choice(good))
    order["DocumentLines"][2].update(Quantity=3.0, RemainingOpenQuantity=3.0)  # 1 then 2
    recompute(order)
    flows.copy(DELIVERIES, ORDERS, order, [(0, None), (2, 1.0)], base - timedelta(days=3))
    flows.copy(DELIVERIES, ORDERS, order, [(1, None), (2, None)], base - timedelta(days=1))
    order = scenario("partly_delivered_open", rng.choice(good), lines=2)
    flows.copy(DELIVERIES, ORDERS, order, [(0, None)], base - timedelta(days=2))
    order = scenario("credit_memo", rng.choice(good))
    delivery = flows.copy(DELIVERIES, ORDERS, order, None, base - timedelta(days=3))
    invoice = flows.copy(INVOICES, DELIVERIES, delivery, None, base - timedelta(days=3))
    flows.copy(CREDIT_NOTES, INVOICES, invoice, [(1, None)], base)
    order = scenario("returned", rng.choice(good), lines=2)
    delivery = flows.copy(DELIVERIES, ORDERS, order, None, base - timedelta(days=3))
    flows.copy(RETURNS, DELIVERIES, delivery, [(0, 1.0)], base + timedelta(hours=5))
    order = scenario("cancelled", rng.choice(good), lines=2)
    flows.cancel(order, base - timedelta(days=3, hours=-2))
    order = scenario("edited", rng.choice(good), lines=2)
    flows.edit(order, base - timedelta(days=1), _pick(stock, 3)[2])
    if bad_email:
        scenario("invalid_email", bad_email[0], lines=1)
    order = scenario("unknown_item", rng.choice(good), lines=2)
    order["DocumentLines"][1].update(ItemCode=UNKNOWN_ITEM_CODE,
                                     ItemDescription="Gift Card (retired code)")
    order = scenario("bad_total", rng.choice(good), lines=2)
    order["DocTotal"] = round(order["DocTotal"] + 10.0, 2)
    order = scenario("freight", rng.choice(good), lines=2)
    flows.charge_freight(order, 4.95)
    flows.copy(DELIVERIES, ORDERS, order, None, base - timedelta(days=1))
    order = scenario("cancelled_delivery", rng.choice(good), lines=2)
    delivery = flows.copy(DELIVERIES, ORDERS, order, None, base - timedelta(days=3))
    flows.cancel_by_document(DELIVERIES, delivery, order, base - timedelta(days=2))
    order = scenario("foreign_currency", rng.choice(good), lines=2)
    order.update(DocCurrency="EUR", DocRate=0.86)
    for row in order["DocumentLines"]:
        row["Currency"] = "EUR"
    flows.charge_freight(order, 8.60)
    return flows.documents


def bulk_orders(
    count: int, lines_per_order: int = 4, *, partners: Sequence[Any], items: Sequence[Any],
    seed: int = 7, now: datetime | None = None,
) -> list[dict[str, Any]]:
    """`count` well-formed open web orders of `lines_per_order` lines, fast (100,000 x 4
    in a few seconds), for benchmarks. `partners` / `items` are dicts or plain codes;
    DocEntry 1.., NumAtCard "WEB-<1000000 + DocEntry>", stamps over the last year."""
    rng = random.Random(seed)
    rand = rng.random
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = (now - timedelta(days=365)).replace(hour=0, minute=0, second=0)
    days = [(start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(366)]
    span = int((now - start).total_seconds()) - 60
    cards = [p["CardCode"] if isinstance(p, dict) else str(p) for p in partners]
    goods = [_sellable(i) or (str(i.get("ItemCode")), str(i.get("ItemName") or ""), 10.0)
             if isinstance(i, dict) else (str(i), f"Item {i}", 10.0) for i in items]
    n_cards, n_goods = len(cards), len(goods)
    orders = []
    for entry in range(1, count + 1):
        moment = int(rand() * span)
        day, seconds = divmod(moment, 86400)
        hms = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        lines, net = [], 0.0
        for line_num in range(lines_per_order):
            code, name, price = goods[int(rand() * n_goods)]
            quantity = float(1 + int(rand() * 3))
            total = round(quantity * price, 2)
            net += total
            lines.append({
                "LineNum": line_num, "DocEntry": entry, "ItemCode": code, "ItemDescription": name,
                "Quantity": quantity, "Price": price, "UnitPrice": price, "DiscountPercent": 0.0,
                "LineTotal": total, "TaxCode": "S", "TaxTotal": round(total * 0.2, 2),
                "Currency": "GBP", "WarehouseCode": WAREHOUSE, "LineStatus": "bost_Open",
                "BaseType": -1, "BaseEntry": None, "BaseLine": None,
                "RemainingOpenQuantity": quantity,
            })
        vat = round(net * 0.2, 2)
        orders.append({
            "DocEntry": entry, "DocNum": 100000 + entry, "Series": 1, "DocType": "dDocument_Items",
            "DocDate": days[day], "DocDueDate": days[min(day + 3, 365)], "TaxDate": days[day],
            "CardCode": cards[entry % n_cards], "NumAtCard": f"WEB-{1000000 + entry}",
            "DocCurrency": "GBP", "DocRate": 1.0, "DocTotal": round(net + vat, 2), "VatSum": vat,
            "DiscountPercent": 0.0, "TotalDiscount": 0.0, "DocumentStatus": "bost_Open",
            "Cancelled": "tNO", "CancelStatus": "csNo", "CreationDate": days[day],
            "UpdateDate": days[day], "UpdateTime": hms, "DocTime": hms,
            "DocObjectCode": "oOrders", "TrackingNumber": None, "Comments": None,
            "DocumentLines": lines,
        })
    return orders


# ------------------------------------------------------------------ flows


class _Flows:
    """Builds documents and moves their base documents on, as SAP does on copy."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng, self.now = rng, now
        self.documents: dict[str, list[dict[str, Any]]] = {e: [] for e in DOCUMENT_ENTITIES}

    def order(self, customer: dict[str, Any], goods: list[tuple[str, str, float]],
              when: datetime, reference: str | None) -> dict[str, Any]:
        lines = [{"ItemCode": code, "ItemDescription": name,
                  "Quantity": float(self.rng.randint(1, 3)), "Price": price}
                 for code, name, price in goods]
        return self._document(ORDERS, customer["CardCode"], customer.get("CardName"),
                              reference, lines, when)

    def copy(self, entity: str, base_entity: str, base: dict[str, Any],
             picks: list[tuple[int, float | None]] | None, when: datetime) -> dict[str, Any]:
        """A document copied from `base`: `picks` are (base LineNum, quantity or None
        for all that is still open); None copies every open line in full."""
        rows = base["DocumentLines"]
        picks = picks or [(row["LineNum"], None) for row in rows if row["LineStatus"] == "bost_Open"]
        lines = []
        for line_num, wanted in picks:
            row = rows[line_num]
            quantity = row["RemainingOpenQuantity"] if wanted is None else wanted
            row["RemainingOpenQuantity"] = max(0.0, row["RemainingOpenQuantity"] - quantity)
            if row["RemainingOpenQuantity"] == 0:
                row["LineStatus"] = "bost_Close"
            lines.append({"ItemCode": row["ItemCode"], "ItemDescription": row["ItemDescription"],
                          "Quantity": quantity, "Price": row["Price"],
                          "WarehouseCode": row["WarehouseCode"],
                          "BaseType": _OBJECT[base_entity][0], "BaseEntry": base["DocEntry"],
                          "BaseLine": line_num})
        if all(row["LineStatus"] == "bost_Close" for row in rows):
            base["DocumentStatus"] = "bost_Close"
        base.update(_stamp(when))
        document = self._document(entity, base["CardCode"], base.get("CardName"),
                                  base.get("NumAtCard"), lines, when)
        if entity == DELIVERIES:
            document["TrackingNumber"] = f"RM{self.rng.randint(10**8, 10**9 - 1)}GB"
        return document

    def cancel(self, order: dict[str, Any], when: datetime) -> None:
        order.update(Cancelled="tYES", CancelStatus="csYes", DocumentStatus="bost_Close")
        for row in order["DocumentLines"]:
            row["LineStatus"] = "bost_Close"
        order.update(_stamp(when))

    @staticmethod
    def charge_freight(document: dict[str, Any], amount: float) -> None:
        """A delivery charge (before tax, local currency) on the document."""
        document["DocumentAdditionalExpenses"] = [{
            "ExpenseCode": FREIGHT_EXPENSE_CODE, "LineNum": 0, "LineTotal": amount, "TaxCode": "S",
            "Remarks": "Standard delivery"}]
        recompute(document)

    def cancel_by_document(self, entity: str, document: dict[str, Any], base: dict[str, Any],
                           when: datetime) -> dict[str, Any]:
        """As SAP cancels a delivery or an invoice: the original cancelled, a cancellation
        document reversing it, and the base document's lines open again."""
        document.update(Cancelled="tYES", CancelStatus="csYes", DocumentStatus="bost_Close")
        for row in document["DocumentLines"]:
            row["LineStatus"] = "bost_Close"
            base_row = base["DocumentLines"][row["BaseLine"]]
            base_row["RemainingOpenQuantity"] += row["Quantity"]
            base_row["LineStatus"] = "bost_Open"
        base["DocumentStatus"] = "bost_Open"
        base.update(_stamp(when))
        document.update(_stamp(when))
        code = _OBJECT[entity][0]
        lines = [{"ItemCode": row["ItemCode"], "ItemDescription": row["ItemDescription"],
                  "Quantity": row["Quantity"], "Price": row["Price"], "WarehouseCode": row["WarehouseCode"],
                  "BaseType": code, "BaseEntry": document["DocEntry"], "BaseLine": row["LineNum"],
                  "LineStatus": "bost_Close", "RemainingOpenQuantity": 0.0}
                 for row in document["DocumentLines"]]
        reversal = self._document(entity, document["CardCode"], document.get("CardName"),
                                  document.get("NumAtCard"), lines, when)
        reversal.update(CancelStatus="csCancellation", DocumentStatus="bost_Close")
        return reversal

    def edit(self, order: dict[str, Any], when: datetime, extra: tuple[str, str, float]) -> None:
        """The customer service team raises line 0's quantity and adds a line."""
        rows = order["DocumentLines"]
        rows[0]["Quantity"] = rows[0]["RemainingOpenQuantity"] = rows[0]["Quantity"] + 1
        code, name, price = extra
        rows.append(self._line(len(rows), order["DocEntry"], {
            "ItemCode": code, "ItemDescription": name, "Quantity": 1.0, "Price": price}))
        recompute(order)
        order.update(_stamp(when))

    def _document(self, entity: str, card_code: str, card_name: str | None,
                  reference: str | None, lines: list[dict[str, Any]],
                  when: datetime) -> dict[str, Any]:
        table = self.documents[entity]
        entry = len(table) + 1
        _, object_code, numbers = _OBJECT[entity]
        day = when.strftime("%Y-%m-%d")
        document = {
            "DocEntry": entry, "DocNum": numbers + entry, "Series": 1,
            "DocType": "dDocument_Items", "DocDate": day,
            "DocDueDate": (when + timedelta(days=3)).strftime("%Y-%m-%d"), "TaxDate": day,
            "CardCode": card_code, "CardName": card_name, "NumAtCard": reference,
            "DocCurrency": "GBP", "DocRate": 1.0, "DiscountPercent": 0.0,
            "DocumentStatus": "bost_Open", "Cancelled": "tNO", "CancelStatus": "csNo",
            "CreationDate": day, "DocTime": when.strftime("%H:%M:%S"),
            "DocObjectCode": object_code, "TrackingNumber": None, "Comments": None,
            "DocumentLines": [self._line(n, entry, line) for n, line in enumerate(lines)],
            "DocumentAdditionalExpenses": [],
        } | _stamp(when)
        table.append(recompute(document))
        return document

    @staticmethod
    def _line(line_num: int, entry: int, line: dict[str, Any]) -> dict[str, Any]:
        return {"LineNum": line_num, "DocEntry": entry, "WarehouseCode": WAREHOUSE,
                "UnitPrice": line["Price"], "DiscountPercent": 0.0, "TaxCode": "S",
                "Currency": "GBP", "LineStatus": "bost_Open", "BaseType": -1,
                "BaseEntry": None, "BaseLine": None,
                "RemainingOpenQuantity": line["Quantity"]} | line


def _stamp(when: datetime) -> dict[str, str]:
    return {"UpdateDate": when.strftime("%Y-%m-%d"), "UpdateTime": when.strftime("%H:%M:%S")}


def _is_customer(partner: dict[str, Any]) -> bool:
    return (partner.get("CardType") == "cCustomer" and partner.get("Valid") != "tNO"
            and partner.get("Frozen") != "tYES")


def _sellable(item: dict[str, Any]) -> tuple[str, str, float] | None:
    """(code, name, retail price) of an item a web shop can sell, else None."""
    if item.get("SalesItem") == "tNO" or item.get("Valid") == "tNO" or item.get("Frozen") == "tYES":
        return None
    price = next((p.get("Price") for p in item.get("ItemPrices") or [] if p.get("PriceList") == 1),
                 None)
    if not isinstance(price, int | float) or isinstance(price, bool) or price <= 0:
        return None
    return str(item["ItemCode"]), str(item.get("ItemName") or ""), float(price)


def _pick(stock: list[tuple[str, str, float]], count: int) -> list[tuple[str, str, float]]:
    """The first `count` sellable items, cycling when there are fewer."""
    return [stock[n % len(stock)] for n in range(count)]
