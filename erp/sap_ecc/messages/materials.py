"""MATMAS05 -> the canonical item (SAP B1's `item_data` shape).

E1MARAM (contract 2.10): item_code MATNR as sent (zero-padded to 18 by MATN1; the S/4
40-character MATNR_LONG wins when present), barcode EAN11, active unless the deletion flag
LVORM is X or MSGFN is 003; item_name the E1MAKTM MAKTX in English (SPRAS E or SPRAS_ISO
EN), else the first description. MTART (material type) and MATKL (material group) go to
udfs as U_MTART / U_MATKL, with every field of customer segments as U_<FIELD>. The
category is the material group: category_code MATKL, product_hierarchy PRDHA (MARA's
product hierarchy in E1MARAM; the contract lists MATKL only, so PRDHA is read when sent,
else the first sales organisation's PRODH in E1MVKEM, else empty). IDocs carry no group
texts (T023T), so the category is named by its code unless an ItemGroup row names it.

Not in MATMAS: sales prices (they travel as condition IDocs, COND_A) and stock (MATMAS
carries no quantities; a customer extension may add LABST to E1MARDM, which
`stock.stock_changes` reads as a snapshot). So `prices` and `stock` are empty lists and
item_group is None (MATKL is a code, not a number).
"""
from __future__ import annotations

from typing import Any

from erp.sap_ecc.idoc_xml import ParsedIdoc, Segment
from erp.sap_ecc.messages.common import (
    ITEMS,
    Reader,
    converted,
    created_at,
    customer_fields,
    descendants,
    first_descendant,
    material_of,
    unpadded,
)
from syncapp.adapters import SourceRecord

ENGLISH = ("E", "EN")


def item_record(idoc: ParsedIdoc) -> SourceRecord:
    """One MATMAS IDoc -> SourceRecord of "items", keyed by the material number as sent."""
    header = first_descendant(idoc, "E1MARAM")
    key = material_of(header)
    reader = Reader(idoc, f"material {unpadded(key)}" if key else "a material")
    return converted(idoc, ITEMS, key, reader.subject, lambda: _item_data(reader, header, key))


def _item_data(reader: Reader, header: Segment | None, key: str) -> dict[str, Any]:
    if header is None or not key:
        raise reader.fail("has no material number (E1MARAM MATNR), so it cannot be matched to anything. "
                          "Check the IDoc in SAP (WE02).")
    texts = [text for text in descendants(header, "E1MAKTM") if text.get("MAKTX").strip()]
    english = next((text for text in texts if text.get("SPRAS").strip() in ENGLISH
                    or text.get("SPRAS_ISO").strip() in ENGLISH), None)
    name = (english or (texts[0] if texts else None))
    udfs: dict[str, Any] = customer_fields(reader.idoc)
    udfs["U_MTART"], udfs["U_MATKL"] = header.get("MTART").strip(), header.get("MATKL").strip()
    sales_hierarchies = (sales.get("PRODH").strip() for sales in descendants(header, "E1MVKEM"))
    hierarchy = header.get("PRDHA").strip() or next((value for value in sales_hierarchies if value), "")
    return {
        "item_code": key,
        "item_name": name.get("MAKTX").strip() if name else "",
        "item_group": None,
        "category_code": udfs["U_MATKL"],
        "product_hierarchy": hierarchy,
        "barcode": header.get("EAN11").strip(),
        "active": header.get("LVORM").strip() != "X" and header.get("MSGFN").strip() != "003",
        "sales_item": True,
        "prices": [],
        "udfs": udfs,
        "stock": [],
        "source_updated_at": created_at(reader.idoc.control),
    }
