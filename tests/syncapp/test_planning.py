"""Planning: hashes, exceptions, duplicate-email policies, eligibility."""
import pytest

from erp.models import BusinessPartner
from exceptions.conflicts import conflict_resolve
from exceptions.models import DuplicateEmailConflict, SyncException
from syncapp.models import DuplicateEmailPolicy, OutboxItem, OutboxStatus
from syncapp.services import connection_pull, flow_push
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record

pytestmark = pytest.mark.django_db


def pull(flow, *records):
    return connection_pull(connection=flow.connection, adapter=FakeSource([list(records)]))


def push(flow, destination):
    return flow_push(flow=flow, adapter=destination)


def open_exception(flow, key):
    return SyncException.objects.filter(flow=flow, record_key=key, status__in=["open", "retrying"]).first()


def test_a_new_customer_is_queued_and_accepted(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001", name="Jane Doe"))
    push(flow, destination)
    row = OutboxItem.objects.get(flow=flow, record_key="C001")
    assert row.status == OutboxStatus.ACCEPTED and row.accepted_hash == row.payload_hash
    assert destination.contacts["c001@example.com"]["FULLNAME"] == "Jane Doe"


def test_an_unchanged_resync_queues_nothing_and_calls_nothing(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001"), bp_record("C002"))
    push(flow, destination)
    calls = destination.calls
    # A full re-read of the same data, e.g. after the cursor was reset.
    from syncapp.models import SourceCursor
    SourceCursor.objects.update(value=None)
    run = pull(flow, bp_record("C001"), bp_record("C002"))
    push(flow, destination)
    assert run.records_changed == 0
    assert destination.calls == calls


def test_a_mapped_field_change_is_sent_but_an_unmapped_one_is_not(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001", name="Jane"))
    push(flow, destination)
    calls = destination.calls
    # The mirror changes (an unmapped UDF), but the payload does not: no call.
    run = pull(flow, bp_record("C001", name="Jane", udfs={"U_Internal": "x"}))
    push(flow, destination)
    assert run.records_changed == 1 and run.records_unchanged == 1
    assert destination.calls == calls
    pull(flow, bp_record("C001", name="Jane Smith"))
    push(flow, destination)
    assert destination.contacts["c001@example.com"]["FULLNAME"] == "Jane Smith"


@pytest.mark.parametrize("email,reason", [("", "missing_email"), ("jane.doe@", "invalid_email"),
                                           ("no-at-sign.example.com", "invalid_email")])
def test_a_bad_email_becomes_an_exception_and_the_batch_goes_on(flow, email, reason):
    destination = FakeDestination()
    pull(flow, bp_record("C001", email=email), bp_record("C002"))
    push(flow, destination)
    exc = open_exception(flow, "C001")
    assert exc.reason_code == reason and exc.owner_team == "marketing"
    assert "C002" in destination.pushed_keys


def test_a_fixed_email_resolves_its_exception_when_the_record_goes_through(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001", email="broken@"))
    pull(flow, bp_record("C001", email="fixed@example.com", updated="2026-11-02T10:00:00+00:00"))
    push(flow, destination)
    assert SyncException.objects.get(record_key="C001").status == SyncException.Status.RESOLVED
    assert "fixed@example.com" in destination.contacts


def test_leads_are_sent_only_when_the_flow_says_so(flow):
    destination = FakeDestination()
    pull(flow, bp_record("L001", card_type="lead"), bp_record("S001", card_type="supplier"))
    push(flow, destination)
    assert destination.pushed_keys == []
    flow.include_leads = True
    flow.save()
    from syncapp.services import records_replan
    records_replan(flow=flow, record_keys=["L001", "S001"])
    push(flow, destination)
    assert destination.pushed_keys == ["L001"]


def test_duplicate_emails_are_held_with_a_conflict_by_default(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001", email="Jane@Example.com"), bp_record("C002", email=" jane@example.com "),
         bp_record("C003"))
    push(flow, destination)
    assert destination.pushed_keys == ["C003"]
    conflict = DuplicateEmailConflict.objects.get()
    assert conflict.status == "open" and conflict.card_codes == ["C001", "C002"]
    assert {open_exception(flow, k).reason_code for k in ("C001", "C002")} == {"duplicate_email"}


def test_resolving_a_conflict_releases_the_winner(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001", email="jane@example.com"), bp_record("C002", email="JANE@example.com"))
    conflict = DuplicateEmailConflict.objects.get()
    conflict_resolve(conflict=conflict, resolution="winner", winner_card_code="C002")
    push(flow, destination)
    assert destination.pushed_keys == ["C002"]
    assert open_exception(flow, "C001") is None and open_exception(flow, "C002") is None
    assert not OutboxItem.objects.filter(record_key="C001").exclude(status=OutboxStatus.SKIPPED).exists()
    assert DuplicateEmailConflict.objects.get().winner_card_code == "C002"


def test_correcting_one_email_dissolves_the_conflict_and_sends_both(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001", email="jane@example.com"), bp_record("C002", email="jane@example.com"))
    pull(flow, bp_record("C002", email="john@example.com", updated="2026-11-02T10:00:00+00:00"))
    push(flow, destination)
    assert sorted(destination.pushed_keys) == ["C001", "C002"]
    assert DuplicateEmailConflict.objects.get().status == "resolved"


@pytest.mark.parametrize("policy,expected", [
    (DuplicateEmailPolicy.MOST_RECENT, "C002"),
    (DuplicateEmailPolicy.PREFER_CUSTOMER, "C001"),
])
def test_automatic_policies_pick_one_winner(flow, policy, expected):
    flow.duplicate_policy, flow.include_leads = policy, True
    flow.save()
    destination = FakeDestination()
    pull(flow, bp_record("C001", email="jane@example.com", updated="2026-11-01T10:00:00+00:00"),
         bp_record("C002", email="jane@example.com", card_type="lead", updated="2026-11-05T10:00:00+00:00"))
    push(flow, destination)
    assert destination.pushed_keys == [expected]
    assert DuplicateEmailConflict.objects.get().status == "resolved"


def test_the_merge_policy_sends_one_contact_carrying_every_cardcode(flow):
    flow.duplicate_policy = DuplicateEmailPolicy.MERGE
    flow.save()
    destination = FakeDestination()
    pull(flow, bp_record("C001", email="jane@example.com"), bp_record("C002", email="jane@example.com",
                                                                       updated="2026-11-03T10:00:00+00:00"))
    push(flow, destination)
    assert len(destination.contacts) == 1
    assert destination.contacts["jane@example.com"]["CARDCODE"] == "C001,C002"


def test_a_destination_rejection_is_an_exception_with_the_vendor_code(flow):
    destination = FakeDestination()
    destination.reject["C001"] = "ERROR_SOMETHING"
    pull(flow, bp_record("C001"), bp_record("C002"))
    push(flow, destination)
    exc = open_exception(flow, "C001")
    assert exc.reason_code == "destination_rejected" and exc.destination_code == "ERROR_SOMETHING"
    assert exc.last_request is not None
    assert OutboxItem.objects.get(record_key="C001").status == OutboxStatus.FAILED
    assert BusinessPartner.objects.count() == 2


def test_a_refused_record_stays_an_open_exception_when_an_unmapped_field_changes(flow):
    destination = FakeDestination()
    destination.reject["C001"] = "ERROR_SOMETHING"
    pull(flow, bp_record("C001"))
    push(flow, destination)
    pull(flow, bp_record("C001", udfs={"U_Internal": "changed"}))  # same payload, still refused
    push(flow, destination)
    assert open_exception(flow, "C001").reason_code == "destination_rejected"
    assert OutboxItem.objects.get(record_key="C001").status == OutboxStatus.FAILED


def test_a_queued_record_whose_email_breaks_is_not_sent_with_its_old_payload(flow):
    destination = FakeDestination()
    pull(flow, bp_record("C001", email="jane@example.com"))
    pull(flow, bp_record("C001", email="jane@", updated="2026-11-02T10:00:00+00:00"))
    push(flow, destination)
    assert destination.pushed_keys == []
    assert open_exception(flow, "C001").reason_code == "invalid_email"


def test_a_resolved_conflict_whose_members_change_is_opened_again(flow):
    pull(flow, bp_record("C001", email="jane@example.com"), bp_record("C002", email="jane@example.com"))
    conflict = DuplicateEmailConflict.objects.get()
    conflict_resolve(conflict=conflict, resolution="winner", winner_card_code="C001")
    pull(flow, bp_record("C003", email="JANE@example.com"))
    conflict.refresh_from_db()
    assert conflict.status == "open" and conflict.card_codes == ["C001", "C002", "C003"]
    assert {open_exception(flow, k).reason_code for k in ("C001", "C002", "C003")} == {"duplicate_email"}


@pytest.mark.parametrize("email", ["jane.doe@example.com", "a+tag@mail.example.co.uk", "x_y%z@sub-domain.example.org",
                                   ".jane@example.com", "jane..doe@example.com", "jane@-example.com", "jane@example",
                                   "jane@exa mple.com", "jané@example.com", "jane@example.c0m"])
def test_the_quick_email_check_agrees_with_djangos_validator(email):
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from syncapp.planning import partner_email_problem

    try:
        validate_email(email)
        django_says = None
    except ValidationError:
        django_says = "invalid_email"
    assert partner_email_problem(type("P", (), {"email": email})()) == django_says


def test_resolving_a_conflict_replans_only_the_flows_that_send_customers(flow):
    from tests.factories import FlowFactory

    FlowFactory(entity="orders", connection=flow.connection, destination=flow.destination)
    FlowFactory(entity="products", connection=flow.connection, destination=flow.destination)
    pull(flow, bp_record("C001", email="jane@example.com"), bp_record("C002", email="jane@example.com"))
    conflict_resolve(conflict=DuplicateEmailConflict.objects.get(), resolution="winner", winner_card_code="C001")
    assert OutboxItem.objects.filter(flow=flow, record_key="C001", status="pending").exists()
