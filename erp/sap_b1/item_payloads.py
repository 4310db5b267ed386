"""Service Layer Item / Warehouse JSON -> canonical item, stock and warehouse data.

Four source entities live here:

- "items" (Items, OITM + ITM1 prices + OITW stock): the whole product, read by delta.
- "item_stock" (Items with only ItemCode and ItemWarehouseInfoCollection): stock only,
  read in full on a schedule, because a stock movement may not bump OITM.UpdateDate
  (unconfirmed vendor behaviour, contract 1.6), so an Items delta can miss it.
- "warehouses" (Warehouses, OWHS): small, read in full. SAPB1.Warehouse has no
  UpdateDate/UpdateTime in the metadata, so there is nothing to take a delta by.
- "item_groups" (ItemGroups, OITB: Number, GroupName): the product categories, small
  and read in full for the same reason (no change stamp in the metadata).

Like `payloads`, every converter returns a SourceRecord and never raises: a record that
cannot be understood gets `data=None` and an `error` written for the person who fixes it
in SAP.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from erp.sap_b1.payloads import YES_NO, Unreadable, source_updated_at, unexpected_value
from syncapp.adapters import SourceRecord

ITEMS = "items"
ITEM_STOCK = "item_stock"
WAREHOUSES = "warehouses"
ITEM_GROUPS = "item_groups"
ITEMS_RESOURCE = "Items"
WAREHOUSES_RESOURCE = "Warehouses"
ITEM_GROUPS_RESOURCE = "ItemGroups"

ITEM_SELECT_FIELDS: tuple[str, ...] = (
    "ItemCode", "ItemName", "ItemsGroupCode", "BarCode", "SalesItem", "Valid", "Frozen",
    "CreateDate", "CreateTime", "UpdateDate", "UpdateTime", "ItemPrices",
    "ItemWarehouseInfoCollection",
)
STOCK_SELECT = "ItemCode,ItemWarehouseInfoCollection"
WAREHOUSE_SELECT = "WarehouseCode,WarehouseName,Inactive"
ITEM_GROUP_SELECT = "Number,GroupName"


def item_select_clause(udfs: Iterable[str] = ()) -> str:
    """$select for the "items" entity, plus the company's item user fields."""
    return ",".join((*ITEM_SELECT_FIELDS, *udfs))


# ------------------------------------------------------------------ records


def to_item_record(raw: Any) -> SourceRecord:
    """One Item -> SourceRecord; data keys: item_code, item_name, item_group, barcode,
    active, sales_item, prices, udfs, stock, source_updated_at. Version: the
    last-changed stamp in ISO form ("" if SAP gave none)."""
    def version(data: dict[str, Any]) -> str:
        stamp = data["source_updated_at"]
        return stamp.isoformat() if stamp else ""

    return _record(ITEMS, "ItemCode", raw, item_data, version)


def to_stock_record(raw: Any) -> SourceRecord:
    """One Item's stock -> SourceRecord; data keys: item_code, stock. Version: a short
    digest of the figures, so an unchanged level always carries the same version."""
    def version(data: dict[str, Any]) -> str:
        text = json.dumps(data["stock"], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    return _record(ITEM_STOCK, "ItemCode", raw, stock_data, version)


def to_warehouse_record(raw: Any) -> SourceRecord:
    """One Warehouse -> SourceRecord; data keys: warehouse_code, warehouse_name,
    inactive. Version "" (OWHS carries no change stamp)."""
    return _record(WAREHOUSES, "WarehouseCode", raw, warehouse_data, lambda _: "")


def to_item_group_record(raw: Any) -> SourceRecord:
    """One ItemGroup -> SourceRecord keyed by str(Number); data keys: code, name. Version
    "" (OITB carries no change stamp)."""
    return _record(ITEM_GROUPS, "Number", raw, item_group_data, lambda _: "")


# ------------------------------------------------------------------ canonical data


def item_data(raw: dict[str, Any]) -> dict[str, Any]:
    """Canonical fields of one Item; raises Unreadable with a reason."""
    code = _code(raw, "ItemCode", "An item", "ItemName")
    # Marketing can sell an item only if it is active and not frozen. The ValidFrom /
    # ValidTo / FrozenFrom / FrozenTo date ranges are not applied (precedence unconfirmed).
    valid = _yes_no(code, "Active (Valid)", raw.get("Valid"), default=True)
    frozen = _yes_no(code, "Inactive (Frozen)", raw.get("Frozen"), default=False)
    group = _int(code, "item group (ItemsGroupCode)", raw.get("ItemsGroupCode"))
    return {
        "item_code": code,
        "item_name": _text(raw.get("ItemName")),
        "item_group": group,
        "category_code": "" if group is None else str(group),
        "product_hierarchy": "",
        "barcode": _text(raw.get("BarCode")),
        "active": valid and not frozen,
        "sales_item": _yes_no(code, "Sales item", raw.get("SalesItem"), default=True),
        "prices": _prices(code, raw.get("ItemPrices")),
        "udfs": {k: v for k, v in raw.items() if k.startswith("U_")},
        "stock": _stock(code, raw.get("ItemWarehouseInfoCollection")),
        "source_updated_at": source_updated_at(raw, "ItemCode", "Item"),
    }


def stock_data(raw: dict[str, Any]) -> dict[str, Any]:
    """{item_code, stock} of one Item; raises Unreadable with a reason."""
    code = _code(raw, "ItemCode", "An item", "ItemName")
    return {"item_code": code, "stock": _stock(code, raw.get("ItemWarehouseInfoCollection"))}


def warehouse_data(raw: dict[str, Any]) -> dict[str, Any]:
    """{warehouse_code, warehouse_name, inactive} of one Warehouse."""
    code = _code(raw, "WarehouseCode", "A warehouse", "WarehouseName")
    return {
        "warehouse_code": code,
        "warehouse_name": _text(raw.get("WarehouseName")),
        "inactive": _yes_no(code, "Inactive", raw.get("Inactive"), default=False,
                            label="Warehouse"),
    }


def item_group_data(raw: dict[str, Any]) -> dict[str, Any]:
    """{code, name} of one ItemGroup; raises Unreadable with a reason."""
    number = raw.get("Number")
    if isinstance(number, bool) or not isinstance(number, int):
        name = _text(raw.get("GroupName"))
        hint = f" (name {name!r})" if name else ""
        raise Unreadable(f"An item group in SAP{hint} has no whole-number code (Number), so its items cannot "
                         "be matched to it. Check the record in SAP.")
    return {"code": str(number), "name": _text(raw.get("GroupName"))}


# ------------------------------------------------------------------ helpers


def _record(
    entity: str,
    key_field: str,
    raw: Any,
    convert: Callable[[dict[str, Any]], dict[str, Any]],
    version: Callable[[dict[str, Any]], str],
) -> SourceRecord:
    if not isinstance(raw, dict):
        raw = {"value": raw}
    # Keys are kept exactly as SAP holds them (no trimming of leading zeros or spaces):
    # SKU normalisation is a rule applied later, in one place, with collision checks.
    key = str(raw.get(key_field) or "")
    try:
        data = convert(raw)
    except Exception as exc:  # noqa: BLE001 - never raises (Unreadable, or a value SAP never sends)
        stamp = f"{raw.get('UpdateDate') or ''} {raw.get('UpdateTime') or ''}".strip()
        error = str(exc) if isinstance(exc, Unreadable) else unexpected_value(
            _LABELS.get(entity, "Item"), key, exc)
        return SourceRecord(entity=entity, key=key, version=stamp[:40], data=None, raw=raw,
                            error=error)
    return SourceRecord(entity=entity, key=key, version=version(data), data=data, raw=raw)


_LABELS = {WAREHOUSES: "Warehouse", ITEM_GROUPS: "Item group"}


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _code(raw: dict[str, Any], key_field: str, what: str, name_field: str) -> str:
    value = raw.get(key_field)
    if not isinstance(value, str) or not value.strip():
        name = _text(raw.get(name_field))
        hint = f" (name {name!r})" if name else ""
        raise Unreadable(
            f"{what} in SAP{hint} has no code ({key_field}), so it cannot be matched to "
            "anything. Check the record in SAP."
        )
    return value


def _yes_no(code: str, field: str, value: Any, *, default: bool, label: str = "Item") -> bool:
    if value in (None, ""):
        return default
    if not isinstance(value, str) or value not in YES_NO:
        raise Unreadable(
            f"{label} {code} has an unexpected {field} setting ({value!r}); expected yes or no."
        )
    return YES_NO[value]


def _int(code: str, field: str, value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise Unreadable(f"Item {code} has an {field} that is not a whole number ({value!r}).")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Unreadable(
            f"Item {code} has an {field} that is not a whole number ({value!r})."
        ) from None


def _number(code: str, field: str, value: Any, *, optional: bool = False) -> float | None:
    """A Service Layer Edm.Double. Strings are refused: SAP never sends one, so a string
    here means something upstream (an import, a proxy) mangled the value, e.g. '12,99'."""
    if value is None and optional:
        return None
    if value is None:
        return 0.0  # SAP omits zero quantities on some versions; absent means none
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unreadable(f"Item {code} has a {field} that is not a number ({value!r}). "
                         "Correct it in SAP.")
    if value != value or value in (float("inf"), float("-inf")):
        raise Unreadable(f"Item {code} has a {field} that is not a number ({value!r}).")
    return float(value)


def _rows(code: str, what: str, value: Any) -> Sequence[dict[str, Any]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise Unreadable(f"Item {code} has {what} we cannot read.")
    return value


def _prices(code: str, value: Any) -> list[dict[str, Any]]:
    prices = []
    for row in _rows(code, "prices", value):
        price_list = _int(code, "price list number", row.get("PriceList"))
        if price_list is None:
            raise Unreadable(f"Item {code} has a price without a price list.")
        prices.append({
            "price_list": price_list,
            # No price set on a list is null in SAP; that is not zero, so keep None.
            "price": _number(code, f"price on price list {price_list}", row.get("Price"),
                             optional=True),
            "currency": _text(row.get("Currency")),
        })
    return prices


def _stock(code: str, value: Any) -> list[dict[str, Any]]:
    stock = []
    for row in _rows(code, "warehouse stock lines", value):
        warehouse = _text(row.get("WarehouseCode"))
        if not warehouse:
            raise Unreadable(f"Item {code} has a stock line without a warehouse code.")
        stock.append({
            "warehouse_code": warehouse,
            "in_stock": _number(code, f"in-stock figure in warehouse {warehouse}",
                                row.get("InStock")),
            "committed": _number(code, f"committed figure in warehouse {warehouse}",
                                 row.get("Committed")),
            "ordered": _number(code, f"ordered figure in warehouse {warehouse}",
                               row.get("Ordered")),
        })
    return stock
