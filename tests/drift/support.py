"""Helpers of the drift tests: run a flow's sample or full pass the way the tasks do,
with a push-first guard that never sleeps (the test's own clock is not real time)."""
from __future__ import annotations

from datetime import UTC, datetime

from syncapp.drift.models import DriftPass
from syncapp.drift.push_first import PushFirst
from syncapp.drift.services import drift_full_pass_start, drift_pass_run, drift_sample_start

# The last hour of the day: the whole daily sample is due.
END_OF_DAY = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)


def no_wait_guard(account, *, wait_seconds: float = 0.0) -> PushFirst:
    return PushFirst(account, calls_per_minute=6000, share=1.0, wait_seconds=wait_seconds, sleep=lambda s: None)


def run_sample(flow, adapter, *, now: datetime = END_OF_DAY) -> DriftPass | None:
    started = drift_sample_start(flow=flow, now=now)
    if started is None:
        return None
    return drift_pass_run(drift_pass=started, adapter=adapter, guard=no_wait_guard(flow.destination))


def run_full_pass(flow, adapter, *, user=None) -> DriftPass:
    drift_pass, _ = drift_full_pass_start(flow=flow, user=user)
    return drift_pass_run(drift_pass=drift_pass, adapter=adapter, guard=no_wait_guard(flow.destination))


class EchoDestination:
    """A destination holding exactly what was sent (read back by payload), with chosen
    edits on top; it records the keys it was asked about, in order."""

    def __init__(self, *, calls_per_minute: int = 6000, throttle=None) -> None:
        from syncapp.adapters import DestinationLimits

        self.limits = DestinationLimits(batch_size=100, calls_per_minute=calls_per_minute)
        self.edits: dict[str, dict] = {}
        self.read_keys: list[str] = []
        self.throttle = throttle
        self.calls = 0

    def read_back_fields(self, entity, items):
        from syncapp.ratelimit import throttled_call

        found = {}
        for item in items:
            if self.throttle is not None:
                with throttled_call(self.throttle):
                    self.calls += 1
            self.read_keys.append(item.key)
            found[item.key] = {**item.fields, **self.edits.get(item.key, {})}
        return found


def sent_rows(flow, count: int, *, start: int = 0) -> list:
    """`count` outbox rows the destination accepted as they are."""
    from syncapp.models import OutboxItem, OutboxStatus

    rows = [OutboxItem(flow=flow, record_key=f"K{n:05d}", identifier=f"k{n}@example.com",
                       payload={"FULLNAME": f"Name {n}", "MARKETINGCONSENT": True}, payload_hash=f"h{n}",
                       accepted_hash=f"h{n}", status=OutboxStatus.ACCEPTED) for n in range(start, start + count)]
    return OutboxItem.objects.bulk_create(rows)
