"""Two connections writing at once wait for each other, on SQLite as on PostgreSQL.

A worker's heartbeat thread renews leases while its main thread writes. SQLite's in-memory
test database (shared cache) refused the second writer at once with "database table is
locked" instead of waiting, so a lease test failed now and then under load; the test
database is now a file, where the busy timeout applies as it does for the embedded defaults.
"""
from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from syncapp.models import SyncRun


@pytest.mark.django_db(transaction=True)
def test_a_write_waits_for_another_connections_write_instead_of_failing(flow):
    run = SyncRun.objects.create(kind=SyncRun.Kind.PULL, connection=flow.connection)
    holding, release, failures = threading.Event(), threading.Event(), []

    def other_writer():  # a heartbeat in the middle of its UPDATE
        try:
            with transaction.atomic():
                SyncRun.objects.filter(pk=run.pk).update(error="held")
                holding.set()
                release.wait(5)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)
            holding.set()
        finally:
            connection.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert holding.wait(5)
    threading.Timer(0.5, release.set).start()
    SyncRun.objects.create(kind=SyncRun.Kind.PULL, connection=flow.connection)  # waits, then writes
    thread.join(10)
    assert not failures
    assert SyncRun.objects.filter(connection=flow.connection).count() == 2
    assert SyncRun.objects.get(pk=run.pk).error == "held"
