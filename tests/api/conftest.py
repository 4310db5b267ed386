"""Fixtures of the API tests: a token client per role."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING, WEB_SHOP
from tests.web.factories import UserFactory

ROLES = {"marketing": MARKETING, "finance": FINANCE, "admin": INTEGRATION_ADMIN, "webshop": WEB_SHOP}


def api_token_for(user) -> str:
    """The one place the API tests get a token: a hashed token issued as an admin would."""
    from accounts.tokens import api_token_issue

    return api_token_issue(user=user, name="api tests")[1]


@pytest.fixture
def api_as(db):
    """`api_as("webshop")`: an APIClient carrying a token of a user in that role."""

    def client_for(role: str) -> APIClient:
        client = APIClient()
        user = UserFactory(username=f"api-{role}", role=ROLES[role])
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
        return client

    return client_for
