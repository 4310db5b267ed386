"""The IDoc-XML parser: hostile bodies refused whatever their encoding; each IDoc's raw XML
as it came; fields and segments of any namespace kept."""
from __future__ import annotations

import pytest

from erp.sap_ecc.idoc_xml import IdocRefused, idocs_parse

LIMIT = 10_000_000
CONTROL = "<EDI_DC40 SEGMENT=\"1\"><DOCNUM>{n}</DOCNUM><MESTYP>DEBMAS</MESTYP></EDI_DC40>"


def idoc(n: int, name: str = "Ann") -> str:
    return (f'<IDOC BEGIN="1">{CONTROL.format(n=n)}<E1KNA1M SEGMENT="1"><KUNNR>{n:010d}</KUNNR>'
            f"<NAME1>{name}</NAME1></E1KNA1M></IDOC>")


def test_each_idoc_keeps_its_own_raw_xml_cut_from_the_body():
    body = f'<?xml version="1.0"?><DEBMAS07>{idoc(1)}{idoc(2)}</DEBMAS07>'.encode()
    first, second = idocs_parse(body, max_bytes=LIMIT)
    assert first.raw_xml == idoc(1) and second.raw_xml == idoc(2)
    assert second.segments[0].get("KUNNR") == "0000000002"


def test_a_comment_that_looks_like_an_idoc_does_not_confuse_the_cut():
    body = f"<DEBMAS07><!-- <IDOC x> </IDOC> -->{idoc(1)}{idoc(2)}</DEBMAS07>".encode()
    first, second = idocs_parse(body, max_bytes=LIMIT)
    assert first.raw_xml.startswith("<IDOC") and "<DOCNUM>1</DOCNUM>" in first.raw_xml
    assert "<DOCNUM>2</DOCNUM>" in second.raw_xml and "<DOCNUM>1<" not in second.raw_xml


def test_a_latin_1_body_is_read_in_its_declared_encoding():
    body = f'<?xml version="1.0" encoding="ISO-8859-1"?><DEBMAS07>{idoc(1, "Müller")}</DEBMAS07>'.encode("latin-1")
    (parsed,) = idocs_parse(body, max_bytes=LIMIT)
    assert parsed.segments[0].get("NAME1") == "Müller" and "Müller" in parsed.raw_xml


@pytest.mark.parametrize("body", [
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><DEBMAS07>&a;</DEBMAS07>'.encode("utf-16"),
    b'<!-- hidden --><!DOCTYPE x SYSTEM "http://attacker.example/x.dtd"><DEBMAS07/>',
    b"<DEBMAS07>" + idoc(1, "&undefined;").encode() + b"</DEBMAS07>",
    b"<DEBMAS07>" + idoc(1).encode(),  # cut short
])
def test_hostile_or_broken_bodies_are_refused(body):
    with pytest.raises(IdocRefused):
        idocs_parse(body, max_bytes=LIMIT)


def test_customer_namespace_segments_and_unknown_fields_are_kept():
    body = (f'<_-ABC_-DEBMAS07_EXT><IDOC BEGIN="1">{CONTROL.format(n=1)}<E1KNA1M SEGMENT="1"><KUNNR>1</KUNNR>'
            '<ZZNEW>x</ZZNEW><_-ABC_-Z1KNA1M SEGMENT="1"><ZZTIER>GOLD</ZZTIER></_-ABC_-Z1KNA1M></E1KNA1M>'
            "</IDOC></_-ABC_-DEBMAS07_EXT>").encode()
    (parsed,) = idocs_parse(body, max_bytes=LIMIT)
    general = parsed.first("E1KNA1M")
    assert general.get("ZZNEW") == "x"
    assert general.first("_-ABC_-Z1KNA1M").get("ZZTIER") == "GOLD"
