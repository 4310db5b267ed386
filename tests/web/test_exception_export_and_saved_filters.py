"""Issue 14, "What to build" 2: a CSV of any filtered view (the dashboard's filters,
streamed, the page's email rule per role), saved filters (own, or shared with the team),
and assign / notes through the REST API."""
import csv
import io

import pytest
from django.http import StreamingHttpResponse

from exceptions.models import ExceptionNote, SavedFilter, SyncException
from syncapp.roles import FINANCE, MARKETING
from tests.factories import FlowFactory
from tests.web.factories import SyncExceptionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Users are made with a password per test; the production hasher's slowness is most of the time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL = "jane.doe@example.com"


@pytest.fixture
def morning():
    flow = FlowFactory()
    suppressed = SyncExceptionFactory.create_batch(3, flow=flow, reason_code="contact_suppressed",
                                                   note=f"Asked {EMAIL} to resubscribe")
    SyncExceptionFactory.create_batch(2, flow=flow, reason_code="invalid_email",
                                      message="=HYPERLINK(\"http://evil\") is not an address")
    SyncExceptionFactory(flow=flow, reason_code="contact_suppressed", status=SyncException.Status.RESOLVED)
    return suppressed


def _csv(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="exceptions-')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# ------------------------------------------------------------------ CSV

def test_the_csv_holds_exactly_what_the_filter_shows(as_role, morning):
    client = as_role("marketing")
    rows = _csv(client.get("/exceptions/export.csv", {"reason": "contact_suppressed"}))
    assert sorted(int(row["id"]) for row in rows) == sorted(e.pk for e in morning)  # not the resolved one
    assert {row["reason"] for row in rows} == {"Contact is suppressed"} and {row["status"] for row in rows} == {"Open"}
    every = _csv(client.get("/exceptions/export.csv", {"status": "all"}))
    assert len(every) == 6
    dashboard = client.get("/exceptions/", {"reason": "invalid_email"}).context["page"].rows
    exported = _csv(client.get("/exceptions/export.csv", {"reason": "invalid_email"}))
    assert [int(row["id"]) for row in exported] == [row.pk for row in dashboard]  # same rows, same order


def test_the_csv_keeps_the_pages_email_rule_per_role_and_runs_no_formula(as_role, morning):
    marketing = _csv(as_role("marketing").get("/exceptions/export.csv", {"reason": "contact_suppressed"}))
    finance = _csv(as_role("finance").get("/exceptions/export.csv", {"reason": "contact_suppressed"}))
    assert {row["note"] for row in marketing} == {f"Asked {EMAIL} to resubscribe"}
    assert {row["note"] for row in finance} == {"Asked j***@example.com to resubscribe"}
    formulas = _csv(as_role("marketing").get("/exceptions/export.csv", {"reason": "invalid_email"}))
    assert all(row["what_happened"].startswith("'=HYPERLINK") for row in formulas)


def test_a_csv_with_a_misspelt_filter_exports_nothing_and_says_why(as_role, morning):
    response = as_role("marketing").get("/exceptions/export.csv", {"rason": "typo"}, follow=True)
    page = response.content.decode()
    assert "nothing was exported" in page and "Unknown filter" in page


def test_the_dashboard_offers_the_csv_of_its_filter(as_role, morning):
    page = as_role("marketing").get("/exceptions/", {"reason": "contact_suppressed"}).content.decode()
    assert 'href="/exceptions/export.csv?reason=contact_suppressed"' in page


# ------------------------------------------------------------------ saved filters

def test_a_person_saves_a_filter_and_finds_it_as_a_link(as_role, morning):
    client = as_role("marketing")
    client.post("/exceptions/saved-filters/", {"name": "Suppressed, mine", "query": "reason=contact_suppressed"
                                               "&assignee=me&after=123-4"})
    saved = SavedFilter.objects.get(name="Suppressed, mine")
    assert saved.query == "reason=contact_suppressed&assignee=me" and saved.team == ""  # paging dropped
    page = client.get("/exceptions/").content.decode()
    assert '<a href="?reason=contact_suppressed&amp;assignee=me">Suppressed, mine</a>' in page
    # The same name again replaces it; another person does not see it.
    client.post("/exceptions/saved-filters/", {"name": "Suppressed, mine", "query": "reason=invalid_email"})
    assert SavedFilter.objects.get(name="Suppressed, mine").query == "reason=invalid_email"
    assert "Suppressed, mine" not in as_role("admin").get("/exceptions/").content.decode()


def test_a_shared_filter_is_seen_by_the_team_and_only_deleted_by_its_owner(client, morning):
    mia, noor = UserFactory(username="mia", role=MARKETING), UserFactory(username="noor", role=MARKETING)
    fiona = UserFactory(username="fiona", role=FINANCE)
    client.force_login(mia)
    client.post("/exceptions/saved-filters/", {"name": "Morning triage", "query": "status=open", "share": "on"})
    saved = SavedFilter.objects.get(name="Morning triage")
    assert saved.team == "marketing"
    client.force_login(noor)
    assert "Morning triage" in client.get("/exceptions/").content.decode()
    assert client.post(f"/exceptions/saved-filters/{saved.pk}/delete/").status_code == 404
    client.force_login(fiona)
    assert "Morning triage" not in client.get("/exceptions/").content.decode()
    client.force_login(mia)
    client.post(f"/exceptions/saved-filters/{saved.pk}/delete/")
    assert not SavedFilter.objects.exists()


def test_a_filter_that_is_not_valid_is_not_saved(as_role):
    response = as_role("marketing").post("/exceptions/saved-filters/", {"name": "Typo", "query": "rason=x"},
                                         follow=True)
    assert "it was not saved" in response.content.decode() and not SavedFilter.objects.exists()


# ------------------------------------------------------------------ REST API

@pytest.fixture
def api():
    from rest_framework.test import APIClient

    def as_user(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return as_user


def test_assign_and_notes_through_the_api(api, morning):
    UserFactory(username="noor", role=MARKETING)
    client = api(UserFactory(username="mia", role=MARKETING))
    exception = morning[0]
    answer = client.post(f"/api/exceptions/{exception.pk}/assign/", {"assignee": "noor"}, format="json")
    assert answer.status_code == 200 and answer.json()["assignee"] == "noor"
    assert answer.json()["history"][-1] == {**answer.json()["history"][-1], "who": "mia", "what": "Assigned to noor."}
    assert client.post(f"/api/exceptions/{exception.pk}/assign/", {"assignee": "ghost"},
                       format="json").status_code == 400
    note = client.post(f"/api/exceptions/{exception.pk}/notes/", {"text": "On it."}, format="json")
    assert note.status_code == 201 and note.json()["author"] == "mia"
    detail = client.get(f"/api/exceptions/{exception.pk}/").json()
    assert [(n["author"], n["text"]) for n in detail["notes"]] == [("mia", "On it.")]
    assert client.get("/api/exceptions/", {"assignee": "noor"}).json()["results"][0]["id"] == exception.pk
    finance = api(UserFactory(username="fiona", role=FINANCE))
    assert finance.post(f"/api/exceptions/{exception.pk}/assign/", {"assignee": "noor"},
                        format="json").status_code == 403
    assert finance.post(f"/api/exceptions/{exception.pk}/notes/", {"text": "x"}, format="json").status_code == 403
    assert ExceptionNote.objects.filter(exception=exception).count() == 1


def test_the_schema_documents_assign_and_notes(api):
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert "post" in paths["/api/exceptions/{id}/assign/"] and "post" in paths["/api/exceptions/{id}/notes/"]
