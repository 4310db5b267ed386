"""The OpenAPI schema is for the roles that use the API, not for the web shop's token."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
SCHEMA = "/api/schema/"


def test_the_web_shop_token_cannot_read_the_api_schema(api_as):
    assert api_as("webshop").get(SCHEMA).status_code == 403


@pytest.mark.parametrize("role", ["marketing", "finance", "admin"])
def test_the_roles_that_use_the_api_read_its_schema(api_as, role):
    response = api_as(role).get(SCHEMA, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/exceptions/" in response.json()["paths"]


def test_an_anonymous_caller_cannot_read_the_api_schema():
    assert APIClient().get(SCHEMA).status_code in (401, 403)
