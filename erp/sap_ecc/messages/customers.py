"""DEBMAS (+ its ADRMAS) -> the canonical Business Partner (SAP B1's `business_partner_data` shape).

DEBMAS06/07 carry the customer (E1KNA1M, contract 2.6) and its sales areas (E1KNVVM),
but no e-mail: that travels in the separate ADRMAS IDoc (E1ADRMAS OBJ_TYPE KNA1, e-mail in
E1BPADSMTP E_MAIL), serialised with the DEBMAS. The adapter passes the customer's latest
ADRMAS, if any; an E1BPADSMTP or an SMTP_ADDR field inside the DEBMAS itself (an
extension) is read too.

Status, which must reach the destinations (issue 11):
- deleted: E1KNA1M LOEVM = X (the deletion flag; usually sent with MSGFN 005) or MSGFN 003.
  -> valid False, U_ERP_STATUS "deleted".
- blocked: a posting block (SPERR) or an order, delivery or billing block (AUFSD, LIFSD,
  FAKSD) on the customer (E1KNA1M) or on a sales area (E1KNVVM).
  -> frozen True, U_ERP_STATUS "blocked" (unless deleted).
- with options.deleted_customers == "suppress", a deleted or blocked customer also gets
  U_MarketingConsent "N", which the default mappings turn into consent false.
"""
from __future__ import annotations

import logging
from typing import Any

from erp.sap_ecc.idoc_xml import ParsedIdoc, Segment
from erp.sap_ecc.messages.common import (
    BUSINESS_PARTNERS,
    DEFAULT_OPTIONS,
    EccOptions,
    Reader,
    converted,
    created_at,
    customer_fields,
    descendants,
    first_descendant,
    idoc_label,
    idoc_raw,
    sequence_of,
    unpadded,
    walk,
)
from syncapp.adapters import SourceRecord

log = logging.getLogger(__name__)

BLOCK_FIELDS = ("SPERR", "AUFSD", "LIFSD", "FAKSD")
MOBILE_FLAGS = ("2", "3")  # BAPIADTEL R_3_USER: 2 standard mobile, 3 mobile; ' '/1 are landlines


def business_partner_record(
    debmas: ParsedIdoc, address: ParsedIdoc | None = None, options: EccOptions = DEFAULT_OPTIONS
) -> SourceRecord:
    """One customer: entity "business_partners", key KUNNR as sent (padded), version and
    source_updated_at from the newer of the two IDocs."""
    general = first_descendant(debmas, "E1KNA1M")
    key = general.get("KUNNR").strip() if general else ""
    if address is not None and not _owns(address, key):
        log.warning("%s is not the address of customer %s; it is left out", idoc_label(address.control),
                    unpadded(key))
        address = None
    newer = debmas if address is None or sequence_of(debmas.control) >= sequence_of(address.control) else address
    raw = idoc_raw(debmas)
    if address is not None:
        raw["address_idoc"] = idoc_raw(address)
    reader = Reader(debmas, f"customer {unpadded(key)}" if key else "a customer")
    return converted(debmas, BUSINESS_PARTNERS, key, reader.subject,
                     lambda: _data(reader, general, address, newer, options),
                     version=sequence_of(newer.control), raw=raw)


def _data(reader: Reader, general: Segment | None, address: ParsedIdoc | None, newer: ParsedIdoc,
          options: EccOptions) -> dict[str, Any]:
    if general is None or not general.get("KUNNR").strip():
        raise reader.fail("has no customer number (E1KNA1M KUNNR), so it cannot be matched to anything. "
                          "Check the IDoc in SAP (WE02).")
    debmas = reader.idoc
    sales_area = first_descendant(debmas, "E1KNVVM")
    deleted = general.get("LOEVM").strip() == "X" or general.get("MSGFN").strip() == "003"
    blocked = any(segment.get(name).strip() for segment in (general, *descendants(debmas, "E1KNVVM"))
                  for name in BLOCK_FIELDS)
    email = _email(address) or _email(debmas)
    udfs: dict[str, Any] = customer_fields(debmas)
    udfs["U_ERP_STATUS"] = "deleted" if deleted else "blocked" if blocked else "active"
    udfs["U_KTOKD"] = general.get("KTOKD").strip()
    for name in ("VKORG", "VTWEG", "SPART", "KDGRP"):
        udfs[f"U_{name}"] = sales_area.get(name).strip() if sales_area else ""
    if options.deleted_customers == "suppress" and (deleted or blocked):
        udfs["U_MarketingConsent"] = "N"
    phones = _phones(address)
    names = (general.get("NAME1").strip(), general.get("NAME2").strip())
    return {
        "card_code": general.get("KUNNR").strip(),
        "card_name": " ".join(name for name in names if name),
        "card_type": "customer",
        "email": email,
        "email_normalised": email.lower(),
        "phone1": general.get("TELF1").strip() or phones["landline"],
        "phone2": general.get("TELF2").strip(),
        "cellular": phones["mobile"],
        "group_code": None,  # KDGRP is a code, not a number: it is in udfs as U_KDGRP
        "currency": sales_area.get("WAERS").strip() if sales_area else "",
        "valid": not deleted,
        "frozen": blocked,
        "addresses": _addresses(general, address),
        "udfs": udfs,
        "source_updated_at": created_at(newer.control),
    }


def _owns(address: ParsedIdoc, kunnr: str) -> bool:
    owner = first_descendant(address, "E1ADRMAS")
    return (owner is not None and owner.get("OBJ_TYPE").strip() == "KNA1"
            and unpadded(owner.get("OBJ_ID")) == unpadded(kunnr))


def _email(idoc: ParsedIdoc | None) -> str:
    """The standard e-mail (STD_NO X) of E1BPADSMTP, else its first in use, else the
    first SMTP_ADDR field anywhere (customer extensions carry ADR6's field name)."""
    if idoc is None:
        return ""
    rows = [row for row in descendants(idoc, "E1BPADSMTP")
            if row.get("E_MAIL").strip() and row.get("FLG_NOUSE").strip() != "X"]
    standard = next((row for row in rows if row.get("STD_NO").strip() == "X"), None)
    if standard or rows:
        return (standard or rows[0]).get("E_MAIL").strip()
    return next((s.get("SMTP_ADDR").strip() for s in walk(idoc) if s.get("SMTP_ADDR").strip()), "")


def _phones(address: ParsedIdoc | None) -> dict[str, str]:
    found = {"landline": "", "mobile": ""}
    for row in descendants(address, "E1BPADTEL") if address else []:
        number = row.get("TELEPHONE").strip() or row.get("TEL_NO").strip()
        kind = "mobile" if row.get("R_3_USER").strip() in MOBILE_FLAGS else "landline"
        if number and not found[kind]:
            found[kind] = number
    return found


def _addresses(general: Segment, address: ParsedIdoc | None) -> list[dict[str, str]]:
    """The bill-to address from E1KNA1M, gaps filled from ADRMAS E1BPAD1VL; the keys
    are those SAP B1's BPAddresses become (`erp.sap_b1.payloads.ADDRESS_KEYS`)."""
    parts = {"street": general.get("STRAS"), "city": general.get("ORT01"), "zip_code": general.get("PSTLZ"),
             "state": general.get("REGIO"), "country": general.get("LAND1"), "street_no": ""}
    postal = first_descendant(address, "E1BPAD1VL") if address else None
    if postal is not None:
        if not (parts["street"] or "").strip():  # the house number goes with its street only
            parts["street"], parts["street_no"] = postal.get("STREET"), postal.get("HOUSE_NO")
        for part, name in (("city", "CITY"), ("zip_code", "POSTL_COD1"), ("state", "REGION"),
                           ("country", "COUNTRY")):
            if not (parts[part] or "").strip():
                parts[part] = postal.get(name)
    parts = {part: (value or "").strip() for part, value in parts.items()}
    if not any(parts.values()):
        return []
    return [{"address_name": "", "street": parts["street"], "street_no": parts["street_no"], "block": "",
             "building_floor_room": "", "city": parts["city"], "county": "", "zip_code": parts["zip_code"],
             "state": parts["state"], "country": parts["country"], "address_type": "bill_to"}]
