"""Demo data: a UK retailer's Business Partners, with the mess real ERPs hold.

Emails use reserved example domains; phone numbers are Ofcom's drama ranges, so nothing
here reaches a real person.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from erp.sap_b1.sandbox.app import SapB1Sandbox
from erp.sap_b1.sandbox.demo_documents import DOCUMENT_ENTITIES, demo_documents
from erp.sap_b1.sandbox.demo_items import (  # re-exported: the demo company in one place
    COLLIDING_CODES,
    MALFORMED_PRICE_CODE,
    WAREHOUSE_INACTIVE,
    WAREHOUSE_MAIN,
    WAREHOUSE_STORE,
    WAREHOUSE_WHOLESALE,
    bulk_items,
    bulk_warehouses,
    demo_item_groups,
    demo_items,
    demo_warehouses,
)

__all__ = [
    "COLLIDING_CODES", "COMPANY_DB", "MALFORMED_PRICE_CODE", "USERNAME", "WAREHOUSE_INACTIVE",
    "WAREHOUSE_MAIN", "WAREHOUSE_STORE", "WAREHOUSE_WHOLESALE", "build_demo_sandbox",
    "bulk_business_partners", "bulk_items", "bulk_warehouses", "demo_business_partners",
    "demo_item_groups", "demo_items", "demo_warehouses",
]

COMPANY_DB = "SBODEMOGB"
USERNAME = "manager"

FIRST = (
    "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Noah", "Mia", "Jack", "Ivy",
    "Leo", "Freya", "Arthur", "Lily", "Muhammad", "Florence", "Oscar", "Grace", "Charlie",
    "Sophia", "Thomas", "Emily", "James", "Poppy", "William", "Evie", "Henry", "Ella",
    "Alfie", "Rosie", "Priya", "Sean", "Aoife", "Rhys", "Catriona", "Kwame", "Zofia",
)
LAST = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
    "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts",
    "Green", "Hall", "Wood", "Jackson", "Clarke", "Khan", "Hughes", "Edwards", "Murphy",
    "O'Brien", "MacLeod", "Nowak", "Okafor", "Chen",
)
DOMAINS = ("example.com", "example.co.uk", "example.org", "example.net")
TOWNS = (
    ("London", "Greater London", "SW1A 1AA"), ("Manchester", "Greater Manchester", "M1 1AE"),
    ("Birmingham", "West Midlands", "B1 1BB"), ("Leeds", "West Yorkshire", "LS1 4DY"),
    ("Bristol", "Bristol", "BS1 4DJ"), ("Edinburgh", "Midlothian", "EH1 1YZ"),
    ("Cardiff", "South Glamorgan", "CF10 1EP"), ("Norwich", "Norfolk", "NR2 1NH"),
    ("York", "North Yorkshire", "YO1 7HH"), ("Brighton", "East Sussex", "BN1 1EE"),
)
DUBLIN = ("Dublin", "County Dublin", "D02 X285")
STREETS = ("High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane",
           "King Street", "Queen's Road", "The Green", "Park Avenue", "Market Place")
TIERS = ("Bronze", "Silver", "Gold", "Platinum")
SUPPLIERS = ("Northern Textiles Ltd", "Harbour Packaging plc", "Pennine Footwear Ltd",
             "Thames Logistics Ltd", "Cotswold Candles Ltd", "Clyde Knitwear Ltd")
GROUP_RETAIL, GROUP_ONLINE, GROUP_VIP, GROUP_TRADE, GROUP_SUPPLIERS = 100, 101, 102, 103, 110


def demo_business_partners(
    count: int = 300, seed: int = 7, now: datetime | None = None
) -> list[dict[str, Any]]:
    """`count` partners as the Service Layer shows them, some broken on purpose.

    Mostly customers, some leads (cLid), a few suppliers; a few without email, with
    invalid emails, pairs sharing an email up to case/whitespace, one frozen, one
    inactive. The same seed and `now` always give the same data.
    """
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    partners = [_person(rng, n, now) for n in range(1, count + 1)]
    spots = list(range(count))
    rng.shuffle(spots)

    def take() -> dict[str, Any] | None:
        return partners[spots.pop()] if spots else None

    for _ in range(max(1, count // 40)):
        _make_supplier(rng, take())
    for _ in range(max(1, count // 12)):
        if lead := take():
            lead["CardType"] = "cLid"
            lead["CardCode"] = "L" + lead["CardCode"][1:]
            lead["U_LoyaltyTier"] = None
            for address in lead["BPAddresses"]:
                address["BPCode"] = lead["CardCode"]
    for _ in range(max(1, count // 75)):
        if partner := take():
            partner["EmailAddress"] = rng.choice((None, ""))
    for bad in ("jane.doe@", "no-at-sign.example.com", "tom smith@example.com",
                " ann..lee@@example.org "):
        if partner := take():
            partner["EmailAddress"] = bad
    for _ in range(max(1, count // 100)):
        first, second = take(), take()
        if first and second:
            email = first["EmailAddress"]
            second["EmailAddress"] = f"  {email.upper()} " if rng.random() < 0.5 else email.title()
    if frozen := take():
        frozen["Frozen"] = "tYES"
    if inactive := take():
        inactive["Valid"] = "tNO"
    return partners


def bulk_business_partners(
    count: int, seed: int = 7, now: datetime | None = None
) -> list[dict[str, Any]]:
    """`count` well-formed customers, fast (100,000 in about a second), for benchmarks."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - timedelta(days=365)
    span = int((now - start).total_seconds()) - 3600
    start = start.replace(hour=0, minute=0, second=0)  # so day offsets line up with dates
    days = [(start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(367)]
    rand, first_n, last_n, town_n = rng.random, len(FIRST), len(LAST), len(TOWNS)
    partners = []
    for n in range(count):
        first, last = FIRST[n % first_n], LAST[(n * 7 + int(rand() * last_n)) % last_n]
        town, county, postcode = TOWNS[n % town_n]
        code = f"CB{n:07d}"
        created = int(rand() * span)
        updated = created + int(rand() * (span - created))
        c_day, c_time = divmod(created, 86400)
        u_day, u_time = divmod(updated, 86400)
        partners.append({
            "CardCode": code, "CardName": f"{first} {last}", "CardType": "cCustomer",
            "GroupCode": GROUP_RETAIL, "EmailAddress": f"{first}.{last}.{n}@example.com".lower(),
            "Phone1": None, "Phone2": None, "Cellular": f"+44 7700 900{n % 1000:03d}",
            "Currency": "GBP", "Valid": "tYES", "Frozen": "tNO",
            "City": town, "Country": "GB", "ZipCode": postcode,
            "CreateDate": days[c_day], "CreateTime": _clock_time(c_time),
            "UpdateDate": days[u_day], "UpdateTime": _clock_time(u_time),
            "BPAddresses": [{
                "AddressName": "Bill to", "Street": f"{n % 200 + 1} {STREETS[n % 10]}",
                "Block": None, "ZipCode": postcode, "City": town, "County": county,
                "Country": "GB", "State": None, "AddressType": "bo_BillTo", "BPCode": code,
                "RowNum": 0,
            }],
            "U_LoyaltyTier": TIERS[n % 4], "U_MarketingConsent": "Y" if n % 3 else "N",
            "U_Birthday": None,
        })
    return partners


def build_demo_sandbox(
    count: int = 300,
    *,
    password: str,
    seed: int = 7,
    clock: Callable[[], datetime] | None = None,
    items: int = 120,
    documents: bool = True,
) -> SapB1Sandbox:
    """A sandbox holding the demo company SBODEMOGB; user "manager" with `password`:
    `count` business partners, `items` items (0 for none), the demo warehouses and, unless
    `documents` is False (or there are no items), the demo sales documents
    (`demo_documents`) for those partners and items."""
    kwargs = {"clock": clock} if clock else {}
    sandbox = SapB1Sandbox(users={(COMPANY_DB, USERNAME): password}, **kwargs)
    partners = demo_business_partners(count, seed, now=sandbox.clock())
    sandbox.add_business_partners(partners)
    sandbox.add_warehouses(demo_warehouses())
    sandbox.add_item_groups(demo_item_groups())
    if items:
        catalogue = demo_items(items, seed, now=sandbox.clock())
        sandbox.add_items(catalogue)
        if documents:
            flows = demo_documents(partners, catalogue, seed, now=sandbox.clock())
            for entity in DOCUMENT_ENTITIES:
                sandbox.add_documents(entity, flows[entity])
    return sandbox


# ------------------------------------------------------------------ helpers


def _person(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    irish = rng.random() < 0.08
    town, county, postcode = DUBLIN if irish else rng.choice(TOWNS)
    country = "IE" if irish else "GB"
    code = f"C{n:05d}"
    local = f"{first}.{last}".lower().replace("'", "")
    created = now - timedelta(days=rng.randint(30, 900), seconds=rng.randint(0, 86399))
    updated = created + (now - created - timedelta(hours=1)) * rng.random()
    updated = max(updated, created)
    group = rng.choices((GROUP_RETAIL, GROUP_ONLINE, GROUP_VIP, GROUP_TRADE), (50, 35, 8, 7))[0]
    street = f"{rng.randint(1, 220)} {rng.choice(STREETS)}"
    addresses = [_address(code, 0, "bo_BillTo", street, town, county, postcode, country)]
    if rng.random() < 0.3:
        other = rng.choice(TOWNS)
        addresses.append(_address(code, 1, "bo_ShipTo", f"{rng.randint(1, 90)} "
                                  f"{rng.choice(STREETS)}", *other, "GB"))
    birthday = None
    if rng.random() < 0.6:
        birthday = f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {
        "CardCode": code,
        "CardName": f"{first} {last}",
        "CardType": "cCustomer",
        "GroupCode": group,
        "EmailAddress": f"{local}{rng.randint(1, 99) if rng.random() < 0.4 else ''}"
                        f"@{rng.choice(DOMAINS)}",
        "Phone1": f"+44 20 7946 0{rng.randint(0, 999):03d}" if rng.random() < 0.5 else None,
        "Phone2": None,
        "Cellular": f"+44 7700 900{rng.randint(0, 999):03d}" if rng.random() < 0.8 else None,
        "Currency": "EUR" if irish else "GBP",
        "Valid": "tYES",
        "Frozen": "tNO",
        "City": town,
        "Country": country,
        "ZipCode": postcode,
        "CreateDate": created.strftime("%Y-%m-%d"),
        "CreateTime": created.strftime("%H:%M:%S"),
        "UpdateDate": updated.strftime("%Y-%m-%d"),
        "UpdateTime": updated.strftime("%H:%M:%S"),
        "BPAddresses": addresses,
        "U_LoyaltyTier": rng.choice((*TIERS, None)),
        "U_MarketingConsent": "Y" if rng.random() < 0.7 else "N",
        "U_Birthday": birthday,
    }


def _clock_time(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _address(code: str, row: int, kind: str, street: str, town: str, county: str,
             postcode: str, country: str) -> dict[str, Any]:
    return {
        "AddressName": "Bill to" if kind == "bo_BillTo" else "Ship to",
        "Street": street, "Block": None, "ZipCode": postcode, "City": town,
        "County": county, "Country": country, "State": None, "AddressType": kind,
        "BPCode": code, "RowNum": row,
    }


def _make_supplier(rng: random.Random, partner: dict[str, Any] | None) -> None:
    if partner is None:
        return
    name = rng.choice(SUPPLIERS)
    partner.update({
        "CardType": "cSupplier", "CardCode": "V" + partner["CardCode"][1:], "CardName": name,
        "GroupCode": GROUP_SUPPLIERS, "EmailAddress": f"accounts@{rng.choice(DOMAINS)}",
        "U_LoyaltyTier": None, "U_MarketingConsent": "N", "U_Birthday": None,
    })
    for address in partner["BPAddresses"]:
        address["BPCode"] = partner["CardCode"]
