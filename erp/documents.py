"""The sales document mirror: orders, deliveries, invoices, credit memos and returns.

Each document type has its own table (as the ERP has), sharing one shape. Lines keep
their link to the document they came from (BaseType / BaseEntry / BaseLine), which is
how a delivery, a credit memo or a return is tied back to its order.
"""
from __future__ import annotations

from django.db import models

from .models import ErpConnection

_AMOUNT = {"max_digits": 19, "decimal_places": 6, "default": 0}


# The foreign keys the ingest hot path writes (a document's connection, a line's document)
# have no index of their own: the composite indexes that lead with them serve every lookup.
# The database still checks them. Its deferred checks cost one parent lookup per row at
# commit (about 12 us a Business Partner and 30 us an order of four lines, measured by
# bench/bench_hotpath.py), but raw SQL writes and deletes bypass Django's on_delete, and an
# orphan row nobody can see is the kind of silent loss this hub exists to prevent.
HOT_PATH_KEY = {"db_index": False}


class DocumentBase(models.Model):
    """Header fields common to every sales document."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    # Indexed by (connection, doc_entry), (connection, card_code) and the numbers the search
    # looks up (see Meta): a single-column index beside them costs every ingest write and
    # serves no lookup.
    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+", **HOT_PATH_KEY)
    doc_entry = models.IntegerField()
    doc_num = models.IntegerField(null=True, blank=True)
    card_code = models.CharField(max_length=50)
    num_at_card = models.CharField(max_length=100, blank=True, help_text="The customer's (web shop's) reference.")
    doc_date = models.DateField(null=True, blank=True)
    doc_due_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=10, blank=True)
    # Amounts in the document's currency (`currency`): the foreign-currency figures when
    # the document is in a foreign currency, else the local ones.
    doc_total = models.DecimalField(**_AMOUNT)
    vat_total = models.DecimalField(**_AMOUNT)
    discount_percent = models.DecimalField(**_AMOUNT)
    discount_total = models.DecimalField(**_AMOUNT)
    freight_total = models.DecimalField(**_AMOUNT, help_text="Freight and other additional expenses, before tax.")
    rounding_total = models.DecimalField(**_AMOUNT)
    # The same document in the company's local currency, so figures summed over
    # documents in several currencies stay in one.
    doc_total_local = models.DecimalField(**_AMOUNT)
    vat_total_local = models.DecimalField(**_AMOUNT)
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    cancelled = models.BooleanField(default=False)
    is_cancellation = models.BooleanField(
        default=False, help_text="A cancellation document: it reverses another document and is never counted.")
    tracking_number = models.CharField(max_length=100, blank=True)
    contact_person_code = models.IntegerField(
        null=True, blank=True, help_text="The buyer at the customer who placed it (SAP B1 ContactPersonCode).")
    source_updated_at = models.DateTimeField(null=True, blank=True)
    source_version = models.CharField(max_length=40, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    mirrored_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} {self.doc_num or self.doc_entry}"


class LineBase(models.Model):
    """A document line; `base_*` name the line of the document it was copied from."""

    line_num = models.IntegerField()
    item_code = models.CharField(max_length=50, blank=True)
    description = models.CharField(max_length=200, blank=True)
    quantity = models.DecimalField(**_AMOUNT)
    price = models.DecimalField(**_AMOUNT)
    line_total = models.DecimalField(**_AMOUNT)
    warehouse_code = models.CharField(max_length=50, blank=True)
    line_status = models.CharField(max_length=6, default="open")
    base_type = models.IntegerField(null=True, blank=True)
    base_entry = models.IntegerField(null=True, blank=True)
    base_line = models.IntegerField(null=True, blank=True)

    class Meta:
        abstract = True


def _document_meta(name: str, *extra_indexes: models.Index, plural: str = ""):
    # Django's default plural adds an "s" ("deliverys"); the admin shows these names.
    extra = {"verbose_name_plural": plural} if plural else {}
    return type("Meta", (), {
        **extra,
        "constraints": [models.UniqueConstraint(fields=["connection", "doc_entry"], name=f"{name}_unique")],
        "indexes": [models.Index(fields=["connection", "card_code"], name=f"{name}_customer_idx"),
                    # The exception search finds a document by the numbers people know: DocNum and
                    # the web shop's reference (an order's is also how a provisional order meets it).
                    models.Index(fields=["connection", "doc_num"], name=f"{name}_number_idx"),
                    models.Index(fields=["connection", "num_at_card"], name=f"{name}_reference_idx"),
                    *extra_indexes],
    })


def _line_meta(name: str, *extra_indexes: models.Index):
    # The unique (document, line_num) index serves lookups by document: the lines' document
    # foreign key has no index of its own (db_index=False), one less to keep up per line.
    return type("Meta", (), {
        "constraints": [models.UniqueConstraint(fields=["document", "line_num"], name=f"{name}_line_unique")],
        # Only lines copied from another document have a base: an order's lines (the most
        # written) are not in this index at all; every lookup names a base type.
        "indexes": [models.Index(fields=["base_type", "base_entry"], name=f"{name}_base_idx",
                                 condition=models.Q(base_type__isnull=False)), *extra_indexes],
    })


class SalesOrder(DocumentBase):
    """A sales order (SAP B1 ORDR)."""

    Meta = _document_meta("order")


class SalesOrderLine(LineBase):
    document = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines", **HOT_PATH_KEY)
    # The exception search finds the orders holding a SKU: the order comes from the index too.
    Meta = _line_meta("order", models.Index(fields=["item_code", "document"], name="order_line_item_idx"))


class Delivery(DocumentBase):
    """A delivery note (ODLN): what left the warehouse, and its tracking number."""

    Meta = _document_meta("delivery", plural="deliveries")


class DeliveryLine(LineBase):
    document = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="lines", **HOT_PATH_KEY)
    Meta = _line_meta("delivery")


class Invoice(DocumentBase):
    """An A/R invoice (OINV)."""

    Meta = _document_meta("invoice")


class InvoiceLine(LineBase):
    document = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines", **HOT_PATH_KEY)
    Meta = _line_meta("invoice")


class CreditMemo(DocumentBase):
    """An A/R credit memo (ORIN): money given back."""

    Meta = _document_meta("credit_memo")


class CreditMemoLine(LineBase):
    document = models.ForeignKey(CreditMemo, on_delete=models.CASCADE, related_name="lines", **HOT_PATH_KEY)
    Meta = _line_meta("credit_memo")


class Return(DocumentBase):
    """A return (ORDN): goods sent back."""

    Meta = _document_meta("return")


class ReturnLine(LineBase):
    document = models.ForeignKey(Return, on_delete=models.CASCADE, related_name="lines", **HOT_PATH_KEY)
    Meta = _line_meta("return")


# Source entity name -> (document model, line model, SAP B1 object type code).
DOCUMENT_MODELS = {
    "orders": (SalesOrder, SalesOrderLine, 17),
    "deliveries": (Delivery, DeliveryLine, 15),
    "invoices": (Invoice, InvoiceLine, 13),
    "credit_notes": (CreditMemo, CreditMemoLine, 14),
    "returns": (Return, ReturnLine, 16),
}


class ProvisionalOrder(models.Model):
    """A web shop's order as posted at checkout, before the ERP holds it.

    It is sent at once as a pending order, under the id its ERP order will carry (the
    web reference, NumAtCard in SAP B1), so a destination that merges orders on that id
    sees one order that the ERP later enriches. When the ERP order with the same web
    reference arrives, this row is `confirmed` and never sent again; one still pending
    after the configured time becomes an exception for marketing.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the ERP order"
        CONFIRMED = "confirmed", "The ERP order arrived"

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    web_reference = models.CharField(max_length=100)
    customer_email = models.CharField(max_length=254)
    customer_id = models.CharField(max_length=50, blank=True, help_text="The ERP customer code, if the shop knows it.")
    currency = models.CharField(max_length=10)
    lines = models.JSONField(default=list, help_text='[{"sku", "name", "qty", "price"}]')
    subtotal = models.DecimalField(**_AMOUNT)
    tax_total = models.DecimalField(**_AMOUNT)
    shipping_total = models.DecimalField(**_AMOUNT)
    discount_total = models.DecimalField(**_AMOUNT)
    grand_total = models.DecimalField(**_AMOUNT)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    erp_doc_entry = models.IntegerField(null=True, blank=True, help_text="The ERP order that confirmed it.")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    KEY_PREFIX = "web:"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "web_reference"], name="provisional_unique")]
        indexes = [models.Index(fields=["status", "received_at"], name="provisional_pending_idx",
                                condition=models.Q(status="pending"))]

    def __str__(self) -> str:
        return f"web order {self.web_reference}"

    @property
    def record_key(self) -> str:
        """Its key in the orders flows' outbox (an ERP order's key is its DocEntry)."""
        return f"{self.KEY_PREFIX}{self.web_reference}"
