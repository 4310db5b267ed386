"""The insight imports dotdigital may still be processing for one account.

dotdigital runs at most five insight imports at once per account and refuses a sixth with
429 tooManyActiveImports. A worker's push no longer waits for its import (the verdict is
read later, by the confirm task), so the pushes of every worker register their imports here
and a push waits for a free slot instead of earning that 429. An import leaves when its
verdict is read, or after `max_age` seconds whatever happened to the worker that sent it.

Shared through Redis when the hub has one; within the process otherwise (the demo on its
defaults: the client then still waits out a refused import, as before).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

MAX_ACTIVE_IMPORTS = 5
REPORT_KEEP_SECONDS = 3600
# Without Redis a kept report nobody confirms (its push read it itself) is dropped past this many.
LOCAL_REPORTS_KEPT = 1000

_local: dict[str, dict[str, float]] = {}
_local_reports: dict[str, dict[str, Any]] = {}


class ImportSlots:
    """The account's unsettled imports, oldest first, and the reports read while waiting for
    a slot (kept for the confirm that settles them, so the report costs one call, not two)."""

    def __init__(self, account_key: str, *, max_age: float = 900.0, redis_client: Any = None) -> None:
        self.key = f"sync:dd-insight-imports:{account_key}"
        self.max_age = max_age
        self.redis = redis_client
        if self.redis is None and settings.REDIS_URL:
            from syncapp.ratelimit import redis_client as make_client

            self.redis = make_client()

    def active(self) -> list[str]:
        cutoff = time.time() - self.max_age
        if self.redis is None:
            held = _local.setdefault(self.key, {})
            for stale in [i for i, at in held.items() if at < cutoff]:
                del held[stale]
            return sorted(held, key=held.__getitem__)
        try:
            self.redis.zremrangebyscore(self.key, "-inf", cutoff)
            return [member.decode() for member in self.redis.zrange(self.key, 0, -1)]
        except Exception as error:  # noqa: BLE001 - without the registry, dotdigital's 429 is the guard
            logger.warning("dotdigital import slots unavailable: %s", error)
            return []

    def take(self, import_id: str) -> None:
        if self.redis is None:
            _local.setdefault(self.key, {})[import_id] = time.time()
            return
        try:
            self.redis.zadd(self.key, {import_id: time.time()})
            self.redis.expire(self.key, int(self.max_age) + 60)
        except Exception as error:  # noqa: BLE001
            logger.warning("Could not register dotdigital import %s: %s", import_id, error)

    def free(self, import_id: str, report: dict[str, Any] | None = None) -> None:
        """The import left dotdigital's queue; `report` is kept for the confirm that reads it."""
        if self.redis is None:
            _local.get(self.key, {}).pop(import_id, None)
            if report is not None:
                _local_reports[import_id] = report
                while len(_local_reports) > LOCAL_REPORTS_KEPT:
                    del _local_reports[next(iter(_local_reports))]
            return
        try:
            self.redis.zrem(self.key, import_id)
            if report is not None:
                self.redis.set(f"{self.key}:report:{import_id}", json.dumps(report), ex=REPORT_KEEP_SECONDS)
        except Exception as error:  # noqa: BLE001
            logger.warning("Could not free dotdigital import %s: %s", import_id, error)

    def report(self, import_id: str) -> dict[str, Any] | None:
        """The finished import's report read while waiting for a slot, once; None if none was."""
        if self.redis is None:
            return _local_reports.pop(import_id, None)
        try:
            kept = self.redis.getdel(f"{self.key}:report:{import_id}")
        except Exception as error:  # noqa: BLE001
            logger.warning("Could not read the kept report of dotdigital import %s: %s", import_id, error)
            return None
        return None if kept is None else json.loads(kept)
