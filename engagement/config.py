"""The write-back's settings in the configuration file: one `engagement_writeback` entry on
the connection it belongs to (syncapp.config exports and applies it)."""
from __future__ import annotations

from .fields import field_names
from .models import WriteBackSettings

FIELDS = ["enabled", "field_names", "patches_per_minute", "batch_size", "import_activity"]


def writeback_export(connection) -> dict | None:
    """The connection's write-back settings, or None when it has none (the key is left out)."""
    settings = WriteBackSettings.objects.filter(connection=connection).first()
    return None if settings is None else {name: getattr(settings, name) for name in FIELDS}


def writeback_apply(connection, item: dict) -> None:
    """Create or update the connection's write-back settings. Raises ValueError with the reason."""
    if not isinstance(item, dict):
        raise ValueError("engagement_writeback must be a mapping of settings.")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise ValueError(f"engagement_writeback has no setting {unknown[0]!r}; known: {', '.join(FIELDS)}.")
    field_names(item.get("field_names") or {})  # FieldNamesInvalid is a ValueError with the reason
    if int(item.get("batch_size", 1)) < 1 or int(item.get("patches_per_minute", 1)) < 1:
        raise ValueError("engagement_writeback needs at least one write per request and per minute.")
    WriteBackSettings.objects.update_or_create(connection=connection, defaults=item)
