"""Redaction: secrets and whole email addresses never reach a log line or a stored error text.

`redact_text` is the one rule; the log filter applies it to the whole formatted record
(message, arguments, traceback, stack), and every stored error text (exceptions, outbox
errors, run errors) goes through it before it is written.
"""
import logging
import re
from typing import Any

# Local part: anything an address may hold except "=" and "/" (so "email=jane@..." keeps
# its "email=" and a URL its path). Unicode letters count: "jöhn@..." must not leave "jö".
_LOCAL = r"[\w.!#$%&'*+?^`{|}~-]"
# The lookbehind starts a match only where a local part starts, which keeps a long run of
# letters with no "@" (a 10 MB user field) linear instead of quadratic.
_EMAIL = re.compile(rf"(?<!{_LOCAL})({_LOCAL}){_LOCAL}*(?:@|%40)([\w-]+(?:\.[\w-]+)*\.\w{{2,}})", re.IGNORECASE)
_SECRET = re.compile(
    r"(?i)(password|passwd|secret|token|authorization|B1SESSION|api[_-]?key)([\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]+)"
)


def mask_email(value: str) -> str:
    """'jane.doe@example.com' -> 'j***@example.com' (also URL-encoded, 'jane.doe%40example.com')."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def redact_text(text: str) -> str:
    """Secrets (password=..., token=...) replaced by ***, every email address masked to its
    first character and domain. Safe to apply twice."""
    return mask_email(_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text))


def redact_json(value: Any) -> Any:
    """`redact_text` over every string (keys included) of a JSON-like value, e.g. a
    destination's stored answer."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {redact_json(key) if isinstance(key, str) else key: redact_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(item) for item in value]
    return value


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record before any handler formats it: the message with its arguments,
    the traceback (exc_info, as Celery logs a failed task) and the stack, each redacted.
    Attached to every handler."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string is the caller's bug; keep the record
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        # The traceback now lives only in exc_text: a handler formatting exc_info again
        # would print the raw text (Formatter.format uses exc_text when it is set).
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class RefusalWithoutTraceback(logging.Filter):
    """A 403 is the roles doing their job, not a fault: Django logs it with the
    PermissionDenied traceback; keep the one line ("Forbidden (Permission denied): /path")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "django.request" and getattr(record, "status_code", None) == 403:
            record.exc_info, record.exc_text = None, None
        return True
