"""Campaigns, their activity (touches), where each import got to, and attribution results.

Money is stored in whole cents of the company's local currency (integers): exact on
PostgreSQL and SQLite alike, and sums never drift. `Decimal` views are properties.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import models

CENT = Decimal("0.01")


def cents_to_decimal(cents: int | None) -> Decimal:
    return (Decimal(cents or 0) * CENT).quantize(CENT)


class Campaign(models.Model):
    """One email campaign at one destination account (dotdigital id, or Ometria's campaign id)."""

    account = models.ForeignKey("esp.EspAccount", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=100, help_text="The campaign's id at the destination.")
    name = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=40, blank=True)
    date_sent = models.DateTimeField(null=True, blank=True)
    num_sent = models.PositiveIntegerField(
        null=True, blank=True, help_text="Contacts sent, as the destination reports it (dotdigital summary numSent).")
    # Counted from the touches after each import (touches.audience_refresh), so the report never scans them.
    contacts_clicked = models.PositiveIntegerField(default=0)
    contacts_with_send = models.PositiveIntegerField(default=0)
    # What the destination itself claims the campaign earned (dotdigital's revenue endpoint).
    claimed_revenue = models.DecimalField(max_digits=19, decimal_places=2, null=True, blank=True)
    claimed_orders = models.IntegerField(null=True, blank=True)
    claimed_currency = models.CharField(max_length=10, blank=True)
    claimed_since = models.DateTimeField(null=True, blank=True)
    claimed_read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "external_id"], name="campaign_unique")]

    def __str__(self) -> str:
        return self.name or f"campaign {self.external_id}"


class Touch(models.Model):
    """One send, open or click of a campaign by one contact.

    `contact_key` is the contact's email, lower-cased (the key orders meet through their
    customer's email); `day` is the local calendar day as days since 1970-01-01, so the
    attribution window is integer arithmetic in SQL on every database.
    """

    class Kind(models.TextChoices):
        SEND = "send", "Sent"
        OPEN = "open", "Opened"
        CLICK = "click", "Clicked"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="touches")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    contact_key = models.CharField(max_length=254)
    contact_id = models.CharField(max_length=50, blank=True, help_text="The destination's own contact id.")
    occurred_at = models.DateTimeField()
    day = models.IntegerField()
    url = models.CharField(max_length=1000, blank=True)

    class Meta:
        constraints = [
            # A re-read page (overlapping since-dates, a resumed import) adds nothing twice.
            models.UniqueConstraint(fields=["campaign", "kind", "contact_key", "occurred_at"], name="touch_unique"),
        ]
        indexes = [models.Index(fields=["contact_key", "day"], name="touch_contact_day_idx")]


class ActivityImport(models.Model):
    """One import of campaign activity: where it started, where it got to, what it refused.

    dotdigital: `since` is the date asked for; `campaigns_done` lists the campaign ids fully
    read, so an import cut short (rate limit, outage) resumes where it stopped with the same
    `since`. The next import starts from the last finished one's `started_at` (less a margin).
    Ometria: one uploaded or collected file.
    """

    class Source(models.TextChoices):
        DOTDIGITAL = "dotdigital", "dotdigital API"
        OMETRIA_FILE = "ometria_file", "Ometria Email Events file"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Stopped (will resume)"

    account = models.ForeignKey("esp.EspAccount", on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=20, choices=Source.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    since = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    campaigns_done = models.JSONField(default=list, blank=True)
    pages_read = models.PositiveIntegerField(default=0)
    rows_read = models.PositiveIntegerField(default=0)
    rows_added = models.PositiveIntegerField(default=0)
    rows_refused = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "source", "-started_at"], name="activity_import_recent_idx")]


class RefusedRow(models.Model):
    """A row of an activity file (or API page) that could not be used, and why, in words."""

    activity_import = models.ForeignKey(ActivityImport, on_delete=models.CASCADE, related_name="refused")
    row_number = models.PositiveIntegerField()
    reason = models.CharField(max_length=500)
    row_excerpt = models.CharField(max_length=500, blank=True, help_text="The row, emails masked.")


class AttributionSettings(models.Model):
    """The attribution rules (one row). Audited: a changed rule changes every figure."""

    class Model(models.TextChoices):
        LAST_TOUCH = "last_touch", "Last touch"
        FIRST_TOUCH = "first_touch", "First touch"
        LINEAR = "linear", "Linear (split equally between the campaigns)"

    model = models.CharField(max_length=12, choices=Model.choices, default=Model.LAST_TOUCH)
    click_window_days = models.PositiveSmallIntegerField(
        default=7, help_text="An order counts for a click when placed on the click's day or up to this many days "
                             "after it.")
    open_window_days = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Empty: opens earn nothing. Otherwise an order with no click in its window is credited to an "
                  "open up to this many days before it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "attribution settings"
        verbose_name_plural = "attribution settings"

    def __str__(self) -> str:
        return f"{self.get_model_display()}, {self.click_window_days}-day click window"

    @classmethod
    def current(cls) -> AttributionSettings:
        return cls.objects.get_or_create(pk=1)[0]


class AttributionRun(models.Model):
    """One computation of the attribution, with the rules it used."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"

    model = models.CharField(max_length=12, choices=AttributionSettings.Model.choices)
    click_window_days = models.PositiveSmallIntegerField()
    open_window_days = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    orders_attributed = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    untraced_refund_documents = models.PositiveIntegerField(
        default=0, help_text="Credit memos and returns whose lines lead to no order: they reduce no campaign.")
    untraced_refund_cents = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    @property
    def untraced_refunds(self) -> Decimal:
        return cents_to_decimal(self.untraced_refund_cents)

    @classmethod
    def latest_finished(cls) -> AttributionRun | None:
        return cls.objects.filter(status=cls.Status.FINISHED).order_by("-finished_at", "-id").first()


class AttributedOrder(models.Model):
    """The part of one ERP order credited to one campaign in one run (cents, local currency).

    Last and first touch credit the whole order to one campaign (`parts` 1); linear splits
    it between `parts` campaigns, the odd cents going to the earliest touches so the
    parts add up to the order exactly.
    """

    run = models.ForeignKey(AttributionRun, on_delete=models.CASCADE, related_name="rows")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    order = models.ForeignKey("erp.SalesOrder", on_delete=models.CASCADE, related_name="+")
    touch_kind = models.CharField(max_length=5, choices=Touch.Kind.choices)
    touch_at = models.DateTimeField()
    parts = models.PositiveSmallIntegerField(default=1)
    gross_cents = models.BigIntegerField()
    refunds_cents = models.BigIntegerField()
    net_cents = models.BigIntegerField()
    esp_saw_order = models.BooleanField(
        help_text="The order reached this campaign's destination (an orders flow had it accepted).")

    class Meta:
        indexes = [models.Index(fields=["run", "campaign"], name="attributed_run_campaign_idx")]

    @property
    def gross(self) -> Decimal:
        return cents_to_decimal(self.gross_cents)

    @property
    def refunds(self) -> Decimal:
        return cents_to_decimal(self.refunds_cents)

    @property
    def net(self) -> Decimal:
        return cents_to_decimal(self.net_cents)
