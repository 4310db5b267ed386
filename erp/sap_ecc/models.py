"""What an ECC connection receives: its partner settings, every IDoc as it arrived, the
IDoc's status history (SAP's EDIDS), and the newest IDoc applied per object (SAP's BDSER)."""
from __future__ import annotations

from django.db import models

from erp.models import ErpConnection


class EccInbound(models.Model):
    """How one ECC system sends to this connection: which sending partner it must name,
    how large a message may be, and the business choices its IDocs leave open."""

    class DeletedCustomers(models.TextChoices):
        MARK = "mark", "Mark the contact (ERP status field 'deleted' or 'blocked')"
        SUPPRESS = "suppress", "Mark the contact and withdraw its marketing consent"

    connection = models.OneToOneField(ErpConnection, on_delete=models.CASCADE, related_name="ecc")
    sender_partner = models.CharField(
        max_length=10, help_text="SNDPRN the IDocs must carry: ECC's logical system, e.g. ECDCLNT800.")
    max_body_bytes = models.PositiveIntegerField(
        default=20 * 1024 * 1024, help_text="Largest message taken; a larger one is refused unread and shown.")
    deleted_customers = models.CharField(max_length=10, choices=DeletedCustomers.choices,
                                         default=DeletedCustomers.MARK)
    credit_memo_types = models.JSONField(
        default=list, blank=True,
        help_text='Billing types (E1EDK01-BSART or E1EDK14 015) that are credit memos, e.g. ["G2", "RE", "CRME"].')
    inbound_folder = models.CharField(
        max_length=400, blank=True, help_text="The XML file port's folder, read by `manage.py idoc_import`.")

    class Meta:
        verbose_name = "ECC inbound settings"
        verbose_name_plural = "ECC inbound settings"

    def __str__(self) -> str:
        return f"IDocs from {self.sender_partner} into {self.connection}"


class Idoc(models.Model):
    """One IDoc as received, kept with its control record and raw XML whatever became of it."""

    class Status(models.TextChoices):
        # SAP's own inbound status codes, so people who know WE02 read them at once.
        READY = "64", "64 Received, to be applied"
        APPLIED = "53", "53 Applied"
        ERROR = "51", "51 Error"
        WAITING = "66", "66 Waiting for predecessor"
        OBSOLETE = "68", "68 Obsolete: newer data already applied"
        REFUSED = "56", "56 Refused unread"

    OPEN = (Status.READY, Status.WAITING)

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    docnum = models.CharField(max_length=16, blank=True)
    message_type = models.CharField(max_length=30, blank=True)
    basic_type = models.CharField(max_length=30, blank=True)
    extension = models.CharField(max_length=30, blank=True)
    sender_partner = models.CharField(max_length=10, blank=True)
    sender_port = models.CharField(max_length=10, blank=True)
    created_in_sap = models.DateTimeField(null=True, blank=True)
    serial = models.CharField(max_length=20, blank=True)
    sequence = models.CharField(max_length=64, blank=True, help_text="Order of application per object.")
    entity = models.CharField(max_length=30, blank=True)
    family = models.CharField(max_length=30, blank=True, help_text="Messages sequenced together (DEBMAS, ORDERS…).")
    object_key = models.CharField(max_length=60, blank=True)
    customer_key = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=2, choices=Status.choices, default=Status.READY)
    status_text = models.TextField(blank=True)
    control = models.JSONField(default=dict, blank=True)
    # The IDoc's own XML as it came (its segments are read from it when applied or shown).
    raw_xml = models.TextField(blank=True)
    received_via = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField()
    times_received = models.PositiveIntegerField(default=1)
    status_changed_at = models.DateTimeField()
    receipt = models.CharField(max_length=32, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["connection", "sender_partner", "docnum"], name="idoc_docnum_once_per_partner",
            condition=~models.Q(docnum=""))]
        indexes = [
            models.Index(fields=["connection", "status", "entity"], name="idoc_open_idx"),
            models.Index(fields=["connection", "family", "object_key"], name="idoc_object_idx"),
            models.Index(fields=["received_at"], name="idoc_received_idx"),
        ]

    def __str__(self) -> str:
        return f"IDoc {self.display_number} ({self.message_type or 'unread'})"

    @property
    def display_number(self) -> str:
        return self.docnum.lstrip("0") or self.docnum or f"#{self.pk}"

    @property
    def display_key(self) -> str:
        return self.object_key.lstrip("0") or self.object_key


class IdocStatusRecord(models.Model):
    """One step in an IDoc's life (SAP's status records)."""

    idoc = models.ForeignKey(Idoc, on_delete=models.CASCADE, related_name="history")
    status = models.CharField(max_length=12)
    text = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]


class IdocObjectState(models.Model):
    """The newest IDoc applied per object and message family: an older one arriving
    later is obsolete (SAP's BDSER serialisation table)."""

    connection = models.ForeignKey(ErpConnection, on_delete=models.CASCADE, related_name="+")
    family = models.CharField(max_length=30)
    object_key = models.CharField(max_length=60)
    last_sequence = models.CharField(max_length=64)
    last_idoc = models.ForeignKey(Idoc, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "family", "object_key"],
                                               name="idoc_object_state_unique")]
