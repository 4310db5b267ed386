"""The demo ECC company: a UK fashion and homeware retailer on SAP ECC 6.0, client 800.

`demo_packets` is what its partner profile for the hub (WE20, logical system HUBCLNT001)
sends, in the order ALE sends it: the initial customer and material loads (BD12/BD10, one
collected packet each), single customers with their addresses, a stock snapshot, then the
day's business: orders, an edited order (ORDCHG adding one line and deleting another), a
cancelled order, deliveries (one order shipped in two, the first delivery sent before and
again after goods issue), invoices, a credit memo, goods movements across two plants and
their storage locations, a changed e-mail, a customer flagged for deletion and a material
discontinued. E-mail addresses are at example.com and phone numbers in Ofcom's drama
ranges. Nothing is random: the same writer (clock, DOCNUM start) gives the same bytes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .idocs import IdocText, IdocWriter, pad_alpha, pad_matnr

SENDER_PARTNER, SENDER_PORT, CLIENT = "ECDCLNT800", "SAPECD", "800"
RECEIVER_PARTNER = "HUBCLNT001"
CONNECTION_NAME, PARTNER_USER, PASSWORD_ENV = "demo-ecc", "ECC_PARTNER", "DEMO_SAP_ECC_PASSWORD"
DEMO_DOCNUM_START = 4_700_001
PLANT_DC, PLANT_STORE = "1000", "2000"  # Leeds distribution centre, York store
SLOC_MAIN, SLOC_RETURNS = "0001", "0002"


@dataclass(frozen=True)
class Customer:
    kunnr: str
    name: str
    email: str | None
    city: str
    postcode: str
    street: str
    phone: str = ""
    country: str = "GB"
    currency: str = "GBP"
    posting_block: bool = False
    order_block: str = ""
    extension_fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Material:
    matnr: str
    description: str
    price: str
    ean: str | None = None
    long_matnr: str | None = None


CUSTOMERS: tuple[Customer, ...] = (
    Customer("100001", "Amelia Taylor", "amelia.taylor@example.com", "London", "SW1A 1AA", "12 King Street",
             "020 7946 0001"),
    Customer("100002", "Oliver Smith", "oliver.smith@example.com", "Manchester", "M1 1AE", "4 Station Road",
             "0161 496 0002"),
    Customer("100003", "Isla Patel", "isla.patel@example.com", "Birmingham", "B1 1BB", "88 High Street",
             "0121 496 0003"),
    Customer("100004", "George Evans", "george.evans@example.com", "Cardiff", "CF10 1EP", "3 Church Lane",
             "029 2018 0004"),
    Customer("100005", "Aoife Ní Bhriain", "aoife.nibhriain@example.com", "Dublin", "D02 X285", "21 Mill Lane",
             country="IE", currency="EUR"),
    Customer("100006", "Harry O'Brien", "harry.obrien@example.com", "Leeds", "LS1 4DY", "7 Victoria Road",
             "0113 496 0006"),
    Customer("100007", "Freya MacLeod", "freya.macleod@example.com", "Edinburgh", "EH1 1YZ", "15 The Green",
             "0131 496 0007"),
    Customer("100008", "Kwame Okafor", "kwame.okafor@example.com", "Bristol", "BS1 4DJ", "9 Park Avenue",
             "0117 496 0008"),
    Customer("100009", "Zofia Nowak", "zofia.nowak@example.com", "Norwich", "NR2 1NH", "30 Market Place",
             "01632 960009"),
    Customer("100010", "Priya Khan", "priya.khan@example.com", "York", "YO1 7HH", "2 Queen's Road",
             "07700 900010"),
    # A trade customer whose name needs escaping in XML.
    Customer("100011", "Hale & Brook Interiors Ltd", "accounts.halebrook@example.com", "Bath", "BA1 1SU",
             "1 Abbey Green", "01632 960011"),
    # Blocked: central posting block and an order block (AUFSD 01).
    Customer("100012", "Rhys Hughes", "rhys.hughes@example.com", "Brighton", "BN1 1EE", "40 Marine Parade",
             "01632 960012", posting_block=True, order_block="01"),
    # Flagged for deletion at the end of the day (LOEVM).
    Customer("100013", "Grace Wood", "grace.wood@example.com", "Leeds", "LS2 7EW", "5 Park Row",
             "0113 496 0013"),
    # Sent with the customer extension (/ABC/DEBMAS07_EXT, segment /ABC/Z1KNA1M).
    Customer("100014", "Leo Chen", "leo.chen@example.com", "London", "E1 6AN", "18 Brick Lane", "020 7946 0014",
             extension_fields={"ZZLOYALTY_TIER": "Gold", "ZZMKT_OPTIN": "X", "ZZSTORE": "YORK"}),
    # Phone customer: no e-mail, so no ADRMAS.
    Customer("100015", "Ella Roberts", None, "Norwich", "NR1 3JU", "11 Elm Hill", "01632 960015"),
)
INITIAL_LOAD = 10  # the first ten go out in one collected DEBMAS packet, then one ADRMAS packet
BLOCKED_CUSTOMER, DELETED_CUSTOMER, EXTENSION_CUSTOMER, NO_EMAIL_CUSTOMER = "100012", "100013", "100014", "100015"
EMAIL_CHANGE = ("100002", "oliver.smith.home@example.com")

# ECC twins of SAP B1 demo items (erp/sap_b1/sandbox/demo_items.py, seed 7): the same number,
# name and EAN, so after the SKU rules (leading zeros stripped) each pair is one product.
B1_TWINS = {"20014": "000020014", "20123": "000020123", "20130": "000020130"}
MATERIALS: tuple[Material, ...] = (
    Material("20014", "Oxford Shirt - Sage - XL", "45.00", "5000099970449"),
    Material("20123", "Wool Throw - Charcoal", "59.00", "5000074175111"),
    Material("20130", "Cedar Candle - Ecru", "24.00", "5000036840736"),
    Material("10004101", "Linen Shirt - Navy - M", "39.00", "5000010041010"),
    Material("10004102", "Wrap Dress - Sage - S", "79.00", "5000010041027"),
    Material("10004103", "Merino Crew Neck - Forest - L", "65.00", "5000010041034"),
    Material("10004104", "Canvas Plimsoll - Ecru", "35.00", "5000010041041"),
    Material("10004105", "Stoneware Mug - Rust", "8.50", "5000010041058"),
    Material("10004106", "Enamel Jug - Blush", "19.50", "5000010041065"),
    Material("10004107", "Lambswool Scarf - Oatmeal", "29.99", "5000010041072"),
    # From an S/4HANA system: a 40-character material number in MATNR_LONG.
    Material("10004108", "Linen Tea Towel - Sage", "6.00", "5000010041089",
             long_matnr="HOME-TEXTILES-LINEN-TEA-TOWEL-SAGE-SS26"),
)
DISCONTINUED_MATERIAL = "10004107"
PRICES = {material.matnr: material.price for material in MATERIALS}
NAMES = {material.matnr: material.description for material in MATERIALS}

# Sales order -> (customer, web reference, days ago, lines as (POSEX, MATNR, quantity)).
ORDERS: dict[str, tuple[str, str, int, tuple[tuple[int, str, int], ...]]] = {
    "12001": ("100001", "WEB-300001", 12, ((10, "20014", 1), (20, "10004101", 2), (30, "20130", 1),
                                           (40, "10004105", 4))),
    "12002": ("100003", "WEB-300002", 11, ((10, "20014", 2), (20, "10004103", 3), (30, "10004104", 1),
                                           (40, "10004106", 2))),
    "12003": ("100006", "WEB-300003", 10, ((10, "10004102", 1), (20, "10004105", 2), (30, "20123", 1),
                                           (40, "10004106", 1))),
    "12004": ("100008", "WEB-300004", 9, ((10, "20130", 2), (20, "10004101", 1), (30, "10004104", 1),
                                          (40, "10004107", 1))),
    "12005": ("100014", "WEB-300005", 8, ((10, "20123", 1), (20, "10004105", 2))),
    "12006": ("100005", "WEB-300006", 7, ((10, "10004102", 1), (20, "10004103", 1), (30, "20014", 1),
                                          (40, "10004106", 1))),
    "12007": ("100010", "WEB-300007", 0, ((10, "10004101", 1), (20, "20130", 3), (30, "10004105", 2),
                                          (40, "10004104", 1))),
    "12008": ("100013", "WEB-300008", 6, ((10, "10004107", 1),)),
}
SCENARIOS = {
    "delivered_invoiced": "12001", "partial_deliveries": "12002", "edited": "12003", "cancelled": "12004",
    "credit_memo": "12005", "foreign_currency": "12006", "open": "12007", "deleted_customer": "12008",
}
EDIT = {"added": (50, "10004103", 1), "deleted": 30, "changed": (20, 3)}  # 12003's ORDCHG
REJECTION_REASON = "10"  # "unreasonable request": how the demo company rejects a cancelled order's items


def demo_writer(clock: Callable[[], datetime] | None = None, docnum_start: int = DEMO_DOCNUM_START) -> IdocWriter:
    """The demo company's outbound IDoc layer (client 800, partner ECDCLNT800, port SAPECD)."""
    return IdocWriter(sender_partner=SENDER_PARTNER, sender_port=SENDER_PORT, client=CLIENT,
                      receiver_partner=RECEIVER_PARTNER, docnum_start=docnum_start,
                      clock=clock or (lambda: datetime.now(UTC)))


def demo_packets(writer: IdocWriter, *, today: date | None = None) -> list[tuple[str, bytes]]:
    """(label, body) for every message of the demo day, in the order ECC sends them.

    Labels name the message and its object ("DESADV 80001001 for 12001 (goods issued)"), never an e-mail.
    Business dates count back from `today` (default: the writer's clock).
    """
    day = today or writer.today()
    out: list[tuple[str, bytes]] = []

    def send(label: str, idocs: Sequence[IdocText] | IdocText) -> None:
        out.append((label, writer.packet(idocs)))

    _master_data(writer, send)
    _stock_baseline(writer, send, day)
    _orders(writer, send, day)
    _deliveries(writer, send, day)
    _stock_movements(writer, send, day)
    _billing(writer, send, day)
    _end_of_day(writer, send)
    return out


# ------------------------------------------------------------------ master data


def _master_data(writer: IdocWriter, send: Callable[..., None]) -> None:
    first, rest = CUSTOMERS[:INITIAL_LOAD], CUSTOMERS[INITIAL_LOAD:]
    send(f"DEBMAS x{len(first)} (initial load)", [_debmas(writer, customer) for customer in first])
    send(f"ADRMAS x{len(first)} (initial load)",
         [writer.adrmas(c.kunnr, c.email, name=c.name) for c in first if c.email])
    for customer in rest:
        send(f"DEBMAS {customer.kunnr}{_customer_note(customer)}", _debmas(writer, customer))
        if customer.email:
            send(f"ADRMAS {customer.kunnr}", writer.adrmas(customer.kunnr, customer.email, name=customer.name))
    send(f"MATMAS x{len(MATERIALS)} (initial load)", [
        writer.matmas(m.matnr, m.description, ean=m.ean, long_matnr=m.long_matnr,
                      material_group="HOME" if m.matnr in ("20123", "20130", "10004105", "10004106") else "FASHION")
        for m in MATERIALS])


def _debmas(writer: IdocWriter, customer: Customer, *, deletion_flag: bool = False) -> IdocText:
    return writer.debmas(customer.kunnr, customer.name, city=customer.city, postcode=customer.postcode,
                         country=customer.country, street=customer.street, phone=customer.phone,
                         currency=customer.currency, deletion_flag=deletion_flag,
                         posting_block=customer.posting_block, order_block=customer.order_block,
                         extension_fields=customer.extension_fields or None)


def _customer_note(customer: Customer) -> str:
    if customer.posting_block or customer.order_block:
        return " (blocked)"
    if customer.extension_fields:
        return " (with extension)"
    if not customer.email:
        return " (no e-mail)"
    return ""


# ------------------------------------------------------------------ stock


STOCK_BASELINE: tuple[tuple[str, str, str, int], ...] = (  # (MATNR, plant, storage location, unrestricted)
    ("20014", PLANT_DC, SLOC_MAIN, 40), ("20014", PLANT_STORE, SLOC_MAIN, 6),
    ("20123", PLANT_DC, SLOC_MAIN, 25), ("20130", PLANT_DC, SLOC_MAIN, 60), ("20130", PLANT_STORE, SLOC_MAIN, 12),
    ("10004101", PLANT_DC, SLOC_MAIN, 30), ("10004102", PLANT_DC, SLOC_MAIN, 18),
    ("10004103", PLANT_DC, SLOC_MAIN, 22), ("10004104", PLANT_DC, SLOC_MAIN, 15),
    ("10004105", PLANT_DC, SLOC_MAIN, 120), ("10004105", PLANT_DC, SLOC_RETURNS, 3),
    ("10004106", PLANT_DC, SLOC_MAIN, 35), ("10004107", PLANT_DC, SLOC_MAIN, 2),
)


def _stock_baseline(writer: IdocWriter, send: Callable[..., None], day: date) -> None:
    send("LOISTD stock snapshot", writer.loistd([
        {"matnr": matnr, "werks": werks, "lgort": lgort, "labst": labst}
        for matnr, werks, lgort, labst in STOCK_BASELINE]))
    send("WMMBXY 101 goods receipt", writer.wmmbxy([
        _move("10004101", PLANT_DC, SLOC_MAIN, "101", 24, "S"), _move("20014", PLANT_DC, SLOC_MAIN, "101", 12, "S"),
    ], reference="5000000101", posting_date=day - timedelta(days=13)))


def _stock_movements(writer: IdocWriter, send: Callable[..., None], day: date) -> None:
    # A one-step transfer posting is one item: from WERKS/LGORT to UMWRK/UMLGO.
    send("WMMBXY 311 storage location transfer", writer.wmmbxy([
        _transfer("10004105", "311", 6, (PLANT_DC, SLOC_MAIN), (PLANT_DC, SLOC_RETURNS)),
    ], reference="4900000311", posting_date=day))
    send("WMMBXY 301 plant transfer", writer.wmmbxy([
        _transfer("20123", "301", 5, (PLANT_DC, SLOC_MAIN), (PLANT_STORE, SLOC_MAIN)),
        _transfer("20130", "301", 10, (PLANT_DC, SLOC_MAIN), (PLANT_STORE, SLOC_MAIN)),
    ], reference="4900000301", posting_date=day))
    send("WMMBXY 551 scrapping", writer.wmmbxy([_move("10004105", PLANT_DC, SLOC_RETURNS, "551", 1, "H")],
                                                reference="4900000551", posting_date=day))


def _move(matnr: str, werks: str, lgort: str, bwart: str, qty: int, shkzg: str) -> dict[str, Any]:
    return {"matnr": matnr, "werks": werks, "lgort": lgort, "bwart": bwart, "qty": qty, "shkzg": shkzg}


def _transfer(matnr: str, bwart: str, qty: int, source: tuple[str, str], target: tuple[str, str]) -> dict[str, Any]:
    return {"matnr": matnr, "werks": source[0], "lgort": source[1], "bwart": bwart, "qty": qty,
            "umwrk": target[0], "umlgo": target[1]}


# ------------------------------------------------------------------ orders


def order_lines(vbeln: str) -> list[dict[str, Any]]:
    """The demo order's lines as `IdocWriter.orders` takes them (before any ORDCHG)."""
    return [{"posex": posex, "matnr": matnr, "text": NAMES[matnr], "qty": qty, "price": PRICES[matnr]}
            for posex, matnr, qty in ORDERS[vbeln][3]]


def _orders(writer: IdocWriter, send: Callable[..., None], day: date) -> None:
    for vbeln, (kunnr, reference, days_ago, lines) in ORDERS.items():
        currency = _currency_of(kunnr)
        send(f"ORDRSP {vbeln} (order confirmation, {len(lines)} line{'s' if len(lines) > 1 else ''})",
             writer.orders(vbeln, kunnr, order_lines(vbeln), web_reference=reference, currency=currency,
                           order_date=day - timedelta(days=days_ago), mestyp="ORDRSP"))
    send(f"ORDCHG {SCENARIOS['edited']} (line added, line deleted, quantity changed)", _edited_order(writer, day))
    vbeln = SCENARIOS["cancelled"]
    kunnr, reference, days_ago, _ = ORDERS[vbeln]
    # Cancelled as SAP does it: every item rejected (ABGRU) and kept, the header marked 003.
    send(f"ORDCHG {vbeln} (cancelled)", writer.orders(
        vbeln, kunnr, order_lines(vbeln), web_reference=reference, mestyp="ORDCHG", header_action="003",
        rejection_reason=REJECTION_REASON, order_date=day - timedelta(days=days_ago)))


def _edited_order(writer: IdocWriter, day: date) -> IdocText:
    vbeln = SCENARIOS["edited"]
    kunnr, reference, days_ago, _ = ORDERS[vbeln]
    lines = order_lines(vbeln)
    changed_posex, changed_qty = EDIT["changed"]
    for line in lines:
        if line["posex"] == changed_posex:
            line["qty"] = changed_qty
    added_posex, added_matnr, added_qty = EDIT["added"]
    lines.append({"posex": added_posex, "matnr": added_matnr, "text": NAMES[added_matnr], "qty": added_qty,
                  "price": PRICES[added_matnr]})
    actions = {added_posex: "001", EDIT["deleted"]: "003", changed_posex: "002"}
    return writer.orders(vbeln, kunnr, lines, web_reference=reference, mestyp="ORDCHG", item_actions=actions,
                         order_date=day - timedelta(days=days_ago))


def _currency_of(kunnr: str) -> str:
    return next(c.currency for c in CUSTOMERS if c.kunnr == kunnr)


# ------------------------------------------------------------------ deliveries

# Delivery -> (order, days ago of goods issue or None, tracking, [(order item, quantity)]).
DELIVERIES: dict[str, tuple[str, int | None, str, tuple[tuple[int, int], ...]]] = {
    "80001001": ("12001", 10, "RM100000001GB", ((10, 1), (20, 2), (30, 1), (40, 4))),
    "80001002": ("12002", 9, "RM100000002GB", ((10, 2), (20, 1))),
    "80001003": ("12002", 5, "RM100000003GB", ((20, 2), (30, 1), (40, 2))),
    "80001005": ("12005", 6, "RM100000005GB", ((10, 1), (20, 2))),
    "80001006": ("12006", 4, "DPD0000000006", ((10, 1), (20, 1), (30, 1), (40, 1))),
    "80001008": ("12008", 5, "RM100000008GB", ((10, 1),)),
}
SENT_BEFORE_GOODS_ISSUE = "80001002"  # first sent when created (no PGI), again after goods issue


def _delivery_items(vbeln: str) -> list[dict[str, Any]]:
    order, _, _, items = DELIVERIES[vbeln]
    materials = {posex: matnr for posex, matnr, _ in ORDERS[order][3]}
    return [{"posnr": 10 * n, "matnr": materials[item], "text": NAMES[materials[item]], "qty": qty, "vgbel": order,
             "vgpos": item, "werks": PLANT_DC, "lgort": SLOC_MAIN} for n, (item, qty) in enumerate(items, start=1)]


def _deliveries(writer: IdocWriter, send: Callable[..., None], day: date) -> None:
    for vbeln, (order, issued_days_ago, tracking, _) in DELIVERIES.items():
        kunnr, reference = ORDERS[order][0], ORDERS[order][1]
        items = _delivery_items(vbeln)
        issued = day - timedelta(days=issued_days_ago) if issued_days_ago is not None else None
        if vbeln == SENT_BEFORE_GOODS_ISSUE:
            send(f"DESADV {vbeln} for {order} (created, not yet goods-issued)",
                 writer.delvry(vbeln, kunnr, items, planned=issued, web_reference=reference))
        send(f"DESADV {vbeln} for {order} (goods issued)",
             writer.delvry(vbeln, kunnr, items, goods_issued=issued, tracking=tracking, web_reference=reference))
        send(f"WMMBXY 601 goods issue for {vbeln}", writer.wmmbxy(
            [_move(item["matnr"], PLANT_DC, SLOC_MAIN, "601", item["qty"], "H") for item in items],
            reference=pad_alpha(vbeln), posting_date=issued))


# ------------------------------------------------------------------ billing

# Billing document -> (order, credit memo?, [(order item, quantity)]).
BILLING: dict[str, tuple[str, bool, tuple[tuple[int, int], ...]]] = {
    "90001001": ("12001", False, ((10, 1), (20, 2), (30, 1), (40, 4))),
    "90001002": ("12002", False, ((10, 2), (20, 1))),
    "90001003": ("12002", False, ((20, 2), (30, 1), (40, 2))),
    "90001005": ("12005", False, ((10, 1), (20, 2))),
    "90001008": ("12008", False, ((10, 1),)),
    "90001009": ("12005", True, ((20, 1),)),  # one mug came back broken
}
CREDIT_MEMO = "90001009"


def _billing(writer: IdocWriter, send: Callable[..., None], day: date) -> None:
    for number, (order, credit_memo, items) in BILLING.items():
        kunnr, reference, _, lines = ORDERS[order]
        materials = {posex: matnr for posex, matnr, _ in lines}
        invoice_lines = [{"posex": 10 * n, "matnr": materials[item], "text": NAMES[materials[item]], "qty": qty,
                          "price": PRICES[materials[item]], "order": order, "order_item": item}
                         for n, (item, qty) in enumerate(items, start=1)]
        kind = "credit memo" if credit_memo else "invoice"
        send(f"INVOIC {number} ({kind} for {order})", writer.invoic(
            number, kunnr, invoice_lines, credit_memo=credit_memo, web_reference=reference,
            currency=_currency_of(kunnr), invoice_date=day - timedelta(days=2 if credit_memo else 3)))


# ------------------------------------------------------------------ end of day


def _end_of_day(writer: IdocWriter, send: Callable[..., None]) -> None:
    kunnr, email = EMAIL_CHANGE
    name = next(c.name for c in CUSTOMERS if c.kunnr == kunnr)
    send(f"ADRMAS {kunnr} (e-mail changed)", writer.adrmas(kunnr, email, name=name))
    deleted = next(c for c in CUSTOMERS if c.kunnr == DELETED_CUSTOMER)
    send(f"DEBMAS {DELETED_CUSTOMER} (flagged for deletion)", _debmas(writer, deleted, deletion_flag=True))
    material = next(m for m in MATERIALS if m.matnr == DISCONTINUED_MATERIAL)
    send(f"MATMAS {DISCONTINUED_MATERIAL} (flagged for deletion)", writer.matmas(
        material.matnr, material.description, ean=material.ean, deletion_flag=True))


def padded_twins() -> dict[str, str]:
    """ECC MATNR as sent (18 characters) -> the SAP B1 demo ItemCode of the same product."""
    return {pad_matnr(matnr): code for matnr, code in B1_TWINS.items()}
