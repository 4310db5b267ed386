"""Ometria's confirm state is leased like claimed rows: a killed worker frees it within a
lease, a slow live one keeps it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from esp.ometria.confirm import ErrorLedger


def test_a_worker_killed_while_confirming_frees_the_confirm_state_within_a_lease(redis_url, settings):
    settings.REDIS_URL = redis_url
    settings.SYNC_LEASE_SECONDS = 2
    env = dict(os.environ, REDIS_URL=redis_url, SYNC_LEASE_SECONDS="2", SYNC_HEARTBEAT_SECONDS="0.5",
               SYNC_ENVIRONMENT="test")
    env.pop("PYTEST_XDIST_WORKER", None)  # redis_url is this worker's already
    script = ("import django, time; django.setup()\n"
              "from esp.ometria.confirm import ErrorLedger\n"
              "with ErrorLedger('killed-acct').update() as state:\n"
              "    print('holding', flush=True); time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "holding"
        time.sleep(3)  # longer than the lease: a live holder has renewed it
        with ErrorLedger("killed-acct").update(wait=False) as state:
            assert state is None
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        started = time.monotonic()
        with ErrorLedger("killed-acct").update() as state:
            assert state is not None
        assert time.monotonic() - started < 5  # a lease, not the old 300 s
    finally:
        child.kill()


def test_the_embedded_ledger_still_refuses_a_second_holder(settings):
    settings.REDIS_URL = ""
    ledger = ErrorLedger("local-acct", redis_client=None)
    held = threading.Event()
    release = threading.Event()

    def hold():
        with ledger.update():
            held.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    with ErrorLedger("local-acct", redis_client=None).update(wait=False) as state:
        assert state is None
    release.set()
    thread.join()
