"""The duplicate-email conflicts page: partners side by side, decisions release them."""
import pytest

from exceptions.models import DuplicateEmailConflict, SyncException
from syncapp.models import Flow, OutboxItem
from tests.web.factories import DuplicateEmailConflictFactory, SalesOrderFactory

pytestmark = pytest.mark.django_db

CONFLICTS = "/conflicts/"


def _pending(*keys):
    return set(OutboxItem.objects.filter(record_key__in=keys, status="pending").values_list("record_key", flat=True))


def test_each_open_conflict_shows_its_partners_side_by_side(as_role, problems):
    SalesOrderFactory.create_batch(2, connection=problems.connection, card_code="C003")
    response = as_role("marketing").get(CONFLICTS)
    assert response.status_code == 200
    [conflict] = response.context["conflicts"]
    partners = {p.card_code: p for p in conflict.partners}
    assert set(partners) == {"C003", "C004"}
    assert (partners["C003"].orders, partners["C004"].orders) == (2, 0)
    assert partners["C004"].email == "DUP@example.com" and partners["C004"].card_type == "Customer"
    page = response.content.decode()
    assert "dup@example.com" in page and "Customer C003" in page and "2026-11-02" in page
    assert "Choose C003 as the contact" in page and "Merge into one contact" in page and "Reject: send none" in page


def test_the_records_are_held_until_someone_decides(problems):
    assert _pending("C003", "C004") == set()
    assert set(SyncException.objects.filter(reason_code="duplicate_email").values_list("status", flat=True)) == {
        "open"}


def test_choosing_a_winner_releases_it_and_not_the_other(as_role, problems):
    conflict = DuplicateEmailConflict.objects.get()
    response = as_role("marketing").post(f"/conflicts/{conflict.pk}/resolve/",
                                         {"resolution": "winner", "winner_card_code": "C003"}, follow=True)
    assert "Conflict resolved" in response.content.decode()
    conflict.refresh_from_db()
    assert (conflict.status, conflict.winner_card_code, conflict.resolved_by.username) == (
        "resolved", "C003", "marketing")
    assert _pending("C003", "C004") == {"C003"}
    assert SyncException.objects.get(record_key="C003").status == "retrying"  # on its way
    assert SyncException.objects.get(record_key="C004").status == "resolved"  # not sent, by decision


def test_merging_sends_one_contact(as_role, problems):
    conflict = DuplicateEmailConflict.objects.get()
    as_role("admin").post(f"/conflicts/{conflict.pk}/resolve/", {"resolution": "merge"})
    assert DuplicateEmailConflict.objects.get().resolution == "merge"
    assert _pending("C003", "C004") == {"C004"}  # the most recently updated carries both codes


def test_rejecting_sends_neither(as_role, problems):
    conflict = DuplicateEmailConflict.objects.get()
    as_role("marketing").post(f"/conflicts/{conflict.pk}/resolve/", {"resolution": "reject"})
    assert DuplicateEmailConflict.objects.get().status == "resolved"
    assert _pending("C003", "C004") == set()
    # A person decided: the exceptions close, nothing stays stuck.
    assert set(SyncException.objects.filter(reason_code="duplicate_email").values_list("status", flat=True)) == {
        "resolved"}


def test_a_winner_outside_the_conflict_is_refused(as_role, problems):
    conflict = DuplicateEmailConflict.objects.get()
    response = as_role("marketing").post(f"/conflicts/{conflict.pk}/resolve/",
                                         {"resolution": "winner", "winner_card_code": "C001"}, follow=True)
    assert "Choose one of the partners in this conflict: C003, C004." in response.content.decode()
    assert DuplicateEmailConflict.objects.get().status == "open"


def test_resolved_conflicts_leave_the_default_list_and_show_under_their_status(as_role, problems):
    conflict = DuplicateEmailConflict.objects.get()
    client = as_role("marketing")
    client.post(f"/conflicts/{conflict.pk}/resolve/", {"resolution": "reject"})
    assert client.get(CONFLICTS).context["conflicts"] == []
    page = client.get(CONFLICTS, {"status": "resolved"}).content.decode()
    assert "None is sent" in page and "by marketing" in page and "Change the decision" in page


def test_the_list_pages_without_counting(as_role, flow):
    DuplicateEmailConflictFactory.create_batch(25, connection=flow.connection)
    client = as_role("finance")
    first = client.get(CONFLICTS)
    assert len(first.context["conflicts"]) == 20 and first.context["has_next"]
    second = client.get(CONFLICTS, {"page": 2})
    assert len(second.context["conflicts"]) == 5 and not second.context["has_next"]
    assert "no longer in the ERP" in second.content.decode()  # partners not in the mirror


def test_an_admin_changes_the_default_policy_and_held_records_move(as_role, problems):
    client = as_role("admin")
    page = client.get(CONFLICTS).content.decode()
    assert "Save policy" in page and "When partners share an email" in page
    response = client.post(f"/conflicts/policy/{problems.pk}/", {"duplicate_policy": "most_recent"}, follow=True)
    assert "Prefer the most recently updated" in response.content.decode()
    assert Flow.objects.get(pk=problems.pk).duplicate_policy == "most_recent"
    assert _pending("C003", "C004") == {"C004"}


def test_marketing_sees_the_policy_but_cannot_change_it(as_role, problems):
    client = as_role("marketing")
    page = client.get(CONFLICTS).content.decode()
    assert "Hold all and raise a conflict" in page and "Save policy" not in page
    assert client.post(f"/conflicts/policy/{problems.pk}/", {"duplicate_policy": "merge"}).status_code == 403
    assert Flow.objects.get(pk=problems.pk).duplicate_policy == "reject_all"


def test_finance_reads_conflicts_but_cannot_resolve(as_role, problems):
    conflict = DuplicateEmailConflict.objects.get()
    client = as_role("finance")
    page = client.get(CONFLICTS).content.decode()
    assert "C003" in page and "Choose C003 as the contact" not in page
    assert client.post(f"/conflicts/{conflict.pk}/resolve/", {"resolution": "reject"}).status_code == 403
    assert DuplicateEmailConflict.objects.get().status == "open"
