"""IDoc-XML as SAP ECC's XML port writes it: the sandbox ECC's outbound side.

Layout and values follow the contract (erp-interfaces.md 2.1, 2.2, 2.6-2.13): a root named
after the basic type (or the extension type, `/` written as `_-`), one `<IDOC BEGIN="1">`
per IDoc, `<EDI_DC40 SEGMENT="1">` first, every data segment `SEGMENT="1"` with its fields
as child elements, empty fields left out, keys zero-padded as ALPHA/MATN1 pad them, dates
YYYYMMDD, times HHMMSS, decimals with a point and fixed places. Each `IdocWriter` numbers
its IDocs like one ECC client: DOCNUM and SERIAL strictly increase.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.sax.saxutils import escape

DOCREL = "731"  # ECC 6.0 EhP 4-8 on NetWeaver 7.31, as in the public DEBMAS sample
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
EXTENSION_NAMESPACE = "/ABC/"
DEBMAS_EXTENSION = f"{EXTENSION_NAMESPACE}DEBMAS07_EXT"
DEBMAS_EXTENSION_SEGMENT = f"{EXTENSION_NAMESPACE}Z1KNA1M"
ITEM_ADDED, ITEM_CHANGED, ITEM_DELETED = "001", "002", "003"
_CENT, _MILLI = Decimal("0.01"), Decimal("0.001")


class IdocText(str):
    """One `<IDOC>` element as text, remembering its control fields (for `packet` and file names)."""

    docnum: str
    idoctyp: str
    cimtyp: str
    mestyp: str
    serial: str

    def __new__(cls, text: str, *, docnum: str, idoctyp: str, cimtyp: str, mestyp: str, serial: str) -> IdocText:
        self = super().__new__(cls, text)
        self.docnum, self.idoctyp, self.cimtyp, self.mestyp, self.serial = docnum, idoctyp, cimtyp, mestyp, serial
        return self

    @property
    def root(self) -> str:
        """The root element name: the extension type if any, else the basic type."""
        return tag_name(self.cimtyp or self.idoctyp)


def tag_name(name: str) -> str:
    """`/ABC/DEBMAS07_EXT` -> `_-ABC_-DEBMAS07_EXT`: how names in a customer namespace become XML tags."""
    return name.replace("/", "_-")


def pad_alpha(value: str | int, length: int = 10) -> str:
    """ALPHA conversion: a numeric key is right-aligned with zeros (KUNNR, VBELN, POSNR); others stay."""
    text = str(value).strip()
    return text.zfill(length) if text.isdigit() else text


def pad_matnr(value: str | int) -> str:
    """MATN1 conversion for an 18-character MATNR: numeric numbers zero-padded, others unchanged."""
    return pad_alpha(value, 18)


def ticking_clock(start: datetime, step: timedelta = timedelta(seconds=1)) -> Callable[[], datetime]:
    """A clock that moves on by `step` each time it is read: deterministic CREDAT/CRETIM/SERIAL."""
    state = {"now": start - step}

    def clock() -> datetime:
        state["now"] += step
        return state["now"]

    return clock


def segment(name: str, fields: Mapping[str, Any], children: Iterable[str] = ()) -> str:
    """`<NAME SEGMENT="1">` with `fields` (empty ones left out, True as "X") then `children`."""
    parts = [f'<{tag_name(name)} SEGMENT="1">']
    for field, value in fields.items():
        text = _text(value)
        if text:
            parts.append(f"<{field}>{escape(text)}</{field}>")
    parts.extend(children)
    parts.append(f"</{tag_name(name)}>")
    return "".join(parts)


class IdocWriter:
    """Writes IDocs as one ECC client's outbound ALE layer does, numbering them as it goes.

    Every method returns one `<IDOC>` element (an `IdocText`); `packet` wraps one or many
    under a root with the XML declaration, as one HTTP body or one file of the XML port.
    """

    def __init__(self, *, sender_partner: str = "ECDCLNT800", sender_port: str = "SAPECD", client: str = "800",
                 receiver_partner: str = "HUBCLNT001", receiver_port: str = "HUBXMLHTTP", docnum_start: int = 1,
                 clock: Callable[[], datetime] | None = None, outmod: str = "2", sales_org: str = "1000",
                 distribution_channel: str = "10", division: str = "00", plant: str = "1000",
                 shipping_point: str = "1000") -> None:
        self.sender_partner, self.sender_port, self.client = sender_partner, sender_port, client
        self.receiver_partner, self.receiver_port, self.outmod = receiver_partner, receiver_port, outmod
        self.sales_org, self.distribution_channel, self.division = sales_org, distribution_channel, division
        self.plant, self.shipping_point = plant, shipping_point
        self._clock = clock or (lambda: datetime.now(UTC))
        self._next_docnum = docnum_start
        self._last_stamp, self._counter = "", 0

    def today(self) -> date:
        """The sandbox ECC's date (reads the clock once)."""
        return self._clock().date()

    # ------------------------------------------------------------ packets

    def packet(self, idocs: Sequence[str] | str, root: str | None = None) -> bytes:
        """One body: the XML declaration, a root (default: the first IDoc's type) and the IDocs."""
        items = [idocs] if isinstance(idocs, str) else list(idocs)
        if not items:
            raise ValueError("A packet needs at least one IDoc.")
        if root is None:
            if not isinstance(items[0], IdocText):
                raise ValueError("Pass root= for IDocs given as plain text.")
            root = items[0].root
        root = tag_name(root)
        return f"{XML_DECLARATION}<{root}>{''.join(items)}</{root}>".encode()

    # ------------------------------------------------------------ master data

    def debmas(self, kunnr: str | int, name: str, *, email: str | None = None, city: str = "", postcode: str = "",
               country: str = "GB", street: str = "", phone: str = "", currency: str = "GBP", msgfn: str = "005",
               deletion_flag: bool = False, posting_block: bool = False, order_block: str = "",
               extension_fields: Mapping[str, Any] | None = None, language: str = "E",
               account_group: str = "0001") -> IdocText:
        """DEBMAS07: E1KNA1M (general data) > E1KNVVM (sales area) and, with `extension_fields`,
        the customer segment /ABC/Z1KNA1M under CIMTYP /ABC/DEBMAS07_EXT.

        DEBMAS07 has no e-mail field (contract 2.6): standard ECC sends it in ADRMAS, so call
        `adrmas(kunnr, email)` after this. An `email` given here is embedded the way some
        customers extend DEBMAS: as SMTP_ADDR (ADR6's field name) in the extension segment.
        """
        now = self._clock()
        if email:
            extension_fields = {**(extension_fields or {}), "SMTP_ADDR": email}
        sales_area = segment("E1KNVVM", {
            "MSGFN": msgfn, "VKORG": self.sales_org, "VTWEG": self.distribution_channel, "SPART": self.division,
            "KDGRP": "01", "WAERS": currency, "AUFSD": order_block, "LOEVM": deletion_flag})
        children = [sales_area]
        if extension_fields:
            children.append(segment(DEBMAS_EXTENSION_SEGMENT, dict(extension_fields)))
        general = segment("E1KNA1M", {
            "MSGFN": msgfn, "KUNNR": pad_alpha(kunnr), "ANRED": "", "NAME1": name[:35], "NAME2": name[35:70],
            "SORTL": _sort_field(name), "LAND1": country, "ORT01": city, "PSTLZ": postcode, "STRAS": street,
            "TELF1": phone, "SPRAS": language, "KTOKD": account_group, "LOEVM": deletion_flag,
            "SPERR": posting_block, "AUFSD": order_block}, children)
        return self._idoc("DEBMAS07", "DEBMAS", [general], now, cimtyp=DEBMAS_EXTENSION if extension_fields else "")

    def adrmas(self, kunnr: str | int, email: str, *, name: str = "", msgfn: str = "005") -> IdocText:
        """ADRMAS02 for a customer's address: E1ADRMAS (owner KNA1 + KUNNR) > E1BPADSMTP (standard e-mail)."""
        now = self._clock()
        children = []
        if name:
            children.append(segment("E1BPAD1VL", {"NAME": name[:40], "LANGU": "E"}))
        children.append(segment("E1BPADSMTP", {"STD_NO": True, "E_MAIL": email, "HOME_FLAG": True,
                                               "CONSNUMBER": "001"}))
        owner = segment("E1ADRMAS", {"MSGFN": msgfn, "OBJ_TYPE": "KNA1", "OBJ_ID": pad_alpha(kunnr),
                                     "CONTEXT": "0001"}, children)
        return self._idoc("ADRMAS02", "ADRMAS", [owner], now)

    def matmas(self, matnr: str | int, description: str, *, ean: str | None = None, deletion_flag: bool = False,
               long_matnr: str | None = None, material_group: str = "", unit: str = "ST",
               msgfn: str = "005") -> IdocText:
        """MATMAS05: E1MARAM (MATNR padded to 18, MATNR_LONG when given, EAN11, LVORM) > E1MAKTM (English text)."""
        now = self._clock()
        text = segment("E1MAKTM", {"MSGFN": msgfn, "SPRAS": "E", "MAKTX": description[:40], "SPRAS_ISO": "EN"})
        material = segment("E1MARAM", {
            "MSGFN": msgfn, "MATNR": pad_matnr(matnr), "MTART": "HAWA", "MBRSH": "R", "MATKL": material_group,
            "MEINS": unit, "LVORM": deletion_flag, "EAN11": ean or "", "NUMTP": "HE" if ean else "",
            "MATNR_LONG": long_matnr or ""}, [text])
        return self._idoc("MATMAS05", "MATMAS", [material], now)

    # ------------------------------------------------------------ documents

    def orders(self, vbeln: str | int, kunnr: str | int, lines: Sequence[Mapping[str, Any]], *,
               web_reference: str = "", mestyp: str = "ORDERS", item_actions: Mapping[Any, str] | None = None,
               header_action: str | None = None, currency: str = "GBP", tax_rate: float | Decimal = 0.2,
               order_date: date | None = None, ship_to: str | int | None = None, rejection_reason: str = "",
               order_type: str = "TA") -> IdocText:
        """ORDERS05 for a sales order (ORDERS, ORDRSP or ORDCHG).

        `lines`: {posex, matnr, text, qty, price[, werks]}. `item_actions` maps a POSEX to 001
        (added) / 002 (changed) / 003 (deleted); items without one carry no ACTION. A
        `rejection_reason` (ABGRU) is set on every item, as SAP rejects a whole order. Totals
        (E1EDS01) leave out deleted items.
        """
        now = self._clock()
        actions = {pad_alpha(key, 6): value for key, value in (item_actions or {}).items()}
        order_date = order_date or now.date()
        items, net = [], Decimal(0)
        for line in lines:
            posex = pad_alpha(line["posex"], 6)
            quantity, price = _decimal(line["qty"]), _decimal(line["price"])
            value = _money(quantity * price)
            if actions.get(posex) != ITEM_DELETED:
                net += value
            schedule = segment("E1EDP20", {"WMENG": _quantity(quantity), "EDATU": _date(order_date)})
            identity = segment("E1EDP19", {"QUALF": "002", "IDTNR": pad_matnr(line["matnr"]),
                                           "KTEXT": str(line.get("text") or "")[:70]})
            items.append(segment("E1EDP01", {
                "POSEX": posex, "ACTION": actions.get(posex, ""), "MENGE": _quantity(quantity), "MENEE": "PCE",
                "VPREI": _money(price), "PEINH": "1", "NETWR": _money(value),
                "WERKS": line.get("werks") or self.plant, "ABGRU": rejection_reason}, [schedule, identity]))
        header = [
            segment("E1EDK01", {"ACTION": header_action or "", "CURCY": currency, "HWAER": "GBP",
                                "BSART": order_type, "BELNR": pad_alpha(vbeln), "RECIPNT_NO": pad_alpha(kunnr)}),
            *self._org_data(("008", self.sales_org), ("007", self.distribution_channel), ("006", self.division),
                            ("012", order_type)),
            segment("E1EDK03", {"IDDAT": "012", "DATUM": _date(order_date)}),
            segment("E1EDK03", {"IDDAT": "002", "DATUM": _date(order_date + timedelta(days=3))}),
            segment("E1EDKA1", {"PARVW": "AG", "PARTN": pad_alpha(kunnr)}),
            segment("E1EDKA1", {"PARVW": "WE", "PARTN": pad_alpha(ship_to if ship_to is not None else kunnr)}),
        ]
        if web_reference:
            header.append(segment("E1EDK02", {"QUALF": "001", "BELNR": web_reference, "DATUM": _date(order_date)}))
        live = sum(1 for line in lines if actions.get(pad_alpha(line["posex"], 6)) != ITEM_DELETED)
        totals = self._totals(live, net, _decimal(tax_rate), currency)
        return self._idoc("ORDERS05", mestyp, [*header, *items, *totals], now)

    def delvry(self, vbeln: str | int, kunnr: str | int, items: Sequence[Mapping[str, Any]], *,
               goods_issued: date | None = None, tracking: str | None = None, mestyp: str = "DESADV",
               planned: date | None = None, ship_to: str | int | None = None, web_reference: str = "",
               transit_days: int = 2) -> IdocText:
        """DELVRY07 for an outbound delivery: E1EDL20 > E1EDL21, E1EDL18 (ORI, PGI once goods are
        issued), E1ADRM1 (AG, WE), E1EDT13 (006 goods issue: planned NTANF, actual ISDD once
        issued; 007 delivery: NTANF `transit_days` later), E1EDL24 items (> E1EDL41 with the
        customer's order reference BSTNR when `web_reference` is given).

        `items`: {posnr, matnr, qty, vgbel, vgpos[, werks, lgort, text]}.
        """
        now = self._clock()
        planned = planned or goods_issued or now.date()
        children = [segment("E1EDL21", {"LFART": "LF"}), segment("E1EDL18", {"QUALF": "ORI"})]
        if goods_issued:
            children.append(segment("E1EDL18", {"QUALF": "PGI"}))
        children += [
            segment("E1ADRM1", {"PARTNER_Q": "AG", "PARTNER_ID": pad_alpha(kunnr)}),
            segment("E1ADRM1", {"PARTNER_Q": "WE", "PARTNER_ID": pad_alpha(ship_to if ship_to is not None
                                                                           else kunnr)}),
            segment("E1EDT13", {"QUALF": "006", "NTANF": _date(planned),
                                "ISDD": _date(goods_issued) if goods_issued else ""}),
            segment("E1EDT13", {"QUALF": "007", "NTANF": _date(planned + timedelta(days=transit_days))}),
        ]
        reference = [segment("E1EDL41", {"QUALI": "001", "BSTNR": web_reference})] if web_reference else []
        for item in items:
            children.append(segment("E1EDL24", {
                "POSNR": pad_alpha(item["posnr"], 6), "MATNR": pad_matnr(item["matnr"]),
                "ARKTX": str(item.get("text") or "")[:40], "WERKS": item.get("werks") or self.plant,
                "LGORT": item.get("lgort") or "0001", "LFIMG": _quantity(_decimal(item["qty"])), "VRKME": "ST",
                "VGBEL": pad_alpha(item["vgbel"]), "VGPOS": pad_alpha(item["vgpos"], 6)}, reference))
        header = segment("E1EDL20", {"VBELN": pad_alpha(vbeln), "VSTEL": self.shipping_point,
                                     "VKORG": self.sales_org, "BOLNR": tracking or ""}, children)
        return self._idoc("DELVRY07", mestyp, [header], now)

    def invoic(self, belnr: str | int, kunnr: str | int, lines: Sequence[Mapping[str, Any]], *,
               credit_memo: bool = False, web_reference: str = "", currency: str = "GBP",
               tax_rate: float | Decimal = 0.2, invoice_date: date | None = None) -> IdocText:
        """INVOIC02 for a billing document: an invoice (BSART INVO, billing type F2) or a credit
        memo (CRME, G2). `lines`: {posex, matnr, qty, price, order, order_item[, text]}."""
        now = self._clock()
        invoice_date = invoice_date or now.date()
        rate = _decimal(tax_rate)
        items, net = [], Decimal(0)
        for line in lines:
            quantity, price = _decimal(line["qty"]), _decimal(line["price"])
            value = _money(quantity * price)
            net += value
            items.append(segment("E1EDP01", {
                "POSEX": pad_alpha(line["posex"], 6), "MENGE": _quantity(quantity), "MENEE": "PCE",
                "VPREI": _money(price), "PEINH": "1", "NETWR": _money(value), "WERKS": line.get("werks") or self.plant,
            }, [
                segment("E1EDP02", {"QUALF": "002", "BELNR": pad_alpha(line["order"]),
                                    "ZEILE": pad_alpha(line["order_item"], 6)}),
                segment("E1EDP19", {"QUALF": "002", "IDTNR": pad_matnr(line["matnr"]),
                                    "KTEXT": str(line.get("text") or "")[:70]}),
                segment("E1EDP26", {"QUALF": "003", "BETRG": _money(value)}),
                segment("E1EDP04", {"MWSKZ": "A1", "MSATZ": _quantity(rate * 100),
                                    "MWSBT": _money(value * rate)}),
            ]))
        header = [
            segment("E1EDK01", {"CURCY": currency, "HWAER": "GBP", "BSART": "CRME" if credit_memo else "INVO",
                                "BELNR": pad_alpha(belnr)}),
            *self._org_data(("008", self.sales_org), ("015", "G2" if credit_memo else "F2")),
            segment("E1EDK03", {"IDDAT": "012", "DATUM": _date(invoice_date)}),
            segment("E1EDKA1", {"PARVW": "AG", "PARTN": pad_alpha(kunnr)}),
            segment("E1EDKA1", {"PARVW": "RE", "PARTN": pad_alpha(kunnr)}),
        ]
        if web_reference:
            header.append(segment("E1EDK02", {"QUALF": "001", "BELNR": web_reference}))
        if lines:
            header.append(segment("E1EDK02", {"QUALF": "002", "BELNR": pad_alpha(lines[0]["order"])}))
        totals = self._totals(len(lines), net, rate, currency)
        return self._idoc("INVOIC02", "INVOIC", [*header, *items, *totals], now)

    # ------------------------------------------------------------ stock

    def wmmbxy(self, movements: Sequence[Mapping[str, Any]], *, reference: str = "",
               posting_date: date | None = None) -> IdocText:
        """WMMBID02 (message WMMBXY): E1MBXYH (dates, reference) > one E1MBXYI per movement
        {matnr, werks, lgort, bwart, qty[, shkzg, umwrk, umlgo]}: SHKZG S adds to stock, H takes
        from it; a transfer posting (301/311) is one item moving the quantity from WERKS/LGORT to
        UMWRK/UMLGO (the receiving plant and storage location)."""
        now = self._clock()
        posting_date = posting_date or now.date()
        items = [segment("E1MBXYI", {
            "MATNR": pad_matnr(movement["matnr"]), "WERKS": movement["werks"], "LGORT": movement["lgort"],
            "BWART": movement["bwart"], "ERFMG": _quantity(_decimal(movement["qty"])), "ERFME": "ST",
            "MENGE": _quantity(_decimal(movement["qty"])), "MEINS": "ST", "SHKZG": movement.get("shkzg"),
            "UMWRK": movement.get("umwrk"), "UMLGO": movement.get("umlgo")}) for movement in movements]
        header = segment("E1MBXYH", {"BLDAT": _date(posting_date), "BUDAT": _date(posting_date),
                                     "XBLNR": reference, "TCODE": "MIGO"}, items)
        return self._idoc("WMMBID02", "WMMBXY", [header], now)

    def loistd(self, levels: Sequence[Mapping[str, Any]]) -> IdocText:
        """LOISTD01: one E1MDSTL per material, plant and storage location with unrestricted stock LABST."""
        now = self._clock()
        rows = [segment("E1MDSTL", {
            "MATNR": pad_matnr(level["matnr"]), "WERKS": level["werks"], "LGORT": level.get("lgort") or "",
            "LABST": _quantity(_decimal(level["labst"])), "MEINS": "ST"}) for level in levels]
        return self._idoc("LOISTD01", "LOISTD", rows, now)

    # ------------------------------------------------------------ hostile bodies (for tests)

    def bomb(self) -> bytes:
        """A billion-laughs body: nested entities in an internal DTD. A safe parser refuses it unread."""
        entities = ['<!ENTITY lol0 "lol">']
        for n in range(1, 10):
            references = f"&lol{n - 1};" * 10
            entities.append(f'<!ENTITY lol{n} "{references}">')
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE DEBMAS07 [{"".join(entities)}]>\n'
                f'<DEBMAS07><IDOC BEGIN="1">{self._control("DEBMAS07", "DEBMAS", "", self._clock())}'
                '<E1KNA1M SEGMENT="1"><KUNNR>0000000666</KUNNR><NAME1>&lol9;</NAME1></E1KNA1M></IDOC></DEBMAS07>')
        return body.encode()

    def external_entity(self, target: str = "file:///etc/passwd") -> bytes:
        """An XXE body: an external entity pointing at `target`, used in a field."""
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE DEBMAS07 [<!ENTITY xxe SYSTEM "{target}">]>\n'
                f'<DEBMAS07><IDOC BEGIN="1">{self._control("DEBMAS07", "DEBMAS", "", self._clock())}'
                '<E1KNA1M SEGMENT="1"><KUNNR>0000000667</KUNNR><NAME1>&xxe;</NAME1></E1KNA1M></IDOC></DEBMAS07>')
        return body.encode()

    def oversized(self, n_bytes: int) -> bytes:
        """A well-formed DEBMAS packet of exactly `n_bytes`, padded with whitespace inside the root."""
        body = self.packet([self.debmas("668", "Oversized Packet Ltd", city="Leeds")])
        closing = b"</DEBMAS07>"
        padding = n_bytes - len(body)
        if padding < 0:
            raise ValueError(f"A packet is at least {len(body)} bytes; asked for {n_bytes}.")
        return body[: -len(closing)] + b" " * padding + closing

    # ------------------------------------------------------------ helpers

    def _org_data(self, *pairs: tuple[str, str]) -> list[str]:
        return [segment("E1EDK14", {"QUALF": qualifier, "ORGID": value}) for qualifier, value in pairs]

    @staticmethod
    def _totals(count: int, net: Decimal, rate: Decimal, currency: str) -> list[str]:
        tax = _money(net * rate)
        return [segment("E1EDS01", {"SUMID": "001", "SUMME": str(count)}),
                segment("E1EDS01", {"SUMID": "002", "SUMME": _money(net), "SUNIT": currency}),
                segment("E1EDS01", {"SUMID": "005", "SUMME": _money(tax), "SUNIT": currency}),
                segment("E1EDS01", {"SUMID": "003", "SUMME": _money(_money(net) + tax), "SUNIT": currency})]

    def _idoc(self, idoctyp: str, mestyp: str, segments: Sequence[str], now: datetime, *,
              cimtyp: str = "") -> IdocText:
        control = self._control(idoctyp, mestyp, cimtyp, now)
        docnum = self._last_docnum
        serial = self._last_serial
        return IdocText(f'<IDOC BEGIN="1">{control}{"".join(segments)}</IDOC>', docnum=docnum, idoctyp=idoctyp,
                        cimtyp=cimtyp, mestyp=mestyp, serial=serial)

    def _control(self, idoctyp: str, mestyp: str, cimtyp: str, now: datetime) -> str:
        """The next control record: the next DOCNUM and a SERIAL above every earlier one."""
        docnum = f"{self._next_docnum:016d}"
        self._next_docnum += 1
        stamp = max(now.strftime("%Y%m%d%H%M%S"), self._last_stamp)
        if stamp == self._last_stamp:
            self._counter += 1
            if self._counter > 999_999:  # a million IDocs in one second: borrow the next second
                stamp = (datetime.strptime(stamp, "%Y%m%d%H%M%S") + timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")
                self._counter = 0
        else:
            self._counter = 0
        self._last_stamp = stamp
        self._last_docnum, self._last_serial = docnum, f"{stamp}{self._counter:06d}"
        return segment("EDI_DC40", {
            "TABNAM": "EDI_DC40", "MANDT": self.client, "DOCNUM": docnum, "DOCREL": DOCREL, "STATUS": "30",
            "DIRECT": "1", "OUTMOD": self.outmod, "IDOCTYP": idoctyp, "CIMTYP": cimtyp, "MESTYP": mestyp,
            "SNDPOR": self.sender_port, "SNDPRT": "LS", "SNDPRN": self.sender_partner,
            "RCVPOR": self.receiver_port, "RCVPRT": "LS", "RCVPRN": self.receiver_partner,
            "CREDAT": now.strftime("%Y%m%d"), "CRETIM": now.strftime("%H%M%S"), "SERIAL": self._last_serial})


def _text(value: Any) -> str:
    if value is None or value is False:
        return ""
    if value is True:
        return "X"
    return str(value).strip()


def _sort_field(name: str) -> str:
    return "".join(ch for ch in name.upper() if ch.isalnum())[:10]


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _quantity(value: Decimal) -> str:
    return str(value.quantize(_MILLI, rounding=ROUND_HALF_UP))


def _date(value: date) -> str:
    return value.strftime("%Y%m%d")
