"""One pull per connection and entity at a time.

Two pulls of the same entity would read and plan the same pages twice, and could write
an older read over a newer one. The lock belongs to the process holding it and goes
with it: on PostgreSQL a session advisory lock (released when the connection closes,
so a killed worker never leaves it behind); on the embedded SQLite a `flock` on a file
under the var folder (released by the kernel when the process dies).

Entities that write the same mirror rows share one lock (items and their stock).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection as db

_SHARED_ROWS = {"items": "stock", "item_stock": "stock", "warehouses": "stock"}


class PullInProgress(Exception):
    """Another process is pulling this entity of this connection right now."""

    def __init__(self, connection, entity: str) -> None:
        self.connection, self.entity = connection, entity
        super().__init__(f"Another pull of {entity} from {connection} is running; this one was skipped "
                         f"(the running pull reads the same changes).")


def pull_lock_name(connection, entity: str) -> str:
    return f"sync:pull:{connection.pk}:{_SHARED_ROWS.get(entity, entity)}"


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def _postgres_lock(name: str) -> Iterator[bool]:
    key = _advisory_key(name)
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with db.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextmanager
def _file_lock(name: str) -> Iterator[bool]:
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    handle = os.open(folder / (name.replace(":", "-") + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


@contextmanager
def pull_lock(connection, entity: str) -> Iterator[bool]:
    """Yields True when this caller holds the pull lock of this connection and entity,
    False when another process (or thread) does. Never waits."""
    name = pull_lock_name(connection, entity)
    lock = _postgres_lock if db.vendor == "postgresql" else _file_lock
    with lock(name) as acquired:
        yield acquired
