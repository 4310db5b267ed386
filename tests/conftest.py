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


@pytest.fixture(autouse=True)
def _shared_redis_starts_empty(settings):
    """With REDIS_URL set (CI), the tests one worker runs share its Redis database: a pause a
    429 left on an account's allowance, or a waiter listed there, would hold up the next test
    whose account has the same name. Each test starts from an empty one."""
    if not settings.REDIS_URL:
        yield
        return
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).flushdb()
    except redis.RedisError:
        pass  # a test that needs Redis fails on its own, with its own message
    yield


@pytest.fixture
def redis_url():
    """A real Redis. In CI (SYNC_REQUIRE_SERVICES=1) its absence fails the test."""
    import redis
    from django.conf import settings

    url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    if not settings.REDIS_URL and settings.TEST_WORKER:
        # Spread over workers without REDIS_URL (bin/test on the defaults), each still needs a
        # database of its own: another worker's flushdb would wipe this test's keys mid-test.
        from syncapp.test_workers import redis_url_for_worker

        url = redis_url_for_worker(url, settings.TEST_WORKER)
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
def hub():
    """Both sandboxes on real sockets and a hub configured against them (tests/hub.py);
    a test file with a hub of its own shape defines its own `hub`."""
    from tests.hub import Hub

    hub = Hub()
    yield hub
    hub.close()


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


# The fault-injection suite's results table, printed once at the end. Spread over cores
# (pytest-xdist), each worker hands its cases to the controller, which prints them all.
_FAULT_RESULTS_FROM_WORKERS: list = []


def pytest_sessionfinish(session):
    from tests.faults.results import RESULTS

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fault_results"] = [vars(result) for result in RESULTS]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _FAULT_RESULTS_FROM_WORKERS.extend(node.workeroutput.get("fault_results", []))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from tests.faults.results import RESULTS, CaseResult, results_table

    results = RESULTS + [CaseResult(**fields) for fields in _FAULT_RESULTS_FROM_WORKERS]
    if results:
        terminalreporter.section("fault-injection results")
        terminalreporter.write_line(results_table(results))
