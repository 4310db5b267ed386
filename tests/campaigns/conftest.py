"""A logged-in client per role (as tests/web does)."""
import pytest

from syncapp.roles import FINANCE, INTEGRATION_ADMIN, MARKETING
from tests.web.factories import UserFactory

ROLE_USERS = {"marketing": MARKETING, "finance": FINANCE, "admin": INTEGRATION_ADMIN}


@pytest.fixture
def as_role(client, db):
    def login(name: str):
        client.logout()
        if name != "anonymous":
            client.force_login(UserFactory(username=name, role=ROLE_USERS[name]))
        return client

    return login
