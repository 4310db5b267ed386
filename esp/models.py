"""Destination accounts and the field mappings that shape what each one receives."""
from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models

from esp.registry import destination_adapter_class, destination_kind_choices
from syncapp.bulk_window import validate_bulk_hours


class EspAccount(models.Model):
    """One marketing-platform account. Secrets are named by environment variable.

    `kind` names a registry entry (esp/registry.py); `options` holds what that vendor
    needs beyond the common fields (e.g. Ometria's contact collection), checked by the
    adapter class's `validate_options`.
    """

    name = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=20, choices=destination_kind_choices, default="dotdigital")
    region = models.CharField(max_length=4, default="r1", help_text="dotdigital region: r1, r2 or r3.")
    base_url = models.URLField(
        blank=True, help_text="Leave empty to use the vendor's host; set for a sandbox."
    )
    api_user = models.CharField(max_length=200, blank=True,
                                help_text="The API user (dotdigital); empty for vendors with a key only (Ometria).")
    password_env = models.CharField(
        max_length=100, help_text="Name of the environment variable holding the API password or key."
    )
    calls_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="The account's rate limit; empty uses the vendor default."
    )
    catalog_collection = models.CharField(
        max_length=255, blank=True, help_text="Product catalog collection; empty uses Catalog_Default.")
    bulk_hours = models.CharField(
        max_length=11, blank=True, validators=[validate_bulk_hours],
        help_text="Off-peak window for routine bulk work (backfills, a mapping change re-sending every record), in "
                  "the hub's time zone, e.g. 22:00-06:00. New orders, dispatches and routine updates always go. "
                  "Empty: any time.")
    options = models.JSONField(default=dict, blank=True,
                               help_text="Vendor settings as JSON, e.g. for Ometria: {\"collection\": \"customers\", "
                                         "\"force_optin\": false, \"validation_grace_seconds\": 300}.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "destination (ESP account)"
        verbose_name_plural = "destinations (ESP accounts)"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        problems = options_problems(self.kind, self.options)
        if problems:
            raise ValidationError({"options": list(problems.values())})

    def password(self) -> str:
        value = os.environ.get(self.password_env)
        if not value:
            raise ImproperlyConfigured(
                f"Destination {self.name!r}: environment variable {self.password_env} is not set."
            )
        return value


def options_problems(kind: str, options) -> dict[str, str]:
    """What the vendor's adapter class says is wrong with `options` (empty when fine).
    Vendors without options take none."""
    try:
        adapter_class = destination_adapter_class(kind)
    except (ImportError, KeyError):
        return {"kind": f"{kind!r} is not a destination this hub knows."}
    validate = getattr(adapter_class, "validate_options", None)
    if validate is None:
        return {"options": f"{kind} accounts take no options."} if options else {}
    return validate(options if options is not None else {})


class FieldMapping(models.Model):
    """One destination field: where its value comes from and how it is shaped.

    `source_field` is a mirror field (e.g. `card_name`) or a user-defined field
    (`U_Loyalty`); `transform` is one of esp.transforms.TRANSFORMS; `owner` says which
    side may change the field (esp.ownership).
    """

    class Entity(models.TextChoices):
        CUSTOMERS = "customers", "Customers"

    class FieldType(models.TextChoices):
        STRING = "String"
        NUMERIC = "Numeric"
        DATE = "Date"
        BOOLEAN = "Boolean"

    destination = models.ForeignKey(EspAccount, on_delete=models.CASCADE, related_name="mappings")
    entity = models.CharField(max_length=30, choices=Entity.choices, default=Entity.CUSTOMERS)
    source_field = models.CharField(max_length=100)
    transform = models.CharField(max_length=30, default="none")
    transform_arg = models.JSONField(
        null=True, blank=True, help_text="Argument of the transform: a default value, a map of values, a date format."
    )
    target_field = models.CharField(max_length=100)
    target_type = models.CharField(max_length=10, choices=FieldType.choices, default=FieldType.STRING)
    required = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    owner = models.CharField(
        max_length=12, choices=[("erp", "ERP"), ("destination", "Destination")], default="erp",
        help_text="Who may change the field (esp/ownership.py). ERP: the hub sends it and puts it back when "
                  "changed at the destination. Destination (consent, engagement): only its starting value "
                  "goes with a new contact; the destination's value is never overwritten, and a write-back "
                  "may copy it to the ERP's user field.")

    class Meta:
        ordering = ["destination", "entity", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["destination", "entity", "target_field"], name="mapping_unique_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_field} -> {self.target_field}"


class SkuRule(models.Model):
    """How an ERP item code becomes the SKU every destination and the shop use.

    Configured once per ERP connection and applied wherever a product identifier crosses
    the boundary (products, order lines, stock), so `000012345` and `12345` are one product.
    """

    class Case(models.TextChoices):
        KEEP = "keep", "Keep as is"
        UPPER = "upper", "Upper case"
        LOWER = "lower", "Lower case"

    connection = models.OneToOneField("erp.ErpConnection", on_delete=models.CASCADE, related_name="sku_rule")
    trim = models.BooleanField(default=True)
    strip_leading_zeros = models.BooleanField(default=True, help_text="Numeric codes only: 000123 -> 123.")
    case = models.CharField(max_length=5, choices=Case.choices, default=Case.UPPER)
    prefix_map = models.JSONField(default=dict, blank=True,
                                  help_text='Replace a leading prefix, e.g. {"ERP-": ""}.')
    suffix_map = models.JSONField(default=dict, blank=True,
                                  help_text='Replace a trailing suffix, e.g. {"-EU": ""}.')
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SKU rule"

    def __str__(self) -> str:
        return f"SKU rule of {self.connection}"


class WarehouseRule(models.Model):
    """Which warehouses' stock a destination (or one of its channels) may sell from."""

    class Availability(models.TextChoices):
        IN_STOCK = "in_stock", "In stock"
        IN_STOCK_MINUS_COMMITTED = "in_stock_minus_committed", "In stock minus committed"

    destination = models.ForeignKey(EspAccount, on_delete=models.CASCADE, related_name="warehouse_rules")
    channel = models.CharField(max_length=60, blank=True, help_text="Store or channel; empty for the account.")
    included_warehouses = models.JSONField(
        default=list, blank=True, help_text="Warehouse codes that count; empty means every active warehouse.")
    excluded_warehouses = models.JSONField(
        default=list, blank=True, help_text="Ring-fenced warehouse codes that never count (e.g. wholesale).")
    availability = models.CharField(max_length=30, choices=Availability.choices,
                                    default=Availability.IN_STOCK_MINUS_COMMITTED)
    low_stock_threshold = models.FloatField(default=5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["destination", "channel"], name="warehouse_rule_unique")]

    def __str__(self) -> str:
        return f"{self.destination} {self.channel or '(all channels)'}"


class OrderStatusMapping(models.Model):
    """What an ERP order state is called at one destination. Edited by admins; an
    ERP state with no row uses the adapter's defaults (esp.order_status.default_statuses)."""

    class ErpStatus(models.TextChoices):
        OPEN = "open", "Open"
        PARTIALLY_DISPATCHED = "partially_dispatched", "Partially dispatched"
        DISPATCHED = "dispatched", "Dispatched"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"

    destination = models.ForeignKey(EspAccount, on_delete=models.CASCADE, related_name="order_statuses")
    erp_status = models.CharField(max_length=30, choices=ErpStatus.choices)
    destination_status = models.CharField(max_length=60)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["destination", "erp_status"], name="order_status_unique")]

    def __str__(self) -> str:
        return f"{self.erp_status} -> {self.destination_status}"
