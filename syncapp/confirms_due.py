"""When each timed confirm of a destination that reckons each row's verdict falls due, kept in
one Redis sorted set, so any task that frees its process finds the late ones.

A timed confirm is a Celery message with a countdown, held by the worker that took it until
one of that worker's processes is free. In a peak run the Ometria orders flow's confirm still
waited 11-18 s past its due about once a minute, although its own push tasks took over a late
one (tasks._late_confirm_taken_over): dotdigital's push tasks, pulls and figures held every
process meanwhile, and those were the tasks that ended. Each of them now looks here as it ends.

Members are flows (their id and creation time: an id used again is another flow), scores their
confirm's due time. Only a hint: the flow's confirm mark says whether the confirm is still
waiting, and a member is forgotten only while its score is the one that was read."""
from __future__ import annotations

import logging

from django.conf import settings

logger = logging.getLogger(__name__)

KEY = "sync:confirms-due"
# Kept a day past the last confirm noted: a hub whose reckoning flows all went leaves no key.
KEY_SECONDS = 86_400

_FORGET_IF_UNCHANGED = """
local score = redis.call('zscore', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('zrem', KEYS[1], ARGV[1])
end
return 0
"""


def member_of(flow) -> str:
    return f"{flow.pk}:{flow.created_at.timestamp():.6f}"


def flow_pk_of(member: str) -> int | None:
    head, _, _ = member.partition(":")
    return int(head) if head.isdigit() else None


def note_due(flow, due_at: float) -> None:
    """The flow's timed confirm falls due at `due_at` (epoch seconds)."""
    if not settings.REDIS_URL:
        return
    try:
        from .ratelimit import redis_client

        redis_client().pipeline().zadd(KEY, {member_of(flow): due_at}).expire(KEY, KEY_SECONDS).execute()
    except Exception as error:  # noqa: BLE001 - then only its own push tasks take it over when late
        logger.warning("Could not note when a confirm falls due: %s", error)


def due_before(moment: float, limit: int) -> list[tuple[str, float]]:
    """Up to `limit` (member, due) that fell due at or before `moment`, the longest due first."""
    if not settings.REDIS_URL:
        return []
    try:
        from .ratelimit import redis_client

        found = redis_client().zrangebyscore(KEY, "-inf", moment, start=0, num=limit, withscores=True)
    except Exception as error:  # noqa: BLE001 - the confirms run when their workers can
        logger.warning("Could not read which confirms are late: %s", error)
        return []
    return [(member.decode() if isinstance(member, bytes) else str(member), float(due)) for member, due in found]


def forget(member: str, due: float) -> None:
    """Drop `member` unless a newer confirm was noted for it since it was read."""
    try:
        from .ratelimit import redis_client

        redis_client().eval(_FORGET_IF_UNCHANGED, 1, KEY, member, repr(due))
    except Exception as error:  # noqa: BLE001 - it is read again, and forgotten then
        logger.warning("Could not forget a late confirm: %s", error)
