"""What a new Ometria account starts with: contact field mappings and order statuses.

Targets named like Ometria contact fields go top level; the rest become contact
`properties` (see payloads.py). The email address is not mapped: it is the contact's
identifier. Mobile numbers go to a property, not `phone_number`: Ometria wants E.164
there, and SAP keeps numbers as typed, so one odd number would fail the whole contact.
"""
from __future__ import annotations

from typing import Any

# ERP order state -> Ometria `status`. "complete" is Ometria's placed order (RudderStack
# sends it for "order completed"); "pending" is kept for a provisional web order.
DEFAULT_ORDER_STATUSES = {
    "pending": "pending",  # a web shop's provisional order, before its ERP order arrives
    "open": "complete",
    "partially_dispatched": "complete",
    "dispatched": "shipped",
    "closed": "complete",
    "cancelled": "cancelled",
    "partially_refunded": "partial_refund",
    "refunded": "refunded",
}

DEFAULT_CUSTOMER_MAPPINGS: tuple[dict[str, Any], ...] = (
    {"source_field": "card_name", "target_field": "name", "transform": "trim"},
    {
        "source_field": "U_MarketingConsent",
        "target_field": "marketing_optin",
        "transform": "map",
        "transform_arg": {"Y": "EXPLICITLY_OPTEDIN", "N": "EXPLICITLY_OPTEDOUT"},
    },
    {"source_field": "U_Birthday", "target_field": "date_of_birth", "transform": "date", "target_type": "Date"},
    {"source_field": "bill_to.country", "target_field": "country_id", "transform": "upper"},
    {"source_field": "card_type", "target_field": "customer_type"},
    {"source_field": "group_code", "target_field": "customer_group", "target_type": "Numeric"},
    {"source_field": "currency", "target_field": "currency", "transform": "upper"},
    {"source_field": "cellular", "target_field": "mobile", "transform": "trim"},
    {"source_field": "bill_to.city", "target_field": "city", "transform": "trim"},
    {"source_field": "bill_to.zip_code", "target_field": "postcode", "transform": "upper"},
    {"source_field": "U_LoyaltyTier", "target_field": "loyalty_tier", "transform": "trim"},
    {"source_field": "order_count", "target_field": "order_count", "target_type": "Numeric"},
    {"source_field": "first_order_date", "target_field": "first_order_date", "transform": "date",
     "target_type": "Date"},
    {"source_field": "last_order_date", "target_field": "last_order_date", "transform": "date", "target_type": "Date"},
    {"source_field": "lifetime_value", "target_field": "lifetime_value", "target_type": "Numeric"},
    {"source_field": "average_order_value", "target_field": "average_order_value", "target_type": "Numeric"},
    {"source_field": "last_dispatch_date", "target_field": "last_dispatch_date", "transform": "date",
     "target_type": "Date"},
    {"source_field": "last_return_date", "target_field": "last_return_date", "transform": "date",
     "target_type": "Date"},
    {"source_field": "first_purchase_category", "target_field": "first_purchase_category", "transform": "trim"},
    {"source_field": "most_purchased_category", "target_field": "most_purchased_category", "transform": "trim"},
    {"source_field": "categories_bought", "target_field": "categories_bought", "transform": "trim"},
)

DEFAULT_MAPPINGS = {"customers": DEFAULT_CUSTOMER_MAPPINGS}
