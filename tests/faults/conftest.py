"""Fixtures of the fault-injection suite, and the results table printed at the end.

Real PostgreSQL only: the workers are other processes and must see committed rows, so
the cases use `transactional_db` and the workers connect to the same test database.
On SQLite the suite skips (it fails instead when SYNC_REQUIRE_SERVICES=1, as in CI).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from .harness import WORKER_TIMINGS, Beat, RedisServer, Workers, test_database_url

VAR_DIR = Path(django_settings.VAR_DIR)


@pytest.fixture
def fault_db(postgres_only, transactional_db):
    """PostgreSQL with committed transactions (the `postgres_only` rule of tests/conftest.py)."""


@pytest.fixture
def fault_dir(request) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:80]
    return VAR_DIR / "faults" / name


@pytest.fixture
def redis_server(fault_db, fault_dir, settings):
    """The suite's own redis-server; the test process's hub code uses it too."""
    server = RedisServer(fault_dir / "redis")
    server.start()
    settings.REDIS_URL = server.url
    for name, value in WORKER_TIMINGS.items():
        setattr(settings, name, float(value) if "." in value else int(value))
    yield server
    server.stop()


@pytest.fixture
def make_hub(fault_db, redis_server):
    """`make_hub(**options)`: a FaultHub (see hub.py for the options); closed at the end."""
    from esp.ometria.confirm import ErrorLedger

    from .hub import FaultHub

    ErrorLedger.forget_all()
    made: list[FaultHub] = []

    def make(**options) -> FaultHub:
        made.append(FaultHub(**options))
        return made[-1]

    yield make
    for hub in made:
        hub.close()


@pytest.fixture
def workers(fault_db, redis_server, fault_dir):
    """Celery workers in subprocesses against the test database and the suite's Redis;
    every one still alive is killed at the end (before the database is flushed)."""
    from django.db import connection

    pool = Workers(database_url=test_database_url(connection.settings_dict["NAME"]), redis_url=redis_server.url,
                   logdir=fault_dir, extra_env={})
    yield pool
    pool.stop_all()


@pytest.fixture
def beat(redis_server):
    return Beat(redis_server.url)
