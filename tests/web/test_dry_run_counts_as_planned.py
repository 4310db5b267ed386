"""Issue 14, defect 2: the mapping dry run counts what the planner would do.

Partners sharing an email are held by their conflict (not re-sent), and a contact the
destination refused with this very payload (suppressed) is not counted as re-sent."""
import pytest

from esp.dry_run import mapping_dry_run
from esp.mapping import mappings_for
from exceptions.models import DuplicateEmailConflict
from syncapp.models import OutboxItem, OutboxStatus
from syncapp.services import connection_pull, flow_push, records_replan
from tests.syncapp.fakes import FakeDestination, FakeSource, bp_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(flow):
    destination = FakeDestination()
    destination.reject["C005"] = "contact_suppressed"
    connection_pull(connection=flow.connection, adapter=FakeSource([[
        bp_record("C001"), bp_record("C002"),
        bp_record("C003", email="dup@example.com"), bp_record("C004", email="DUP@example.com"),
        bp_record("C005", email="gone@example.com"),
    ]]))
    flow_push(flow=flow, adapter=destination)
    assert DuplicateEmailConflict.objects.filter(status=DuplicateEmailConflict.Status.OPEN).count() == 1
    return flow


def test_the_dry_run_counts_partners_held_by_an_open_conflict_and_does_not_resend_them(pushed):
    result = mapping_dry_run(flow=pushed, mappings=mappings_for(destination=pushed.destination, entity="customers"))
    assert result.checked == 5
    assert result.held == 2
    assert "C003" not in result.sample and "C004" not in result.sample


def test_the_dry_run_does_not_resend_a_contact_refused_with_the_same_payload(pushed):
    result = mapping_dry_run(flow=pushed, mappings=mappings_for(destination=pushed.destination, entity="customers"))
    assert "C005" not in result.sample
    assert result.still_refused == 1
    assert result.resend == 0 and result.unchanged == 2


def test_the_dry_run_counts_a_contact_queued_again_after_an_unanswered_send_as_re_sent(pushed, changed_back_while_out):
    """C001's content is what the destination accepted, but a change went out since and its
    answer never came: the planner sends C001 again, and the dry run counts it so."""
    changed_back_while_out(pushed, "C001")
    result = mapping_dry_run(flow=pushed, mappings=mappings_for(destination=pushed.destination, entity="customers"))
    assert result.sample == ["C001"]
    assert (result.resend, result.already_waiting, result.unchanged) == (1, 1, 1)

    records_replan(flow=pushed, record_keys=["C001", "C002"])  # and the planner agrees
    statuses = dict(OutboxItem.objects.filter(flow=pushed, record_key__in=["C001", "C002"])
                    .values_list("record_key", "status"))
    assert statuses == {"C001": OutboxStatus.PENDING, "C002": OutboxStatus.ACCEPTED}
