"""A local stand-in for the SAP Business One Service Layer, for demos and tests."""
from erp.sap_b1.sandbox.app import BP_PROPERTIES, USER_FIELDS, SandboxError, SapB1Sandbox
from erp.sap_b1.sandbox.items import (
    ITEM_PRICE_PROPERTIES,
    ITEM_PROPERTIES,
    ITEM_USER_FIELDS,
    WAREHOUSE_INFO_PROPERTIES,
    WAREHOUSE_PROPERTIES,
)

__all__ = [
    "BP_PROPERTIES", "ITEM_PRICE_PROPERTIES", "ITEM_PROPERTIES", "ITEM_USER_FIELDS",
    "USER_FIELDS", "WAREHOUSE_INFO_PROPERTIES", "WAREHOUSE_PROPERTIES", "SandboxError",
    "SapB1Sandbox",
]
