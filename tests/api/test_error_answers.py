"""Refusals an API client can read: JSON under /api/, and each one written in the schema."""
from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


def test_an_api_path_no_route_matches_is_a_json_404(api_as):
    response = api_as("marketing").get("/api/runs/1.5/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {"detail": "Not found."}


def test_a_page_no_route_matches_is_still_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_the_schema_documents_each_refusal_an_operation_can_answer():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for item in paths.values():
        for operation in item.values():
            assert {"401", "403", "429"} <= set(operation["responses"])
    assert {"404", "400"} <= set(paths["/api/exceptions/{id}/ignore/"]["post"]["responses"])
    assert {"400", "413", "415"} <= set(paths["/api/provisional-orders/"]["post"]["responses"])
    assert "404" in paths["/api/runs/"]["get"]["responses"]  # an unreadable cursor
