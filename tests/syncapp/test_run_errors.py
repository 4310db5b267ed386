"""Stored error texts (runs, outbox rows) are read by finance and admins: never an email address."""
from __future__ import annotations

import pytest

from syncapp.adapters import TransportError
from syncapp.models import OutboxItem, SyncRun
from syncapp.outbox import PlannedRecord, outbox_enqueue
from syncapp.services import connection_pull, flow_push
from tests.syncapp.fakes import FakeDestination

pytestmark = pytest.mark.django_db


class Crashing(FakeDestination):
    def push(self, entity, items):
        raise RuntimeError("bad row for jane.doe@example.com in column email")


class Unreachable:
    def read_changes(self, entity, cursor):
        raise TransportError("timeout reading partner of john.smith@example.org", permanent=False)
        yield  # a generator, as source adapters are


def test_a_crashed_push_keeps_its_error_on_the_row_without_the_email_address(flow):
    outbox_enqueue(flow=flow, records=[PlannedRecord(key="C1", identifier="c1@example.com", payload={})])
    flow_push(flow=flow, adapter=Crashing())
    error = OutboxItem.objects.get(record_key="C1").last_error
    assert "jane.doe@example.com" not in error and "j***@example.com" in error


def test_a_stopped_pull_stores_its_error_without_the_email_address(flow):
    run = connection_pull(connection=flow.connection, adapter=Unreachable())
    assert run.status == SyncRun.Status.FAILED
    assert "john.smith@example.org" not in run.error and "j***@example.org" in run.error
