"""Read-backs never starve pushes: a pass reads only while no push to the same account
waits, and at half the account's rate, so the shared bucket keeps a push's burst."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from syncapp.adapters import DestinationLimits, PushResult
from syncapp.drift.push_first import PushesWaiting, PushFirst, pushes_waiting
from syncapp.drift.services import drift_full_pass_start, drift_pass_run
from syncapp.models import OutboxItem, OutboxStatus, Priority
from syncapp.pushing import flow_push_batch
from syncapp.ratelimit import throttle_for, throttled_call
from tests.drift.support import EchoDestination, no_wait_guard, sent_rows
from tests.factories import EspAccountFactory, FlowFactory


def _pending(flow, key="P1", **fields) -> OutboxItem:
    return OutboxItem.objects.create(flow=flow, record_key=key, identifier=f"{key}@example.com",
                                     payload={"FULLNAME": key}, payload_hash=key, planned_at=timezone.now(),
                                     **fields)


@pytest.mark.django_db
def test_a_pass_reads_nothing_while_a_push_to_the_same_account_waits():
    flow = FlowFactory()
    sent_rows(flow, 10)
    other_flow_same_account = FlowFactory(destination=flow.destination, connection=flow.connection)
    _pending(other_flow_same_account)
    destination = EchoDestination()
    drift_pass, _ = drift_full_pass_start(flow=flow)

    drift_pass = drift_pass_run(drift_pass=drift_pass, adapter=destination, guard=no_wait_guard(flow.destination))

    assert drift_pass.status == "paused" and "pushes go first" in drift_pass.note
    assert destination.read_keys == [] and drift_pass.after_id == 0


@pytest.mark.django_db
def test_only_pushes_that_can_go_now_count_as_waiting():
    flow = FlowFactory()
    account = flow.destination
    elsewhere = FlowFactory()
    _pending(elsewhere, "OTHER")  # another account's push
    _pending(flow, "LATER", not_before=timezone.now() + timedelta(minutes=5))  # backing off
    _pending(FlowFactory(destination=account, enabled=False), "OFF")  # a disabled flow never pushes
    assert not pushes_waiting(account=account)
    account.bulk_hours = "01:00-02:00" if timezone.localtime().hour != 1 else "03:00-04:00"
    account.save()
    _pending(flow, "BULK", priority=Priority.BACKFILL)  # held for its off-peak window
    assert not pushes_waiting(account=account)
    _pending(flow, "NOW")
    assert pushes_waiting(account=account)
    OutboxItem.objects.filter(record_key="NOW").update(status=OutboxStatus.IN_FLIGHT)  # a worker is sending it
    assert pushes_waiting(account=account)


@pytest.mark.django_db
def test_reads_are_spaced_to_half_the_accounts_rate_and_give_up_waiting_after_the_limit():
    account = EspAccountFactory()
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    guard = PushFirst(account, calls_per_minute=60, wait_seconds=3, clock=lambda: now[0], sleep=sleep)
    guard.before_read()
    guard.before_read()
    assert slept == [2.0]  # 60 a minute is one a second: reads take one every two
    _pending(FlowFactory(destination=account))
    now[0] += 5
    with pytest.raises(PushesWaiting):
        guard.before_read()
    assert sum(slept[1:]) >= 3 and guard.waited_for_pushes == 1


class TokenPusher:
    """A destination whose pushes take their tokens from the account's shared bucket,
    noting how many read-backs had happened when each push call went out."""

    def __init__(self, bucket, reads) -> None:
        self.limits = DestinationLimits(batch_size=100, calls_per_minute=1200)
        self.bucket, self.reads = bucket, reads
        self.reads_at_push: list[int] = []

    def ensure_fields(self, entity, specs):
        return []

    def push(self, entity, items):
        with throttled_call(self.bucket):
            self.reads_at_push.append(len(self.reads()))
        return [PushResult(key=item.key, outcome="accepted", remote_id=item.key) for item in items]


@pytest.mark.django_db(transaction=True)
def test_a_push_arriving_mid_pass_goes_first_through_the_shared_redis_bucket(postgres_only, redis_url, settings):
    settings.REDIS_URL = redis_url
    settings.SYNC_DRIFT_PUSH_WAIT_SECONDS = 30
    flow = FlowFactory(destination=EspAccountFactory(calls_per_minute=1200))  # 20 a second, burst 10
    account = flow.destination
    sent_rows(flow, 40)
    bucket = throttle_for(account, 1200)  # the pushes' own bucket (syncapp.pushing.adapter_for_flow)
    reader = EchoDestination(calls_per_minute=1200, throttle=throttle_for(account, 1200))
    drift_pass, _ = drift_full_pass_start(flow=flow)
    finished = {}

    def read_back():
        try:
            finished["pass"] = drift_pass_run(drift_pass=drift_pass, adapter=reader)
        finally:
            db_connection.close()

    thread = threading.Thread(target=read_back)
    thread.start()
    deadline = time.monotonic() + 30
    while len(reader.read_keys) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    tokens_mid_pass = float(bucket.client.hget(bucket.key, "tokens"))
    reads_when_planned = len(reader.read_keys)
    _pending(flow, "URGENT", priority=Priority.URGENT)
    time.sleep(0.6)  # a worker takes a moment to pick it up: reading on would make 6 reads meanwhile
    pusher = TokenPusher(bucket, lambda: reader.read_keys)
    stats = flow_push_batch(flow=flow, adapter=pusher)
    thread.join(60)

    assert stats.accepted == 1
    assert pusher.reads_at_push[0] - reads_when_planned <= 1  # at most the read already past its check
    assert tokens_mid_pass >= bucket.capacity - 2  # reads at half the rate leave the push its burst
    # Then the pass went on, to the end: the record just pushed is a sent record too.
    assert finished["pass"].status == "done" and finished["pass"].checked == 41
    assert reader.calls == 41  # every read took its token from the account's bucket
