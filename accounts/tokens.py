"""Issuing, using and revoking API tokens. Only a key's SHA-256 is ever stored."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .models import ApiToken

# last_used_at is written at most this often per token, not on every API call.
_LAST_USED_PRECISION = timedelta(minutes=1)


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def api_token_key_assign(*, token: ApiToken) -> str:
    """Give an unsaved token a fresh random key: set its prefix and digest, return the key.

    The caller shows the key once and forgets it; it cannot be read back from the token.
    """
    key = secrets.token_urlsafe(32)  # 256 random bits
    token.prefix, token.digest = key[:8], token_digest(key)
    return key


def api_token_issue(*, user, name: str, days: int | None = None,
                    expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`, valid `days` (default SYNC_API_TOKEN_DAYS) or until `expires_at`.

    Returns the saved token and its key; the key is not stored and cannot be shown again.
    """
    if expires_at is None:
        expires_at = timezone.now() + timedelta(days=days if days is not None else settings.SYNC_API_TOKEN_DAYS)
    token = ApiToken(user=user, name=name, expires_at=expires_at)
    key = api_token_key_assign(token=token)
    token.save()
    return token, key


def api_token_revoke(*, token: ApiToken) -> bool:
    """Revoke `token` from now on; False when it was revoked already (nothing changes)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return True


def api_token_use(*, key: str) -> ApiToken | None:
    """The live token with this key (its user loaded), noting when it was used; None for an
    unknown, expired or revoked key or an inactive user."""
    if not key:
        return None
    now = timezone.now()
    token = (ApiToken.objects.select_related("user")
             .filter(digest=token_digest(key), revoked_at__isnull=True, expires_at__gt=now).first())
    if token is None or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= _LAST_USED_PRECISION:
        # A queryset update: no signals, so using a token never writes an audit entry.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
