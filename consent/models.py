"""Consent as the destinations report it: each Business Partner's current state per
destination, the history behind it, and where each destination's read-back stands.

Rows name the partner by connection and CardCode, never by email address.
"""
from __future__ import annotations

from django.db import models

from esp.consent_changes import STATUSES

STATUS_CHOICES = list(STATUSES.items())


class ConsentState(models.Model):
    """A partner's consent withdrawn at one destination: the latest change read back. While
    a row exists the planner never sends that destination an opt-in or a subscribing status
    for the partner (syncapp/planning.py via consent.selectors.withdrawn_keys)."""

    connection = models.ForeignKey("erp.ErpConnection", on_delete=models.CASCADE, related_name="+")
    card_code = models.CharField(max_length=50)
    destination = models.ForeignKey("esp.EspAccount", on_delete=models.CASCADE, related_name="consent_states")
    status = models.CharField(max_length=20, choices=STATUS_CHOICES)
    reason = models.CharField(max_length=100, blank=True, help_text="The destination's own word for it.")
    changed_at = models.DateTimeField(help_text="When the destination says it happened.")
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["destination", "connection", "card_code"],
                                               name="consent_state_unique")]
        indexes = [models.Index(fields=["connection", "card_code"])]

    def __str__(self) -> str:
        return f"{self.card_code} {self.status} at {self.destination}"


class ConsentEvent(models.Model):
    """One consent change read back from a destination: the history a person reads, with
    its source (the destination and how it said so) and time. Re-reading an overlap adds nothing."""

    connection = models.ForeignKey("erp.ErpConnection", on_delete=models.CASCADE, related_name="+")
    card_code = models.CharField(max_length=50)
    destination = models.ForeignKey("esp.EspAccount", on_delete=models.CASCADE, related_name="consent_events")
    status = models.CharField(max_length=20, choices=STATUS_CHOICES)
    reason = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=100, help_text="What reported it, e.g. dotdigital suppressed-since.")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(
            fields=["destination", "connection", "card_code", "status", "occurred_at"], name="consent_event_once")]
        indexes = [models.Index(fields=["connection", "card_code", "-occurred_at"])]

    def __str__(self) -> str:
        return f"{self.card_code} {self.status} at {self.destination} ({self.occurred_at:%Y-%m-%d %H:%M})"


class ConsentReadBack(models.Model):
    """Where one destination's consent read-back stands: the next read starts at `read_until`
    (less an overlap for changes the destination records late)."""

    destination = models.OneToOneField("esp.EspAccount", on_delete=models.CASCADE, related_name="consent_read_back")
    read_until = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    changes = models.PositiveIntegerField(default=0, help_text="Changes read by the last run.")
    unknown = models.PositiveIntegerField(default=0, help_text="Of those, for addresses no Business Partner has.")
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"consent read-back of {self.destination}"
