"""What finance's room keeps: what a destination held when last read, and who re-sent what.

A destination's orders are read back into a snapshot (one ReadBack with its
ReadBackOrder rows), so a page renders from the database in a second instead of paging
through a vendor's API (and its rate limit) on every view; the page says when it was read.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models

_AMOUNT = {"max_digits": 19, "decimal_places": 6, "default": 0}


class ReadBack(models.Model):
    """One read of a flow's orders from its destination. The newest finished one is the
    destination side of the reconciliation; older ones are deleted with their rows."""

    class Status(models.TextChoices):
        RUNNING = "running", "Reading"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    flow = models.ForeignKey("syncapp.Flow", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    records = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["flow", "status", "-finished_at"], name="readback_latest_idx")]

    def __str__(self) -> str:
        return f"read-back of {self.flow_id} at {self.started_at:%Y-%m-%d %H:%M}"


class ReadBackOrder(models.Model):
    """One order record as the destination listed it: the figures finance compares."""

    read_back = models.ForeignKey(ReadBack, on_delete=models.CASCADE, related_name="orders")
    record_key = models.CharField(max_length=100)
    order_number = models.CharField(max_length=100, blank=True)
    purchase_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=10, blank=True)
    order_total = models.DecimalField(**_AMOUNT)
    refunded_total = models.DecimalField(**_AMOUNT)
    status = models.CharField(max_length=40, blank=True)

    class Meta:
        indexes = [models.Index(fields=["read_back", "purchase_date"], name="readback_order_date_idx")]


class Resend(models.Model):
    """Finance asked the engine to send these documents of one flow again (audited)."""

    flow = models.ForeignKey("syncapp.Flow", on_delete=models.CASCADE, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    date_from = models.DateField()
    date_to = models.DateField()
    record_keys = models.JSONField(default=list)
    queued = models.PositiveIntegerField(default=0)
    not_queued = models.JSONField(default=list, help_text="Keys the engine did not queue (in exception, waiting).")

    def __str__(self) -> str:
        return f"re-send of {len(self.record_keys)} document(s) ({self.date_from}..{self.date_to})"
