"""November's documents in SAP, the same for both destinations' reconciliation tests: an
order of each kind the report must tell apart. Mixed into a hub with `order`, `copy`,
`sl` and `cycle` (tests/test_end_to_end_orders_lifecycle.py, tests/test_end_to_end_ometria.py)."""
from __future__ import annotations

from tests.hub import partner


class NovemberDocuments:
    def build_month(self) -> dict[str, int]:
        self.sap.add_business_partners([partner("C001"), partner("C002"), partner("C003", Currency="EUR"),
                                        partner("C009", EmailAddress="pat@")])  # C009 never reaches the destination
        entries = {
            "plain": self.order("C001", "WEB-1", ("1001", 2, 30.0)),
            "cancelled": self.order("C001", "WEB-2", ("1001", 1, 40.0)),
            "partial": self.order("C002", "WEB-3", ("1001", 1, 50.0), ("1002", 1, 25.0)),
            "full": self.order("C002", "WEB-4", ("1001", 1, 80.0)),
            "foreign": self.order("C003", "WEB-5", ("1001", 2, 50.0), DocCurrency="EUR", DocRate=0.85),
            "waiting": self.order("C009", "WEB-6", ("1001", 1, 15.0)),
            "lost": self.order("C001", "WEB-7", ("1002", 3, 10.0)),
        }
        self.cycle()
        self.sl("POST", f"Orders({entries['cancelled']})/Cancel")
        for name in ("partial", "full"):
            invoice = self.copy("Invoices", "C002", 17, entries[name], *((n, 1) for n in range(
                2 if name == "partial" else 1)))
            self.copy("CreditNotes", "C002", 13, invoice, (0, 1))  # line 0 credited: 50 of 75, or all 80
        self.cycle()
        return entries
