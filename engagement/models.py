"""The engagement write-back's configuration, what it last wrote per Business Partner, and its runs."""
from __future__ import annotations

from django.db import models


class WriteBackSettings(models.Model):
    """Engagement write-back for one SAP B1 connection: on or off, the user fields it writes
    and its pace. Audited (it decides what the hub writes into the ERP)."""

    connection = models.OneToOneField("erp.ErpConnection", on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=True, help_text="Run on the schedule (the command runs it regardless).")
    field_names = models.JSONField(
        default=dict, blank=True,
        help_text='Measure -> Business Partner user field, e.g. {"last_click": "U_LastClick"}; a measure left out '
                  "keeps its default name (engagement.fields.MEASURES).")
    patches_per_minute = models.PositiveIntegerField(
        default=600, help_text="Most Business Partner writes a minute, shared by every worker (token bucket).")
    batch_size = models.PositiveIntegerField(
        default=100, help_text="Writes per $batch request; 1 sends one PATCH per Business Partner.")
    import_activity = models.BooleanField(
        default=True, help_text="Import the dotdigital accounts' campaign activity first in every run.")
    fields_checked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "engagement write-back settings"

    def __str__(self) -> str:
        return f"engagement write-back of connection {self.connection_id}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .fields import FieldNamesInvalid, field_names

        try:
            field_names(self.field_names)
        except FieldNamesInvalid as error:
            raise ValidationError({"field_names": str(error)}) from None
        if self.batch_size < 1:
            raise ValidationError({"batch_size": "At least one write per request."})


class WrittenEngagement(models.Model):
    """What the hub last wrote to one Business Partner's engagement fields, and its hash:
    an equal hash next time means no call. `decays` marks values with opens or clicks in a
    rolling window, which must be worked out again as days pass even without new activity."""

    connection = models.ForeignKey("erp.ErpConnection", on_delete=models.CASCADE, related_name="+", db_index=False)
    card_code = models.CharField(max_length=50)
    values = models.JSONField(default=dict)
    value_hash = models.CharField(max_length=64, blank=True)
    # The values SAP last refused (an open exception): not sent again until they change or a person retries.
    refused_hash = models.CharField(max_length=64, blank=True)
    decays = models.BooleanField(default=False)
    written_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "card_code"], name="written_engagement_unique")]
        indexes = [models.Index(fields=["connection"], condition=models.Q(decays=True),
                                name="written_engagement_decays_idx")]


class WriteBackRun(models.Model):
    """One run of the write-back for one connection: what it considered, wrote and failed."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Stopped (the next run goes on)"

    connection = models.ForeignKey("erp.ErpConnection", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    partners_considered = models.PositiveIntegerField(default=0)
    partners_changed = models.PositiveIntegerField(default=0)
    partners_written = models.PositiveIntegerField(default=0)
    partners_failed = models.PositiveIntegerField(default=0)
    patches = models.PositiveIntegerField(default=0, help_text="Business Partner writes sent.")
    calls = models.PositiveIntegerField(default=0, help_text="HTTP requests that carried them.")
    fields_created = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["connection", "-started_at"], name="writeback_run_recent_idx")]
