"""ERP connections and the canonical mirror of what the ERP holds."""
from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured
from django.db import models


class ErpConnection(models.Model):
    """One ERP company the hub reads from. The password is named by an environment
    variable, never stored or shown."""

    class Kind(models.TextChoices):
        SAP_B1 = "sap_b1", "SAP Business One (Service Layer)"
        SAP_ECC = "sap_ecc", "SAP ECC (IDocs pushed to the hub)"

    name = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SAP_B1)
    base_url = models.URLField(blank=True, help_text="SAP B1: the Service Layer root, e.g. https://sap:50000/b1s/v1. "
                                                     "SAP ECC sends to the hub instead: leave empty.")
    company_db = models.CharField(max_length=100, blank=True, help_text="SAP B1: the company database.")
    username = models.CharField(
        max_length=100, help_text="SAP B1: the Service Layer user. SAP ECC: the user its HTTP destination "
                                  "(SM59) sends as, with the password below (Basic auth or as a bearer token).")
    password_env = models.CharField(
        max_length=100, help_text="Name of the environment variable holding the password."
    )
    verify_tls = models.BooleanField(default=True)
    page_size = models.PositiveIntegerField(
        default=500, help_text="Rows per page asked with Prefer: odata.maxpagesize."
    )
    delta_overlap_minutes = models.PositiveIntegerField(
        default=2,
        help_text="Re-read this many minutes before the last change seen, each minute once, when this "
        "many minutes have passed since it ended: the Service Layer compares times to the minute only, "
        "and a change may show up late.",
    )
    timeout_seconds = models.PositiveIntegerField(default=60)
    unreachable_alert_minutes = models.PositiveIntegerField(
        default=5, help_text="Health turns red and the integration admins are alerted when the ERP cannot be "
                             "reached for longer than this (amber from the first failed pull).")
    user_fields = models.JSONField(
        default=list, blank=True,
        help_text="User-defined Business Partner fields to read, e.g. [\"U_LoyaltyTier\"]. Each company "
        "defines its own; asking for one that does not exist makes SAP refuse the read.",
    )
    item_user_fields = models.JSONField(
        default=list, blank=True, help_text="User-defined Item fields to read, e.g. [\"U_Brand\"].")
    company_email_as_contact = models.BooleanField(
        default=True, help_text="A company with contact persons is also a contact itself, under its main email "
                                "(the contact persons are contacts of their own either way).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "ERP connection"

    def __str__(self) -> str:
        return self.name

    def password(self) -> str:
        value = os.environ.get(self.password_env)
        if not value:
            raise ImproperlyConfigured(
                f"ERP connection {self.name!r}: environment variable {self.password_env} is not set."
            )
        return value


class BusinessPartner(models.Model):
    """A Business Partner as the ERP last told us, per connection.

    `content_hash` covers the canonical fields only, so a re-read of an unchanged record
    is recognised and costs nothing downstream.
    """

    class CardType(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        LEAD = "lead", "Lead"
        SUPPLIER = "supplier", "Supplier"

    # No single-column indexes beside the composite ones (connection, card_code) and
    # (connection, email_normalised): each costs every ingest write and serves no lookup.
    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+", db_index=False)
    card_code = models.CharField(max_length=50)
    card_name = models.CharField(max_length=200, blank=True)
    card_type = models.CharField(max_length=10, choices=CardType.choices)
    email = models.CharField(max_length=254, blank=True)
    email_normalised = models.CharField(max_length=254, blank=True)
    phone1 = models.CharField(max_length=50, blank=True)
    phone2 = models.CharField(max_length=50, blank=True)
    cellular = models.CharField(max_length=50, blank=True)
    group_code = models.IntegerField(null=True, blank=True)
    currency = models.CharField(max_length=10, blank=True)
    valid = models.BooleanField(default=True)
    frozen = models.BooleanField(default=False)
    addresses = models.JSONField(default=list, blank=True)
    udfs = models.JSONField(default=dict, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    source_version = models.CharField(max_length=40, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    mirrored_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "card_code"], name="bp_unique_per_connection")
        ]
        indexes = [models.Index(fields=["connection", "email_normalised"], name="bp_email_idx")]

    def __str__(self) -> str:
        return f"{self.card_code} {self.card_name}".strip()


class Warehouse(models.Model):
    """A warehouse as the ERP last told us. Whether its stock counts is a warehouse rule
    of each destination (esp.WarehouseRule), not a property of the warehouse."""

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=50)
    name = models.CharField(max_length=200, blank=True)
    inactive = models.BooleanField(default=False)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    mirrored_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "code"], name="warehouse_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()


class Item(models.Model):
    """An item as the ERP last told us. Its stock is in StockLevel rows; `stock_hash`
    fingerprints them so an unchanged stock poll writes nothing."""

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    item_code = models.CharField(max_length=50)
    sku = models.CharField(max_length=100, blank=True, db_index=True,
                           help_text="The item code under the SKU rule, as destinations see it (set by planning).")
    item_name = models.CharField(max_length=200, blank=True)
    item_group = models.IntegerField(null=True, blank=True)
    # The item's category as the ERP codes it: SAP B1's item group number (as text), ECC's
    # material group (MATKL); its name is the ItemGroup's, read at plan time (a rename is
    # one row). ECC's product hierarchy (PRDHA) rides beside it.
    category_code = models.CharField(max_length=40, blank=True)
    product_hierarchy = models.CharField(max_length=40, blank=True)
    barcode = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    sales_item = models.BooleanField(default=True)
    prices = models.JSONField(default=list, blank=True)
    udfs = models.JSONField(default=dict, blank=True)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    source_version = models.CharField(max_length=40, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    stock_hash = models.CharField(max_length=64, blank=True)
    mirrored_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "item_code"], name="item_unique")]

    def __str__(self) -> str:
        return f"{self.item_code} {self.item_name}".strip()


class ItemGroup(models.Model):
    """A product category as the ERP names it (SAP B1 ItemGroups, OITB: Number and
    GroupName). Items name it by `Item.category_code`; an ECC material group has no row
    unless one is made, and is then known by its code (IDocs carry no group texts)."""

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+", db_index=False)
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    mirrored_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "code"], name="item_group_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()


class StockLevel(models.Model):
    """Stock of one item in one warehouse (SAP B1 OITW)."""

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    item_code = models.CharField(max_length=50)
    warehouse_code = models.CharField(max_length=50)
    in_stock = models.FloatField(default=0)
    committed = models.FloatField(default=0)
    ordered = models.FloatField(default=0)
    mirrored_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "item_code", "warehouse_code"], name="stock_unique")
        ]

    def __str__(self) -> str:
        return f"{self.item_code}@{self.warehouse_code}: {self.in_stock}"


from .contact_persons import ContactPerson  # noqa: E402  (B2B buyers, child rows of a Business Partner)
from .documents import (  # noqa: E402  (the document mirror lives in its own module)
    CreditMemo,
    CreditMemoLine,
    Delivery,
    DeliveryLine,
    Invoice,
    InvoiceLine,
    ProvisionalOrder,
    Return,
    ReturnLine,
    SalesOrder,
    SalesOrderLine,
)

__all__ = [
    "BusinessPartner", "ContactPerson", "CreditMemo", "CreditMemoLine", "Delivery", "DeliveryLine", "ErpConnection",
    "Invoice", "InvoiceLine", "Item", "ItemGroup", "ProvisionalOrder", "Return", "ReturnLine", "SalesOrder",
    "SalesOrderLine", "StockLevel", "Warehouse",
]
