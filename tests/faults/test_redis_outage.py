"""Redis (the task broker and the token buckets) stopped mid-push, then started again empty:
nothing is lost, the outage spends no record's attempts and blames no destination, and
health is not green while it lasts."""
from __future__ import annotations

import os
import time

import pytest

from exceptions.models import SyncException
from syncapp.models import OutboxItem, OutboxStatus

from .harness import wait_until
from .hub import health_lights, partner
from .results import case_record

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("fault_db")]

# The 60 s; FAULTS_REDIS_OUTAGE_SECONDS shortens it when trying the suite by hand.
OUTAGE_SECONDS = float(os.environ.get("FAULTS_REDIS_OUTAGE_SECONDS", "60"))


def test_redis_stopped_mid_push_loses_nothing_spends_no_attempts_and_shows_on_health(
        make_hub, workers, beat, redis_server):
    # dotdigital runs its import for 6 s and Ometria answers each call after 1 s: the worker
    # is mid-push when Redis goes.
    hub = make_hub(dd_import_delay=6.0)
    hub.om_gate.slow("/v2/push", 1.0)
    keys = [f"K{i:04d}" for i in range(300)]
    hub.sap.add_business_partners([partner(key) for key in keys])
    workers.start()
    beat.pull(hub.connection.pk)
    assert wait_until(lambda: any(call[:2] == ("PUT", "/contacts/v3/import") for call in list(hub.dd.call_log)),
                      timeout=60), "the push never started"

    redis_server.stop()
    stopped_at = time.monotonic()
    lights: set[str] = set()

    def outage_tick() -> None:
        beat.sweep()  # refused while the broker is down, as the real beat's would be
        lights.update(health_lights(*hub.flows()))

    wait_until(lambda: time.monotonic() - stopped_at >= OUTAGE_SECONDS, timeout=OUTAGE_SECONDS + 5, every=1.0,
               tick=outage_tick)
    redis_server.start()  # empty: every task message and bucket is gone
    started_at = time.monotonic()
    hub.om_gate.unslow()
    settled = wait_until(lambda: hub.unsettled() == 0, timeout=120, every=0.5, tick=beat.sweep)
    recovery = time.monotonic() - started_at if settled else None
    tallies = [hub.tally(hub.dd_flow, keys), hub.tally(hub.om_flow, keys)]
    case_record(case=f"3 Redis stopped {OUTAGE_SECONDS:.0f} s mid-push", tallies=tallies,
                recovery_seconds=recovery, health_during=lights)

    blamed = SyncException.objects.filter(reason_code="destination_unreachable").count()
    assert blamed == 0, f"{blamed} records blamed on the destination for the hub's own Redis outage"
    assert lights - {"green"}, "health stayed green while Redis was down"
    assert settled, f"{hub.unsettled()} rows still unsettled 2 minutes after Redis came back"
    for tally in tallies:
        assert (tally.lost, tally.duplicated, tally.exceptions) == ([], [], {})
    # dotdigital has no state in Redis: a row that needed a second send lost an attempt to the outage.
    spent = OutboxItem.objects.filter(flow=hub.dd_flow, attempts__gt=1).count()
    assert spent == 0, f"{spent} dotdigital rows spent attempts on the Redis outage"
    assert not OutboxItem.objects.filter(flow__in=hub.flows(), status=OutboxStatus.FAILED).exists()
