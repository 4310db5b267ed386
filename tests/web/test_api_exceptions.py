"""The REST API of exceptions and conflicts, with token authentication."""
import pytest
from rest_framework.test import APIClient

from accounts.tokens import api_token_issue
from exceptions.models import DuplicateEmailConflict, SyncException
from syncapp.models import OutboxItem
from tests.factories import FlowFactory
from tests.web.conftest import ROLE_USERS
from tests.web.factories import SyncExceptionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    """`api("marketing")` is a client sending that role's token; `api(None)` sends none."""

    def make(role: str | None, token: str | None = None) -> APIClient:
        client = APIClient()
        if role:
            token = api_token_issue(user=UserFactory(username=role, role=ROLE_USERS[role]), name=f"{role} api")[1]
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


def test_a_valid_token_is_needed(api, problems):
    assert api(None).get("/api/exceptions/").status_code == 401
    assert api(None, token="0" * 40).get("/api/exceptions/").status_code == 401
    assert api("finance").get("/api/exceptions/").status_code == 200


def test_the_list_filters_like_the_dashboard(api, problems):
    client = api("marketing")
    keys = {row["record_key"] for row in client.get("/api/exceptions/").json()["results"]}
    assert keys == {"C001", "C002", "C003", "C004"}
    body = client.get("/api/exceptions/", {"reason": "invalid_email"}).json()
    assert [(row["record_key"], row["reason_title"]) for row in body["results"]] == [("C002", "Invalid email address")]
    assert "count" not in body  # cursor pages never count the table
    assert client.get("/api/exceptions/", {"reason": "no_such_reason"}).status_code == 400


def test_the_list_pages_by_cursor(api):
    flow = FlowFactory()
    SyncExceptionFactory.create_batch(7, flow=flow)
    client = api("marketing")
    first = client.get("/api/exceptions/", {"page_size": 5}).json()
    second = client.get(first["next"]).json()
    keys = [row["record_key"] for row in first["results"] + second["results"]]
    assert len(keys) == len(set(keys)) == 7 and second["next"] is None


def test_groups_count_exceptions_and_records_per_reason(api, problems):
    body = api("marketing").get("/api/exceptions/groups/").json()
    counts = {(row["reason_code"], row["entity"]): (row["exceptions"], row["records"]) for row in body}
    assert counts == {("missing_email", "customers"): (1, 1), ("invalid_email", "customers"): (1, 1),
                      ("duplicate_email", "customers"): (2, 2)}


def test_the_detail_has_what_to_do_payloads_and_history(api, problems):
    exception = SyncException.objects.get(record_key="C001")
    SyncException.objects.filter(pk=exception.pk).update(status="resolved")  # a detail is found in any status
    body = api("finance").get(f"/api/exceptions/{exception.pk}/").json()
    assert body["what_to_do"].startswith("Add the email address")
    assert body["source_payload"] == {"CardCode": "C001", "EmailAddress": ""}
    assert body["history"][0]["what"].startswith("First failed")


def test_retry_through_the_api(api, problems, erp_fixed):
    exception = SyncException.objects.get(record_key="C001")
    assert api("finance").post(f"/api/exceptions/{exception.pk}/retry/").status_code == 403
    response = api("marketing").post(f"/api/exceptions/{exception.pk}/retry/")
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["exception"]["status"] == "retrying"
    assert OutboxItem.objects.filter(record_key="C001", status="pending").exists()


def test_ignore_through_the_api_needs_a_note(api, problems):
    exception = SyncException.objects.get(record_key="C002")
    client = api("admin")
    assert client.post(f"/api/exceptions/{exception.pk}/ignore/", {}, format="json").status_code == 400
    response = client.post(f"/api/exceptions/{exception.pk}/ignore/", {"note": "Supplier, not a contact"},
                           format="json")
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert response.json()["history"][-1]["what"] == "Ignored: Supplier, not a contact"
    # Ignoring twice is refused: it is no longer open.
    assert client.post(f"/api/exceptions/{exception.pk}/ignore/", {"note": "x"}, format="json").status_code == 409


def test_retry_matching_through_the_api(api, problems, erp_fixed):
    assert api("finance").post("/api/exceptions/retry-matching/?reason=missing_email").status_code == 403
    response = api("marketing").post("/api/exceptions/retry-matching/?reason=missing_email")
    assert response.status_code == 200 and response.json() == {"exceptions": 1, "queued": False}
    assert SyncException.objects.get(record_key="C001").status == "retrying"


def test_conflicts_list_detail_and_resolve(api, problems):
    conflict = DuplicateEmailConflict.objects.get()
    client = api("marketing")
    [row] = client.get("/api/conflicts/").json()["results"]
    assert row["card_codes"] == ["C003", "C004"]
    assert {p["card_code"] for p in row["partners"]} == {"C003", "C004"}
    detail = client.get(f"/api/conflicts/{conflict.pk}/").json()
    assert detail["partners"][0]["email"].lower() == "dup@example.com"
    refused = client.post(f"/api/conflicts/{conflict.pk}/resolve/", {"resolution": "winner",
                                                                     "winner_card_code": "C999"}, format="json")
    assert refused.status_code == 400
    assert api("finance").post(f"/api/conflicts/{conflict.pk}/resolve/", {"resolution": "reject"},
                               format="json").status_code == 403
    response = client.post(f"/api/conflicts/{conflict.pk}/resolve/",
                           {"resolution": "winner", "winner_card_code": "C004"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "resolved" and response.json()["resolved_by"] == "marketing"
    assert OutboxItem.objects.filter(record_key="C004", status="pending").exists()
    assert client.get("/api/conflicts/").json()["results"] == []
    assert len(client.get("/api/conflicts/", {"status": "resolved"}).json()["results"]) == 1


@pytest.mark.parametrize("role", [None, "marketing", "finance", "admin"])
def test_each_role_against_each_endpoint(api, problems, role, erp_fixed):
    exception = SyncException.objects.get(record_key="C001")
    conflict = DuplicateEmailConflict.objects.get()
    client = api(role)
    expected = {None: 401, "marketing": 200, "finance": 200, "admin": 200}[role]
    for url in ("/api/exceptions/", f"/api/exceptions/{exception.pk}/", "/api/exceptions/groups/",
                "/api/conflicts/", f"/api/conflicts/{conflict.pk}/"):
        assert client.get(url).status_code == expected, url
    acts = {None: 401, "marketing": 200, "finance": 403, "admin": 200}[role]
    assert client.post(f"/api/exceptions/{exception.pk}/retry/").status_code == acts
    assert client.post(f"/api/conflicts/{conflict.pk}/resolve/", {"resolution": "reject"},
                       format="json").status_code == acts
