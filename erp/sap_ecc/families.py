"""Which messages the hub applies, sequenced together, and into which mirror entity."""
from __future__ import annotations

import re

# Message type -> family (IDocs of one family are sequenced together per object).
MESSAGE_FAMILIES = {
    "DEBMAS": "DEBMAS", "ADRMAS": "ADRMAS",
    "ORDERS": "ORDERS", "ORDRSP": "ORDERS", "ORDCHG": "ORDERS",
    "DESADV": "DELVRY", "SHPORD": "DELVRY", "WHSCON": "DELVRY", "DELVRY": "DELVRY",
    "INVOIC": "INVOIC",
    "MATMAS": "MATMAS",
    "WMMBXY": "WMMBXY", "MBGMCR": "WMMBXY",
    "LOISTD": "LOISTD",
}
# A customer-namespace message type (/ABC/VFI_ORDERS) is known by its basic type.
_BASIC_TYPE = re.compile(r"(DEBMAS|ADRMAS|ORDERS|DELVRY|INVOIC|MATMAS|WMMBID|LOISTD)\d\d")
_BASIC_FAMILY = {"DEBMAS": "DEBMAS", "ADRMAS": "ADRMAS", "ORDERS": "ORDERS", "DELVRY": "DELVRY",
                 "INVOIC": "INVOIC", "MATMAS": "MATMAS", "WMMBID": "WMMBXY", "LOISTD": "LOISTD"}
FAMILY_ENTITY = {"DEBMAS": "business_partners", "ADRMAS": "business_partners", "ORDERS": "orders",
                 "DELVRY": "deliveries", "INVOIC": "invoices", "MATMAS": "items", "WMMBXY": "item_stock",
                 "LOISTD": "item_stock"}
# Goods movements are deltas: each applies once, whatever its age; nothing makes one obsolete.
DELTA_FAMILIES = frozenset({"WMMBXY"})
# Entities in the order they are applied: master data before the documents naming it.
APPLY_ORDER = ("business_partners", "items", "warehouses", "item_stock", "orders", "deliveries", "invoices",
               "credit_notes")
DOCUMENT_ENTITIES = frozenset({"orders", "deliveries", "invoices", "credit_notes"})


def family_of(control: dict) -> str:
    """The family of an IDoc by its message type, else its basic type; '' if we apply none."""
    message_type = control.get("MESTYP", "")
    if message_type in MESSAGE_FAMILIES:
        return MESSAGE_FAMILIES[message_type]
    found = _BASIC_TYPE.match(control.get("IDOCTYP", ""))
    return _BASIC_FAMILY[found.group(1)] if found else ""
