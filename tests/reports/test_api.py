"""Finance's REST API: the same reconciliation as the pages, in the OpenAPI schema, by role."""
from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from reports.models import Resend

pytestmark = pytest.mark.django_db


def test_the_reconciliation_is_per_destination_with_decimal_strings(api_as, month):
    body = api_as("finance").get("/api/reports/reconciliation/", month.query()).json()
    assert [(r["destination"], r["source"]) for r in body] == [("dd", "read_back"), ("om", "ledger")]
    gbp = next(line for line in body[0]["currencies"] if line["currency"] == "GBP")
    assert (gbp["erp_value"], gbp["destination_value"], gbp["gap"], gbp["listed"], gbp["explained"]) == (
        "145.00", "100.00", "45.00", "45.00", True)
    assert body[0]["counts"] == {"missing": 1, "waiting": 1} and body[0]["matched"] == 2


def test_the_differences_are_document_rows_filtered_and_paged(api_as, month):
    client = api_as("admin")
    body = client.get("/api/reports/reconciliation/differences/", month.query(kind="missing")).json()
    assert body["count"] == 2
    assert {(r["destination"], r["key"], r["gap"], r["erp_value"], r["destination_value"]) for r in body["results"]} \
        == {("dd", "1004", "30.00", "30.00", None), ("om", "1004", "30.00", "30.00", None)}
    page = client.get("/api/reports/reconciliation/differences/", month.query(limit=1)).json()
    assert page["count"] == 4 and len(page["results"]) == 1 and page["next"]
    assert client.get("/api/reports/reconciliation/differences/", {"kind": "nope"}).status_code == 400
    assert client.get("/api/reports/reconciliation/", {"date_from": "2026-01-01"}).status_code == 400


def test_the_erp_side_by_currency_and_day(api_as, month):
    (body,) = api_as("finance").get("/api/reports/erp-summary/", month.query()).json()
    assert [(r["currency"], r["kinds"]["orders"]["count"], r["net"]) for r in body["by_currency"]] == [
        ("EUR", 1, "60.00"), ("GBP", 3, "174.00")]
    assert body["by_day"][0]["day"] == month.period.date_from.replace(day=10).isoformat()


def test_resend_through_the_api_queues_and_is_recorded(api_as, month):
    response = api_as("finance").post("/api/reports/reconciliation/resend/", {
        "flow": month.dd.pk, "date_from": month.period.date_from.isoformat(),
        "date_to": month.period.date_to.isoformat()}, format="json")
    assert response.status_code == 201 and response.json()["record_keys"] == ["1004"]
    assert response.json()["queued"] == 1 and Resend.objects.get().requested_by.username == "api-finance"


@pytest.mark.parametrize("role", ["marketing", "webshop"])
def test_other_roles_are_refused_every_endpoint(api_as, month, role):
    client = api_as(role)
    for url in ("/api/reports/reconciliation/", "/api/reports/reconciliation/differences/",
                "/api/reports/erp-summary/"):
        assert client.get(url).status_code == 403, url
    assert client.post("/api/reports/reconciliation/resend/", {}, format="json").status_code == 403
    assert Resend.objects.count() == 0


def test_the_endpoints_are_in_the_openapi_schema(db):
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert {"/api/reports/reconciliation/", "/api/reports/reconciliation/differences/",
            "/api/reports/reconciliation/resend/", "/api/reports/erp-summary/"} <= set(paths)
    assert "201" in paths["/api/reports/reconciliation/resend/"]["post"]["responses"]
