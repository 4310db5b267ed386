"""Items (OITM with ITM1 prices and OITW stock) and Warehouses (OWHS) in the sandbox.

`ItemHooks` is mixed into `SapB1Sandbox`; it relies on the sandbox's `_lock`,
`_generation`, `_stamp` and the `items` / `warehouses` dicts.

Vendor behaviour mirrored on purpose: a stock change (`set_stock`) does NOT bump the
item's UpdateDate/UpdateTime unless `touch=True`. Whether real stock movements bump
OITM.UpdateDate is unconfirmed (contract 1.6), so the hub must poll stock in full.
The item totals (QuantityOnStock, ...) follow the warehouse rows, as OITM.OnHand does.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from erp.sap_b1.sandbox.errors import SandboxError

# Properties this sandbox keeps on an Item; all exist on SAPB1.Item.
ITEM_PROPERTIES: tuple[str, ...] = (
    "ItemCode", "ItemName", "ForeignName", "ItemsGroupCode", "BarCode", "InventoryItem",
    "SalesItem", "PurchaseItem", "Valid", "Frozen", "QuantityOnStock",
    "QuantityOrderedFromVendors", "QuantityOrderedByCustomers", "ManageBatchNumbers",
    "ManageSerialNumbers", "DefaultWarehouse", "CreateDate", "CreateTime", "UpdateDate",
    "UpdateTime", "ItemPrices", "ItemWarehouseInfoCollection",
)
# The demo company's own item user fields (company-specific, so not in SAP's metadata).
ITEM_USER_FIELDS: dict[str, str] = {"U_Season": "Edm.String", "U_Colour": "Edm.String"}
ITEM_ALL_PROPERTIES = frozenset((*ITEM_PROPERTIES, *ITEM_USER_FIELDS))
# On SAPB1.ItemWarehouseInfo and SAPB1.ItemPrice respectively.
WAREHOUSE_INFO_PROPERTIES: tuple[str, ...] = (
    "WarehouseCode", "InStock", "Committed", "Ordered", "MinimalStock", "MaximalStock",
    "Locked", "ItemCode",
)
ITEM_PRICE_PROPERTIES: tuple[str, ...] = (
    "PriceList", "Price", "Currency", "BasePriceList", "Factor",
)
# On SAPB1.Warehouse (which has no UpdateDate/UpdateTime).
WAREHOUSE_PROPERTIES = frozenset((
    "WarehouseCode", "WarehouseName", "Inactive", "Street", "City", "County", "Country",
    "ZipCode", "DropShip", "Nettable",
))
# Collection rows are updated by these keys on PATCH (B1S-ReplaceCollectionsOnPatch off).
_STOCK_FIELDS = {"in_stock": "InStock", "committed": "Committed", "ordered": "Ordered"}
_TOTALS = {"QuantityOnStock": "InStock", "QuantityOrderedByCustomers": "Committed",
           "QuantityOrderedFromVendors": "Ordered"}


class ItemHooks:
    """Test hooks and PATCH handling for Items and Warehouses."""

    items: dict[str, dict[str, Any]]
    warehouses: dict[str, dict[str, Any]]

    # ------------------------------------------------------------ test hooks

    def add_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """Store an item as given (malformed values too), filling SAP's defaults."""
        self.add_items([item])
        return self.items[str(item.get("ItemCode"))] if item.get("ItemCode") else {}

    def add_items(self, items: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            defaults = self._item_defaults()
            for item in items:
                record = defaults | dict(item)
                for name in ("ItemPrices", "ItemWarehouseInfoCollection"):
                    if record[name] is defaults[name]:  # never share the default lists
                        record[name] = []
                code = str(record.get("ItemCode") or f"__missing_{len(self.items)}")
                rows = record.get("ItemWarehouseInfoCollection")
                if isinstance(rows, list):
                    for row in rows:
                        if isinstance(row, dict):
                            row.setdefault("ItemCode", code)
                self.items[code] = record
            self._generation += 1

    def add_warehouses(self, warehouses: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for warehouse in warehouses:
                record = {"Inactive": "tNO", "DropShip": "tNO", "Nettable": "tYES"}
                record |= dict(warehouse)
                self.warehouses[str(record.get("WarehouseCode"))] = record
            self._generation += 1

    def update_item(self, item_code: str, **fields: Any) -> dict[str, Any]:
        """Change fields and stamp UpdateDate/UpdateTime from the clock, as SAP does."""
        with self._lock:
            record = self.items[item_code]
            record.update(fields)
            record.update(self._stamp("Update"))
            self._generation += 1
            return record

    def set_stock(
        self,
        item_code: str,
        warehouse_code: str,
        in_stock: float | None = None,
        committed: float | None = None,
        ordered: float | None = None,
        touch: bool = False,
    ) -> dict[str, Any]:
        """Set one item's figures in one warehouse (a row is added if missing).

        By default UpdateDate/UpdateTime stay as they were (see the module docstring);
        `touch=True` stamps them as if the movement had updated OITM.
        """
        with self._lock:
            record = self.items[item_code]
            rows = record.setdefault("ItemWarehouseInfoCollection", [])
            row = next((r for r in rows if r.get("WarehouseCode") == warehouse_code), None)
            if row is None:
                row = _stock_row(item_code, warehouse_code)
                rows.append(row)
            given = {"in_stock": in_stock, "committed": committed, "ordered": ordered}
            for name, value in given.items():
                if value is not None:
                    row[_STOCK_FIELDS[name]] = float(value)
            _recount(record)
            if touch:
                record.update(self._stamp("Update"))
            self._generation += 1
            return row

    # ------------------------------------------------------------ PATCH

    def _patch_item(self, code: str, fields: dict[str, Any]) -> None:
        """PATCH Items('code'): prices merge by PriceList; stock is read-only here, as
        in SAP (stock moves through inventory documents, not item updates)."""
        if "ItemWarehouseInfoCollection" in fields:
            raise SandboxError(400, -5002, "Stock quantities cannot be changed on the item; "
                                           "post an inventory document instead")
        with self._lock:
            if code not in self.items:
                raise SandboxError(404, -2028, "No matching records found (ODBC -2028)")
            prices = fields.pop("ItemPrices", None)
            if prices is not None:
                if not isinstance(prices, list):
                    raise SandboxError(400, -1000, "ItemPrices must be a collection")
                current = {p.get("PriceList"): p for p in self.items[code]["ItemPrices"]}
                for price in prices:
                    current.setdefault(price.get("PriceList"), {}).update(price)
                fields["ItemPrices"] = list(current.values())
            self.update_item(code, **fields)

    def _item_defaults(self) -> dict[str, Any]:
        stamp = self._stamp("Create") | self._stamp("Update")
        return {
            "ItemsGroupCode": 100, "InventoryItem": "tYES", "SalesItem": "tYES",
            "PurchaseItem": "tYES", "Valid": "tYES", "Frozen": "tNO",
            "ManageBatchNumbers": "tNO", "ManageSerialNumbers": "tNO",
            "QuantityOnStock": 0.0, "QuantityOrderedFromVendors": 0.0,
            "QuantityOrderedByCustomers": 0.0, "ItemPrices": [],
            "ItemWarehouseInfoCollection": [],
        } | stamp


def _stock_row(item_code: str, warehouse_code: str) -> dict[str, Any]:
    return {
        "WarehouseCode": warehouse_code, "InStock": 0.0, "Committed": 0.0, "Ordered": 0.0,
        "MinimalStock": 0.0, "MaximalStock": 0.0, "Locked": "tNO", "ItemCode": item_code,
    }


def _recount(record: dict[str, Any]) -> None:
    rows = record.get("ItemWarehouseInfoCollection") or []
    for total, field in _TOTALS.items():
        values = [r.get(field) for r in rows if isinstance(r, dict)]
        record[total] = float(sum(v for v in values if isinstance(v, int | float)))
