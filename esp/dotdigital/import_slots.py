"""The insight imports dotdigital may still be processing for one account.

dotdigital runs at most five insight imports at once per account and refuses a sixth with
429 tooManyActiveImports. A worker's push no longer waits for its import (the verdict is
read later, by the confirm task), so the pushes of every worker register their imports here
and a push waits for a free slot instead of earning that 429. An import leaves when its
verdict is read, or `max_age` seconds after it was registered or last seen still running
(a worker that died holding it, an import nobody asks about any more): an import that runs
for longer than a push polls keeps its slot for as long as somebody finds it running.

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
# A slot nobody has seen running for this long is forgotten. Longer than any poll or confirm
# interval, so a running import is seen again first; a finished one forgotten late costs one
# status read, by the push that finds the slots full.
SLOT_LEASE_SECONDS = 3600.0

# Forgets, in one step, the imports whose lease ran out (and any registered with no lease), then
# lists the rest in the order sent.
_ACTIVE = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  if not redis.call('ZSCORE', KEYS[2], member) then table.insert(stale, member) end
end
for _, member in ipairs(stale) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
_local: dict[str, dict[str, tuple[float, float]]] = {}  # import -> (sent, last seen)
_local_reports: dict[str, dict[str, Any]] = {}


class ImportSlots:
    """The account's unsettled imports, oldest first, and the reports read while waiting for
    a slot (kept for the confirm that settles them, so the report costs one call, not two)."""

    def __init__(self, account_key: str, *, max_age: float = SLOT_LEASE_SECONDS, redis_client: Any = None) -> None:
        self.key = f"sync:dd-insight-imports:{account_key}"  # by the time sent: the oldest is asked first
        self.seen_key = f"{self.key}:seen"  # by the time last registered or seen running: the leases
        self.max_age = max_age
        self.redis = redis_client
        if self.redis is None and settings.REDIS_URL:
            from syncapp.ratelimit import redis_client as make_client

            self.redis = make_client()

    def active(self) -> list[str]:
        """The imports still holding a slot, the oldest sent first."""
        cutoff = time.time() - self.max_age
        if self.redis is None:
            held = _local.setdefault(self.key, {})
            for stale in [i for i, (_, seen) in held.items() if seen < cutoff]:
                del held[stale]
            return sorted(held, key=lambda i: held[i][0])
        try:
            return [member.decode() for member in self.redis.eval(_ACTIVE, 2, self.key, self.seen_key, cutoff)]
        except Exception as error:  # noqa: BLE001 - without the registry, dotdigital's 429 is the guard
            logger.warning("dotdigital import slots unavailable: %s", error)
            return []

    def take(self, import_id: str) -> None:
        """A new import was sent: it holds a slot."""
        now = time.time()
        if self.redis is None:
            _local.setdefault(self.key, {})[import_id] = (now, now)
            return
        try:
            with self.redis.pipeline() as pipe:  # MULTI: both sets change together
                pipe.zadd(self.key, {import_id: now})
                pipe.zadd(self.seen_key, {import_id: now})
                for key in (self.key, self.seen_key):
                    pipe.expire(key, int(self.max_age) + 60)
                pipe.execute()
        except Exception as error:  # noqa: BLE001
            logger.warning("Could not register dotdigital import %s: %s", import_id, error)

    def still_running(self, import_id: str) -> None:
        """dotdigital said the import still runs: its lease starts again and it keeps its place.
        Only while it holds a slot: another worker may have read it finished and freed it since."""
        now = time.time()
        if self.redis is None:
            held = _local.setdefault(self.key, {})
            if import_id in held:
                held[import_id] = (held[import_id][0], now)
            return
        try:
            self.redis.zadd(self.seen_key, {import_id: now}, xx=True)
        except Exception as error:  # noqa: BLE001
            logger.warning("Could not renew dotdigital import %s: %s", import_id, error)

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
            with self.redis.pipeline() as pipe:
                pipe.zrem(self.key, import_id)
                pipe.zrem(self.seen_key, import_id)
                if report is not None:
                    pipe.set(f"{self.key}:report:{import_id}", json.dumps(report), ex=REPORT_KEEP_SECONDS)
                pipe.execute()
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
