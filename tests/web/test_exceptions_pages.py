"""The exception dashboard and record page as marketing uses them."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from erp.models import BusinessPartner
from exceptions.models import SyncException
from syncapp.models import OutboxItem
from tests.factories import EspAccountFactory, FlowFactory
from tests.web.factories import SyncExceptionFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/exceptions/"


def _page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_dashboard_groups_exceptions_by_reason_with_the_records_they_concern(as_role):
    first, second = FlowFactory(), FlowFactory()
    # One record failing at two destinations is two exceptions but one contact.
    SyncExceptionFactory(flow=first, record_key="C1", reason_code="invalid_email")
    SyncExceptionFactory(flow=second, record_key="C1", reason_code="invalid_email")
    SyncExceptionFactory(flow=first, record_key="C2", reason_code="invalid_email")
    SyncExceptionFactory(flow=first, record_key="C3", reason_code="missing_email")
    client = as_role("marketing")
    response = client.get(DASHBOARD)
    groups = {(g.reason_code, g.entity): (g.exceptions, g.records) for g in response.context["groups"]}
    assert groups == {("invalid_email", "customers"): (3, 2), ("missing_email", "customers"): (1, 1)}
    assert response.context["total"] == 4
    page = response.content.decode()
    assert "Invalid email address" in page and "No email address" in page and "Contacts (customers)" in page


def test_the_newest_group_and_row_come_first(as_role):
    old = SyncExceptionFactory(reason_code="missing_email", record_key="OLD")
    new = SyncExceptionFactory(reason_code="invalid_email", record_key="NEW")
    SyncException.objects.filter(pk=old.pk).update(last_seen=timezone.now() - timedelta(hours=2))
    response = as_role("marketing").get(DASHBOARD)
    assert [g.reason_code for g in response.context["groups"]] == ["invalid_email", "missing_email"]
    assert [row.pk for row in response.context["page"].rows] == [new.pk, old.pk]


def test_each_filter_narrows_the_list(as_role):
    dotdigital, ometria = EspAccountFactory(name="dd-main"), EspAccountFactory(name="om-main")
    to_dd, to_om = FlowFactory(destination=dotdigital), FlowFactory(destination=ometria, entity="orders")
    SyncExceptionFactory(flow=to_dd, record_key="A", reason_code="invalid_email")
    SyncExceptionFactory(flow=to_om, entity="orders", record_key="B", reason_code="total_mismatch",
                             owner_team="finance")
    c = SyncExceptionFactory(flow=None, connection=to_dd.connection, entity="business_partners", stage="ingest",
                             record_key="C", reason_code="unreadable_record", owner_team="integration")
    SyncExceptionFactory(flow=to_dd, record_key="D", status="resolved")
    SyncExceptionFactory(flow=to_dd, record_key="E", status="ignored")
    SyncException.objects.filter(pk=c.pk).update(first_seen=timezone.now() - timedelta(days=9))
    client = as_role("marketing")

    def shown(**params):
        return {row.record_key for row in client.get(DASHBOARD, params).context["page"].rows}

    assert shown() == {"A", "B", "C"}  # open or retrying unless asked otherwise
    assert shown(destination=ometria.pk) == {"B"}
    assert shown(entity="business_partners") == {"C"}
    assert shown(reason="total_mismatch") == {"B"}
    assert shown(owner_team="integration") == {"C"}
    assert shown(age="old") == {"C"}
    assert shown(age="24h") == {"A", "B"}
    assert shown(status="resolved") == {"D"}
    assert shown(status="ignored") == {"E"}
    assert shown(status="all") == {"A", "B", "C", "D", "E"}
    assert shown(q="B") == {"B"}
    assert shown(reason="invalid_email", destination=dotdigital.pk) == {"A"}


def test_the_group_counts_follow_the_filter(as_role):
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(3, flow=flow, reason_code="invalid_email")
    SyncExceptionFactory(flow=flow, reason_code="invalid_email", status="resolved")
    SyncExceptionFactory(flow=flow, reason_code="missing_email")
    response = as_role("marketing").get(DASHBOARD, {"reason": "invalid_email", "status": "all"})
    assert [(g.reason_code, g.exceptions) for g in response.context["groups"]] == [("invalid_email", 4)]


def test_the_list_pages_by_keyset_without_losing_or_repeating_rows(as_role):
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(120, flow=flow)
    # Ties on last_seen are the hard case for a keyset: give half the rows the same time.
    same = timezone.now() - timedelta(minutes=5)
    SyncException.objects.filter(pk__in=list(SyncException.objects.values_list("pk", flat=True)[:60])).update(
        last_seen=same)
    client = as_role("marketing")
    seen, pages, params = [], [], {}
    while True:
        page = client.get(DASHBOARD, params).context["page"]
        pages.append(page)
        seen.extend(row.pk for row in page.rows)
        if not page.next_cursor:
            break
        params = {"after": page.next_cursor}
    assert [len(p.rows) for p in pages] == [50, 50, 20]
    assert sorted(seen) == sorted(SyncException.objects.values_list("pk", flat=True))
    ordered = list(SyncException.objects.order_by("-last_seen", "-id").values_list("pk", flat=True))
    assert seen == ordered
    back = client.get(DASHBOARD, {"before": pages[1].prev_cursor}).context["page"]
    assert [row.pk for row in back.rows] == [row.pk for row in pages[0].rows]
    assert back.prev_cursor is None  # the first page again


def test_the_dashboard_costs_the_same_queries_for_ten_or_two_hundred_exceptions(as_role):
    flow = FlowFactory()
    client = as_role("marketing")

    def queries() -> list[str]:
        client.get(DASHBOARD)  # warm the session and content types
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get(DASHBOARD, {"reason": "invalid_email"}).status_code == 200
        return [q["sql"] for q in captured.captured_queries]

    SyncExceptionFactory.create_batch(10, flow=flow)
    small = queries()
    SyncExceptionFactory.create_batch(190, flow=flow)
    large = queries()
    assert len(small) == len(large)
    # Counting happens only in GROUP BYs (the reason groups, the status tabs) and in the groups'
    # fingerprint (count and latest last_seen of the same filtered rows); the list itself is never counted.
    counting = [sql for sql in large if "COUNT(" in sql.upper() and "exceptions_syncexception" in sql]
    grouped = [sql for sql in counting if "GROUP BY" in sql.upper()]
    assert len(grouped) == 2 and [sql for sql in counting if sql not in grouped] == [
        next(sql for sql in counting if 'MAX("exceptions_syncexception"."last_seen") AS "newest" FROM' in sql
             and "GROUP BY" not in sql.upper())]


def test_a_record_page_says_what_happened_and_what_to_do(as_role, problems):
    exception = SyncException.objects.get(record_key="C002")
    page = _page(as_role("marketing"), f"/exceptions/{exception.pk}/")
    assert "Invalid email address" in page
    assert "Correct the email address on the Business Partner in SAP, then press Retry." in page
    assert "Marketing" in page  # owner team
    assert "jane@" in page  # the source record as mirrored
    assert "First failed" in page


def test_the_record_page_reads_the_mirror_live(as_role, problems):
    exception = SyncException.objects.get(record_key="C002")
    BusinessPartner.objects.filter(card_code="C002").update(card_name="Renamed In The Mirror")
    assert "Renamed In The Mirror" in _page(as_role("finance"), f"/exceptions/{exception.pk}/")


def test_the_record_page_shows_the_destinations_answer(as_role):
    exception = SyncExceptionFactory(reason_code="destination_rejected", stage="push",
                                     last_request={"email": "x@example.com", "FIRSTNAME": "Ann"},
                                     last_response={"error": "ERROR_CONTACT_INVALID"})
    page = _page(as_role("marketing"), f"/exceptions/{exception.pk}/")
    assert "The destination&#x27;s answer" in page and "ERROR_CONTACT_INVALID" in page
    assert "What the hub sent" in page and "FIRSTNAME" in page


def test_a_duplicate_email_record_links_to_its_conflict(as_role, problems):
    exception = SyncException.objects.get(record_key="C003")
    assert "Open the conflict" in _page(as_role("marketing"), f"/exceptions/{exception.pk}/")


def test_retry_re_reads_the_fixed_record_from_the_erp(as_role, problems, erp_fixed):
    exception = SyncException.objects.get(record_key="C001")
    client = as_role("marketing")
    assert client.get(f"/exceptions/{exception.pk}/retry/").status_code == 405  # a link cannot retry
    response = client.post(f"/exceptions/{exception.pk}/retry/", follow=True)
    assert "queued to be sent" in response.content.decode()
    exception.refresh_from_db()
    assert exception.status == "retrying"
    assert OutboxItem.objects.filter(record_key="C001", status="pending", priority=0).exists()
    assert BusinessPartner.objects.get(card_code="C001").email == "c001@example.com"
    assert "Retry requested" in _page(client, f"/exceptions/{exception.pk}/")  # history


def test_retry_of_a_record_still_wrong_says_so(as_role, problems, monkeypatch):
    from tests.syncapp.fakes import FakeSource, bp_record

    still_wrong = FakeSource([[bp_record("C002", email="jane@")]])
    monkeypatch.setattr("syncapp.services.source_adapter_for", lambda connection: still_wrong)
    exception = SyncException.objects.get(record_key="C002")
    response = as_role("marketing").post(f"/exceptions/{exception.pk}/retry/", follow=True)
    assert "still fails" in response.content.decode()
    exception.refresh_from_db()
    assert exception.status == "open" and exception.attempts == 2


def test_a_resolved_exception_cannot_be_retried(as_role, problems, erp_fixed):
    exception = SyncException.objects.get(record_key="C001")
    SyncException.objects.filter(pk=exception.pk).update(status="resolved")
    response = as_role("marketing").post(f"/exceptions/{exception.pk}/retry/", follow=True)
    assert "nothing to retry" in response.content.decode()
    assert not OutboxItem.objects.filter(record_key="C001").exists()


def test_ignore_needs_a_note_and_keeps_it(as_role, problems):
    exception = SyncException.objects.get(record_key="C001")
    client = as_role("marketing")
    refused = client.post(f"/exceptions/{exception.pk}/ignore/", {"note": "  "}, follow=True)
    assert "the note is required" in refused.content.decode()
    assert SyncException.objects.get(pk=exception.pk).status == "open"
    client.post(f"/exceptions/{exception.pk}/ignore/", {"note": "Test account, never emailed."})
    exception.refresh_from_db()
    assert exception.status == "ignored" and exception.note == "Test account, never emailed."
    page = _page(client, f"/exceptions/{exception.pk}/")
    assert "Ignored: Test account, never emailed." in page and "marketing" in page
    assert ">Retry</button>" not in page  # nothing left to act on


def test_bulk_retry_of_a_small_filter_runs_at_once(as_role, problems, erp_fixed):
    client = as_role("marketing")
    response = client.post("/exceptions/retry-matching/?reason=invalid_email", {"expected": 1}, follow=True)
    assert "Retried 1 exception(s)" in response.content.decode()
    assert SyncException.objects.get(record_key="C002").status == "retrying"
    assert SyncException.objects.get(record_key="C001").status == "open"  # not in the filter
    assert response.redirect_chain[-1][0] == "/exceptions/?reason=invalid_email"


def test_bulk_retry_of_a_large_filter_goes_to_the_workers(as_role, monkeypatch,
                                                          django_capture_on_commit_callbacks):
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(30, flow=flow, reason_code="invalid_email")
    SyncExceptionFactory.create_batch(5, flow=flow, reason_code="missing_email")
    SyncExceptionFactory(flow=flow, reason_code="invalid_email", status="ignored")
    queued = []
    monkeypatch.setattr("syncapp.tasks.records_retry_task.delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = as_role("marketing").post("/exceptions/retry-matching/?reason=invalid_email", {"expected": 30},
                                             follow=True)
    assert "the workers re-read them" in response.content.decode()
    assert len(queued) == 1
    connection_id, flow_id, entity, keys, by_id = queued[0]
    assert (connection_id, flow_id, entity, len(keys)) == (flow.connection_id, flow.pk, "customers", 30)
    assert by_id == User.objects.get(username="marketing").pk  # the runs it starts name who asked
    assert SyncException.objects.filter(reason_code="invalid_email", status="retrying").count() == 30
    assert SyncException.objects.filter(reason_code="missing_email", status="open").count() == 5
    assert SyncException.objects.filter(status="ignored").count() == 1


def test_the_dashboard_shows_actions_only_to_those_who_may_act(as_role, problems):
    exception = SyncException.objects.get(record_key="C001")
    for role, allowed in (("marketing", True), ("finance", False), ("admin", True)):
        client = as_role(role)
        dashboard = _page(client, DASHBOARD)
        detail = _page(client, f"/exceptions/{exception.pk}/")
        assert ("Retry all matching" in dashboard) is allowed, role
        assert (">Retry</button>" in detail and ">Ignore</button>" in detail) is allowed, role


def test_the_source_record_is_found_for_orders_signals_and_erp_reads(as_role):
    from tests.factories import BusinessPartnerFactory
    from tests.web.factories import SalesOrderFactory

    orders = FlowFactory(entity="orders")
    SalesOrderFactory(connection=orders.connection, doc_entry=4711, card_code="C9", num_at_card="WEB-4711")
    BusinessPartnerFactory(connection=orders.connection, card_code="C9", card_name="Nine Ltd")
    order = SyncExceptionFactory(flow=orders, entity="orders", record_key="4711", reason_code="total_mismatch")
    signal = SyncExceptionFactory(flow=FlowFactory(entity="dispatch_events", connection=orders.connection),
                                  entity="dispatch_events", record_key="4711:dispatch:1")
    read = SyncExceptionFactory(flow=None, connection=orders.connection, entity="business_partners",
                                record_key="C9", stage="ingest", reason_code="unreadable_record")
    login = SyncExceptionFactory(flow=None, connection=orders.connection, entity="business_partners",
                                 record_key="(connection)", stage="ingest", reason_code="authentication_failed")
    client = as_role("finance")
    assert "WEB-4711" in _page(client, f"/exceptions/{order.pk}/")
    assert "WEB-4711" in _page(client, f"/exceptions/{signal.pk}/")
    assert "Nine Ltd" in _page(client, f"/exceptions/{read.pk}/")
    assert "not in the hub's copy of the ERP" in _page(client, f"/exceptions/{login.pk}/")
