"""Parsed IDocs -> canonical SourceRecords, one module per message type.

Pure functions: no database, no clock, no network. Each converter returns a SourceRecord
whose `data` has the same shape the SAP B1 converters produce (erp/sap_b1/*payloads.py),
or `data=None` with an `error` a person can act on; none of them raises. `stock_changes`
is the exception by design: it returns deltas/levels and raises StockUnreadable.
"""
from erp.sap_ecc.messages.billing import billing_record
from erp.sap_ecc.messages.common import (
    DEFAULT_OPTIONS,
    EccOptions,
    created_at,
    customer_of,
    idoc_label,
    message_kind,
    no_object_reason,
    object_of,
    sequence_of,
    unpadded,
    warehouse_code,
)
from erp.sap_ecc.messages.customers import business_partner_record
from erp.sap_ecc.messages.deliveries import delivery_record, has_goods_issue
from erp.sap_ecc.messages.materials import item_record
from erp.sap_ecc.messages.orders import order_record
from erp.sap_ecc.messages.stock import StockChange, StockUnreadable, stock_changes, stock_warehouses

__all__ = [
    "DEFAULT_OPTIONS", "EccOptions", "StockChange", "StockUnreadable", "billing_record", "business_partner_record",
    "created_at", "customer_of", "delivery_record", "has_goods_issue", "idoc_label", "item_record", "message_kind",
    "no_object_reason", "object_of", "order_record", "sequence_of", "stock_changes", "stock_warehouses", "unpadded",
    "warehouse_code",
]
