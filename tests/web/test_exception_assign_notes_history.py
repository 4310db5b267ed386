"""Issue 14, "What to build" 2: an exception goes to a person (one, or all a filter shows
after a confirmation that says how many), carries a note thread, and keeps the history
of what the hub and people did to it; who may do what follows the roles (finance only on
the exceptions its team owns)."""
import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from exceptions.models import ExceptionEvent, ExceptionNote, SyncException
from syncapp.roles import MARKETING
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Users are made with a password per test; the production hasher's slowness is most of the time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Kind = ExceptionEvent.Kind


@pytest.fixture
def noor():
    return UserFactory(username="noor", role=MARKETING)


@pytest.fixture
def morning():
    """Five suppressed contacts and two bad emails for marketing, one order check for finance."""
    flow = FlowFactory()
    suppressed = SyncExceptionFactory.create_batch(5, flow=flow, reason_code="contact_suppressed")
    SyncExceptionFactory.create_batch(2, flow=flow, reason_code="invalid_email")
    SyncExceptionFactory(flow=flow, reason_code="total_mismatch", owner_team="finance", entity="orders",
                         record_key="77")
    SyncExceptionFactory(flow=flow, reason_code="contact_suppressed", status=SyncException.Status.RESOLVED)
    return suppressed


def _events(exception, kind=None):
    events = ExceptionEvent.objects.filter(exception=exception).select_related("actor").order_by("at", "id")
    return list(events.filter(kind=kind) if kind else events)


# ------------------------------------------------------------------ assigning

def test_marketing_assigns_one_exception_to_a_colleague_who_finds_it_under_assigned_to_me(as_role, morning, noor):
    client = as_role("marketing")
    exception = morning[0]
    client.post(f"/exceptions/{exception.pk}/assign/", {"assignee": "noor"})
    exception.refresh_from_db()
    assert exception.assignee == noor
    [event] = _events(exception, Kind.ASSIGNED)
    assert event.actor.username == "marketing" and event.text == "Assigned to noor."
    page = client.get(f"/exceptions/{exception.pk}/").content.decode()
    assert "assigned to <strong>noor</strong>" in page

    client.force_login(noor)
    mine = client.get("/exceptions/", {"assignee": "me"}).context["page"].rows
    assert [row.pk for row in mine] == [exception.pk]
    by_person = client.get("/exceptions/", {"assignee": "noor"}).context["page"].rows
    assert [row.pk for row in by_person] == [exception.pk]
    nobody = client.get("/exceptions/", {"assignee": "nobody"}).context["page"].rows
    assert exception.pk not in {row.pk for row in nobody} and len(nobody) == 7

    # Back to nobody: one more event; the same person again is no event.
    client.post(f"/exceptions/{exception.pk}/assign/", {"assignee": ""})
    client.post(f"/exceptions/{exception.pk}/assign/", {"assignee": ""})
    assert [e.text for e in _events(exception, Kind.ASSIGNED)] == ["Assigned to noor.", "No longer assigned to anyone."]


def test_bulk_assign_confirms_how_many_then_assigns_every_matching_one(as_role, morning, noor):
    client = as_role("marketing")
    url = "/exceptions/assign-matching/?reason=contact_suppressed"
    confirm = client.get(url)
    assert confirm.status_code == 200 and confirm.context["count"] == 5
    page = confirm.content.decode()
    assert "Assign <strong>5</strong> exceptions matching Reason: Contact is suppressed?" in page
    assert "Confirm: assign 5 exceptions" in page
    assert not SyncException.objects.filter(assignee__isnull=False).exists()  # asking acts on nothing

    assert client.post(url, {"expected": 5}).status_code == 200  # no person chosen: asked again
    assert not SyncException.objects.filter(assignee__isnull=False).exists()
    done = client.post(url, {"expected": 5, "assignee": "noor"}, follow=True)
    assert "Assigned 5 exceptions to noor." in done.content.decode()
    assert set(SyncException.objects.filter(assignee=noor).values_list("pk", flat=True)) == {e.pk for e in morning}
    events = ExceptionEvent.objects.filter(kind=Kind.ASSIGNED)
    assert events.count() == 5 and set(events.values_list("actor__username", flat=True)) == {"marketing"}


def test_bulk_assign_asks_again_when_the_count_moved_keeping_the_person(as_role, morning, noor):
    SyncExceptionFactory.create_batch(10, flow=morning[0].flow, reason_code="contact_suppressed")
    again = as_role("marketing").post("/exceptions/assign-matching/?reason=contact_suppressed",
                                      {"expected": 5, "assignee": "noor"})
    assert again.status_code == 200 and again.context["changed_from"] == 5 and again.context["count"] == 15
    assert 'value="noor" selected' in again.content.decode()
    assert not SyncException.objects.filter(assignee__isnull=False).exists()


def test_finance_assigns_and_notes_only_its_own_teams_exceptions(as_role, morning, noor):
    finance_owned = SyncException.objects.get(owner_team="finance")
    client = as_role("finance")
    assert client.post(f"/exceptions/{morning[0].pk}/assign/", {"assignee": "noor"}).status_code == 403
    assert client.post(f"/exceptions/{morning[0].pk}/notes/", {"text": "mine?"}).status_code == 403
    client.post(f"/exceptions/{finance_owned.pk}/assign/", {"assignee": "finance"})
    client.post(f"/exceptions/{finance_owned.pk}/notes/", {"text": "Checking the invoice in SAP."})
    finance_owned.refresh_from_db()
    assert finance_owned.assignee.username == "finance"
    assert ExceptionNote.objects.get(exception=finance_owned).author.username == "finance"
    morning[0].refresh_from_db()
    assert morning[0].assignee is None and not morning[0].notes.exists()

    # Bulk: the count is of the exceptions finance owns, whatever the filter shows.
    assert "Assign your team's matching exceptions" in client.get("/exceptions/").content.decode()
    confirm = client.get("/exceptions/assign-matching/")
    assert confirm.context["count"] == 1
    # Ignoring stays with the roles that act on exceptions.
    assert client.get("/exceptions/ignore-matching/").status_code == 403
    assert client.post(f"/exceptions/{finance_owned.pk}/ignore/", {"note": "x"}).status_code == 403


def test_a_person_without_a_role_can_neither_see_nor_assign(client, morning):
    client.force_login(UserFactory(username="nobody-in-particular", role=None))
    assert client.get("/exceptions/assign-matching/").status_code == 403
    assert client.post(f"/exceptions/{morning[0].pk}/assign/", {"assignee": "marketing"}).status_code == 403


# ------------------------------------------------------------------ the note thread

def test_notes_form_a_thread_with_author_and_time(as_role, morning):
    client = as_role("marketing")
    exception = morning[0]
    client.post(f"/exceptions/{exception.pk}/notes/", {"text": "Asked the shop whether she unsubscribed."})
    as_role("admin").post(f"/exceptions/{exception.pk}/notes/", {"text": "She did, on 1 Dec."})
    refused = client.post(f"/exceptions/{exception.pk}/notes/", {"text": "   "}, follow=True)
    assert "Write the note first." in refused.content.decode()
    notes = list(ExceptionNote.objects.filter(exception=exception).order_by("created_at", "id"))
    assert [(n.author.username, n.text) for n in notes] == [
        ("marketing", "Asked the shop whether she unsubscribed."), ("admin", "She did, on 1 Dec.")]
    page = client.get(f"/exceptions/{exception.pk}/").content.decode()
    thread = page[page.index('id="notes"'):page.index("</section>", page.index('id="notes"'))]
    assert thread.index("Asked the shop") < thread.index("She did, on 1 Dec.")
    assert "<strong>admin</strong>" in thread and notes[1].created_at.strftime("%Y-%m-%d") in thread
    assert [e.actor.username for e in _events(exception, Kind.NOTE_ADDED)] == ["marketing", "admin"]


def test_the_single_note_of_an_older_exception_moves_into_its_thread_with_its_history():
    """The data migration: the note becomes the thread's first note, the admin log
    entries the pages used to write become events naming the person."""
    import importlib

    from django.apps import apps
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    migration = importlib.import_module("exceptions.migrations.0006_notes_and_history_from_before")
    older = SyncExceptionFactory(status=SyncException.Status.IGNORED, note="Supplier, not a contact", attempts=3)
    person = UserFactory(username="mia", role=MARKETING)
    LogEntry.objects.create(user=person, content_type=ContentType.objects.get_for_model(SyncException),
                            object_id=str(older.pk), object_repr="x", action_flag=CHANGE,
                            change_message="Ignored: Supplier, not a contact")
    migration.from_before(apps, None)
    [note] = ExceptionNote.objects.filter(exception=older)
    assert note.author is None and note.text == "Supplier, not a contact"
    kinds = [(e.kind, e.actor.username if e.actor else "hub") for e in _events(older)]
    assert ("raised", "hub") in kinds and ("seen_again", "hub") in kinds and ("ignored", "mia") in kinds


# ------------------------------------------------------------------ history: the hub and people

def _raise(flow, key="C1", reason="invalid_email", message="bad address"):
    from exceptions.services import exception_raise

    return exception_raise(connection=flow.connection, flow=flow, entity="customers", record_key=key,
                           stage="plan", reason_code=reason, message=message)


def test_the_engine_writes_each_change_into_the_history(flow):
    from datetime import timedelta

    from exceptions.services import exceptions_mark_retrying, exceptions_resolve, exceptions_return_orphaned

    exception = _raise(flow)
    _raise(flow, message="still bad")
    exceptions_mark_retrying(flow=flow, entity="customers", record_keys=["C1"])
    exceptions_resolve(flow=flow, entity="customers", record_keys=["C1"])
    _raise(flow, message="bad again")
    SyncException.objects.filter(pk=exception.pk).update(status="retrying",
                                                         retry_requested_at=exception.first_seen - timedelta(hours=1))
    exceptions_return_orphaned(older_than=timedelta(minutes=10))
    assert [e.kind for e in _events(exception)] == [Kind.RAISED, Kind.SEEN_AGAIN, Kind.REPLANNED, Kind.RESOLVED,
                                                    Kind.REOPENED, Kind.REOPENED]
    assert all(e.actor is None for e in _events(exception))
    texts = [e.text for e in _events(exception)]
    assert texts[0] == "First failed: Invalid email address."
    assert texts[1] == "Failed again (attempt 2): still bad"
    assert texts[-1] == "Open again: The retry did not run; press Retry again."

    # An ignored exception failing again for the same reason stays ignored, and says so.
    SyncException.objects.filter(pk=exception.pk).update(status="ignored")
    _raise(flow, message="same again")
    exception.refresh_from_db()
    assert exception.status == "ignored"
    assert _events(exception)[-1].text.startswith("Failed again (attempt 4); it stays ignored")


def test_a_persons_retry_and_ignore_name_them_in_the_history(as_role, problems, erp_fixed):
    client = as_role("marketing")
    fixed, bad = (SyncException.objects.get(record_key=key) for key in ("C001", "C002"))
    client.post(f"/exceptions/{fixed.pk}/retry/")
    client.post(f"/exceptions/{bad.pk}/ignore/", {"note": "Test account."})
    retried = _events(fixed, Kind.RETRIED)
    assert [(e.actor.username, e.text) for e in retried] == [
        ("marketing", "Retry requested: re-read from the ERP and re-planned.")]
    assert [(e.actor.username, e.text) for e in _events(bad, Kind.IGNORED)] == [
        ("marketing", "Ignored: Test account.")]
    history = client.get(f"/exceptions/{bad.pk}/").context["history"]
    assert history[0].what.startswith("First failed") and history[0].who == "hub"
    assert (history[-1].who, history[-1].what) == ("marketing", "Ignored: Test account.")


def test_bulk_changes_write_their_events_without_a_query_per_row(as_role, noor):
    """Bulk ignore and bulk assign of 5 and of 40 exceptions take the same number of queries."""
    flow = FlowFactory()
    client = as_role("marketing")

    def queries(n: int, reason: str, url: str, data: dict) -> int:
        SyncExceptionFactory.create_batch(n, flow=flow, reason_code=reason)
        with CaptureQueriesContext(db_connection) as captured:
            client.post(f"{url}?reason={reason}", {"expected": n, **data})
        return len(captured)

    assert queries(5, "contact_suppressed", "/exceptions/ignore-matching/", {"note": "gone"}) == \
        queries(40, "invalid_email", "/exceptions/ignore-matching/", {"note": "gone"})
    assert ExceptionEvent.objects.filter(kind=Kind.IGNORED).count() == 45
    assert queries(5, "missing_email", "/exceptions/assign-matching/", {"assignee": "noor"}) == \
        queries(40, "required_field_empty", "/exceptions/assign-matching/", {"assignee": "noor"})
    assert ExceptionEvent.objects.filter(kind=Kind.ASSIGNED).count() == 45


def test_resolving_a_page_of_records_is_one_bulk_write_however_many_were_open(flow):
    from exceptions.services import exceptions_resolve

    for n, keys in ((3, [f"A{i}" for i in range(3)]), (30, [f"B{i}" for i in range(30)])):
        SyncExceptionFactory.create_batch(1, flow=flow)  # another record stays open
        for key in keys:
            SyncExceptionFactory(flow=flow, record_key=key)
        with CaptureQueriesContext(db_connection) as captured:
            assert exceptions_resolve(flow=flow, entity="customers", record_keys=keys) == n
        if n == 3:
            small = len(captured)
    assert len(captured) == small
    assert ExceptionEvent.objects.filter(kind=Kind.RESOLVED).count() == 33


# ------------------------------------------------------------------ the record page

def test_the_record_page_leads_with_what_is_wrong_and_who_owns_it(as_role, morning, noor):
    exception = morning[0]
    SyncException.objects.filter(pk=exception.pk).update(assignee=noor)
    page = as_role("marketing").get(f"/exceptions/{exception.pk}/").content.decode()
    start = page.index('aria-label="What is wrong"')
    lead = page[start:page.index("</section>", start)]
    for words in ("What happened", "Rule broken:", "What to do", "Who owns it", "Marketing team",
                  "assigned to <strong>noor</strong>"):
        assert words in lead, words
    assert page.index("Who owns it") < page.index("Source record") < page.index("History")


def test_a_dispatch_signal_links_to_the_order_it_belongs_to(as_role):
    from tests.web.factories import SalesOrderFactory

    orders = FlowFactory(entity="orders")
    dispatch = FlowFactory(entity="dispatch_events", connection=orders.connection, destination=orders.destination)
    SalesOrderFactory(connection=orders.connection, doc_entry=81, doc_num=100081, card_code="C00081")
    order = SyncExceptionFactory(flow=orders, entity="orders", record_key="81", reason_code="waiting_for_customer")
    signal = SyncExceptionFactory(flow=dispatch, entity="dispatch_events", record_key="81:shipped",
                                  reason_code="waiting_for_customer")
    page = as_role("marketing").get(f"/exceptions/{signal.pk}/").content.decode()
    assert "Order 100081" in page and f'href="/exceptions/{order.pk}/"' in page


# ------------------------------------------------------------------ lists stay fast

def test_the_dashboard_reads_a_fixed_number_of_queries_however_many_people_hold_exceptions(as_role):
    flow = FlowFactory()
    client = as_role("marketing")

    def queries(people: int) -> int:
        for _ in range(people):
            SyncExceptionFactory(flow=flow, assignee=UserFactory(role=MARKETING))
        with CaptureQueriesContext(db_connection) as captured:
            assert client.get("/exceptions/", {"status": "all"}).status_code == 200
        return len(captured)

    assert queries(2) == queries(20)
