"""The sandbox ECC: IDoc-XML as ECC's XML port writes it, the demo company's day of IDocs,
and the two ways it reaches the hub (XML-HTTP POST, XML file port)."""
from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree.ElementTree import fromstring

import pytest
from django.core.management import CommandError, call_command

from erp.sap_b1.sandbox.demo_items import demo_items
from erp.sap_ecc.idoc_xml import IdocRefused, ParsedIdoc, Segment, idocs_parse
from erp.sap_ecc.management.commands.ecc_sandbox_send import Command as SendCommand
from erp.sap_ecc.sandbox import demo
from erp.sap_ecc.sandbox.idocs import IdocWriter, pad_alpha, pad_matnr, ticking_clock
from erp.sap_ecc.sandbox.sender import CONTENT_TYPE, packet_file_name, post_packets, write_files

LIMIT = 10 * 1024 * 1024
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def ecc() -> IdocWriter:
    return IdocWriter(docnum_start=1000, clock=ticking_clock(START))


@pytest.fixture
def demo_day() -> list[tuple[str, bytes]]:
    return demo.demo_packets(demo.demo_writer(clock=ticking_clock(START)))


def parse_one(body: bytes) -> ParsedIdoc:
    [idoc] = idocs_parse(body, max_bytes=LIMIT)
    return idoc


def walk(segments: list[Segment]):
    for segment in segments:
        yield segment
        yield from walk(segment.children)


def segments_named(idoc: ParsedIdoc, name: str) -> list[Segment]:
    return [segment for segment in walk(idoc.segments) if segment.name == name]


def all_idocs(packets: list[tuple[str, bytes]]) -> list[tuple[str, ParsedIdoc]]:
    return [(label, idoc) for label, body in packets for idoc in idocs_parse(body, max_bytes=LIMIT)]


# ------------------------------------------------------------------ the XML port's format


def test_an_idoc_carries_the_control_record_ecc_sends(ecc):
    idoc = parse_one(ecc.packet([ecc.debmas("99009", "Jane Example", city="Leeds")]))
    assert idoc.control == {
        "TABNAM": "EDI_DC40", "MANDT": "800", "DOCNUM": "0000000000001000", "DOCREL": "731", "STATUS": "30",
        "DIRECT": "1", "OUTMOD": "2", "IDOCTYP": "DEBMAS07", "MESTYP": "DEBMAS", "SNDPOR": "SAPECD",
        "SNDPRT": "LS", "SNDPRN": "ECDCLNT800", "RCVPOR": "HUBXMLHTTP", "RCVPRT": "LS", "RCVPRN": "HUBCLNT001",
        "CREDAT": "20260302", "CRETIM": "090000", "SERIAL": "20260302090000000000"}


def test_every_segment_is_marked_and_empty_fields_are_left_out(ecc):
    body = ecc.packet([ecc.delvry(80000001, 100001, [{"posnr": 10, "matnr": 20014, "qty": 1, "vgbel": 12001,
                                                      "vgpos": 10}])])
    root = fromstring(body)
    assert root.tag == "DELVRY07"
    [idoc] = list(root)
    assert (idoc.tag, idoc.attrib) == ("IDOC", {"BEGIN": "1"})
    for element in idoc.iter():
        if element is idoc:
            continue
        if len(element):
            assert element.attrib == {"SEGMENT": "1"}, element.tag
        else:
            assert element.attrib == {} and (element.text or "").strip(), f"empty or marked field {element.tag}"
    parsed = parse_one(body)
    assert "BOLNR" not in segments_named(parsed, "E1EDL20")[0].fields  # no tracking number given
    assert "ISDD" not in segments_named(parsed, "E1EDT13")[0].fields  # not goods-issued yet


def test_keys_are_padded_as_alpha_and_matn1_pad_them(ecc):
    assert (pad_alpha("99009"), pad_alpha(1390), pad_alpha("10", 6)) == ("0000099009", "0000001390", "000010")
    assert pad_alpha("WEB-CUST") == "WEB-CUST" and pad_matnr("HW-117") == "HW-117"
    assert pad_matnr(10001547) == "000000000010001547"
    order = parse_one(ecc.packet([ecc.orders(12001, 100001, [{"posex": 10, "matnr": "20014", "text": "Shirt",
                                                             "qty": 1, "price": 45}], web_reference="WEB-1")]))
    assert segments_named(order, "E1EDK01")[0].get("BELNR") == "0000012001"
    assert {s.get("PARVW"): s.get("PARTN") for s in segments_named(order, "E1EDKA1")} == {
        "AG": "0000100001", "WE": "0000100001"}
    assert segments_named(order, "E1EDP01")[0].get("POSEX") == "000010"
    assert segments_named(order, "E1EDP19")[0].fields == {"QUALF": "002", "IDTNR": "000000000000020014",
                                                          "KTEXT": "Shirt"}
    delivery = parse_one(ecc.packet([ecc.delvry("80000001", "100001", [
        {"posnr": 10, "matnr": "20014", "qty": 1, "vgbel": "12001", "vgpos": 10}])]))
    item = segments_named(delivery, "E1EDL24")[0]
    assert (item.get("POSNR"), item.get("MATNR"), item.get("VGBEL"), item.get("VGPOS")) == (
        "000010", "000000000000020014", "0000012001", "000010")
    assert segments_named(delivery, "E1EDL20")[0].get("VBELN") == "0080000001"


def test_docnum_and_serial_strictly_increase_even_within_one_second_or_when_the_clock_goes_back():
    moments = iter([START, START, START, START - timedelta(hours=1), START + timedelta(seconds=5)])
    writer = IdocWriter(docnum_start=7, clock=lambda: next(moments))
    idocs = [writer.adrmas(n, f"person{n}@example.com") for n in range(5)]
    assert [idoc.docnum for idoc in idocs] == [f"{n:016d}" for n in range(7, 12)]
    serials = [idoc.serial for idoc in idocs]
    assert all(len(serial) == 20 and serial.isdigit() for serial in serials)
    assert serials == sorted(set(serials)), serials
    assert serials[0] == "20260302090000000000" and serials[-1] == "20260302090005000000"
    parsed = [parse_one(writer.packet([idoc])) for idoc in idocs]
    assert [p.control["SERIAL"] for p in parsed] == serials


def test_values_are_escaped_and_non_ascii_survives(ecc):
    name = "Hale & Brook <Interiors> Ltd"
    body = ecc.packet([ecc.debmas("100011", name, city="Dún Laoghaire", street="1 O'Connell St")])
    assert b"Hale &amp; Brook &lt;Interiors&gt; Ltd" in body
    general = segments_named(parse_one(body), "E1KNA1M")[0]
    assert (general.get("NAME1"), general.get("ORT01"), general.get("STRAS")) == (
        name, "Dún Laoghaire", "1 O'Connell St")


def test_a_packet_of_several_idocs_parses_into_several_in_order(ecc):
    idocs = [ecc.debmas(n, f"Customer {n}") for n in (1, 2, 3)]
    body = ecc.packet(idocs)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<DEBMAS07><IDOC BEGIN="1">')
    parsed = idocs_parse(body, max_bytes=LIMIT)
    assert [p.docnum for p in parsed] == [idoc.docnum for idoc in idocs]
    assert [segments_named(p, "E1KNA1M")[0].get("KUNNR") for p in parsed] == [
        "0000000001", "0000000002", "0000000003"]
    assert fromstring(ecc.packet(idocs, root="_-ABC_-DEBMAS07_EXT")).tag == "_-ABC_-DEBMAS07_EXT"
    with pytest.raises(ValueError):
        ecc.packet([])


# ------------------------------------------------------------------ each message type


def test_debmas_with_extension_fields_uses_the_customer_namespace(ecc):
    body = ecc.packet([ecc.debmas("100014", "Leo Chen", extension_fields={"ZZLOYALTY_TIER": "Gold"},
                                  email="leo.chen@example.com")])
    assert fromstring(body).tag == "_-ABC_-DEBMAS07_EXT"
    idoc = parse_one(body)
    assert (idoc.control["IDOCTYP"], idoc.control["CIMTYP"]) == ("DEBMAS07", "/ABC/DEBMAS07_EXT")
    [extension] = segments_named(idoc, "_-ABC_-Z1KNA1M")
    assert extension.fields == {"ZZLOYALTY_TIER": "Gold", "SMTP_ADDR": "leo.chen@example.com"}
    plain = parse_one(ecc.packet([ecc.debmas("100001", "Amelia Taylor")]))
    assert "CIMTYP" not in plain.control and not segments_named(plain, "_-ABC_-Z1KNA1M")


def test_debmas_flags_deletion_and_blocks_and_names_its_sales_area(ecc):
    idoc = parse_one(ecc.packet([ecc.debmas("100012", "Rhys Hughes", deletion_flag=True, posting_block=True,
                                            order_block="01", currency="EUR")]))
    general = segments_named(idoc, "E1KNA1M")[0]
    assert (general.get("MSGFN"), general.get("LOEVM"), general.get("SPERR"), general.get("AUFSD")) == (
        "005", "X", "X", "01")
    sales = segments_named(idoc, "E1KNVVM")[0]
    assert (sales.get("VKORG"), sales.get("VTWEG"), sales.get("SPART"), sales.get("WAERS")) == (
        "1000", "10", "00", "EUR")
    active = segments_named(parse_one(ecc.packet([ecc.debmas("100001", "Amelia Taylor")])), "E1KNA1M")[0]
    assert not {"LOEVM", "SPERR", "AUFSD"} & set(active.fields)


def test_adrmas_carries_the_standard_email_of_the_customer(ecc):
    idoc = parse_one(ecc.packet([ecc.adrmas("100001", "amelia.taylor@example.com")]))
    assert (idoc.control["IDOCTYP"], idoc.control["MESTYP"]) == ("ADRMAS02", "ADRMAS")
    owner = segments_named(idoc, "E1ADRMAS")[0]
    assert (owner.get("OBJ_TYPE"), owner.get("OBJ_ID")) == ("KNA1", "0000100001")
    smtp = owner.first("E1BPADSMTP")
    assert (smtp.get("E_MAIL"), smtp.get("STD_NO")) == ("amelia.taylor@example.com", "X")


def test_orders_totals_leave_out_deleted_items_and_carry_actions(ecc):
    lines = [{"posex": 10, "matnr": 1, "text": "A", "qty": 2, "price": "19.99"},
             {"posex": 20, "matnr": 2, "text": "B", "qty": 1, "price": "5.00"},
             {"posex": 30, "matnr": 3, "text": "C", "qty": 3, "price": "1.10"}]
    idoc = parse_one(ecc.packet([ecc.orders(12003, 100006, lines, web_reference="WEB-9", mestyp="ORDCHG",
                                            item_actions={"000020": "003", 30: "001"}, order_date=date(2026, 2, 1),
                                            header_action="002")]))
    assert (idoc.control["IDOCTYP"], idoc.control["MESTYP"]) == ("ORDERS05", "ORDCHG")
    items = segments_named(idoc, "E1EDP01")
    assert [(i.get("POSEX"), i.get("ACTION")) for i in items] == [("000010", ""), ("000020", "003"),
                                                                  ("000030", "001")]
    assert (items[0].get("MENGE"), items[0].get("VPREI"), items[0].get("NETWR")) == ("2.000", "19.99", "39.98")
    sums = {s.get("SUMID"): s.get("SUMME") for s in segments_named(idoc, "E1EDS01")}
    net = Decimal("39.98") + Decimal("3.30")
    assert sums == {"001": "2", "002": str(net), "005": "8.66", "003": str(net + Decimal("8.66"))}
    assert segments_named(idoc, "E1EDK01")[0].get("ACTION") == "002"
    assert {s.get("QUALF"): s.get("BELNR") for s in segments_named(idoc, "E1EDK02")} == {"001": "WEB-9"}
    assert {s.get("IDDAT"): s.get("DATUM") for s in segments_named(idoc, "E1EDK03")} == {
        "012": "20260201", "002": "20260204"}
    assert {s.get("QUALF"): s.get("ORGID") for s in segments_named(idoc, "E1EDK14")}["008"] == "1000"


def test_a_rejected_order_keeps_its_items_with_a_reason(ecc):
    idoc = parse_one(ecc.packet([ecc.orders(12004, 100008, [{"posex": 10, "matnr": 1, "qty": 1, "price": 1}],
                                            mestyp="ORDCHG", header_action="003", rejection_reason="10")]))
    assert segments_named(idoc, "E1EDK01")[0].get("ACTION") == "003"
    assert segments_named(idoc, "E1EDP01")[0].get("ABGRU") == "10"


def test_delvry_reports_goods_issue_only_once_goods_are_issued(ecc):
    items = [{"posnr": 10, "matnr": 20014, "qty": 2, "vgbel": 12002, "vgpos": 10, "werks": "1000", "lgort": "0001"}]
    before = parse_one(ecc.packet([ecc.delvry(80001002, 100003, items, planned=date(2026, 2, 20))]))
    after = parse_one(ecc.packet([ecc.delvry(80001002, 100003, items, goods_issued=date(2026, 2, 21),
                                             tracking="RM100000002GB", web_reference="WEB-300002")]))
    assert [s.get("QUALF") for s in segments_named(before, "E1EDL18")] == ["ORI"]
    assert [s.get("QUALF") for s in segments_named(after, "E1EDL18")] == ["ORI", "PGI"]
    assert segments_named(before, "E1EDT13")[0].fields == {"QUALF": "006", "NTANF": "20260220"}
    assert segments_named(after, "E1EDT13")[0].fields == {"QUALF": "006", "NTANF": "20260221", "ISDD": "20260221"}
    assert segments_named(after, "E1EDL20")[0].get("BOLNR") == "RM100000002GB"
    assert {s.get("PARTNER_Q"): s.get("PARTNER_ID") for s in segments_named(after, "E1ADRM1")} == {
        "AG": "0000100003", "WE": "0000100003"}
    item = segments_named(after, "E1EDL24")[0]
    assert (item.get("LFIMG"), item.get("VRKME"), item.get("WERKS"), item.get("LGORT")) == (
        "2.000", "ST", "1000", "0001")
    assert item.first("E1EDL41").get("BSTNR") == "WEB-300002"
    assert after.control["MESTYP"] == "DESADV" and after.control["IDOCTYP"] == "DELVRY07"


def test_invoic_tells_an_invoice_from_a_credit_memo_and_links_each_line_to_its_order(ecc):
    lines = [{"posex": 10, "matnr": 10004105, "qty": 1, "price": "8.50", "order": 12005, "order_item": 20}]
    invoice = parse_one(ecc.packet([ecc.invoic(90001005, 100014, lines, web_reference="WEB-300005")]))
    memo = parse_one(ecc.packet([ecc.invoic(90001009, 100014, lines, credit_memo=True)]))
    for idoc, bsart, fkart in ((invoice, "INVO", "F2"), (memo, "CRME", "G2")):
        header = segments_named(idoc, "E1EDK01")[0]
        assert (header.get("BSART"), header.get("CURCY")) == (bsart, "GBP")
        assert {s.get("QUALF"): s.get("ORGID") for s in segments_named(idoc, "E1EDK14")}["015"] == fkart
        assert {s.get("PARVW") for s in segments_named(idoc, "E1EDKA1")} == {"AG", "RE"}
        reference = segments_named(idoc, "E1EDP02")[0]
        assert (reference.get("QUALF"), reference.get("BELNR"), reference.get("ZEILE")) == (
            "002", "0000012005", "000020")
        assert segments_named(idoc, "E1EDP26")[0].fields == {"QUALF": "003", "BETRG": "8.50"}
    assert segments_named(invoice, "E1EDK01")[0].get("BELNR") == "0090001005"
    assert {s.get("QUALF"): s.get("BELNR") for s in segments_named(invoice, "E1EDK02")} == {
        "001": "WEB-300005", "002": "0000012005"}
    assert (invoice.control["IDOCTYP"], invoice.control["MESTYP"]) == ("INVOIC02", "INVOIC")


def test_goods_movements_stock_lists_and_materials(ecc):
    moves = parse_one(ecc.packet([ecc.wmmbxy([{"matnr": 20123, "werks": "1000", "lgort": "0001", "bwart": "301",
                                               "qty": 5, "shkzg": "H"}])]))
    assert (moves.control["IDOCTYP"], moves.control["MESTYP"]) == ("WMMBID02", "WMMBXY")
    [header] = moves.segments
    assert header.name == "E1MBXYH"
    assert header.first("E1MBXYI").fields == {"MATNR": "000000000000020123", "WERKS": "1000", "LGORT": "0001",
                                               "BWART": "301", "ERFMG": "5.000", "ERFME": "ST", "MENGE": "5.000",
                                               "MEINS": "ST", "SHKZG": "H"}
    transfer = parse_one(ecc.packet([ecc.wmmbxy([{"matnr": 1, "werks": "1000", "lgort": "0001", "bwart": "311",
                                                  "qty": 2, "umwrk": "1000", "umlgo": "0002"}])]))
    item = segments_named(transfer, "E1MBXYI")[0]
    assert (item.get("UMWRK"), item.get("UMLGO"), item.get("SHKZG")) == ("1000", "0002", "")
    stock = parse_one(ecc.packet([ecc.loistd([{"matnr": 20014, "werks": "2000", "lgort": "0001", "labst": 6}])]))
    assert (stock.control["IDOCTYP"], stock.control["MESTYP"]) == ("LOISTD01", "LOISTD")
    assert stock.segments[0].fields == {"MATNR": "000000000000020014", "WERKS": "2000", "LGORT": "0001",
                                        "LABST": "6.000", "MEINS": "ST"}
    material = parse_one(ecc.packet([ecc.matmas("10004108", "Linen Tea Towel - Sage", ean="5000010041089",
                                                long_matnr="HOME-TEXTILES-LINEN-TEA-TOWEL-SAGE-SS26",
                                                deletion_flag=True)]))
    header = segments_named(material, "E1MARAM")[0]
    assert (header.get("MATNR"), header.get("MATNR_LONG"), header.get("EAN11"), header.get("LVORM")) == (
        "000000000010004108", "HOME-TEXTILES-LINEN-TEA-TOWEL-SAGE-SS26", "5000010041089", "X")
    assert header.first("E1MAKTM").fields["MAKTX"] == "Linen Tea Towel - Sage"
    assert "MATNR_LONG" not in segments_named(parse_one(ecc.packet([ecc.matmas(1, "x")])), "E1MARAM")[0].fields


# ------------------------------------------------------------------ hostile bodies


def test_an_xml_bomb_and_an_external_entity_are_refused_unread(ecc):
    for body in (ecc.bomb(), ecc.external_entity()):
        assert b"<!DOCTYPE" in body and b"<!ENTITY" in body
        with pytest.raises(IdocRefused, match="DTD"):
            idocs_parse(body, max_bytes=LIMIT)


def test_an_oversized_body_is_exactly_that_size_and_refused_only_over_the_limit(ecc):
    body = ecc.oversized(50_000)
    assert len(body) == 50_000
    with pytest.raises(IdocRefused, match="over this connection's limit"):
        idocs_parse(body, max_bytes=49_999)
    assert len(idocs_parse(body, max_bytes=50_000)) == 1  # well-formed: only its size is wrong
    with pytest.raises(ValueError):
        ecc.oversized(10)


# ------------------------------------------------------------------ the demo company


def test_every_demo_packet_parses_with_the_demo_partners_control_record(demo_day):
    assert len(demo_day) >= 40
    for label, idoc in all_idocs(demo_day):
        control = idoc.control
        assert (control["SNDPRN"], control["SNDPOR"], control["SNDPRT"], control["MANDT"]) == (
            "ECDCLNT800", "SAPECD", "LS", "800"), label
        assert (control["RCVPRN"], control["DIRECT"], control["STATUS"]) == ("HUBCLNT001", "1", "30"), label
        assert control["MESTYP"] == label.split()[0], label
        assert "@" not in label  # labels are printed and logged: never an e-mail address


def test_the_demo_day_numbers_its_idocs_in_the_order_it_sends_them(demo_day):
    idocs = [idoc for _, idoc in all_idocs(demo_day)]
    docnums = [int(idoc.docnum) for idoc in idocs]
    assert docnums == list(range(demo.DEMO_DOCNUM_START, demo.DEMO_DOCNUM_START + len(idocs)))
    serials = [idoc.control["SERIAL"] for idoc in idocs]
    assert serials == sorted(set(serials))


def test_the_demo_day_is_the_same_bytes_every_time(demo_day):
    assert demo.demo_packets(demo.demo_writer(clock=ticking_clock(START))) == demo_day


def test_the_demo_customers_arrive_with_their_emails_blocks_extension_and_later_deletion(demo_day):
    idocs = all_idocs(demo_day)
    customers = [segments_named(i, "E1KNA1M")[0] for _, i in idocs if i.message_type == "DEBMAS"]
    assert len({c.get("KUNNR") for c in customers}) == 15
    assert all(len(c.get("KUNNR")) == 10 for c in customers)
    emails = {segments_named(i, "E1ADRMAS")[0].get("OBJ_ID"): segments_named(i, "E1BPADSMTP")[0].get("E_MAIL")
              for _, i in idocs if i.message_type == "ADRMAS"}
    assert len(emails) == 14 and all(email.endswith("@example.com") for email in emails.values())
    assert emails["0000100002"] == "oliver.smith.home@example.com"  # the later ADRMAS changed it
    blocked = [c for c in customers if c.get("KUNNR") == "0000100012"]
    assert blocked[0].get("SPERR") == "X" and blocked[0].get("AUFSD") == "01"
    deleted = [c.get("LOEVM") for c in customers if c.get("KUNNR") == "0000100013"]
    assert deleted == ["", "X"]  # first sent active, flagged for deletion at the end of the day
    extension = [i for _, i in idocs if i.control.get("CIMTYP")]
    assert [segments_named(i, "E1KNA1M")[0].get("KUNNR") for i in extension] == ["0000100014"]


def test_the_demo_materials_include_twins_of_sap_b1_demo_items(demo_day):
    b1 = {item["ItemCode"]: item for item in demo_items()}
    materials = {segments_named(i, "E1MARAM")[0].get("MATNR"): i for _, i in all_idocs(demo_day)
                 if i.message_type == "MATMAS"}
    assert len(materials) >= 10 and all(len(matnr) == 18 for matnr in materials)
    for matnr, code in demo.padded_twins().items():
        twin = b1[code]
        header = segments_named(materials[matnr], "E1MARAM")[0]
        assert matnr.lstrip("0") == code.lstrip("0")  # one product once the SKU rules strip zeros
        assert header.get("EAN11") == twin["BarCode"]
        assert header.first("E1MAKTM").get("MAKTX") == twin["ItemName"]


def test_the_demo_orders_are_edited_cancelled_partly_delivered_and_billed(demo_day):
    idocs = all_idocs(demo_day)
    orders = [(i.message_type, i) for _, i in idocs if i.basic_type == "ORDERS05"]
    assert sum(1 for kind, i in orders if kind == "ORDRSP" and len(segments_named(i, "E1EDP01")) == 4) >= 5
    changes = {segments_named(i, "E1EDK01")[0].get("BELNR"): i for kind, i in orders if kind == "ORDCHG"}
    edited = {item.get("POSEX"): item.get("ACTION") for item in segments_named(changes["0000012003"], "E1EDP01")}
    assert "001" in edited.values() and "003" in edited.values()
    cancelled = changes["0000012004"]
    assert segments_named(cancelled, "E1EDK01")[0].get("ACTION") == "003"
    assert all(item.get("ABGRU") for item in segments_named(cancelled, "E1EDP01"))

    deliveries = [i for _, i in idocs if i.message_type == "DESADV"]
    shipped: dict[tuple[str, str], Decimal] = {}
    for delivery in deliveries:
        if any(s.get("QUALF") == "PGI" for s in segments_named(delivery, "E1EDL18")):
            for item in segments_named(delivery, "E1EDL24"):
                key = (item.get("VGBEL"), item.get("VGPOS"))
                shipped[key] = shipped.get(key, Decimal(0)) + Decimal(item.get("LFIMG"))
    confirmations = {segments_named(i, "E1EDK01")[0].get("BELNR"): i for kind, i in orders if kind == "ORDRSP"}
    partial = segments_named(confirmations["0000012002"], "E1EDP01")
    for item in partial:  # two goods-issued deliveries add up to the order, line by line
        assert shipped[("0000012002", item.get("POSEX"))] == Decimal(item.get("MENGE"))
    sent_twice = [d for d in deliveries if segments_named(d, "E1EDL20")[0].get("VBELN") == "0080001002"]
    assert [bool(segments_named(d, "E1EDT13")[0].get("ISDD")) for d in sent_twice] == [False, True]

    billing = [segments_named(i, "E1EDK01")[0].get("BSART") for _, i in idocs if i.message_type == "INVOIC"]
    assert billing.count("CRME") == 1 and billing.count("INVO") >= 3


def test_the_demo_stock_moves_across_two_plants_and_storage_locations(demo_day):
    idocs = all_idocs(demo_day)
    items = [item for _, i in idocs if i.message_type == "WMMBXY" for item in segments_named(i, "E1MBXYI")]
    places = {(item.get("WERKS"), item.get("LGORT")) for item in items}
    places |= {(item.get("UMWRK"), item.get("UMLGO")) for item in items if item.get("UMLGO")}
    assert {("1000", "0001"), ("1000", "0002"), ("2000", "0001")} <= places
    [snapshot] = [i for _, i in idocs if i.message_type == "LOISTD"]
    assert len({(row.get("WERKS"), row.get("LGORT")) for row in segments_named(snapshot, "E1MDSTL")}) == 3
    transfers = [item for item in items if item.get("BWART") in ("301", "311")]
    assert {item.get("BWART") for item in transfers} == {"301", "311"}
    for item in transfers:  # one item from WERKS/LGORT to UMWRK/UMLGO, no debit/credit of its own
        assert item.get("UMWRK") and item.get("UMLGO") and not item.get("SHKZG")
        assert (item.get("UMWRK"), item.get("UMLGO")) != (item.get("WERKS"), item.get("LGORT"))
    others = [item for item in items if item not in transfers]
    assert others and all(item.get("SHKZG") in ("S", "H") for item in others)


# ------------------------------------------------------------------ delivering packets


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        answer = json.dumps({"received": body.count(b"<IDOC "), "duplicates": 0}).encode()
        self.send_response(200 if b"DEBMAS" in body else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.received
    server.shutdown()
    server.server_close()


def test_post_packets_sends_basic_auth_and_the_xml_content_type(hub, ecc):
    url, received = hub
    packets = [("DEBMAS 1", ecc.packet([ecc.debmas(1, "One"), ecc.debmas(2, "Two")])),
               ("ADRMAS 1", ecc.packet([ecc.adrmas(1, "one@example.com")]))]
    results = post_packets(f"{url}/ecc/demo-ecc/idocs", packets, user="ECC_PARTNER", password="s3cret")
    assert [(label, status) for label, status, _ in results] == [("DEBMAS 1", 200), ("ADRMAS 1", 400)]
    assert json.loads(results[0][2]) == {"received": 2, "duplicates": 0}
    for request, (_, body) in zip(received, packets, strict=True):
        assert request["path"] == "/ecc/demo-ecc/idocs"
        assert request["headers"]["Content-Type"] == CONTENT_TYPE == "application/xml; charset=utf-8"
        assert request["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ECC_PARTNER:s3cret").decode()
        assert request["body"] == body


def test_post_packets_reports_a_hub_that_does_not_answer_and_goes_on(ecc):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    packets = [("DEBMAS 1", ecc.packet([ecc.debmas(1, "One")])), ("DEBMAS 2", ecc.packet([ecc.debmas(2, "Two")]))]
    results = post_packets(f"http://127.0.0.1:{port}/ecc/x/idocs", packets, user="u", password="p", timeout=2)
    assert [(label, status) for label, status, _ in results] == [("DEBMAS 1", 0), ("DEBMAS 2", 0)]
    assert results[0][2].startswith("no answer (")


def test_write_files_names_each_file_by_its_first_docnum_and_renames_it_into_place(tmp_path, ecc, monkeypatch):
    packets = [("DEBMAS", ecc.packet([ecc.debmas(1, "One"), ecc.debmas(2, "Two")])),
               ("ADRMAS", ecc.packet([ecc.adrmas(1, "one@example.com")]))]
    renames = []
    real_replace = os.replace

    def watching_replace(source, target):
        source, target = Path(source), Path(target)
        assert not target.exists()  # the final name appears only by the rename
        assert source.parent == target.parent and source.name.startswith(".") and source.suffix == ".tmp"
        renames.append((source.name, target.name, source.read_bytes()))
        real_replace(source, target)

    monkeypatch.setattr("erp.sap_ecc.sandbox.sender.os.replace", watching_replace)
    written = write_files(tmp_path / "outbound", packets)
    assert [path.name for path in written] == ["0000000000001000.xml", "0000000000001002.xml"]
    assert [path.read_bytes() for path in written] == [body for _, body in packets]
    assert [(target, content) for _, target, content in renames] == [
        (path.name, body) for path, (_, body) in zip(written, packets, strict=True)]
    assert sorted(p.name for p in (tmp_path / "outbound").iterdir()) == [p.name for p in written]  # no temp left
    assert packet_file_name(packets[1][1]) == "0000000000001002.xml"
    with pytest.raises(ValueError):
        packet_file_name(b"<DEBMAS07/>")


# ------------------------------------------------------------------ the command


def test_the_command_writes_the_demo_day_to_a_folder(tmp_path, capsys):
    call_command(SendCommand(), "--folder", str(tmp_path), "--docnum-start", "500")
    files = sorted(tmp_path.glob("*.xml"))
    output = capsys.readouterr().out.splitlines()
    assert len(files) == len(output) >= 40
    assert files[0].name == "0000000000000500.xml"
    assert output[0].startswith("DEBMAS x10 (initial load): written ")
    assert parse_one(files[-1].read_bytes()).message_type in {"MATMAS", "DEBMAS", "ADRMAS"}


def test_the_command_posts_each_packet_and_prints_the_hubs_answer(hub, monkeypatch, capsys):
    url, received = hub
    monkeypatch.setenv("DEMO_SAP_ECC_PASSWORD", "demo-pass")
    call_command(SendCommand(), "--url", f"{url}/ecc/demo-ecc/idocs", "--only", "DEBMAS")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "DEBMAS x10 (initial load): 200 received 10, duplicates 0"
    assert len(lines) == len(received) == 7  # the initial load, five single customers, the deletion
    assert all(r["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ECC_PARTNER:demo-pass").decode()
               for r in received)
    with pytest.raises(CommandError, match="were not accepted"):
        call_command(SendCommand(), "--url", f"{url}/ecc/demo-ecc/idocs", "--only", "ADRMAS")


def test_the_command_needs_the_password(monkeypatch):
    monkeypatch.delenv("DEMO_SAP_ECC_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DEMO_SAP_ECC_PASSWORD"):
        call_command(SendCommand(), "--url", "http://127.0.0.1:9/ecc/demo-ecc/idocs")
