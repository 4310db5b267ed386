"""The mappings a new account starts with, for a UK retailer on SAP Business One.

Each adapter class may name its vendor's defaults (`default_mappings`, by entity);
the ones below are dotdigital's, and the default for adapters that name none. Each
default's owner is the one its name suggests (esp.ownership.default_owner): master data
and figures the ERP's, consent the destination's.

dotdigital target names keep to what dotdigital accepts for contact data fields: at most 20
characters of letters, digits and underscores. The email address is not mapped: it is
the contact's identifier, not a data field.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from django.db import transaction

from esp.models import EspAccount, FieldMapping
from esp.ownership import default_owner
from esp.registry import destination_adapter_class

String = FieldMapping.FieldType.STRING
Numeric = FieldMapping.FieldType.NUMERIC
Date = FieldMapping.FieldType.DATE
Boolean = FieldMapping.FieldType.BOOLEAN

DEFAULT_CUSTOMER_MAPPINGS: tuple[dict[str, Any], ...] = (
    {"source_field": "card_code", "target_field": "CARDCODE", "required": True},
    {"source_field": "card_name", "target_field": "FULLNAME", "transform": "trim"},
    {"source_field": "card_type", "target_field": "CUSTOMERTYPE"},
    {"source_field": "group_code", "target_field": "CUSTOMERGROUP", "target_type": Numeric},
    {"source_field": "currency", "target_field": "CURRENCY", "transform": "upper"},
    {"source_field": "cellular", "target_field": "MOBILE", "transform": "trim"},
    {"source_field": "bill_to.city", "target_field": "CITY", "transform": "trim"},
    {"source_field": "bill_to.zip_code", "target_field": "POSTCODE", "transform": "upper"},
    {"source_field": "bill_to.country", "target_field": "COUNTRY", "transform": "upper"},
    # No tier is sent as no value (empty), never as the word "None".
    {"source_field": "U_LoyaltyTier", "target_field": "LOYALTYTIER", "transform": "trim"},
    {
        "source_field": "U_MarketingConsent",
        "target_field": "MARKETINGCONSENT",
        "transform": "map",
        "transform_arg": {"Y": True, "N": False},
        "target_type": Boolean,
    },
    {
        "source_field": "U_Birthday",
        "target_field": "BIRTHDAY",
        "transform": "date",
        "target_type": Date,
    },
    # What really happened, from the order mirror: segments such as "first purchase made".
    {"source_field": "order_count", "target_field": "ORDERCOUNT", "target_type": Numeric},
    {"source_field": "first_order_date", "target_field": "FIRSTORDERDATE", "transform": "date", "target_type": Date},
    {"source_field": "last_order_date", "target_field": "LASTORDERDATE", "transform": "date", "target_type": Date},
    {"source_field": "lifetime_value", "target_field": "LIFETIMEVALUE", "target_type": Numeric},
    {"source_field": "average_order_value", "target_field": "AVGORDERVALUE", "target_type": Numeric},
    {"source_field": "last_dispatch_date", "target_field": "LASTDISPATCHDATE", "transform": "date",
     "target_type": Date},
    {"source_field": "last_return_date", "target_field": "LASTRETURNDATE", "transform": "date", "target_type": Date},
    # Product categories (issue 15): segments such as "first bought knitwear". Names as the
    # ERP calls its item groups; empty until a categorised purchase.
    {"source_field": "first_purchase_category", "target_field": "FIRSTPURCHASECAT", "transform": "trim"},
    {"source_field": "most_purchased_category", "target_field": "MOSTPURCHASEDCAT", "transform": "trim"},
    {"source_field": "categories_bought", "target_field": "CATEGORIESBOUGHT", "transform": "trim"},
)

_DEFAULTS_BY_ENTITY: dict[str, tuple[dict[str, Any], ...]] = {
    FieldMapping.Entity.CUSTOMERS: DEFAULT_CUSTOMER_MAPPINGS,
}


def default_mappings_for(kind: str, entity: str) -> tuple[dict[str, Any], ...]:
    """The default mappings of an account of `kind` for `entity`, from its adapter class."""
    try:
        declared = getattr(destination_adapter_class(kind), "default_mappings", None)
    except (ImportError, KeyError):
        declared = None
    if declared is None:
        return _DEFAULTS_BY_ENTITY.get(entity, ())
    return tuple(declared.get(entity, ()))


def mappings_install_defaults(*, destination: EspAccount, entity: str = "customers") -> int:
    """Create the default mappings `destination` lacks for `entity`; return how many.

    Idempotent: a default whose target field is already mapped (in any case, enabled or
    not) is left alone, so a marketer's edits and deletions of other fields survive.
    New mappings are placed after the existing ones, in the defaults' order.
    """
    defaults = default_mappings_for(destination.kind, entity)
    with transaction.atomic():
        existing = FieldMapping.objects.select_for_update().filter(
            destination=destination, entity=entity
        )
        taken = {target.upper() for target in existing.values_list("target_field", flat=True)}
        last = max(existing.values_list("position", flat=True), default=0)
        missing = [d for d in defaults if d["target_field"].upper() not in taken]
        # One save per row (a handful), so the audit trail records each one.
        for index, default in enumerate(missing):
            FieldMapping.objects.create(
                destination=destination,
                entity=entity,
                position=last + 10 * (index + 1),
                **{"transform": "none", "target_type": String, "owner": default_owner(default["target_field"]),
                   **deepcopy(default)},
            )
    return len(missing)
