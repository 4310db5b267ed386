"""The peak itself: new orders, customer changes and deliveries arriving in SAP B1.

Changes are written into the SAP sandbox through its test hooks, a tick at a time, at a
steady rate over the run; each is logged with the generator's wall clock at the moment
it was made (the lag's start). SAP stamps UpdateDate/UpdateTime itself, as it would.
"""
from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

ORDER = 17  # BoObjectTypes oOrders: the BaseType of a delivery line copied from an order
STAMPS = ("DocDate", "DocDueDate", "TaxDate", "CreationDate", "UpdateDate", "UpdateTime", "DocTime")


@dataclass
class LoadLog:
    """What was changed in SAP, and when (epoch seconds)."""

    orders: dict[int, float] = field(default_factory=dict)  # DocEntry -> created
    doc_nums: dict[int, int] = field(default_factory=dict)  # DocEntry -> DocNum (Ometria's order id)
    new_customer_orders: set[int] = field(default_factory=set)
    changes: list[tuple[str, int, float, bool]] = field(default_factory=list)  # CardCode, marker, at, new customer
    deliveries: dict[int, float] = field(default_factory=dict)  # order DocEntry -> delivered in full
    started: float = 0.0
    finished: float = 0.0


class LoadGenerator(threading.Thread):
    """Writes `orders` new orders and `changes` customer changes over `seconds`; a share of
    the new orders is delivered `dispatch_after` seconds after it was placed; a share of the
    customer changes are new customers, each placing one of the new orders at once."""

    def __init__(self, *, sap, templates: list[dict], first_entry: int, pool: list[str], orders: int,
                 changes: int, seconds: float, dispatch_share: float, dispatch_after: float,
                 new_customer_share: float, tick: float = 1.0, seed: int = 11) -> None:
        super().__init__(daemon=True, name="peak-load")
        self.sap, self.templates, self.first_entry, self.pool = sap, templates, first_entry, pool
        self.total_orders, self.total_changes, self.seconds = orders, changes, seconds
        self.dispatch_share, self.dispatch_after = dispatch_share, dispatch_after
        self.new_every = round(1 / new_customer_share) if new_customer_share > 0 else 0
        self.tick = tick
        self.rng = random.Random(seed)
        self.log = LoadLog()
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self._due: deque[tuple[float, int]] = deque()
        self._waiting_customers: list[str] = []
        self._names: dict[str, str] = {}

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as error:  # noqa: BLE001 - reported by the bench, not lost in a thread
            self.error = error

    def _run(self) -> None:
        start = self.log.started = time.time()
        made_orders = made_changes = 0
        while not self._halt.is_set():
            elapsed = min(time.time() - start, self.seconds)
            share = elapsed / self.seconds if self.seconds else 1.0
            want_changes = int(self.total_changes * share)
            if want_changes > made_changes:
                self._change_customers(made_changes, want_changes)
                made_changes = want_changes
            want_orders = int(self.total_orders * share)
            if want_orders > made_orders:
                self._place_orders(made_orders, want_orders)
                made_orders = want_orders
            self._deliver(time.time())
            if elapsed >= self.seconds:
                break
            self._halt.wait(self.tick)
        self.log.finished = time.time()

    # ------------------------------------------------------------ the three kinds of change

    def _change_customers(self, done: int, wanted: int) -> None:
        new_partners, edits = [], []
        for seq in range(done + 1, wanted + 1):
            if self.new_every and seq % self.new_every == 0:
                code = f"CN{seq:07d}"
                new_partners.append((seq, {
                    "CardCode": code, "CardName": f"New Customer {seq} #c{seq}", "CardType": "cCustomer",
                    "GroupCode": 100, "EmailAddress": f"new.customer.{seq}@example.com", "Currency": "GBP",
                    "Valid": "tYES", "Frozen": "tNO", "Country": "GB", "BPAddresses": [],
                    "U_LoyaltyTier": "Bronze", "U_MarketingConsent": "Y", "U_Birthday": None}))
                self._waiting_customers.append(code)
            else:
                code = self.pool[(seq - 1) % len(self.pool)]
                edits.append((code, seq))
        sap = self.sap
        with sap._lock:
            now = time.time()
            for seq, partner in new_partners:
                sap.add_business_partner(partner)
                self.log.changes.append((partner["CardCode"], seq, now, True))
            for code, seq in edits:
                base = self._names.setdefault(code, sap.partners[code]["CardName"])
                sap.update_business_partner(code, CardName=f"{base} #c{seq}")
                self.log.changes.append((code, seq, now, False))

    def _place_orders(self, done: int, wanted: int) -> None:
        documents = []
        for n in range(done, wanted):
            template = self.templates[n]
            entry = self.first_entry + n
            if self._waiting_customers:
                card = self._waiting_customers.pop(0)
                self.log.new_customer_orders.add(entry)
            else:
                card = self.pool[int(self.rng.random() * len(self.pool))]
            document = {k: v for k, v in template.items() if k not in STAMPS}
            document.update(DocEntry=entry, DocNum=100000 + entry, NumAtCard=f"WEB-{1000000 + entry}", CardCode=card,
                            DocumentLines=[line | {"DocEntry": entry} for line in template["DocumentLines"]])
            documents.append(document)
        now = time.time()
        self.sap.add_documents("orders", documents)
        for document in documents:
            entry = document["DocEntry"]
            self.log.orders[entry] = now
            self.log.doc_nums[entry] = document["DocNum"]
            if self.rng.random() < self.dispatch_share:
                self._due.append((now + self.dispatch_after, entry))

    def _deliver(self, now: float) -> None:
        due = []
        while self._due and self._due[0][0] <= now:
            due.append(self._due.popleft()[1])
        if not due:
            return
        sap = self.sap
        with sap._lock:
            deliveries = []
            for entry in due:
                order = sap.documents["Orders"][str(entry)]
                deliveries.append({
                    "CardCode": order["CardCode"], "NumAtCard": order.get("NumAtCard"),
                    "TrackingNumber": f"RM{100000000 + entry}GB",
                    "DocumentLines": [{
                        "ItemCode": line["ItemCode"], "ItemDescription": line.get("ItemDescription"),
                        "Quantity": line["RemainingOpenQuantity"], "Price": line["Price"],
                        "WarehouseCode": line.get("WarehouseCode"), "BaseType": ORDER, "BaseEntry": entry,
                        "BaseLine": line["LineNum"]} for line in order["DocumentLines"]],
                })
            stamp = time.time()
            sap.add_documents("deliveries", deliveries, link_bases=True)
        for entry in due:
            self.log.deliveries[entry] = stamp
