"""REST API: runs (filtered, paged by cursor), flow health as JSON, and the OpenAPI schema."""
from datetime import datetime, timedelta

import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import api_token_issue
from syncapp.models import OutboxItem, SyncRun
from tests.factories import FlowFactory
from tests.web.factories import UserFactory

pytestmark = pytest.mark.django_db

DAY = timezone.make_aware(datetime(2026, 5, 4, 12, 0))


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(UserFactory(username="mkt", role="Marketing"))
    return client


def run(flow, *, kind=SyncRun.Kind.PUSH, status=SyncRun.Status.SUCCEEDED, started_at=DAY, **counts):
    made = SyncRun.objects.create(flow=flow, kind=kind, status=status, **counts)
    SyncRun.objects.filter(pk=made.pk).update(started_at=started_at, finished_at=started_at + timedelta(seconds=3))
    return made


@pytest.fixture
def runs():
    contacts, orders = FlowFactory(name="contacts"), FlowFactory(name="orders", entity="orders")
    return {
        "contacts_ok": run(contacts, records_accepted=10),
        "contacts_failed": run(contacts, status=SyncRun.Status.FAILED, started_at=DAY - timedelta(days=1),
                               error="Timeout"),
        "orders_ok": run(orders, started_at=DAY + timedelta(hours=1), records_accepted=3, records_failed=1),
        "pull": run(None, kind=SyncRun.Kind.PULL, started_at=DAY - timedelta(hours=2)),
    }


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_runs_are_listed_newest_first_with_their_counts(api, runs):
    response = api.get("/api/runs/")
    assert ids(response) == [runs[k].pk for k in ("orders_ok", "contacts_ok", "pull", "contacts_failed")]
    first = response.json()["results"][0]
    assert first["flow_name"] == "orders" and first["records_accepted"] == 3 and first["records_failed"] == 1
    assert first["duration_seconds"] == 3.0 and first["kind"] == "push"


@pytest.mark.parametrize(("query", "expected"), [
    ({"flow_name": "contacts"}, ["contacts_ok", "contacts_failed"]),
    ({"kind": "pull"}, ["pull"]),
    ({"status": "failed"}, ["contacts_failed"]),
    ({"date": "2026-05-04"}, ["orders_ok", "contacts_ok", "pull"]),
    ({"started_after": "2026-05-04T11:00:00Z", "started_before": "2026-05-04T13:00:00Z"}, ["contacts_ok"]),
    ({"flow_name": "contacts", "status": "succeeded"}, ["contacts_ok"]),
])
def test_runs_filter_by_flow_kind_status_and_date(api, runs, query, expected):
    assert ids(api.get("/api/runs/", query)) == [runs[k].pk for k in expected]


def test_runs_filter_by_flow_id(api, runs):
    flow = runs["orders_ok"].flow
    assert ids(api.get("/api/runs/", {"flow": flow.pk})) == [runs["orders_ok"].pk]


def test_a_bad_filter_value_is_a_400_not_a_crash(api, runs):
    assert api.get("/api/runs/", {"kind": "teleport"}).status_code == 400


def test_runs_page_by_cursor_without_counting_the_table(api, runs):
    first = api.get("/api/runs/", {"page_size": 2}).json()
    assert "count" not in first and len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"]] == ids(api.get("/api/runs/"))


def test_one_run_by_id(api, runs):
    response = api.get(f"/api/runs/{runs['contacts_failed'].pk}/")
    assert response.status_code == 200 and response.json()["error"] == "Timeout"


def test_health_rows_as_json(api):
    flow = FlowFactory(name="late", lag_alert_minutes=10)
    OutboxItem.objects.create(flow=flow, record_key="1", planned_at=timezone.now() - timedelta(minutes=15))
    FlowFactory(name="calm")

    rows = api.get("/api/health/").json()

    assert [row["flow_name"] for row in rows] == ["calm", "late"]
    late = rows[1]
    assert late["light"] == "amber" and late["backlog"] == 1 and 15 * 60 <= late["lag_seconds"] < 16 * 60
    assert late["problems"] == ["lag 15 min over the 10 min limit"] and late["error_rate_percent"] is None
    assert [row["flow_name"] for row in api.get("/api/health/", {"name": "calm"}).json()] == ["calm"]


def test_a_token_opens_the_api(runs):
    _, key = api_token_issue(user=UserFactory(username="finance-bot", role="Finance"), name="finance bot")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/runs/").status_code == 200
    assert client.get("/api/health/").status_code == 200


@pytest.mark.parametrize("path", ["/api/runs/", "/api/health/", "/api/schema/"])
def test_anonymous_callers_are_refused(path):
    assert APIClient().get(path).status_code == 401


@pytest.mark.parametrize("path", ["/api/runs/", "/api/health/"])
def test_a_user_without_a_role_is_refused(path):
    client = APIClient()
    client.force_authenticate(UserFactory(username="nobody", role=None))
    assert client.get(path).status_code == 403


def test_the_schema_lists_every_api_path(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.") and schema["info"]["title"] == "Sync hub API"
    paths = set(schema["paths"])
    assert {"/api/runs/", "/api/runs/{id}/", "/api/health/"} <= paths
    assert {"/api/exceptions/", "/api/conflicts/"} <= paths  # the exceptions room's API, found by the same generator
    run_filters = {p["name"] for p in schema["paths"]["/api/runs/"]["get"]["parameters"]}
    assert {"flow", "flow_name", "kind", "status", "date", "started_after", "started_before", "cursor"} <= run_filters
    assert api.get("/api/schema/?format=json").json()["paths"].keys() == schema["paths"].keys()
