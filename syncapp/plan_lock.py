"""One planner per flow at a time, from its read of the mirror to its commit.

A payload is built from mirror rows of several entities (a customer's fields and the
figures of their orders), and two pulls (or a pull and a Retry or a backfill) may plan
the same flow at once. Without this lock the one that read the mirror first could
commit after the other and write its older payload over the newer one, and nothing
would plan that record again: a change lost. With it the later planner reads the
mirror only after the earlier one committed, so the last write is the newest state.

PostgreSQL: transaction-level advisory locks, taken in flow id order (so two planners
of overlapping flows never deadlock on them) and released by the commit. SQLite needs
none: it lets one transaction write at a time and refuses a write from a stale read.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection as db

from .locks import _advisory_key


def flows_plan_lock(flow_ids: Iterable[int]) -> None:
    """Wait until this transaction alone may plan these flows (until it commits)."""
    if db.vendor != "postgresql" or not db.in_atomic_block:
        return
    keys = [_advisory_key(f"sync:plan:{flow_id}") for flow_id in sorted(set(flow_ids))]
    with db.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
