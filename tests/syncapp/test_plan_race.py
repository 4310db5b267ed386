"""Two planners of one flow at once (a pull of business partners beside a re-plan of the
same customers: an orders pull re-figuring them, a backfill, a Retry): the one that read
the mirror first must not write its older payload over the newer one. Real PostgreSQL:
the race is between two transactions."""
from __future__ import annotations

import json
import threading

import pytest
from django.db import connection as db

import syncapp.planning as planning
from syncapp.models import OutboxItem
from syncapp.services import connection_pull, flow_push, records_replan
from tests.hub import Hub, partner

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub():
    if db.vendor != "postgresql":
        pytest.skip("a race between two PostgreSQL transactions")
    hub = Hub()
    yield hub
    hub.close()


def test_a_replan_that_read_the_mirror_first_does_not_overwrite_a_newer_plan(hub, monkeypatch):
    hub.sap.add_business_partners([partner("C001")])
    connection_pull(connection=hub.connection, entity="business_partners")
    flow_push(flow=hub.flow)
    assert OutboxItem.objects.get(flow=hub.flow, record_key="C001").status == "accepted"

    replanner: list[threading.Thread] = []
    paused, release = threading.Event(), threading.Event()
    enqueue = planning.outbox_enqueue

    def enqueue_after_a_pause(**kwargs):
        if threading.current_thread() in replanner:
            paused.set()  # the re-plan has read the mirror as it was
            release.wait(10)
        return enqueue(**kwargs)

    monkeypatch.setattr(planning, "outbox_enqueue", enqueue_after_a_pause)
    errors = []

    def run(job):
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - asserted below
            errors.append(error)
        finally:
            db.close()

    def retry():  # a person pressed Retry: re-planned from the mirror, forced
        replanner.append(threading.current_thread())
        records_replan(flow=hub.flow, record_keys=["C001"], force=True)

    def pull():  # meanwhile the customer changes in SAP and the scheduled pull plans it
        connection_pull(connection=hub.connection, entity="business_partners")

    hub.sap_clock.advance(minutes=5)
    hub.sap.update_business_partner("C001", CardName="Renamed Customer")
    first = threading.Thread(target=run, args=(retry,))
    first.start()
    assert paused.wait(10)
    second = threading.Thread(target=run, args=(pull,))
    second.start()
    second.join(2)  # with the planning lock it waits for the re-plan to commit
    release.set()
    first.join(10)
    second.join(10)
    assert not errors

    row = OutboxItem.objects.get(flow=hub.flow, record_key="C001")
    assert "Renamed" in json.dumps(row.payload)  # the newest state of the customer is what goes out
    assert row.status == "pending"
