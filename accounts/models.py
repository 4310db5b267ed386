"""API tokens: only a hash is stored; the key itself is shown once, when issued."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


def token_expiry_default():
    return timezone.now() + timedelta(days=settings.SYNC_API_TOKEN_DAYS)


class ApiToken(models.Model):
    """A named key a program uses for the API as `user` (`Authorization: Token <key>`).

    `digest` is the SHA-256 of the key, so a copy of the database gives nobody API access;
    `prefix` (the key's first 8 characters) tells tokens apart on pages. A token works
    until `expires_at`, or until revoked (`revoked_at`); it is never shown again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. “web shop production”.")
    prefix = models.CharField(max_length=8, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(default=token_expiry_default)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
