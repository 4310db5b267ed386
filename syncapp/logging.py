"""Log redaction: secrets and whole email addresses never reach a log line."""
import logging
import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_SECRET = re.compile(
    r"(?i)(password|passwd|secret|token|authorization|B1SESSION|api[_-]?key)([\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]+)"
)


def mask_email(value: str) -> str:
    """'jane.doe@example.com' -> 'j***@example.com'."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def redact(text: str) -> str:
    return mask_email(_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text))


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's final message; attached to every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string is the caller's bug; keep the record
            return True
        record.msg, record.args = redact(message), None
        return True
