"""Reading the write-back's state (for the health page)."""
from __future__ import annotations

from dataclasses import dataclass

from exceptions.models import SyncException

from .models import WriteBackRun, WriteBackSettings


@dataclass(frozen=True)
class WriteBackHealth:
    settings: WriteBackSettings
    last_run: WriteBackRun | None
    open_exceptions: int


def writeback_health() -> list[WriteBackHealth]:
    """Each connection with write-back settings: its latest run and its open exceptions
    (two small indexed queries per connection; there are a handful)."""
    rows = []
    for settings in WriteBackSettings.objects.select_related("connection").order_by("connection__name"):
        last = WriteBackRun.objects.filter(connection_id=settings.connection_id).order_by("-started_at").first()
        open_count = SyncException.objects.filter(connection_id=settings.connection_id, entity="engagement",
                                                  status__in=[SyncException.Status.OPEN,
                                                              SyncException.Status.RETRYING]).count()
        rows.append(WriteBackHealth(settings, last, open_count))
    return rows
