"""Test-wide fixtures. Secrets come from the environment, as in production."""
import os

import pytest

os.environ.setdefault("TEST_SAP_B1_PASSWORD", "sandbox-b1-password")
os.environ.setdefault("TEST_DOTDIGITAL_PASSWORD", "sandbox-dd-password")


@pytest.fixture(autouse=True)
def _no_real_network_secrets(settings):
    settings.SANDBOXES_ENABLED = True


def _service_required() -> bool:
    return os.environ.get("SYNC_REQUIRE_SERVICES") == "1"


@pytest.fixture
def redis_url():
    """A real Redis. In CI (SYNC_REQUIRE_SERVICES=1) its absence fails the test."""
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        if _service_required():
            raise
        pytest.skip("Redis is not running (CI runs these against a real one)")
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def postgres_only(settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        if _service_required():
            pytest.fail("These tests need PostgreSQL: set DATABASE_URL")
        pytest.skip("needs PostgreSQL (CI sets DATABASE_URL)")


@pytest.fixture
def flow(db):
    """A customers flow with the default mappings and no real vendor behind it."""
    from esp.default_mappings import mappings_install_defaults
    from tests.factories import FlowFactory

    flow = FlowFactory()
    mappings_install_defaults(destination=flow.destination)
    return flow
