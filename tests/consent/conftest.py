"""The consent tests' fixtures: a logged-in client per role, and a hub per destination."""
import pytest

from tests.consent.hubs import dotdigital_hub, ometria_hub
from tests.web.conftest import as_role  # noqa: F401


@pytest.fixture
def dd_hub():
    hub = dotdigital_hub()
    yield hub
    hub.close()


@pytest.fixture
def om_hub(redis_url):
    hub = ometria_hub()
    yield hub
    hub.close()
