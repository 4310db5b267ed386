"""The outbox as the queue of record: claims, crashes, retries, backoff."""
import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from exceptions.models import SyncException
from syncapp.adapters import PushItem, TransportError
from syncapp.models import OutboxItem, OutboxStatus, Priority, SourceCursor
from syncapp.outbox import outbox_claim, outbox_reclaim_stale
from syncapp.pushing import flow_push_batch
from syncapp.services import connection_pull, flow_push, records_replan
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record


def load(flow, count: int, prefix: str = "C"):
    records = [bp_record(f"{prefix}{i:04d}") for i in range(count)]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))


@pytest.mark.django_db
def test_the_cursor_advances_only_past_pages_that_were_stored(flow):
    pages = [[bp_record("C001")], [bp_record("C002")], [bp_record("C003")]]
    source = FakeSource(pages, fail_after=2)
    run = connection_pull(connection=flow.connection, adapter=source)
    assert run.status == "failed" and "connection reset" in run.error
    assert SourceCursor.objects.get().value["page"] == 2
    assert OutboxItem.objects.count() == 2
    source.fail_after = None
    connection_pull(connection=flow.connection, adapter=source)
    assert source.cursors_seen[-1]["page"] == 2  # resumed, not restarted
    assert OutboxItem.objects.count() == 3


@pytest.mark.django_db
def test_a_worker_killed_mid_push_loses_nothing_and_duplicates_nothing(flow):
    load(flow, 30)
    claimed = outbox_claim(flow=flow, limit=10)  # this worker dies here, before sending
    assert len(claimed) == 10
    destination = FakeDestination(batch_size=100)
    flow_push(flow=flow, adapter=destination)  # the claim is not stale yet: the others go
    assert len(destination.pushed_keys) == 20
    OutboxItem.objects.filter(status=OutboxStatus.IN_FLIGHT).update(
        claimed_at=timezone.now() - timedelta(hours=1))
    flow_push(flow=flow, adapter=destination)  # reclaims the dead worker's rows
    assert sorted(destination.pushed_keys) == sorted(f"C{i:04d}" for i in range(30))
    assert len(destination.pushed_keys) == 30  # each record exactly once
    assert not OutboxItem.objects.exclude(status=OutboxStatus.ACCEPTED).exists()


@pytest.mark.django_db
def test_a_record_changed_while_in_flight_is_sent_again_with_its_new_state(flow):
    load(flow, 1)
    rows = outbox_claim(flow=flow, limit=10)
    connection_pull(connection=flow.connection,
                    adapter=FakeSource([[bp_record("C0000", name="Renamed", updated="2026-11-09T00:00:00+00:00")]]))
    from syncapp.outbox import outbox_complete
    outbox_complete(accepted=[(rows[0], "id-1")], failed=[], retry=[])
    row = OutboxItem.objects.get()
    assert row.status == OutboxStatus.PENDING and row.accepted_hash != row.payload_hash
    destination = FakeDestination()
    flow_push(flow=flow, adapter=destination)
    assert destination.contacts["c0000@example.com"]["FULLNAME"] == "Renamed"


def _renamed(flow, name: str, minute: int) -> None:
    connection_pull(connection=flow.connection, adapter=FakeSource([[bp_record(
        "C0000", name=name, updated=f"2026-11-09T00:{minute:02d}:00+00:00")]]))


@pytest.mark.django_db
def test_a_record_changed_while_its_send_waits_for_a_turn_reaches_the_destination_changed(flow):
    """A worker claimed a record and waits for the allowance before sending it; the record
    changes meanwhile and a second worker pushes. Had the second sent the change at once, the
    first's older content would arrive after it and stay at the destination while the hub
    recorded the change as accepted: a lost update, with nothing left to send it again."""
    from syncapp.outbox import outbox_complete

    load(flow, 1)
    destination = FakeDestination()
    flow_push(flow=flow, adapter=destination)
    _renamed(flow, "First Name", 1)
    first_push = outbox_claim(flow=flow, limit=10)  # this worker waits for its turn to send
    _renamed(flow, "Second Name", 2)
    flow_push(flow=flow, adapter=destination)  # a second worker, at once
    results = destination.push("customers", [  # the first worker's turn comes
        PushItem(row.record_key, row.identifier, row.payload) for row in first_push])
    outbox_complete(accepted=[(first_push[0], results[0].remote_id)], failed=[], retry=[])
    flow_push(flow=flow, adapter=destination)

    assert destination.contacts["c0000@example.com"]["FULLNAME"] == "Second Name"
    row = OutboxItem.objects.get()
    assert row.status == OutboxStatus.ACCEPTED and row.accepted_hash == row.payload_hash


@pytest.mark.parametrize("answer", ["accepted", "submitted", "retry", "failed", "given back", "worker died"])
@pytest.mark.django_db
def test_a_record_is_never_on_its_way_twice(flow, answer):
    """A record changed while its send is out waits for that send's answer, whatever the
    answer, then goes at once with its newer content (a backoff or pause was the older send's);
    when the sending worker dies, the sweep frees it once the lease runs out. Meanwhile no
    worker is woken for it."""
    from syncapp.outbox import flows_with_ready_work, outbox_complete, outbox_release

    load(flow, 1)
    flow_push(flow=flow, adapter=FakeDestination())
    _renamed(flow, "First Name", 1)
    out = outbox_claim(flow=flow, limit=10)
    _renamed(flow, "Second Name", 2)

    assert outbox_claim(flow=flow, limit=10) == []
    assert flows_with_ready_work([flow]) == []
    outbox_reclaim_stale(flow=flow)  # the sending worker is alive: its lease holds the record
    assert outbox_claim(flow=flow, limit=10) == []
    if answer == "given back":
        outbox_release(rows=out, delay_seconds=30)
    elif answer == "worker died":
        outbox_reclaim_stale(flow=flow, older_than=timedelta(0))
    else:
        outbox_complete(accepted=[(out[0], "id-1")] if answer == "accepted" else [],
                        submitted=[(out[0], "receipt-1")] if answer == "submitted" else [],
                        retry=[(out[0], 60.0)] if answer == "retry" else [],
                        failed=[out[0]] if answer == "failed" else [])

    assert flows_with_ready_work([flow]) == [flow.pk]
    assert [row.payload["FULLNAME"] for row in outbox_claim(flow=flow, limit=10)] == ["Second Name"]


@pytest.mark.django_db
def test_an_older_send_answered_after_a_newer_one_does_not_record_its_content_as_the_destinations(flow):
    """Two pushes held one record: the first claimed it and was taken for dead (its lease ran
    out), a change re-planned it, a second claimed the change. The second is answered first,
    the first after it. The hub records the later generation: the same content planned again
    sends nothing, and a change back to the older content is sent."""
    from syncapp.outbox import outbox_complete

    load(flow, 1)
    flow_push(flow=flow, adapter=FakeDestination())
    _renamed(flow, "First Name", 1)
    first_push = outbox_claim(flow=flow, limit=10)
    _renamed(flow, "Second Name", 2)
    outbox_reclaim_stale(flow=flow, older_than=timedelta(0))  # the first worker taken for dead
    second_push = outbox_claim(flow=flow, limit=10)
    assert first_push[0].payload_hash != second_push[0].payload_hash
    outbox_complete(accepted=[(second_push[0], "id-1")], failed=[], retry=[])
    outbox_complete(accepted=[(first_push[0], "id-1")], failed=[], retry=[])  # answered last

    row = OutboxItem.objects.get()
    assert row.status == OutboxStatus.ACCEPTED and row.accepted_hash == second_push[0].payload_hash
    _renamed(flow, "Second Name", 3)  # planned again, unchanged: nothing to send
    assert OutboxItem.objects.get().status == OutboxStatus.ACCEPTED
    _renamed(flow, "First Name", 4)  # changed back: the destination has "Second Name"
    row = OutboxItem.objects.get()
    assert row.status == OutboxStatus.PENDING and row.payload_hash == first_push[0].payload_hash
    destination = FakeDestination()
    flow_push(flow=flow, adapter=destination)
    assert destination.contacts["c0000@example.com"]["FULLNAME"] == "First Name"


@pytest.mark.django_db
def test_a_record_stopped_and_planned_again_while_its_send_is_out_waits_for_that_send(flow):
    """Found by review: a row stopped while its send was out (held by a duplicate email, a
    failed plan) lost its claim, so planned again (the conflict resolved) it was claimed and
    sent beside the first send, and the older content could land last."""
    from syncapp.outbox import PlannedRecord, outbox_complete, outbox_enqueue, outbox_stop

    load(flow, 1)
    flow_push(flow=flow, adapter=FakeDestination())
    _renamed(flow, "First Name", 1)
    out = outbox_claim(flow=flow, limit=10)
    outbox_stop(flow=flow, record_keys=["C0000"], status=OutboxStatus.HELD)
    row = OutboxItem.objects.get()
    outbox_enqueue(flow=flow, records=[PlannedRecord(key="C0000", identifier=row.identifier,
                                                     payload={**row.payload, "FULLNAME": "Second Name"})])
    assert outbox_claim(flow=flow, limit=10) == []  # the first send is still out
    outbox_reclaim_stale(flow=flow)  # its worker is alive
    assert outbox_claim(flow=flow, limit=10) == []

    outbox_complete(accepted=[(out[0], "id-1")], failed=[], retry=[])
    assert [row.payload["FULLNAME"] for row in outbox_claim(flow=flow, limit=10)] == ["Second Name"]


@pytest.mark.django_db
def test_a_record_stopped_while_its_send_is_out_stays_stopped_and_goes_at_once_when_planned_after_the_answer(flow):
    from syncapp.outbox import PlannedRecord, outbox_complete, outbox_enqueue, outbox_stop

    load(flow, 1)
    flow_push(flow=flow, adapter=FakeDestination())
    _renamed(flow, "First Name", 1)
    out = outbox_claim(flow=flow, limit=10)
    outbox_stop(flow=flow, record_keys=["C0000"], status=OutboxStatus.HELD)
    outbox_complete(accepted=[(out[0], "id-1")], failed=[], retry=[])
    row = OutboxItem.objects.get()
    assert (row.status, row.claim_token) == (OutboxStatus.HELD, "")  # the stop stands; nothing out now
    outbox_enqueue(flow=flow, records=[PlannedRecord(key="C0000", identifier=row.identifier,
                                                     payload={**row.payload, "FULLNAME": "Second Name"})])
    assert [row.payload["FULLNAME"] for row in outbox_claim(flow=flow, limit=10)] == ["Second Name"]


@pytest.mark.parametrize("late", ["a second confirm pass", "a worker taken for dead"])
@pytest.mark.django_db
def test_a_late_answer_to_an_older_send_does_not_hide_a_newer_send_whose_answer_is_unknown(flow, late):
    """The answer about "First Name" comes in after "Second Name" went out and got no answer (it
    may have landed). The record then changes back to "First Name": the destination may hold
    "Second Name", so it is sent, not taken for already there (the late answer was recorded as
    of its arrival, later than the newer send)."""
    from syncapp.outbox import outbox_complete, outbox_submitted

    load(flow, 1)
    flow_push(flow=flow, adapter=FakeDestination())
    _renamed(flow, "First Name", 1)
    first = outbox_claim(flow=flow, limit=10)
    if late == "a second confirm pass":  # two confirm passes read the row; one answers at once
        outbox_complete(accepted=[], failed=[], retry=[], submitted=[(first[0], "receipt-1")])
        first, other_pass = outbox_submitted(flow=flow, limit=10), outbox_submitted(flow=flow, limit=10)
        outbox_complete(accepted=[(other_pass[0], "id-1")], failed=[], retry=[])
    else:
        outbox_reclaim_stale(flow=flow, older_than=timedelta(0))
    _renamed(flow, "Second Name", 2)
    second = outbox_claim(flow=flow, limit=10)
    outbox_complete(accepted=[], failed=[], retry=[(second[0], 60.0)])  # a time-out: it may have landed
    outbox_complete(accepted=[(first[0], "id-1")], failed=[], retry=[])  # the late answer
    _renamed(flow, "First Name", 3)

    assert OutboxItem.objects.get().status == OutboxStatus.PENDING
    destination = FakeDestination()
    flow_push(flow=flow, adapter=destination)
    assert destination.contacts["c0000@example.com"]["FULLNAME"] == "First Name"


@pytest.mark.parametrize("answer", ["none yet", "taken, not yet validated"])
@pytest.mark.django_db
def test_a_change_undone_after_its_send_went_out_is_sent_again(flow, answer):
    """A change went out; before its answer was recorded the record changed again, then back
    to what the destination had accepted before. The change that went out may be at the
    destination: going back is a change to send, not a queued change undone before it left."""
    from syncapp.outbox import outbox_complete

    load(flow, 1)
    flow_push(flow=flow, adapter=FakeDestination())
    _renamed(flow, "Accepted Name", 1)
    flow_push(flow=flow, adapter=FakeDestination())
    accepted = OutboxItem.objects.get()
    assert accepted.status == OutboxStatus.ACCEPTED
    _renamed(flow, "Sent Name", 2)
    sent = outbox_claim(flow=flow, limit=10)
    if answer != "none yet":  # taken, its validation later (dotdigital's insight imports confirmed later)
        outbox_complete(accepted=[], failed=[], retry=[], submitted=[(sent[0], "receipt-1")])
    _renamed(flow, "Third Name", 3)  # re-planned while the send is out
    _renamed(flow, "Accepted Name", 4)  # back to what was accepted before

    row = OutboxItem.objects.get()
    assert row.payload_hash == accepted.accepted_hash  # to be sent: not taken back as never sent
    assert row.status == (OutboxStatus.IN_FLIGHT if answer == "none yet" else OutboxStatus.SUBMITTED)
    outbox_complete(accepted=[(sent[0], "id-1")], failed=[], retry=[])  # it goes once the send out is answered
    destination = FakeDestination()
    flow_push(flow=flow, adapter=destination)
    assert destination.contacts["c0000@example.com"]["FULLNAME"] == "Accepted Name"


@pytest.mark.django_db
def test_one_broken_record_does_not_stop_its_batch(flow):
    load(flow, 5)
    destination = FakeDestination()
    destination.reject["C0002"] = "invalidData"
    stats = flow_push_batch(flow=flow, adapter=destination)
    assert (stats.accepted, stats.failed) == (4, 1)


@pytest.mark.django_db
def test_transient_failures_back_off_then_become_an_exception(flow, settings):
    settings.SYNC_MAX_ATTEMPTS = 3
    load(flow, 1)
    destination = FakeDestination()
    destination.fail_whole_call = TransportError("503 Service Unavailable", permanent=False, retry_after=120)
    for attempt in range(3):
        flow_push(flow=flow, adapter=destination)
        row = OutboxItem.objects.get()
        if attempt < 2:
            assert row.status == OutboxStatus.PENDING
            assert row.not_before >= timezone.now() + timedelta(seconds=100)  # honours Retry-After
            OutboxItem.objects.update(not_before=None)
    assert row.status == OutboxStatus.FAILED
    exc = SyncException.objects.get()
    assert exc.reason_code == "destination_unreachable" and exc.owner_team == "integration"


@pytest.mark.django_db
def test_urgent_rows_are_claimed_before_routine_ones(flow):
    load(flow, 5)  # new contacts: time-sensitive
    flow_push(flow=flow, adapter=FakeDestination())
    records = [bp_record(f"C{i:04d}", name="Renamed") for i in range(5)]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))  # routine edits
    records_replan(flow=flow, record_keys=["C0004"], force=True, priority=Priority.URGENT)
    assert outbox_claim(flow=flow, limit=2)[0].record_key == "C0004"


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_claim_the_same_row(postgres_only, flow):
    load(flow, 200)
    claims: list[list[str]] = []
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            mine = []
            while rows := outbox_claim(flow=flow, limit=7):
                mine.extend(row.record_key for row in rows)
            claims.append(mine)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [key for mine in claims for key in mine]
    assert len(every) == 200 and len(set(every)) == 200
    assert sum(1 for mine in claims if mine) > 1  # the work really was shared


@pytest.mark.django_db
def test_reclaim_leaves_fresh_claims_alone(flow):
    load(flow, 3)
    outbox_claim(flow=flow, limit=3)
    assert outbox_reclaim_stale(flow=flow) == 0
    assert outbox_reclaim_stale(flow=flow, older_than=timedelta(0)) == 3


@pytest.mark.django_db
def test_a_broken_mapping_stops_the_pull_visibly_and_loses_no_page(flow):
    from esp.models import FieldMapping

    FieldMapping.objects.filter(destination=flow.destination, target_field="FULLNAME").update(
        source_field="no_such_field")
    run = connection_pull(connection=flow.connection, adapter=FakeSource([[bp_record("C001")]]))
    assert run.status == "failed" and "FULLNAME" in run.error
    assert SourceCursor.objects.get().value is None  # the page will be read again
    FieldMapping.objects.filter(target_field="FULLNAME").update(source_field="card_name")
    source = FakeSource([[bp_record("C001")]])
    connection_pull(connection=flow.connection, adapter=source)
    assert OutboxItem.objects.filter(record_key="C001").exists()


@pytest.mark.django_db
def test_an_adapter_crash_counts_attempts_and_ends_as_an_exception(flow, settings):
    settings.SYNC_MAX_ATTEMPTS = 2
    load(flow, 1)

    class Broken(FakeDestination):
        def push(self, entity, items):
            raise KeyError("bug")

    for _ in range(2):
        flow_push(flow=flow, adapter=Broken())
        OutboxItem.objects.update(not_before=None)
    assert OutboxItem.objects.get().status == OutboxStatus.FAILED
    assert SyncException.objects.get().reason_code == "destination_unreachable"


@pytest.mark.django_db
def test_a_pull_that_crashes_records_a_failed_run(flow):
    class Exploding(FakeSource):
        def read_changes(self, entity, cursor):
            raise RuntimeError("disk full")
            yield

    with pytest.raises(RuntimeError):
        connection_pull(connection=flow.connection, adapter=Exploding([]))
    from syncapp.models import SyncRun
    run = SyncRun.objects.get()
    assert run.status == "failed" and "disk full" in run.error


@pytest.mark.django_db
def test_refused_credentials_are_an_exception_that_clears_once_the_erp_answers(flow):
    from syncapp.adapters import AuthenticationFailed

    class Refusing(FakeSource):
        def read_changes(self, entity, cursor):
            raise AuthenticationFailed("Login failed (code 100000027)")
            yield

    connection_pull(connection=flow.connection, adapter=Refusing([]))
    exception = SyncException.objects.get()
    assert (exception.record_key, exception.reason_code, exception.owner_team) == (
        "(connection)", "authentication_failed", "integration")
    connection_pull(connection=flow.connection, adapter=FakeSource([]))
    exception.refresh_from_db()
    assert exception.status == "resolved"


@pytest.mark.django_db
def test_unreadable_records_without_a_key_each_keep_their_own_exception(flow):
    from syncapp.adapters import SourceRecord

    broken = [SourceRecord(entity="business_partners", key="", version="", data=None, raw={"n": n},
                           error="no CardCode") for n in range(2)]
    connection_pull(connection=flow.connection, adapter=FakeSource([broken]))
    assert SyncException.objects.filter(stage="ingest", status="open").count() == 2
