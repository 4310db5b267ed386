"""Destinations that answer before they validate: a record is accepted only once the
destination confirms it, a late refusal becomes an exception, a lost answer sends it again."""
from datetime import timedelta

import pytest
from django.utils import timezone

from exceptions.models import SyncException
from syncapp.adapters import DestinationLimits, PushResult
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import connection_pull, flow_push
from tests.syncapp.fakes import FakeSource, bp_record


class ValidatesLater:
    """Takes every record at once (receipt per call); decides on confirm(): keys in
    `refuse` fail, keys in `lost` come back as unknown (transient), others are accepted.
    Nothing is decided until `decided` is set, as while the vendor still validates."""

    limits = DestinationLimits(batch_size=10, calls_per_minute=6000)
    confirm_interval = 0.0

    def __init__(self, refuse=(), lost=()):
        self.refuse, self.lost = set(refuse), set(lost)
        self.decided = False
        self.pushed: list[str] = []
        self.confirm_calls = 0
        self.calls = 0

    def ensure_fields(self, entity, fields):
        return []

    def push(self, entity, items):
        self.calls += 1
        self.pushed += [item.key for item in items]
        return [PushResult(key=item.key, outcome="submitted", remote_id=f"req-{self.calls}") for item in items]

    def confirm(self, entity, items):
        self.calls += 1
        self.confirm_calls += 1
        assert all(item.receipt.startswith("req-") and item.submitted_at for item in items)
        if not self.decided:
            return []
        results = []
        for item in items:
            if item.key in self.refuse:
                results.append(PushResult(key=item.key, outcome="permanent", reason_code="validation_error",
                                          message="not a valid value (root > email)"))
            elif item.key in self.lost:
                self.lost.discard(item.key)  # answered on the next round
                results.append(PushResult(key=item.key, outcome="transient", message="errors may have been lost"))
            else:
                results.append(PushResult(key=item.key, outcome="accepted"))
        return results


def load(flow, count):
    records = [bp_record(f"C{i:03d}") for i in range(count)]
    connection_pull(connection=flow.connection, adapter=FakeSource([records]))


@pytest.mark.django_db
def test_a_record_taken_but_not_yet_validated_is_not_accepted(flow):
    load(flow, 25)
    destination = ValidatesLater()
    run = flow_push(flow=flow, adapter=destination)
    assert len(destination.pushed) == 25
    assert run.records_accepted == 0
    assert OutboxItem.objects.filter(status=OutboxStatus.SUBMITTED).count() == 25
    assert not OutboxItem.objects.exclude(accepted_hash="").exists()
    assert destination.confirm_calls >= 1  # it asked, and nothing was decided yet

    destination.decided = True
    run = flow_push(flow=flow, adapter=destination)
    assert run.records_accepted == 25
    assert len(destination.pushed) == 25  # confirming sends nothing again
    assert OutboxItem.objects.filter(status=OutboxStatus.ACCEPTED).exclude(accepted_hash="").count() == 25


@pytest.mark.django_db
def test_a_record_refused_after_the_answer_ends_as_an_exception_not_accepted(flow):
    load(flow, 5)
    destination = ValidatesLater(refuse={"C002"})
    flow_push(flow=flow, adapter=destination)
    destination.decided = True
    flow_push(flow=flow, adapter=destination)
    row = OutboxItem.objects.get(record_key="C002")
    assert row.status == OutboxStatus.FAILED and row.accepted_hash == ""
    problem = SyncException.objects.get(record_key="C002")
    assert problem.status == SyncException.Status.OPEN
    assert problem.reason_code == "destination_rejected" and problem.destination_code == "validation_error"
    assert "not a valid value" in problem.message
    assert OutboxItem.objects.filter(status=OutboxStatus.ACCEPTED).count() == 4


@pytest.mark.django_db
def test_a_record_whose_validation_answer_was_lost_is_sent_again(flow, settings):
    settings.SYNC_BACKOFF_BASE_SECONDS = 0
    load(flow, 3)
    destination = ValidatesLater(lost={"C001"})
    destination.decided = True
    flow_push(flow=flow, adapter=destination)  # sends, hears "lost", sends C001 again, confirms
    assert destination.pushed.count("C001") == 2
    assert destination.pushed.count("C000") == 1
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {OutboxStatus.ACCEPTED}


def _ometria_customers():
    from esp.default_mappings import mappings_install_defaults
    from tests.factories import FlowFactory
    from tests.syncapp.test_orders import account

    ometria = account("ometria")
    mappings_install_defaults(destination=ometria)
    return FlowFactory(entity="customers", destination=ometria)


@pytest.mark.parametrize("in_order_of_receipt", [True, False], ids=["Ometria", "dotdigital"])
@pytest.mark.django_db
def test_a_record_changed_while_awaiting_validation_sends_its_new_state(flow, in_order_of_receipt):
    """Ometria processes in order of receipt: the change lines up behind the send it has taken.
    Elsewhere (dotdigital's insight imports, confirmed later) two sends of one record could be
    applied in either order: the change waits for the first send's verdict."""
    flow = _ometria_customers() if in_order_of_receipt else flow
    load(flow, 1)
    destination = ValidatesLater()
    flow_push(flow=flow, adapter=destination)
    connection_pull(connection=flow.connection, adapter=FakeSource(
        [[bp_record("C000", name="Renamed", updated="2026-11-09T00:00:00+00:00")]]))
    row = OutboxItem.objects.get(record_key="C000")
    assert row.status == (OutboxStatus.PENDING if in_order_of_receipt else OutboxStatus.SUBMITTED)
    flow_push(flow=flow, adapter=destination)  # not decided yet
    assert destination.pushed == (["C000", "C000"] if in_order_of_receipt else ["C000"])
    destination.decided = True
    flow_push(flow=flow, adapter=destination)
    row.refresh_from_db()
    if not in_order_of_receipt:  # the first send's verdict freed the change; it is not the change's
        assert row.status == OutboxStatus.PENDING and row.accepted_hash != row.payload_hash
    flow_push(flow=flow, adapter=destination)
    row.refresh_from_db()
    assert destination.pushed == ["C000", "C000"]
    assert row.status == OutboxStatus.ACCEPTED and row.accepted_hash == row.payload_hash  # the renamed one


@pytest.mark.django_db
def test_a_submission_never_answered_is_sent_again_then_becomes_an_exception(flow, settings):
    settings.SYNC_CONFIRM_DEADLINE_SECONDS = 60
    settings.SYNC_BACKOFF_BASE_SECONDS = 0
    settings.SYNC_MAX_ATTEMPTS = 3
    load(flow, 2)
    destination = ValidatesLater()  # takes everything, never decides anything
    flow_push(flow=flow, adapter=destination)
    for _ in range(10):  # each round: the deadline passes, then the next push
        OutboxItem.objects.filter(status=OutboxStatus.SUBMITTED).update(
            submitted_at=timezone.now() - timedelta(minutes=5))
        flow_push(flow=flow, adapter=destination)  # settles the overdue rows
        flow_push(flow=flow, adapter=destination)  # sends them again
        if not OutboxItem.objects.exclude(status=OutboxStatus.FAILED).exists():
            break
    assert sorted(destination.pushed) == ["C000"] * 3 + ["C001"] * 3
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {OutboxStatus.FAILED}
    problem = SyncException.objects.get(record_key="C000")
    assert problem.reason_code == "destination_never_confirmed" and problem.status == SyncException.Status.OPEN


@pytest.mark.django_db
def test_two_workers_confirming_the_same_rows_count_each_record_once(flow):
    from syncapp.pushing import flow_confirm

    load(flow, 5)
    destination = ValidatesLater()
    flow_push(flow=flow, adapter=destination)
    destination.decided = True

    class ConfirmsTwice(ValidatesLater):
        """While this worker asks, another worker confirms the same rows first."""

        def confirm(self, entity, items):
            if not getattr(self, "inner_done", False):
                self.inner_done = True
                inner.append(flow_confirm(flow=flow, adapter=destination))
            return destination.confirm(entity, items)

    inner = []
    outer = flow_confirm(flow=flow, adapter=ConfirmsTwice())
    assert inner[0].accepted == 5 and outer.accepted == 0
    assert OutboxItem.objects.filter(status=OutboxStatus.ACCEPTED).count() == 5


@pytest.mark.django_db
def test_credentials_refused_while_confirming_become_exceptions_at_once(flow):
    from syncapp.adapters import AuthenticationFailed

    load(flow, 2)
    destination = ValidatesLater()
    flow_push(flow=flow, adapter=destination)

    def refused(entity, items):
        raise AuthenticationFailed("API key is not authorised to access this resource", status=403)

    destination.confirm = refused
    flow_push(flow=flow, adapter=destination)
    assert set(OutboxItem.objects.values_list("status", flat=True)) == {OutboxStatus.FAILED}
    problems = SyncException.objects.filter(status=SyncException.Status.OPEN)
    assert set(problems.values_list("reason_code", flat=True)) == {"authentication_failed"}
    assert problems.count() == 2


@pytest.mark.django_db
def test_workers_push_without_confirming_and_the_sweep_starts_the_confirmation(flow, monkeypatch):
    from syncapp import tasks

    load(flow, 3)
    destination = ValidatesLater()
    monkeypatch.setattr("syncapp.services.adapter_for_flow", lambda flow: destination)
    confirms, pushes = [], []
    monkeypatch.setattr(tasks.flow_confirm_task, "delay", confirms.append)
    monkeypatch.setattr(tasks.flow_push_task, "delay", pushes.append)
    monkeypatch.setattr(tasks, "confirm_wake", lambda flow: False)  # its timed confirm was lost
    tasks.flow_push_task(flow.pk)  # the push pace is never held up by a confirm round
    assert destination.confirm_calls == 0
    assert OutboxItem.objects.filter(status=OutboxStatus.SUBMITTED).count() == 3
    tasks.outbox_sweep_task()
    assert confirms == [flow.pk] and pushes == []
    destination.decided = True
    tasks.flow_confirm_task(flow.pk)
    assert OutboxItem.objects.filter(status=OutboxStatus.ACCEPTED).count() == 3


@pytest.mark.django_db
def test_an_order_released_when_its_new_customer_was_sent_is_not_sent_again_when_the_customer_is_accepted():
    """Ometria processes in order of receipt, so an order held for its new customer goes once the
    customer is sent. When the customer was then accepted, the order, still on its way, was
    released a second time and sent again unchanged: 605 orders a peak run."""
    from esp.default_mappings import mappings_install_defaults
    from syncapp.services import flow_confirm_pass
    from tests.factories import FlowFactory
    from tests.syncapp.test_orders import account, document, line

    ometria = account("ometria")
    mappings_install_defaults(destination=ometria)
    customers = FlowFactory(entity="customers", destination=ometria)
    orders = FlowFactory(entity="orders", connection=customers.connection, destination=ometria)
    connection_pull(connection=customers.connection, adapter=FakeSource([[bp_record("C001")]]))
    connection_pull(connection=customers.connection, entity="orders",
                    adapter=FakeSource([[document("orders", 1, line(0))]]))
    assert SyncException.objects.get(flow=orders, record_key="1").reason_code == "waiting_for_customer"
    destination = ValidatesLater()

    flow_push(flow=customers, adapter=destination, confirm=False)  # sent: its order is released
    flow_push(flow=orders, adapter=destination, confirm=False)
    assert destination.pushed == ["C001", "1"]
    destination.decided = True
    flow_confirm_pass(flow=customers, adapter=destination)  # accepted: nothing more to release
    flow_push(flow=orders, adapter=destination)

    assert destination.pushed == ["C001", "1"]
    assert OutboxItem.objects.get(flow=orders, record_key="1").status == OutboxStatus.ACCEPTED
    assert SyncException.objects.get(flow=orders, record_key="1").status == SyncException.Status.RESOLVED


@pytest.mark.django_db
def test_an_order_is_not_held_for_a_new_customer_sent_and_changed_again_before_ometria_validated_it():
    """Ometria processes in order of receipt, so a customer it has taken in exists for every
    order sent after it, whatever its later changes. A customer changed again before Ometria
    validated its first version was counted as absent: its orders were held, and released and
    sent again, a second time (ten a peak run)."""
    from esp.default_mappings import mappings_install_defaults
    from tests.factories import FlowFactory
    from tests.syncapp.test_orders import account, document, line

    ometria = account("ometria")
    mappings_install_defaults(destination=ometria)
    customers = FlowFactory(entity="customers", destination=ometria)
    orders = FlowFactory(entity="orders", connection=customers.connection, destination=ometria)
    connection_pull(connection=customers.connection, adapter=FakeSource([[bp_record("C001")]]))
    destination = ValidatesLater()
    flow_push(flow=customers, adapter=destination, confirm=False)  # taken in, not yet validated
    renamed = bp_record("C001", name="Renamed before validation", updated="2026-11-01T11:00:00+00:00")
    connection_pull(connection=customers.connection, adapter=FakeSource([[renamed]]))
    assert OutboxItem.objects.get(flow=customers, record_key="C001").status == OutboxStatus.PENDING

    connection_pull(connection=customers.connection, entity="orders",
                    adapter=FakeSource([[document("orders", 1, line(0))]]))

    assert not SyncException.objects.filter(flow=orders, record_key="1").exists()
    assert OutboxItem.objects.get(flow=orders, record_key="1").status == OutboxStatus.PENDING
