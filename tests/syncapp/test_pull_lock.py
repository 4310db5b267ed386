"""One pull per connection and entity at a time, across processes, and never left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection as db

from syncapp.entities import flow_entity
from syncapp.locks import PullInProgress, pull_lock
from syncapp.models import SyncRun
from syncapp.services import connection_pull
from tests.factories import ErpConnectionFactory, FlowFactory

pytestmark = pytest.mark.django_db


class HeldElsewhere:
    """The lock held by another thread (its own database session), until released."""

    def __init__(self, connection, entity: str) -> None:
        self.taken, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(connection, entity), daemon=True)

    def _hold(self, connection, entity) -> None:
        try:
            with pull_lock(connection, entity) as acquired:
                assert acquired
                self.taken.set()
                self.release.wait(30)
        finally:
            db.close()

    def __enter__(self):
        self.thread.start()
        assert self.taken.wait(10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(10)


def test_a_second_pull_of_the_same_entity_is_refused_while_the_first_runs():
    connection = ErpConnectionFactory()
    with HeldElsewhere(connection, "orders"):
        with pull_lock(connection, "orders") as second:
            assert not second
        with pull_lock(connection, "business_partners") as other_entity:
            assert other_entity  # another entity of the same connection may run beside it
    with pull_lock(connection, "orders") as again:
        assert again  # released when the first pull ended


def test_items_and_their_stock_share_one_lock_because_they_write_the_same_rows():
    connection = ErpConnectionFactory()
    with HeldElsewhere(connection, "items"), pull_lock(connection, "item_stock") as stock:
        assert not stock


def test_two_sync_once_at_the_same_time_the_second_skips_with_a_message():
    flow = FlowFactory()
    with ExitStack() as running:  # the first sync is reading every entity the flow needs
        for entity in flow_entity(flow.entity).triggers:
            running.enter_context(HeldElsewhere(flow.connection, entity))
        with pytest.raises(PullInProgress):
            connection_pull(connection=flow.connection, entity="business_partners")
        out = StringIO()
        call_command("sync", "--once", "--flow", flow.name, "--no-progress", stdout=out)
    assert "skipped. Another pull of business_partners" in out.getvalue()
    assert not SyncRun.objects.filter(kind=SyncRun.Kind.PULL).exists()  # nothing was read twice


def test_a_pull_killed_holding_the_lock_leaves_it_free(tmp_path):
    """The lock is the process's: a SIGKILL cannot leave it taken (no expiry to wait for)."""
    connection = ErpConnectionFactory()
    settings_dict = db.settings_dict
    env = dict(os.environ, SYNC_ENVIRONMENT="test")
    if db.vendor == "postgresql":
        env["DATABASE_URL"] = (f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:"
                               f"{settings_dict['PORT']}/{settings_dict['NAME']}")
    script = (
        "import django, sys, time; django.setup()\n"
        "from types import SimpleNamespace\n"
        "from syncapp.locks import pull_lock\n"
        f"with pull_lock(SimpleNamespace(pk={connection.pk}), 'orders') as ok:\n"
        "    print('held' if ok else 'busy', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True,
                             cwd=os.getcwd())
    try:
        assert child.stdout.readline().strip() == "held"
        with pull_lock(connection, "orders") as while_alive:
            assert not while_alive
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 10
        while True:  # PostgreSQL notices the closed session within moments
            with pull_lock(connection, "orders") as after_kill:
                if after_kill or time.monotonic() > deadline:
                    break
            time.sleep(0.1)
        assert after_kill
    finally:
        child.kill()
