"""The on-demand full pass: every sent record read back, from the command or the task."""
from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from syncapp.drift.models import DriftFinding, DriftPass
from syncapp.drift.push_first import POLL_SECONDS, PushFirst
from syncapp.drift.services import drift_full_pass_start, drift_pass_run
from syncapp.models import OutboxItem, OutboxStatus
from tests.drift.support import EchoDestination, no_wait_guard, run_full_pass, sent_rows
from tests.factories import BusinessPartnerFactory, FlowFactory
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_full_pass_reads_every_sent_record_and_only_those():
    flow = FlowFactory()
    sent_rows(flow, 120)
    BusinessPartnerFactory(connection=flow.connection, card_code="K00007")
    # Refused or held: the destination never took these payloads, so there is nothing to compare.
    OutboxItem.objects.create(flow=flow, record_key="BAD", payload={"FULLNAME": "x"}, payload_hash="n",
                              status=OutboxStatus.FAILED)
    OutboxItem.objects.create(flow=flow, record_key="HELD", payload={"FULLNAME": "y"}, payload_hash="m",
                              accepted_hash="old", status=OutboxStatus.HELD)
    destination = EchoDestination()
    destination.edits = {"K00007": {"FULLNAME": "Changed"}, "K00100": {"MARKETINGCONSENT": False}}

    def a_worker_pushes(seconds):  # while the pass waits for the re-sent record to go first
        if seconds == POLL_SECONDS:  # (not while it only paces its reads)
            OutboxItem.objects.filter(status=OutboxStatus.PENDING).update(status=OutboxStatus.ACCEPTED,
                                                                          accepted_hash=F("payload_hash"))

    drift_pass, _ = drift_full_pass_start(flow=flow)
    guard = PushFirst(flow.destination, calls_per_minute=6000, wait_seconds=60, sleep=a_worker_pushes)
    drift_pass = drift_pass_run(drift_pass=drift_pass, adapter=destination, guard=guard)

    assert drift_pass.status == "done" and drift_pass.checked == 120 and drift_pass.finished_at
    assert sorted(destination.read_keys) == [f"K{n:05d}" for n in range(120)]
    assert (drift_pass.drifted, drift_pass.requeued, drift_pass.raised) == (2, 1, 1)
    assert {f.record_key: f.action for f in DriftFinding.objects.all()} == {"K00007": "requeued",
                                                                              "K00100": "raised"}
    assert guard.waited_for_pushes == 1  # after the chunk that re-sent K00007, until it was pushed


def test_one_full_pass_at_a_time_per_flow():
    flow = FlowFactory()
    first, created = drift_full_pass_start(flow=flow)
    again, created_again = drift_full_pass_start(flow=flow)
    assert created and not created_again and again.pk == first.pk


def test_a_pass_cut_by_its_time_budget_goes_on_where_it_stopped():
    flow = FlowFactory()
    sent_rows(flow, 60)
    destination = EchoDestination()
    drift_pass, _ = drift_full_pass_start(flow=flow)
    ticks = iter(range(1000))

    drift_pass = drift_pass_run(drift_pass=drift_pass, adapter=destination, guard=no_wait_guard(flow.destination),
                                budget_seconds=1, clock=lambda: next(ticks))
    assert drift_pass.status == "paused" and drift_pass.checked == 25
    drift_pass = drift_pass_run(drift_pass=drift_pass, adapter=destination, guard=no_wait_guard(flow.destination))
    assert drift_pass.status == "done" and drift_pass.checked == 60
    assert sorted(destination.read_keys) == [f"K{n:05d}" for n in range(60)]


def test_a_destination_that_cannot_be_read_back_ends_the_pass_saying_so():
    flow = FlowFactory()
    sent_rows(flow, 3)

    class PushOnly:
        limits = EchoDestination().limits

    drift_pass = run_full_pass(flow, PushOnly())
    assert drift_pass.status == "unsupported" and drift_pass.checked == 0
    assert "cannot be read back" in drift_pass.note


def test_the_command_runs_a_full_pass_of_each_named_flow(monkeypatch, capsys):
    flow = FlowFactory(name="customers-dd")
    sent_rows(flow, 4)
    BusinessPartnerFactory(connection=flow.connection, card_code="K00002")  # the ERP still holds K00002
    destination = EchoDestination()
    destination.edits = {"K00002": {"FULLNAME": "Changed"}}
    monkeypatch.setattr("syncapp.pushing.adapter_for_flow", lambda flow: destination)
    monkeypatch.setattr("syncapp.drift.services.PushFirst", lambda account, **kw: no_wait_guard(account))

    call_command("drift_full_pass", "--flow", "customers-dd", "--user", "admin")

    assert "customers-dd: Done; 4 checked, 1 drifted (1 sent again" in capsys.readouterr().out
    drift_pass = DriftPass.objects.get()
    assert drift_pass.requested_by.username == "admin"
    assert OutboxItem.objects.get(record_key="K00002").status == OutboxStatus.PENDING


@pytest.fixture(autouse=True)
def _users(db):
    from syncapp.roles import INTEGRATION_ADMIN, MARKETING

    UserFactory(username="admin", role=INTEGRATION_ADMIN)
    UserFactory(username="marketing", role=MARKETING)


def test_the_command_refuses_a_user_who_may_not_edit_the_configuration():
    flow = FlowFactory(name="customers-dd")
    with pytest.raises(CommandError, match="only integration admins"):
        call_command("drift_full_pass", "--flow", flow.name, "--user", "marketing")
    assert not DriftPass.objects.exists()


def test_the_command_refuses_an_unknown_flow():
    with pytest.raises(CommandError, match="No flow named nope"):
        call_command("drift_full_pass", "--flow", "nope")


def test_a_drifted_record_the_erp_no_longer_holds_is_not_counted_as_sent_again():
    flow = FlowFactory()
    sent_rows(flow, 2)
    destination = EchoDestination()
    destination.edits = {"K00001": {"FULLNAME": "Changed"}}

    drift_pass = run_full_pass(flow, destination)

    assert (drift_pass.drifted, drift_pass.requeued) == (1, 0)
    assert "1 drifted record(s) could not be planned again, e.g. K00001" in drift_pass.note


def test_a_destination_failing_mid_pass_pauses_it_without_storing_an_address():
    from syncapp.adapters import TransportError

    flow = FlowFactory()
    sent_rows(flow, 3)

    class Failing(EchoDestination):
        def read_back_fields(self, entity, items):
            raise TransportError(f"dotdigital answered 503 to GET /contacts/v3/email/{items[0].identifier}",
                                 permanent=False, reason_code="http_503")

    drift_pass = run_full_pass(flow, Failing())

    assert drift_pass.status == "paused" and "http_503" in drift_pass.note
    assert "k0@example.com" not in drift_pass.note and "@example.com" in drift_pass.note
