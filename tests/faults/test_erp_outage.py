"""The ERP unreachable for a stretch, then back; and a pull killed mid-page."""
from __future__ import annotations

import time

import pytest

from exceptions.models import SyncException
from syncapp.models import Flow, SyncRun

from .harness import wait_until
from .hub import ACTIVE, health_lights, partner
from .results import case_record

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("fault_db")]

OUTAGE_SECONDS = 20.0
PULL_EVERY = 2.0


class Puller:
    """Beat's pull schedule: a pull task every PULL_EVERY seconds, and the sweep."""

    def __init__(self, beat, connection_id: int) -> None:
        self.beat, self.connection_id, self.last = beat, connection_id, 0.0

    def __call__(self) -> None:
        if time.monotonic() - self.last >= PULL_EVERY:
            self.last = time.monotonic()
            self.beat.pull(self.connection_id)
        self.beat.sweep()


def _unreachable(connection) -> bool:
    return SyncException.objects.filter(connection=connection, reason_code="erp_unreachable",
                                        status__in=ACTIVE).exists()


def test_an_erp_outage_shows_on_health_loses_nothing_and_resolves_itself(make_hub, workers, beat):
    hub = make_hub()
    Flow.objects.filter(pk=hub.om_flow.pk).update(enabled=False)
    before = [f"A{i:03d}" for i in range(40)]
    during = [f"B{i:03d}" for i in range(40)]
    hub.sap.add_business_partners([partner(key) for key in before])
    workers.start()
    tick = Puller(beat, hub.connection.pk)
    assert wait_until(lambda: hub.tally(hub.dd_flow, before).at_destination == len(before), timeout=60, every=0.5,
                      tick=tick), "the first records never arrived"

    hub.sap_socket.close()  # connection refused
    hub.sap.add_business_partners([partner(key) for key in during])  # people go on working in SAP
    closed_at = time.monotonic()
    lights: set[str] = set()
    seen_exception = False

    def outage_tick() -> None:
        nonlocal seen_exception
        tick()
        lights.update(health_lights(hub.dd_flow))
        seen_exception = seen_exception or _unreachable(hub.connection)

    wait_until(lambda: time.monotonic() - closed_at >= OUTAGE_SECONDS, timeout=OUTAGE_SECONDS + 5, every=0.5,
               tick=outage_tick)
    hub.sap_socket.open()
    opened_at = time.monotonic()
    everything = before + during
    back = wait_until(lambda: hub.tally(hub.dd_flow, everything).at_destination == len(everything)
                      and not _unreachable(hub.connection), timeout=60, every=0.5, tick=tick)
    recovery = time.monotonic() - opened_at if back else None
    tally = hub.tally(hub.dd_flow, everything)
    case_record(case=f"4a ERP unreachable {OUTAGE_SECONDS:.0f} s", tallies=[tally], recovery_seconds=recovery,
                health_during=lights)

    assert seen_exception, "no erp_unreachable exception while the ERP could not be reached"
    assert lights & {"amber", "red"}, f"health showed only {lights} while the ERP could not be reached"
    assert back, "the outage did not resolve itself, or records changed during it never arrived"
    assert (tally.lost, tally.duplicated, tally.exceptions) == ([], [], {})


def test_a_pull_killed_mid_page_is_read_again_and_its_run_ends_failed(make_hub, workers, beat):
    hub = make_hub()
    Flow.objects.filter(pk=hub.om_flow.pk).update(enabled=False)
    keys = [f"P{i:03d}" for i in range(60)]  # two pages of 50
    hub.sap.add_business_partners([partner(key) for key in keys])
    hub.sap_gate.slow("/BusinessPartners", 10.0)
    first = workers.start()
    beat.pull(hub.connection.pk)
    running = SyncRun.objects.filter(kind=SyncRun.Kind.PULL, connection=hub.connection,
                                     status=SyncRun.Status.RUNNING)
    assert wait_until(lambda: hub.sap_gate.busy("/BusinessPartners") and running.exists(), timeout=60), (
        "the pull never got as far as reading a page")
    killed_run = running.get()
    workers.kill(first)
    killed_at = time.monotonic()
    hub.sap_gate.unslow()
    workers.start()

    tick = Puller(beat, hub.connection.pk)
    arrived = wait_until(lambda: hub.tally(hub.dd_flow, keys).at_destination == len(keys), timeout=60, every=0.5,
                         tick=tick)
    recovery = time.monotonic() - killed_at if arrived else None
    # The sweep ends a run whose worker's lease lapsed, and health says a worker died.
    ended = wait_until(lambda: SyncRun.objects.get(pk=killed_run.pk).status != SyncRun.Status.RUNNING,
                       timeout=30, every=0.5, tick=beat.sweep)
    lights = health_lights(hub.dd_flow)
    tally = hub.tally(hub.dd_flow, keys)
    case_record(case="4b pull SIGKILL mid-page", tallies=[tally], recovery_seconds=recovery, health_during=lights)

    assert arrived, f"{len(tally.lost)} records of the killed page never arrived"
    assert (tally.lost, tally.duplicated, tally.exceptions) == ([], [], {})
    killed_run.refresh_from_db()
    assert ended and killed_run.status == SyncRun.Status.FAILED, "the killed pull's run still says running"
    assert "abandoned" in killed_run.error.lower()
    assert lights - {"green"}, "health stayed green although a worker died mid-pull"
