"""Demo data: a UK fashion and homeware retailer's Items and Warehouses.

The mess is deliberate: ERP-style zero-padded numeric codes next to alphanumeric ones,
two codes that collide once leading zeros are stripped, an item whose price arrives
mangled, SKUs whose only stock sits in the ring-fenced wholesale warehouse, SKUs out of
stock and SKUs low on stock. Barcodes are EAN-13s with the GS1 UK prefix and a valid
check digit, but made up. The same seed and `now` always give the same data.
"""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

WAREHOUSE_MAIN, WAREHOUSE_STORE = "01", "02"
WAREHOUSE_WHOLESALE, WAREHOUSE_INACTIVE = "WHS-WHOLESALE", "99"
# Both normalise to "12345" once leading zeros go: a SKU collision the hub must report.
COLLIDING_CODES = ("00012345", "012345")
# Its retail price arrives as the text "12,99" (a spreadsheet import gone wrong).
MALFORMED_PRICE_CODE = "000099999"
PRICE_LIST_RETAIL, PRICE_LIST_WHOLESALE = 1, 2

GROUPS: dict[int, tuple[str, tuple[str, ...]]] = {
    101: ("Womenswear", ("Linen Shirt", "Wrap Dress", "Cashmere Jumper", "Wide-Leg Trousers",
                         "Breton Top", "Quilted Jacket")),
    102: ("Menswear", ("Oxford Shirt", "Merino Crew Neck", "Chino Trousers", "Waxed Jacket",
                       "Flannel Shirt")),
    103: ("Footwear", ("Suede Chelsea Boot", "Canvas Plimsoll", "Leather Loafer",
                       "Sheepskin Slipper")),
    104: ("Accessories", ("Lambswool Scarf", "Leather Belt", "Tote Bag", "Wool Beanie")),
    105: ("Homeware", ("Linen Tea Towel", "Stoneware Mug", "Wool Throw", "Cotton Cushion",
                       "Enamel Jug", "Oak Chopping Board")),
    106: ("Candles & Fragrance", ("Fig Candle", "Sea Salt Diffuser", "Cedar Candle")),
}
COLOURS = ("Navy", "Oatmeal", "Sage", "Charcoal", "Rust", "Ecru", "Forest", "Blush")
SIZES = ("XS", "S", "M", "L", "XL")
SIZED_GROUPS = (101, 102)
SEASONS = ("SS26", "AW26", "Core")
PRICES = (4.5, 6.0, 8.5, 12.0, 14.99, 19.5, 24.0, 29.99, 39.0, 49.0, 59.99, 79.0, 95.0,
          129.0, 149.0)


def demo_item_groups() -> list[dict[str, Any]]:
    """The demo's item groups (OITB): the categories its items belong to."""
    return [{"Number": number, "GroupName": name} for number, (name, _) in GROUPS.items()]


def demo_warehouses() -> list[dict[str, Any]]:
    """Main warehouse, shop floor, a ring-fenced wholesale warehouse, an inactive one."""
    return [
        {"WarehouseCode": WAREHOUSE_MAIN, "WarehouseName": "Main Warehouse - Leeds",
         "Inactive": "tNO", "City": "Leeds", "Country": "GB", "ZipCode": "LS1 4DY"},
        {"WarehouseCode": WAREHOUSE_STORE, "WarehouseName": "Store - York",
         "Inactive": "tNO", "City": "York", "Country": "GB", "ZipCode": "YO1 7HH"},
        {"WarehouseCode": WAREHOUSE_WHOLESALE,
         "WarehouseName": "Wholesale (ring-fenced) - Bradford", "Inactive": "tNO",
         "City": "Bradford", "Country": "GB", "ZipCode": "BD1 1AA"},
        {"WarehouseCode": WAREHOUSE_INACTIVE, "WarehouseName": "Old Depot - closed",
         "Inactive": "tYES", "City": "Wakefield", "Country": "GB", "ZipCode": "WF1 1AA"},
    ]


def demo_items(count: int = 120, seed: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
    """`count` items (at least 8) as the Service Layer shows them, with every warehouse row.

    Stock profiles, in roughly these shares: normal; out of stock everywhere (~10%);
    low, 1-3 units on sale (~10%); stock only in the wholesale warehouse (~8%). Also one
    frozen item, one invalid item, one non-sales item (packaging), the colliding pair
    COLLIDING_CODES and MALFORMED_PRICE_CODE.
    """
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    codes = _codes(rng, max(count, 8))
    items = [_item(rng, code, n, now) for n, code in enumerate(codes)]
    profiles = ["normal"] * len(items)
    spots = list(range(len(items)))
    rng.shuffle(spots)
    for profile, share in (("out", 10), ("low", 10), ("wholesale_only", 12)):
        for _ in range(max(1, len(items) // share)):
            profiles[spots.pop()] = profile
    for item, profile in zip(items, profiles, strict=True):
        item["ItemWarehouseInfoCollection"] = _stock(rng, item["ItemCode"], profile)
        _recount(item)
    by_code = {item["ItemCode"]: item for item in items}
    by_code[MALFORMED_PRICE_CODE]["ItemPrices"][0]["Price"] = "12,99"
    normal = [item for item, profile in zip(items, profiles, strict=True)
              if profile == "normal" and item["ItemCode"] not in
              (MALFORMED_PRICE_CODE, *COLLIDING_CODES)]
    normal[0]["Frozen"] = "tYES"
    normal[1]["Valid"] = "tNO"
    normal[2].update(ItemName="Gift Box - Large (packaging)", SalesItem="tNO",
                     ItemsGroupCode=100, ItemPrices=[])
    return items


def bulk_warehouses(count: int = 5) -> list[dict[str, Any]]:
    """Warehouses "01".."NN" matching `bulk_items`."""
    return [{"WarehouseCode": f"{n:02d}", "WarehouseName": f"Warehouse {n}", "Inactive": "tNO"}
            for n in range(1, count + 1)]


def bulk_items(
    count: int, warehouses: int = 5, seed: int = 7, now: datetime | None = None
) -> list[dict[str, Any]]:
    """`count` well-formed items with `warehouses` stock rows each, fast (50,000 x 5 in
    about a second), for benchmarks. Codes "000000001".. ; warehouses as bulk_warehouses."""
    rng = random.Random(seed)
    rand = rng.random
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    day = (now - timedelta(days=1)).strftime("%Y-%m-%d")
    created = (now - timedelta(days=400)).strftime("%Y-%m-%d")
    names = [(group, name) for group, (_, products) in GROUPS.items() for name in products]
    whs = [f"{n:02d}" for n in range(1, warehouses + 1)]
    items = []
    for n in range(1, count + 1):
        code = f"{n:09d}"
        group, name = names[n % len(names)]
        rows, totals = [], [0.0, 0.0, 0.0]
        for w in whs:
            on_hand = float(int(rand() * 60)) if rand() < 0.8 else 0.0
            committed = float(int(rand() * on_hand * 0.3))
            ordered = 24.0 if on_hand < 5 else 0.0
            rows.append({"WarehouseCode": w, "InStock": on_hand, "Committed": committed,
                         "Ordered": ordered, "ItemCode": code})
            totals[0] += on_hand
            totals[1] += committed
            totals[2] += ordered
        items.append({
            "ItemCode": code, "ItemName": f"{name} - {COLOURS[n % 8]}", "ItemsGroupCode": group,
            "BarCode": _ean13(n), "InventoryItem": "tYES", "SalesItem": "tYES",
            "PurchaseItem": "tYES", "Valid": "tYES", "Frozen": "tNO",
            "QuantityOnStock": totals[0], "QuantityOrderedByCustomers": totals[1],
            "QuantityOrderedFromVendors": totals[2],
            "CreateDate": created, "CreateTime": "09:00:00", "UpdateDate": day,
            "UpdateTime": f"{n % 24:02d}:{n % 60:02d}:00",
            "ItemPrices": [{"PriceList": 1, "Price": PRICES[n % len(PRICES)],
                            "Currency": "GBP"}],
            "ItemWarehouseInfoCollection": rows,
            "U_Season": SEASONS[n % 3], "U_Colour": COLOURS[n % 8],
        })
    return items


# ------------------------------------------------------------------ helpers


def _codes(rng: random.Random, count: int) -> list[str]:
    """Mostly 9-digit zero-padded numbers (never 12345, kept for the colliding pair), some
    alphanumeric, then the colliding pair and the malformed-price item."""
    fixed = [*COLLIDING_CODES, MALFORMED_PRICE_CODE]
    codes: list[str] = []
    number = 20000
    while len(codes) < count - len(fixed):
        if rng.random() < 0.12:
            prefix = rng.choice(("A", "HW", "FW", "ACC"))
            codes.append(f"{prefix}-{100 + len(codes)}")
        else:
            number += rng.randint(1, 40)
            codes.append(f"{number:09d}")
    return codes + fixed


def _item(rng: random.Random, code: str, n: int, now: datetime) -> dict[str, Any]:
    group = rng.choice(tuple(GROUPS))
    product = rng.choice(GROUPS[group][1])
    colour = rng.choice(COLOURS)
    name = f"{product} - {colour}"
    if group in SIZED_GROUPS:
        name += f" - {rng.choice(SIZES)}"
    if code in COLLIDING_CODES:
        group, name = 105, f"Linen Tea Towel - Sage{' (old code)' if code == '012345' else ''}"
    created = now - timedelta(days=rng.randint(30, 700), seconds=rng.randint(0, 86399))
    updated = created + (now - created - timedelta(hours=1)) * rng.random()
    retail = rng.choice(PRICES)
    return {
        "ItemCode": code, "ItemName": name, "ForeignName": None, "ItemsGroupCode": group,
        "BarCode": _ean13(rng.randint(1, 9_999_999)), "InventoryItem": "tYES",
        "SalesItem": "tYES", "PurchaseItem": "tYES", "Valid": "tYES", "Frozen": "tNO",
        "ManageBatchNumbers": "tNO", "ManageSerialNumbers": "tNO",
        "DefaultWarehouse": WAREHOUSE_MAIN,
        "CreateDate": created.strftime("%Y-%m-%d"), "CreateTime": created.strftime("%H:%M:%S"),
        "UpdateDate": updated.strftime("%Y-%m-%d"), "UpdateTime": updated.strftime("%H:%M:%S"),
        "ItemPrices": [
            {"PriceList": PRICE_LIST_RETAIL, "Price": retail, "Currency": "GBP",
             "BasePriceList": PRICE_LIST_RETAIL, "Factor": 1.0},
            {"PriceList": PRICE_LIST_WHOLESALE, "Price": round(retail * 0.5, 2),
             "Currency": "GBP", "BasePriceList": PRICE_LIST_RETAIL, "Factor": 0.5},
        ],
        "U_Season": rng.choice(SEASONS), "U_Colour": colour,
    }


def _stock(rng: random.Random, code: str, profile: str) -> list[dict[str, Any]]:
    figures = {WAREHOUSE_MAIN: 0, WAREHOUSE_STORE: 0, WAREHOUSE_WHOLESALE: 0,
               WAREHOUSE_INACTIVE: 0}
    committed = {key: 0 for key in figures}
    if profile == "normal":
        figures[WAREHOUSE_MAIN] = rng.randint(8, 200)
        figures[WAREHOUSE_STORE] = rng.randint(0, 30)
        figures[WAREHOUSE_WHOLESALE] = rng.randint(0, 400)
        committed[WAREHOUSE_MAIN] = rng.randint(0, figures[WAREHOUSE_MAIN] // 4)
    elif profile == "low":
        figures[rng.choice((WAREHOUSE_MAIN, WAREHOUSE_STORE))] = rng.randint(1, 3)
    elif profile == "wholesale_only":
        figures[WAREHOUSE_WHOLESALE] = rng.randint(20, 300)
    return [
        {"WarehouseCode": whs, "InStock": float(on_hand), "Committed": float(committed[whs]),
         "Ordered": float(rng.choice((0, 0, 12, 24))) if on_hand < 5 else 0.0,
         "MinimalStock": 5.0 if whs == WAREHOUSE_MAIN else 0.0, "MaximalStock": 0.0,
         "Locked": "tNO", "ItemCode": code}
        for whs, on_hand in figures.items()
    ]


def _recount(item: dict[str, Any]) -> None:
    rows = item["ItemWarehouseInfoCollection"]
    item["QuantityOnStock"] = sum(r["InStock"] for r in rows)
    item["QuantityOrderedByCustomers"] = sum(r["Committed"] for r in rows)
    item["QuantityOrderedFromVendors"] = sum(r["Ordered"] for r in rows)


def _ean13(number: int) -> str:
    body = f"50{number:010d}"[-12:]
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)
