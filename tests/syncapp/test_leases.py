"""A dead worker hides nothing: leased claims come back within a minute, health counts
claimed and submitted rows, and a run whose process died ends as abandoned."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from syncapp.health import flow_backlog, flow_lag_seconds, flows_health
from syncapp.models import OutboxItem, OutboxStatus, SyncRun
from syncapp.outbox import PlannedRecord, outbox_claim, outbox_enqueue
from syncapp.services import flow_push
from syncapp.tasks import outbox_sweep_task
from tests.syncapp.fakes import FakeDestination

S = OutboxStatus


def _queue(flow, count: int) -> None:
    outbox_enqueue(flow=flow, records=[PlannedRecord(key=f"C{i:03d}", identifier=f"c{i}@example.com",
                                                     payload={"n": i}) for i in range(count)])


def _worker_dies_holding(flow, count: int, *, seconds_ago: float) -> list[OutboxItem]:
    """A worker claimed rows and was killed: nobody renews their lease any more."""
    rows = outbox_claim(flow=flow, limit=count)
    OutboxItem.objects.filter(id__in=[row.id for row in rows]).update(
        claimed_at=timezone.now() - timedelta(seconds=seconds_ago))
    return rows


@pytest.mark.django_db
def test_a_dead_workers_rows_return_at_the_next_sweep_once_their_lease_ran_out(flow, settings):
    settings.SYNC_LEASE_SECONDS = 60
    _queue(flow, 10)
    _worker_dies_holding(flow, 10, seconds_ago=61)  # a minute after the kill, not half an hour
    outbox_sweep_task()
    assert OutboxItem.objects.filter(flow=flow, status=S.PENDING).count() == 10


@pytest.mark.django_db
def test_rows_whose_lease_is_still_fresh_stay_with_their_worker(flow, settings):
    settings.SYNC_LEASE_SECONDS = 60
    _queue(flow, 10)
    _worker_dies_holding(flow, 10, seconds_ago=20)
    outbox_sweep_task()
    assert OutboxItem.objects.filter(flow=flow, status=S.IN_FLIGHT).count() == 10


@pytest.mark.django_db
def test_health_counts_claimed_and_submitted_rows_as_backlog_and_lag(flow):
    _queue(flow, 10)
    _worker_dies_holding(flow, 6, seconds_ago=5)
    OutboxItem.objects.filter(flow=flow, status=S.PENDING).update(status=S.SUBMITTED)
    OutboxItem.objects.filter(flow=flow).update(planned_at=timezone.now() - timedelta(minutes=45))
    assert flow_backlog(flow) == 10
    assert flow_lag_seconds(flow) >= 45 * 60
    (row,) = flows_health(flows=type(flow).objects.filter(pk=flow.pk))
    assert row.backlog == 10 and row.light != "green"  # 45 min of lag against the 30 min limit


@pytest.mark.django_db
def test_health_is_amber_while_a_dead_workers_claims_wait_for_the_sweep(flow, settings):
    settings.SYNC_LEASE_SECONDS = 60
    _queue(flow, 3)
    _worker_dies_holding(flow, 3, seconds_ago=90)
    (row,) = flows_health(flows=type(flow).objects.filter(pk=flow.pk))
    assert row.light == "amber"
    assert "3 records held by a worker that stopped" in "; ".join(row.problems)


@pytest.mark.django_db
def test_a_run_whose_process_died_ends_as_abandoned(flow, settings):
    settings.SYNC_LEASE_SECONDS = 60
    dead = SyncRun.objects.create(kind=SyncRun.Kind.PUSH, flow=flow)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120),
                                              started_at=timezone.now() - timedelta(seconds=600))
    alive = SyncRun.objects.create(kind=SyncRun.Kind.PULL, connection=flow.connection, heartbeat_at=timezone.now())
    outbox_sweep_task()
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED and dead.error.startswith("Abandoned")
    assert dead.finished_at is not None
    assert alive.status == SyncRun.Status.RUNNING
    (row,) = flows_health(flows=type(flow).objects.filter(pk=flow.pk))  # admins learn a worker is dying
    assert row.light == "amber" and "a worker stopped mid-run" in "; ".join(row.problems)


class SlowDestination(FakeDestination):
    """A push that takes longer than the lease (a dotdigital import being polled), while
    another worker's sweep runs in the middle of it."""

    def push(self, entity, items):
        time.sleep(3.0)
        from syncapp.outbox import outbox_reclaim_stale

        self.reclaimed_meanwhile = outbox_reclaim_stale()
        return super().push(entity, items)


@pytest.fixture
def short_leases(settings):
    """Leases shorter than a slow push (3 s), renewed often."""
    settings.SYNC_LEASE_SECONDS = 2
    settings.SYNC_HEARTBEAT_SECONDS = 0.2


@pytest.mark.django_db(transaction=True)
def test_a_live_worker_renews_its_lease_so_a_slow_push_is_not_taken_from_it(flow, short_leases):
    _queue(flow, 5)
    destination = SlowDestination()
    run = flow_push(flow=flow, adapter=destination)
    assert destination.reclaimed_meanwhile == 0  # its heartbeat kept the rows its own
    assert run.records_accepted == 5 and destination.calls == 1  # sent once, not twice
    run.refresh_from_db()
    assert run.heartbeat_at is not None and run.heartbeat_at > run.started_at


@pytest.mark.django_db(transaction=True)
def test_leases_are_renewed_again_once_a_clock_that_ran_ahead_comes_back(flow, short_leases, monkeypatch):
    """The heartbeat thread read a test's fake clock (time.monotonic patched to 1000 while a
    push ran): on a machine up for less time than that, it then skipped every beat until the
    real clock caught up, and the slow-push test above sent its batch 76 times."""
    from syncapp.leases import lease_kept

    _queue(flow, 2)
    rows = outbox_claim(flow=flow, limit=2)
    ahead = time.monotonic() + 10_000
    monkeypatch.setattr("time.monotonic", lambda: ahead)
    with lease_kept(claimed=rows):
        time.sleep(0.5)  # the heartbeat beats by the clock ahead
    monkeypatch.undo()
    long_ago = timezone.now() - timedelta(seconds=30)
    OutboxItem.objects.filter(flow=flow).update(claimed_at=long_ago)
    with lease_kept(claimed=rows):
        time.sleep(1.0)
    assert not OutboxItem.objects.filter(flow=flow, claimed_at__lte=long_ago).exists()


class ChangedWhileSlowlySent(FakeDestination):
    """A slow push during which its first record changes (`stopped`: is stopped, and changes a
    lease's time later), then another worker's sweep runs and another worker tries to claim."""

    def __init__(self, flow, stopped: bool = False):
        super().__init__()
        self.flow, self.stopped, self.claimed_meanwhile = flow, stopped, None

    def push(self, entity, items):
        from syncapp.outbox import outbox_reclaim_stale, outbox_stop

        if self.claimed_meanwhile is None:
            if self.stopped:
                outbox_stop(flow=self.flow, record_keys=["C000"], status=OutboxStatus.HELD)
            else:
                self._change()
            time.sleep(3.0)
            if self.stopped:
                self._change()
            outbox_reclaim_stale()
            self.claimed_meanwhile = len(outbox_claim(flow=self.flow, limit=10))
        return super().push(entity, items)

    def _change(self):
        outbox_enqueue(flow=self.flow, records=[PlannedRecord(key="C000", identifier="c0@example.com",
                                                              payload={"n": "changed"})])


@pytest.mark.parametrize("stopped", [False, True], ids=["changed", "stopped, then changed"])
@pytest.mark.django_db(transaction=True)
def test_a_record_changed_during_a_slow_send_waits_for_it_however_long_it_takes(flow, short_leases, stopped):
    _queue(flow, 3)
    destination = ChangedWhileSlowlySent(flow, stopped=stopped)
    run = flow_push(flow=flow, adapter=destination)
    assert destination.claimed_meanwhile == 0  # the heartbeat held the changed record too
    assert destination.records[("customers", "C000")] == {"n": "changed"}  # sent after the first answer
    assert run.records_accepted == 3 and destination.calls == 2  # C000 counted once, with its change


@pytest.mark.django_db
def test_a_pull_whose_worker_died_shows_on_its_connections_flows(flow, settings):
    settings.SYNC_LEASE_SECONDS = 60
    pull = SyncRun.objects.create(kind=SyncRun.Kind.PULL, connection=flow.connection)
    SyncRun.objects.filter(pk=pull.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=120))
    outbox_sweep_task()
    (row,) = flows_health(flows=type(flow).objects.filter(pk=flow.pk))
    assert row.light == "amber" and "a worker stopped mid-run" in "; ".join(row.problems)


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_skips_rows_another_transaction_is_finishing_rather_than_wait_for_them(flow):
    """Issue 12's peak run: the heartbeat renewing a batch's lease waited for rows the batch's
    own completion had locked (in another order) and PostgreSQL killed one as a deadlock."""
    import threading

    from django.db import connection, transaction

    from syncapp.leases import _Heartbeat

    if connection.vendor != "postgresql":
        pytest.skip("row locks (SQLite locks the whole database)")
    _queue(flow, 2)
    rows = _worker_dies_holding(flow, 2, seconds_ago=30)
    locked, release = threading.Event(), threading.Event()

    def finishing():  # a completion holding the first row's lock
        with transaction.atomic():
            OutboxItem.objects.select_for_update().get(pk=rows[0].pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=finishing)
    holder.start()
    assert locked.wait(5)
    beat = threading.Thread(target=_Heartbeat.beat, kwargs={"claims": {rows[0].claim_token: [r.pk for r in rows]},
                                                          "runs": []})
    beat.start()
    beat.join(3)
    waited = beat.is_alive()
    release.set()
    holder.join()
    beat.join()
    assert not waited
    renewed = {row.pk: row.claimed_at for row in OutboxItem.objects.filter(pk__in=[r.pk for r in rows])}
    assert renewed[rows[1].pk] > timezone.now() - timedelta(seconds=5)  # renewed
    assert renewed[rows[0].pk] < timezone.now() - timedelta(seconds=20)  # skipped: being finished


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_finds_the_rows_it_renews_by_their_ids_not_by_their_claim_token(flow, settings, monkeypatch):
    """Issue 12's peak run (seventeenth session): renewing a lease looked the claim token up
    through the in-flight rows' index, which in a peak holds hundreds of thousands of entries
    for rows sent long ago; each beat of each worker process took 250 ms to 1 s of PostgreSQL.
    It now names the batch's rows, one primary-key probe each."""
    from syncapp import leases

    settings.SYNC_LEASE_SECONDS = 2
    settings.SYNC_HEARTBEAT_SECONDS = 0.2
    _queue(flow, 3)
    beats = []
    real_beat = leases._Heartbeat.beat

    def watched(*, claims, runs):
        beats.append(claims)
        real_beat(claims=claims, runs=runs)

    monkeypatch.setattr(leases._Heartbeat, "beat", staticmethod(watched))
    run = flow_push(flow=flow, adapter=SlowDestination())
    ids = sorted(OutboxItem.objects.filter(flow=flow).values_list("id", flat=True))
    renewals = [claims for claims in beats if claims]
    assert renewals and all(isinstance(claims, dict) for claims in renewals)  # token -> its rows' ids
    assert all(sorted(held) == ids for claims in renewals for held in claims.values())
    assert run.records_accepted == 3
