"""IDoc converters: fixture IDoc-XML -> idocs_parse -> canonical SourceRecords, field by field.

No database: the converters are pure. Variants of the fixtures are made by replacing one
exact piece of XML (`variant` fails when the piece is not there, so a test cannot pass by
changing nothing).
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from erp.sap_ecc.idoc_xml import ParsedIdoc, idocs_parse
from erp.sap_ecc.messages import (
    EccOptions,
    StockChange,
    StockUnreadable,
    billing_record,
    business_partner_record,
    created_at,
    customer_of,
    delivery_record,
    idoc_label,
    item_record,
    message_kind,
    no_object_reason,
    object_of,
    order_record,
    sequence_of,
    stock_changes,
    stock_warehouses,
    unpadded,
    warehouse_code,
)

FIXTURES = Path(__file__).parent / "fixtures"
UDF_NAME = re.compile(r"U_[A-Za-z0-9_]+")


def text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def parse(xml: str) -> list[ParsedIdoc]:
    return idocs_parse(xml.encode("utf-8"), max_bytes=1_000_000)


def load(name: str) -> ParsedIdoc:
    (idoc,) = parse(text(name))
    return idoc


def variant(name: str, *replacements: tuple[str, str], index: int | None = None) -> ParsedIdoc:
    """The fixture with each (old, new) replaced once; `index` picks one IDoc of a packet."""
    xml = text(name)
    for old, new in replacements:
        assert old in xml, f"{old!r} is not in {name}"
        xml = xml.replace(old, new, 1)
    idocs = parse(xml)
    if index is None:
        (idoc,) = idocs
        return idoc
    return idocs[index]


# ------------------------------------------------------------------ control record and routing


def test_sequence_is_serial_then_docnum_and_the_same_for_the_same_idoc():
    debmas, adrmas = load("debmas07.xml"), load("adrmas02.xml")
    assert sequence_of(debmas.control) == "20240311101502      0000000064132944"
    assert sequence_of(debmas.control) == sequence_of(dict(debmas.control))
    assert sequence_of(debmas.control) < sequence_of(adrmas.control)
    assert len(sequence_of(debmas.control)) <= 40


def test_sequence_without_serial_uses_creation_stamp_and_pads_docnum():
    control = {"CREDAT": "20240311", "CRETIM": "101502", "DOCNUM": "945"}
    assert sequence_of(control) == "20240311101502      0000000000000945"
    older = {"CREDAT": "20240311", "CRETIM": "101502", "DOCNUM": "0000000000000944"}
    assert sequence_of(older) < sequence_of(control)  # same second: the lower IDoc number first


def test_unpadded_and_label_are_for_people():
    assert unpadded("0000099009") == "99009"
    assert unpadded("000000000010001547") == "10001547"
    assert unpadded("0000") == "0"
    assert unpadded("") == ""
    assert unpadded("HS-OAK-TBL") == "HS-OAK-TBL"
    assert idoc_label(load("debmas07.xml").control) == "IDoc 64132944 (DEBMAS)"


def test_created_at_is_aware_utc_and_none_when_garbled():
    assert created_at(load("debmas07.xml").control) == datetime(2024, 3, 11, 10, 15, 2, tzinfo=UTC)
    assert created_at({"CREDAT": "20241345", "CRETIM": "101502"}) is None
    assert created_at({}) is None


@pytest.mark.parametrize(("name", "index", "expected", "customer"), [
    ("debmas07.xml", 0, ("business_partners", "0000099009"), None),
    ("adrmas02.xml", 0, ("business_partners", "0000099009"), None),
    ("orders05_ext_ordrsp.xml", 0, ("orders", "1390"), "0000099009"),
    ("orders05_ordchg.xml", 0, ("orders", "1390"), "0000099009"),
    ("delvry07_desadv.xml", 0, ("deliveries", "80000849"), "0000099009"),
    ("delvry07_two_idocs.xml", 1, ("deliveries", "80000850"), "0000099009"),
    ("invoic02_invoice.xml", 0, ("invoices", "90000517"), "0000099009"),
    ("invoic02_credit_memo.xml", 0, ("credit_notes", "90000602"), "0000099009"),
    ("matmas05.xml", 0, ("items", "000000000010001547"), None),
    ("loistd01.xml", 0, ("item_stock", "000000000010001547"), None),
    ("wmmbid02.xml", 0, ("item_stock", "000000000010001547"), None),
])
def test_each_message_names_its_object_and_customer(name, index, expected, customer):
    idoc = parse(text(name))[index]
    assert object_of(idoc, EccOptions()) == expected
    assert customer_of(idoc) == customer


def test_two_idocs_under_one_root_are_two_idocs():
    first, second = parse(text("delvry07_two_idocs.xml"))
    assert (first.docnum, second.docnum) == ("0000000064133140", "0000000064133188")
    assert sequence_of(first.control) < sequence_of(second.control)


def test_an_extension_root_is_read_by_its_basic_type():
    idoc = load("orders05_ext_ordrsp.xml")
    assert (idoc.basic_type, idoc.control["CIMTYP"]) == ("ORDERS05", "/ABC/ORDERS05_EXT")
    assert message_kind(idoc) == "order"
    without_basic_type = variant("orders05_ordchg.xml", ("<IDOCTYP>ORDERS05</IDOCTYP>", ""))
    assert message_kind(without_basic_type) == "order"  # by MESTYP ORDCHG


def test_an_address_of_a_vendor_names_no_customer():
    vendor = variant("adrmas02.xml", ("<OBJ_TYPE>KNA1</OBJ_TYPE>", "<OBJ_TYPE>LFA1</OBJ_TYPE>"))
    assert object_of(vendor, EccOptions()) is None
    assert "only OBJ_TYPE KNA1" in no_object_reason(vendor)


def test_an_idoc_without_its_key_names_no_object_and_says_why():
    idoc = variant("matmas05.xml", ("<MATNR>000000000010001547</MATNR>", ""))
    assert object_of(idoc, EccOptions()) is None
    assert no_object_reason(idoc) == ("IDoc 64132901 (MATMAS) has no material number (E1MARAM MATNR), so it "
                                      "cannot be matched to anything. Check the IDoc in SAP (WE02).")
    unknown = variant("loistd01.xml", ("<IDOCTYP>LOISTD01</IDOCTYP>", "<IDOCTYP>CREMAS06</IDOCTYP>"),
                      ("<MESTYP>LOISTD</MESTYP>", "<MESTYP>CREMAS</MESTYP>"))
    assert object_of(unknown, EccOptions()) is None
    assert "does not read" in no_object_reason(unknown)


def test_a_document_number_with_letters_sequences_as_sent():
    idoc = variant("orders05_ordchg.xml", ("<BELNR>0000001390</BELNR>", "<BELNR>SO-1390</BELNR>"))
    assert object_of(idoc, EccOptions()) == ("orders", "SO-1390")


# ------------------------------------------------------------------ customers


def test_customer_with_its_address_idoc_field_by_field():
    record = business_partner_record(load("debmas07.xml"), load("adrmas02.xml"), EccOptions())
    assert (record.entity, record.key, record.error) == ("business_partners", "0000099009", None)
    assert record.version == sequence_of(load("adrmas02.xml").control)  # the newer of the two
    data = record.data
    assert data["card_code"] == "0000099009"
    assert data["card_name"] == "Thornton Interiors Ltd"
    assert data["card_type"] == "customer"
    assert data["email"] == "Amelia.Thornton@Thornton-Interiors.example"  # STD_NO X, not the first
    assert data["email_normalised"] == "amelia.thornton@thornton-interiors.example"
    assert (data["phone1"], data["phone2"], data["cellular"]) == ("0117 496 0321", "", "07700 900461")
    assert (data["currency"], data["group_code"]) == ("GBP", None)
    assert (data["valid"], data["frozen"]) == (True, False)
    assert data["addresses"] == [{
        "address_name": "", "street": "12 Harbourside Walk", "street_no": "", "block": "",
        "building_floor_room": "", "city": "Bristol", "county": "", "zip_code": "BS1 5TR", "state": "",
        "country": "GB", "address_type": "bill_to"}]
    assert data["udfs"] == {
        "U_LOYALTY_TIER": "Gold", "U_BIRTHDATE": "19900501", "U_NEWSLETTER": "Y", "U_ERP_STATUS": "active",
        "U_KTOKD": "0001", "U_VKORG": "1000", "U_VTWEG": "10", "U_SPART": "00", "U_KDGRP": "02"}
    assert data["source_updated_at"] == datetime(2024, 3, 11, 10, 15, 3, tzinfo=UTC)
    assert record.raw["control"]["DOCNUM"] == "0000000064132944"
    assert record.raw["address_idoc"]["control"]["DOCNUM"] == "0000000064132945"


def test_customer_without_address_idoc_has_no_email_and_its_own_stamp():
    record = business_partner_record(load("debmas07.xml"), None, EccOptions())
    assert (record.data["email"], record.data["cellular"]) == ("", "")
    assert record.version == sequence_of(load("debmas07.xml").control)
    assert record.data["source_updated_at"] == datetime(2024, 3, 11, 10, 15, 2, tzinfo=UTC)


def test_an_older_address_idoc_does_not_set_the_version():
    older = variant("adrmas02.xml", ("<SERIAL>20240311101503</SERIAL>", "<SERIAL>20240301000000</SERIAL>"))
    record = business_partner_record(load("debmas07.xml"), older, EccOptions())
    assert record.version == sequence_of(load("debmas07.xml").control)
    assert record.data["email"] == "Amelia.Thornton@Thornton-Interiors.example"


def test_email_found_in_a_debmas_extension_and_address_filled_from_adrmas():
    debmas = variant("debmas07.xml",
                     ("<NEWSLETTER>Y</NEWSLETTER>", "<NEWSLETTER>Y</NEWSLETTER><SMTP_ADDR>shop@thornton.example"
                                                    "</SMTP_ADDR>"),
                     ("<STRAS>12 Harbourside Walk</STRAS>", ""))
    record = business_partner_record(debmas, None, EccOptions())
    assert record.data["email"] == "shop@thornton.example"
    with_address = business_partner_record(debmas, load("adrmas02.xml"), EccOptions())
    assert with_address.data["email"] == "Amelia.Thornton@Thornton-Interiors.example"  # ADRMAS wins
    assert (with_address.data["addresses"][0]["street"], with_address.data["addresses"][0]["street_no"]) == (
        "Harbourside Walk", "12")


def test_an_address_of_another_customer_is_left_out():
    other = variant("adrmas02.xml", ("<OBJ_ID>0000099009</OBJ_ID>", "<OBJ_ID>0000012345</OBJ_ID>"))
    record = business_partner_record(load("debmas07.xml"), other, EccOptions())
    assert record.data["email"] == ""
    assert "address_idoc" not in record.raw


def test_deletion_flag_marks_the_customer_deleted():
    deleted = variant("debmas07.xml", ("<KTOKD>0001</KTOKD>", "<KTOKD>0001</KTOKD><LOEVM>X</LOEVM>"))
    data = business_partner_record(deleted, None, EccOptions(deleted_customers="mark")).data
    assert data["valid"] is False
    assert data["udfs"]["U_ERP_STATUS"] == "deleted"
    assert "U_MarketingConsent" not in data["udfs"]


def test_message_function_003_also_deletes():
    deleted = variant("debmas07.xml", ("<MSGFN>005</MSGFN>\n      <KUNNR>", "<MSGFN>003</MSGFN>\n      <KUNNR>"))
    data = business_partner_record(deleted, None, EccOptions()).data
    assert (data["valid"], data["udfs"]["U_ERP_STATUS"]) == (False, "deleted")


def test_suppress_option_withdraws_consent_of_deleted_and_blocked_customers():
    suppress = EccOptions(deleted_customers="suppress")
    deleted = variant("debmas07.xml", ("<KTOKD>0001</KTOKD>", "<KTOKD>0001</KTOKD><LOEVM>X</LOEVM>"))
    assert business_partner_record(deleted, None, suppress).data["udfs"]["U_MarketingConsent"] == "N"
    blocked = variant("debmas07.xml", ("<KTGRD>01</KTGRD>", "<KTGRD>01</KTGRD><AUFSD>01</AUFSD>"))
    data = business_partner_record(blocked, None, suppress).data
    assert (data["valid"], data["frozen"], data["udfs"]["U_ERP_STATUS"]) == (True, True, "blocked")
    assert data["udfs"]["U_MarketingConsent"] == "N"
    active = business_partner_record(load("debmas07.xml"), None, suppress).data
    assert "U_MarketingConsent" not in active["udfs"]


def test_posting_block_freezes_the_customer():
    blocked = variant("debmas07.xml", ("<KTOKD>0001</KTOKD>", "<KTOKD>0001</KTOKD><SPERR>X</SPERR>"))
    data = business_partner_record(blocked, None, EccOptions()).data
    assert (data["frozen"], data["udfs"]["U_ERP_STATUS"]) == (True, "blocked")


def test_namespaced_extension_fields_become_valid_udf_names():
    extended = variant("debmas07.xml", ("</Z1KNA1M_MKT>", "</Z1KNA1M_MKT><_-ABC_-Z1KNA1 SEGMENT=\"1\">"
                                                      "<_-ABC_-TIER>Silver</_-ABC_-TIER><PREF.CHANNEL>sms"
                                                      "</PREF.CHANNEL></_-ABC_-Z1KNA1>"))
    udfs = business_partner_record(extended, None, EccOptions()).data["udfs"]
    assert udfs["U___ABC__TIER"] == "Silver"
    assert udfs["U_PREF_CHANNEL"] == "sms"
    assert all(UDF_NAME.fullmatch(name) for name in udfs)


def test_customer_without_number_is_unreadable_with_a_plain_reason():
    record = business_partner_record(variant("debmas07.xml", ("<KUNNR>0000099009</KUNNR>", "")), None, EccOptions())
    assert record.data is None and record.key == ""
    assert record.error == ("IDoc 64132944 (DEBMAS): a customer has no customer number (E1KNA1M KUNNR), so it "
                            "cannot be matched to anything. Check the IDoc in SAP (WE02).")


# ------------------------------------------------------------------ orders


def test_order_response_in_an_extension_field_by_field():
    record = order_record(load("orders05_ext_ordrsp.xml"), None)
    assert (record.entity, record.key, record.error) == ("orders", "1390", None)
    assert record.version == "20240311101755      0000000064133001"
    data = record.data
    assert (data["doc_entry"], data["doc_num"], data["doc_type"]) == (1390, 1390, "orders")
    assert data["card_code"] == "0000099009"
    assert data["num_at_card"] == "WEB-100234"
    assert (data["doc_date"], data["doc_due_date"]) == ("2024-03-11", "2024-03-18")
    assert (data["currency"], data["foreign_currency"]) == ("GBP", False)
    assert (data["doc_total"], data["vat_total"]) == (417.6, 69.6)  # no SUMID 003: net 348.00 + tax 69.60
    assert (data["doc_total_local"], data["vat_total_local"]) == (417.6, 69.6)
    assert (data["discount_total"], data["freight_total"], data["rounding_total"]) == (0.0, 0.0, 0.0)
    assert (data["status"], data["cancelled"], data["is_cancellation"]) == ("open", False, False)
    assert data["source_updated_at"] == datetime(2024, 3, 11, 10, 17, 55, tzinfo=UTC)
    assert data["lines"] == [
        {"line_num": 10, "item_code": "000000000010001547", "description": "Oak side table", "quantity": 2.0,
         "price": 149.0, "line_total": 298.0, "warehouse_code": "1000-0001", "line_status": "open",
         "base_type": None, "base_entry": None, "base_line": None},
        # VPREI 125.00 per PEINH 10 pieces is 12.50 a piece
        {"line_num": 20, "item_code": "000000000010003151", "description": 'Linen cushion cover "Sage"',
         "quantity": 4.0, "price": 12.5, "line_total": 50.0, "warehouse_code": "1000", "line_status": "open",
         "base_type": None, "base_entry": None, "base_line": None},
    ]  # item 30 came with ACTION 003: deleted


def test_order_change_keeps_unsent_lines_and_applies_actions():
    previous = order_record(load("orders05_ext_ordrsp.xml"), None).data["lines"]
    previous = [*previous, {**previous[0], "line_num": 50, "item_code": "000000000010009999"}]
    data = order_record(load("orders05_ordchg.xml"), previous).data
    by_line = {line["line_num"]: line for line in data["lines"]}
    assert sorted(by_line) == [20, 40, 50]  # 10 deleted (003), 20 changed (002), 40 added (001), 50 kept
    assert (by_line[20]["quantity"], by_line[20]["line_total"]) == (6.0, 75.0)
    assert by_line[40] == {"line_num": 40, "item_code": "000000000010005002", "description": "Stoneware vase",
                           "quantity": 1.0, "price": 39.5, "line_total": 39.5, "warehouse_code": "1000-0002",
                           "line_status": "open", "base_type": None, "base_entry": None, "base_line": None}
    assert by_line[50]["item_code"] == "000000000010009999"
    assert (data["doc_total"], data["vat_total"], data["cancelled"]) == (137.4, 22.9, False)


def test_order_change_without_previous_lines_holds_only_its_own():
    data = order_record(load("orders05_ordchg.xml"), None).data
    assert [line["line_num"] for line in data["lines"]] == [20, 40]


def test_a_full_order_ignores_previous_lines():
    stale = [{"line_num": 99, "item_code": "X", "line_total": 1.0, "line_status": "open"}]
    data = order_record(load("orders05_ext_ordrsp.xml"), stale).data
    assert [line["line_num"] for line in data["lines"]] == [10, 20]


def test_order_change_deleting_the_last_open_line_cancels_the_order():
    only_line = [{"line_num": 10, "item_code": "000000000010001547", "line_total": 298.0, "line_status": "open"}]
    idoc = variant("orders05_ordchg.xml", ("<ACTION>002</ACTION>\n      <MENGE>6.000", "<ACTION>003</ACTION>\n"
                                                                                  "      <MENGE>6.000"),
                   ("<ACTION>001</ACTION>\n      <MENGE>1.000", "<ACTION>003</ACTION>\n      <MENGE>1.000"))
    data = order_record(idoc, only_line).data
    assert (data["lines"], data["cancelled"], data["status"]) == ([], True, "closed")


def test_header_action_003_cancels_the_order():
    idoc = variant("orders05_ordchg.xml", ("<ACTION>002</ACTION>\n      <CURCY>", "<ACTION>003</ACTION>\n"
                                                                             "      <CURCY>"))
    data = order_record(idoc, None).data
    assert (data["cancelled"], data["status"]) == (True, "closed")


def test_header_rejection_reason_cancels_the_order():
    idoc = variant("orders05_ext_ordrsp.xml", ("<BSART>TA</BSART>", "<BSART>TA</BSART><ABGRU>05</ABGRU>"))
    assert order_record(idoc, None).data["cancelled"] is True


def test_every_item_rejected_cancels_the_order_and_closes_its_lines():
    idoc = variant("orders05_ext_ordrsp.xml",
                   ("<POSEX>000010</POSEX>", "<POSEX>000010</POSEX><ABGRU>02</ABGRU>"),
                   ("<POSEX>000020</POSEX>", "<POSEX>000020</POSEX><ABGRU>02</ABGRU>"))
    data = order_record(idoc, None).data
    assert [line["line_status"] for line in data["lines"]] == ["closed", "closed"]
    assert (data["cancelled"], data["status"]) == (True, "closed")
    one_rejected = variant("orders05_ext_ordrsp.xml", ("<POSEX>000010</POSEX>", "<POSEX>000010</POSEX>"
                                                                                "<ABGRU>02</ABGRU>"))
    assert order_record(one_rejected, None).data["cancelled"] is False


def test_material_long_number_wins_and_buyer_number_is_the_fallback():
    idoc = variant("orders05_ext_ordrsp.xml",
                   ("<IDTNR>000000000010001547</IDTNR>", "<IDTNR>000000000010001547</IDTNR>"
                                                         "<IDTNR_LONG>OAK-SIDE-TABLE-NATURAL-60CM</IDTNR_LONG>"),
                   ("<QUALF>002</QUALF>\n        <IDTNR>000000000010003151</IDTNR>",
                    "<QUALF>001</QUALF>\n        <IDTNR>CUST-CUSHION-SAGE</IDTNR>"))
    lines = order_record(idoc, None).data["lines"]
    assert [line["item_code"] for line in lines] == ["OAK-SIDE-TABLE-NATURAL-60CM", "CUST-CUSHION-SAGE"]


def test_order_totals_without_summary_segment_add_up_the_lines():
    xml = re.sub(r"<E1EDS01 SEGMENT=\"1\">.*?</E1EDS01>", "", text("orders05_ext_ordrsp.xml"), flags=re.S)
    (idoc,) = parse(xml)
    data = order_record(idoc, None).data
    assert (data["doc_total"], data["vat_total"]) == (348.0, 0.0)


def test_order_date_falls_back_to_the_idoc_creation_date_and_minus_sign_last_is_read():
    xml = re.sub(r"<E1EDK03 SEGMENT=\"1\">.*?</E1EDK03>", "", text("orders05_ext_ordrsp.xml"), flags=re.S)
    (idoc,) = parse(xml.replace("<NETWR>50.00</NETWR>", "<NETWR>50.00-</NETWR>"))
    data = order_record(idoc, None).data
    assert (data["doc_date"], data["doc_due_date"]) == ("2024-03-11", None)
    assert data["lines"][1]["line_total"] == -50.0


def test_unknown_segments_are_tolerated():
    idoc = variant("orders05_ext_ordrsp.xml",
                   ("<E1EDK14 SEGMENT=\"1\">", "<E1EDK99 SEGMENT=\"1\"><FOO>1</FOO></E1EDK99><E1EDK14 SEGMENT=\"1\">"),
                   ("<E1EDP20 SEGMENT=\"1\">", "<Z1EDP01_X SEGMENT=\"1\"><ENGRAVING>AT</ENGRAVING></Z1EDP01_X>"
                                               "<E1EDP20 SEGMENT=\"1\">"))
    record = order_record(idoc, None)
    assert record.error is None and len(record.data["lines"]) == 2


def test_order_with_a_bad_quantity_is_unreadable_naming_idoc_item_and_field():
    record = order_record(variant("orders05_ext_ordrsp.xml", ("<MENGE>2.000</MENGE>", "<MENGE>2,5</MENGE>")), None)
    assert (record.data, record.key, record.entity) == (None, "1390", "orders")
    assert record.error == ("IDoc 64133001 (ORDRSP): sales order 1390 item 10 has a quantity (E1EDP01 MENGE) that "
                            "is not a number: '2,5'. Correct it in SAP and send the IDoc again.")
    assert record.version == "20240311101755      0000000064133001"


def test_order_with_a_bad_date_is_unreadable_naming_the_field():
    record = order_record(variant("orders05_ext_ordrsp.xml", ("<DATUM>20240318</DATUM>", "<DATUM>20241318</DATUM>")),
                          None)
    assert record.data is None
    assert "requested delivery date (E1EDK03 IDDAT 002 DATUM) that is not a date (YYYYMMDD): '20241318'" in (
        record.error)


def test_order_number_with_letters_is_unreadable():
    record = order_record(variant("orders05_ordchg.xml", ("<BELNR>0000001390</BELNR>", "<BELNR>SO-1390</BELNR>")),
                          None)
    assert (record.data, record.key) == (None, "SO-1390")
    assert record.error.startswith("IDoc 64133050 (ORDCHG): sales order SO-1390 has an order number (E1EDK01 "
                                   "BELNR) with letters in it")


def test_order_without_sold_to_party_is_unreadable():
    record = order_record(variant("orders05_ordchg.xml", ("<PARVW>AG</PARVW>", "<PARVW>WE</PARVW>")), None)
    assert record.data is None
    assert "has no sold-to party (E1EDKA1 with PARVW AG)" in record.error


def test_order_item_without_number_is_unreadable():
    record = order_record(variant("orders05_ordchg.xml", ("<POSEX>000040</POSEX>", "")), None)
    assert record.error == ("IDoc 64133050 (ORDCHG): sales order 1390 has an item that has no item number "
                            "(E1EDP01 POSEX). Check the IDoc in SAP (WE02).")


def test_a_converter_tripping_over_an_unexpected_shape_does_not_raise(monkeypatch):
    from erp.sap_ecc.messages import orders

    def broken(reader, item):
        raise TypeError("boom")

    monkeypatch.setattr(orders, "item_line", broken)
    record = order_record(load("orders05_ext_ordrsp.xml"), None)
    assert record.data is None
    assert record.error == ("IDoc 64133001 (ORDRSP): sales order 1390 holds a value of a kind the hub did not "
                            "expect (TypeError). Check the IDoc in SAP (WE02).")


# ------------------------------------------------------------------ deliveries


def test_delivery_after_goods_issue_field_by_field():
    record = delivery_record(load("delvry07_desadv.xml"))
    assert (record.entity, record.key, record.error) == ("deliveries", "80000849", None)
    data = record.data
    assert (data["doc_entry"], data["doc_num"], data["doc_type"]) == (80000849, 80000849, "deliveries")
    assert (data["card_code"], data["num_at_card"]) == ("0000099009", "WEB-100234")
    assert (data["doc_date"], data["doc_due_date"]) == ("2024-03-13", "2024-03-15")
    assert data["tracking_number"] == "JD0002212345678901"  # BOLNR first by default
    assert (data["status"], data["cancelled"], data["doc_total"]) == ("open", False, 0.0)
    assert data["lines"] == [
        {"line_num": 10, "item_code": "000000000010001547", "description": "Oak side table", "quantity": 1.0,
         "price": 0.0, "line_total": 0.0, "warehouse_code": "1000-0001", "line_status": "open",
         "base_type": 17, "base_entry": 1390, "base_line": 10},
        # items 900001/900002 split item 20 by batch and are not counted twice
        {"line_num": 20, "item_code": "000000000010003151", "description": 'Linen cushion cover "Sage"',
         "quantity": 4.0, "price": 0.0, "line_total": 0.0, "warehouse_code": "1000-0001", "line_status": "open",
         "base_type": 17, "base_entry": 1390, "base_line": 20},
    ]


def test_tracking_number_follows_the_configured_fields():
    idoc = load("delvry07_desadv.xml")
    assert delivery_record(idoc, EccOptions(tracking_fields=("EXIDV",))).data["tracking_number"] == (
        "00350123450000000019")
    assert delivery_record(idoc, EccOptions(tracking_fields=("LIFEX", "TRAID"))).data["tracking_number"] == (
        "DPD-VAN-12")
    assert delivery_record(idoc, EccOptions(tracking_fields=())).data["tracking_number"] == ""


def test_delivery_without_goods_issue_waits_and_the_goods_issue_idoc_brings_it():
    before, after = parse(text("delvry07_two_idocs.xml"))
    assert delivery_record(before) is None
    record = delivery_record(after)
    assert (record.key, record.data["doc_date"], record.data["tracking_number"]) == (
        "80000850", "2024-03-15", "00350123450000000026")  # BOLNR/TRAID empty: the handling unit
    assert record.data["lines"][0]["base_entry"] == 1390


def test_goods_issued_status_without_actual_date_uses_the_planned_one():
    idoc = variant("delvry07_two_idocs.xml", ("<QUALF>ORI</QUALF>", "<QUALF>PGI</QUALF>"), index=0)
    assert delivery_record(idoc).data["doc_date"] == "2024-03-15"


def test_deleted_delivery_is_cancelled_even_before_goods_issue():
    idoc = variant("delvry07_two_idocs.xml", ("<QUALF>ORI</QUALF>", "<QUALF>DEL</QUALF>"), index=0)
    data = delivery_record(idoc).data
    assert (data["cancelled"], data["status"]) == (True, "closed")


def test_delivery_long_material_number_wins_and_ship_to_is_the_fallback_customer():
    idoc = variant("delvry07_desadv.xml",
                   ("<VGPOS>000010</VGPOS>", "<VGPOS>000010</VGPOS><E1EDL26 SEGMENT=\"1\"><MATNR_LONG>"
                                             "OAK-SIDE-TABLE-NATURAL-60CM</MATNR_LONG></E1EDL26>"),
                   ("<PARTNER_Q>AG</PARTNER_Q>", "<PARTNER_Q>ZZ</PARTNER_Q>"))
    data = delivery_record(idoc).data
    assert data["lines"][0]["item_code"] == "OAK-SIDE-TABLE-NATURAL-60CM"
    assert data["card_code"] == "0000099010"
    assert customer_of(idoc) is None


def test_delivery_with_a_bad_order_reference_is_unreadable():
    idoc = variant("delvry07_desadv.xml", ("<VGBEL>0000001390</VGBEL>", "<VGBEL>13 90</VGBEL>"))
    record = delivery_record(idoc)
    assert record.data is None
    assert record.error == ("IDoc 64133120 (DESADV): delivery 80000849 item 10 has an order number (E1EDL24 VGBEL) "
                            "that is not a whole number: '13 90'. Correct it in SAP and send the IDoc again.")


def test_delivery_with_a_bad_quantity_or_no_customer_is_unreadable():
    bad = delivery_record(variant("delvry07_desadv.xml", ("<LFIMG>4.000</LFIMG>", "<LFIMG>4 St</LFIMG>")))
    assert "item 20 has a delivered quantity (E1EDL24 LFIMG) that is not a number: '4 St'" in bad.error
    nobody = variant("delvry07_desadv.xml", ("<PARTNER_Q>AG</PARTNER_Q>", "<PARTNER_Q>SP</PARTNER_Q>"),
                     ("<PARTNER_Q>WE</PARTNER_Q>", "<PARTNER_Q>SH</PARTNER_Q>"))
    record = delivery_record(nobody)
    assert record.data is None and "no sold-to or ship-to party" in record.error


# ------------------------------------------------------------------ billing


def test_invoice_field_by_field():
    record = billing_record(load("invoic02_invoice.xml"), EccOptions())
    assert (record.entity, record.key, record.error) == ("invoices", "90000517", None)
    data = record.data
    assert (data["doc_entry"], data["doc_num"], data["doc_type"]) == (90000517, 90000517, "invoices")
    assert (data["card_code"], data["num_at_card"], data["doc_date"]) == ("0000099009", "WEB-100234", "2024-03-15")
    assert (data["doc_total"], data["vat_total"], data["currency"]) == (238.8, 39.8, "GBP")  # SUMID 011 and 005
    assert (data["status"], data["cancelled"], data["is_cancellation"]) == ("open", False, False)
    assert data["lines"] == [
        {"line_num": 10, "item_code": "000000000010001547", "description": "Oak side table", "quantity": 1.0,
         "price": 149.0, "line_total": 149.0, "warehouse_code": "1000", "line_status": "open",
         "base_type": 17, "base_entry": 1390, "base_line": 10},
        # no NETWR: the item's net value E1EDP26 QUALF 003
        {"line_num": 20, "item_code": "000000000010003151", "description": 'Linen cushion cover "Sage"',
         "quantity": 4.0, "price": 12.5, "line_total": 50.0, "warehouse_code": "1000", "line_status": "open",
         "base_type": 17, "base_entry": 1390, "base_line": 20},
    ]


def test_credit_memo_by_document_type():
    record = billing_record(load("invoic02_credit_memo.xml"), EccOptions())
    assert (record.entity, record.key, record.data["doc_type"]) == ("credit_notes", "90000602", "credit_notes")
    assert (record.data["doc_total"], record.data["vat_total"]) == (60.0, 10.0)
    assert record.data["lines"][0]["base_entry"] == 1390


def test_credit_memo_by_billing_type_alone_and_by_the_options():
    by_billing_type = variant("invoic02_credit_memo.xml", ("<BSART>CRME</BSART>", "<BSART>INVO</BSART>"))
    assert billing_record(by_billing_type, EccOptions()).entity == "credit_notes"  # E1EDK14 015 G2
    assert billing_record(by_billing_type, EccOptions(credit_memo_types=("CRME",))).entity == "invoices"
    assert object_of(by_billing_type, EccOptions(credit_memo_types=("CRME",))) == ("invoices", "90000602")


def test_cancellation_billing_document_is_flagged():
    idoc = variant("invoic02_invoice.xml", ("<ORGID>F2</ORGID>", "<ORGID>S1</ORGID>"))
    assert billing_record(idoc, EccOptions()).data["is_cancellation"] is True


def test_billing_number_and_customer_fallbacks():
    idoc = variant("invoic02_credit_memo.xml", ("<BELNR>0090000602</BELNR>\n      <RECIPNT_NO>", "<RECIPNT_NO>"),
                   ("<PARVW>AG</PARVW>", "<PARVW>ZZ</PARVW>"))
    record = billing_record(idoc, EccOptions())
    assert (record.key, record.data["doc_entry"], record.data["card_code"]) == ("90000602", 90000602, "0000099009")


def test_billing_with_a_bad_order_item_is_unreadable():
    record = billing_record(variant("invoic02_invoice.xml", ("<ZEILE>000020</ZEILE>", "<ZEILE>20a</ZEILE>")),
                            EccOptions())
    assert record.data is None and record.entity == "invoices"
    assert record.error == ("IDoc 64133201 (INVOIC): invoice 90000517 item 20 has an order item (E1EDP02 QUALF 002 "
                            "ZEILE) that is not a whole number: '20a'. Correct it in SAP and send the IDoc again.")


def test_billing_with_a_bad_total_is_unreadable():
    record = billing_record(variant("invoic02_invoice.xml", ("<SUMME>238.80</SUMME>", "<SUMME>238.80 GBP</SUMME>")),
                            EccOptions())
    assert "has a gross total (E1EDS01 SUMID 011 SUMME) that is not a number" in record.error


# ------------------------------------------------------------------ materials


def test_material_field_by_field_keeps_the_padded_number():
    record = item_record(load("matmas05.xml"))
    assert (record.entity, record.key, record.error) == ("items", "000000000010001547", None)
    assert record.data == {
        "item_code": "000000000010001547", "item_name": "Oak side table", "item_group": None,
        "category_code": "1010", "product_hierarchy": "", "barcode": "5012345678900", "active": True,
        "sales_item": True, "prices": [],
        "udfs": {"U_WEB_CATEGORY": "living/tables", "U_ONLINE": "X", "U_MTART": "FERT", "U_MATKL": "1010"},
        "stock": [], "source_updated_at": datetime(2024, 3, 10, 22, 0, 4, tzinfo=UTC)}


def test_material_group_is_the_category_and_the_product_hierarchy_rides_beside_it():
    record = item_record(variant("matmas05.xml", ("<MATKL>1010</MATKL>",
                                                  "<MATKL>KNIT01</MATKL><PRDHA>00100KNITJUMP</PRDHA>")))
    assert (record.data["category_code"], record.data["product_hierarchy"]) == ("KNIT01", "00100KNITJUMP")
    assert record.data["udfs"]["U_MATKL"] == "KNIT01"  # as before, for mappings that read it


def test_without_prdha_the_sales_organisations_product_hierarchy_is_read():
    record = item_record(variant("matmas05.xml", ("</E1MARAM>", "<E1MVKEM SEGMENT=\"1\"><VKORG>GB01</VKORG>"
                                                                "<PRODH>00200OAK</PRODH></E1MVKEM></E1MARAM>")))
    assert (record.data["category_code"], record.data["product_hierarchy"]) == ("1010", "00200OAK")


def test_material_deletion_flag_long_number_and_other_language():
    idoc = variant("matmas05.xml", ("<MTART>FERT</MTART>", "<MTART>FERT</MTART><LVORM>X</LVORM>"),
                   ("<MATNR>000000000010001547</MATNR>", "<MATNR>000000000010001547</MATNR>"
                                                         "<MATNR_LONG>OAK-SIDE-TABLE-NATURAL-60CM</MATNR_LONG>"),
                   ("<SPRAS>E</SPRAS>", "<SPRAS>F</SPRAS>"), ("<SPRAS_ISO>EN</SPRAS_ISO>", "<SPRAS_ISO>FR</SPRAS_ISO>"))
    record = item_record(idoc)
    assert (record.key, record.data["active"], record.data["item_name"]) == (
        "OAK-SIDE-TABLE-NATURAL-60CM", False, "Beistelltisch Eiche")


def test_material_without_number_is_unreadable():
    record = item_record(variant("matmas05.xml", ("<MATNR>000000000010001547</MATNR>", "")))
    assert (record.data, record.key) == (None, "")
    assert record.error.startswith("IDoc 64132901 (MATMAS): a material has no material number (E1MARAM MATNR)")


# ------------------------------------------------------------------ stock


def test_goods_movements_are_signed_deltas():
    assert stock_changes(load("wmmbid02.xml")) == [
        StockChange("000000000010001547", "1000-0001", 10.0, False),  # 101 goods receipt
        StockChange("000000000010003151", "1000-0001", -2.0, False),  # 601 goods issue for a delivery
        StockChange("000000000010001547", "1000-0001", -3.0, False),  # 311 transfer out of 0001 ...
        StockChange("000000000010001547", "1000-0002", 3.0, False),  # ... into 0002
        StockChange("000000000010004410", "2000-0001", -1.0, False),  # 102 reversal of a receipt
        StockChange("000000000010005002", "2000-0001", -1.5, False),  # Z71 unknown, but SHKZG H says out
    ]
    assert stock_warehouses(load("wmmbid02.xml")) == ["1000-0001", "1000-0002", "2000-0001"]


def test_debit_credit_indicator_wins_over_the_movement_type():
    idoc = variant("wmmbid02.xml", ("<BWART>101</BWART>", "<BWART>101</BWART><SHKZG>H</SHKZG>"))
    assert stock_changes(idoc)[0].quantity == -10.0


def test_base_unit_quantity_wins_over_entry_quantity():
    idoc = variant("wmmbid02.xml", ("<ERFMG>10.000</ERFMG>", "<ERFMG>1.000</ERFMG><MENGE>12.000</MENGE>"))
    assert stock_changes(idoc)[0].quantity == 12.0


def test_receipts_into_quality_inspection_and_blocked_returns_change_nothing_sellable():
    idoc = variant("wmmbid02.xml", ("<BWART>101</BWART>", "<BWART>101</BWART><INSMK>X</INSMK>"),
                   ("<BWART>601</BWART>", "<BWART>651</BWART>"))
    assert [change.item_code for change in stock_changes(idoc)][:2] == ["000000000010001547", "000000000010001547"]
    assert len(stock_changes(idoc)) == 4


def test_unknown_movement_type_without_direction_is_refused():
    idoc = variant("wmmbid02.xml", ("<SHKZG>H</SHKZG>", ""))
    with pytest.raises(StockUnreadable) as caught:
        stock_changes(idoc)
    assert caught.value.message == (
        "IDoc 64133322 (WMMBXY): material 10005002 has a movement type (E1MBXYI BWART) the hub does not know how to "
        "apply: 'Z71'. Ask the integration team to add it to the movement table.")


def test_bad_stock_rows_are_refused_with_the_field():
    no_plant = variant("wmmbid02.xml", ("<WERKS>2000</WERKS>", ""))
    with pytest.raises(StockUnreadable, match=r"material 10004410 has stock without a plant \(E1MBXYI WERKS\)"):
        stock_changes(no_plant)
    assert stock_warehouses(no_plant) == ["1000-0001", "1000-0002", "2000-0001"]  # never raises
    bad_number = variant("loistd01.xml", ("<LABST>240.000</LABST>", "<LABST>240,000</LABST>"))
    with pytest.raises(StockUnreadable, match=r"unrestricted stock \(E1MDSTL LABST\) that is not a number"):
        stock_changes(bad_number)
    with pytest.raises(StockUnreadable, match="carries no stock"):
        stock_changes(load("debmas07.xml"))


def test_stock_list_gives_absolute_levels_per_plant_or_storage_location():
    assert stock_changes(load("loistd01.xml")) == [
        StockChange("000000000010001547", "1000", 11.0, True),
        StockChange("000000000010003151", "2000", 240.0, True),
    ]
    with_location = variant("loistd01.xml", ("<WERKS>2000</WERKS>", "<WERKS>2000</WERKS><LGORT>0001</LGORT>"))
    assert stock_changes(with_location)[1].warehouse_code == "2000-0001"


def test_material_master_stock_snapshot_reads_storage_locations_with_a_level():
    assert stock_changes(load("matmas05.xml")) == [
        StockChange("000000000010001547", "1000-0001", 12.0, True),
        StockChange("000000000010001547", "1000-0002", 3.0, True),
    ]  # plant 2000's storage location carries no LABST: nothing said about it
    assert stock_warehouses(load("matmas05.xml")) == ["1000-0001", "1000-0002"]


def test_warehouse_code_joins_plant_and_storage_location():
    assert warehouse_code("1000", "0001") == "1000-0001"
    assert warehouse_code(" 1000 ", "") == "1000"


# ------------------------------------------------------------------ never raises


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.glob("*.xml")))
def test_any_idoc_through_any_converter_gives_a_record_not_an_exception(name):
    for idoc in parse(text(name)):
        results = [business_partner_record(idoc, idoc, EccOptions()), order_record(idoc, [{}]),
                   delivery_record(idoc), billing_record(idoc, EccOptions()), item_record(idoc)]
        for result in results:
            assert result is None or result.data is not None or result.error
            if result is not None and result.error:
                assert "@" not in result.error  # no e-mail address in a stored error
