"""Login and API-token throttling, and the security log.

Five failed logins of one account in 15 minutes lock that account's logins for 15 minutes,
from every address; twenty from one address lock that address. Twenty bad API tokens from
one address in a minute lock that address's token use for a minute. A lock refuses even the
right password or a good token, or guessing would go on at full speed. All numbers are
settings (SYNC_LOGIN_*, SYNC_API_BAD_TOKENS_*).
"""
from __future__ import annotations

import logging
import re

from django.conf import settings

from .throttle import Limit, throttle_failure_record, throttle_locked_for, throttle_reset

log = logging.getLogger("accounts.security")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _login_limits() -> tuple[Limit, Limit]:
    window, lockout = settings.SYNC_LOGIN_WINDOW_SECONDS, settings.SYNC_LOGIN_LOCKOUT_SECONDS
    return (Limit("login-account", settings.SYNC_LOGIN_FAILURES_PER_ACCOUNT, window, lockout),
            Limit("login-address", settings.SYNC_LOGIN_FAILURES_PER_ADDRESS, window, lockout))


def _api_limit() -> Limit:
    window = settings.SYNC_API_BAD_TOKENS_WINDOW_SECONDS
    return Limit("api-address", settings.SYNC_API_BAD_TOKENS_PER_ADDRESS, window, window)


def client_address(request) -> str:
    """The connecting address. X-Forwarded-For is not trusted: anyone can send it, and a
    proxy in front must set REMOTE_ADDR instead (gunicorn's --forwarded-allow-ips)."""
    if request is None:
        return ""  # authenticate() called outside a request: counted by account only
    return request.META.get("REMOTE_ADDR") or "unknown"


def _account(username: str) -> str:
    return (username or "").strip().casefold()


def username_masked(username: str) -> str:
    """A username as it may appear in a log: an email keeps its first letter and domain."""
    text = _CONTROL.sub("?", (username or "")[:150])
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return text


def login_locked_for(*, request, username: str) -> int:
    """Seconds before this account, from this address, may try to log in again (0: now)."""
    account_limit, address_limit = _login_limits()
    address = client_address(request)
    return max(throttle_locked_for(limit=account_limit, subject=_account(username)),
               throttle_locked_for(limit=address_limit, subject=address) if address else 0)


def login_failure_record(*, request, username: str) -> None:
    """Count and log a failed login (never its password)."""
    account_limit, address_limit = _login_limits()
    address = client_address(request)
    log.warning("Failed login for %s from %s", username_masked(username), address)
    if throttle_failure_record(limit=account_limit, subject=_account(username)):
        log.warning("Logins of %s locked for %s s after %s failures", username_masked(username),
                    account_limit.lockout_seconds, account_limit.failures)
    if address and throttle_failure_record(limit=address_limit, subject=address):
        log.warning("Logins from %s locked for %s s after %s failures", address,
                    address_limit.lockout_seconds, address_limit.failures)


def login_refused_log(*, request, username: str, wait: int) -> None:
    log.warning("Login refused while locked for %s from %s (%s s left)", username_masked(username),
                client_address(request), wait)


def login_success_record(*, username: str) -> None:
    """A right password starts the account's count again (the address keeps its count)."""
    throttle_reset(limit=_login_limits()[0], subject=_account(username))


def api_token_locked_for(*, request) -> int:
    return throttle_locked_for(limit=_api_limit(), subject=client_address(request))


def api_token_failure_record(*, request) -> None:
    limit, address = _api_limit(), client_address(request)
    log.warning("Bad API token from %s", address)
    if throttle_failure_record(limit=limit, subject=address):
        log.warning("API tokens from %s refused for %s s after %s bad ones", address, limit.lockout_seconds,
                    limit.failures)
