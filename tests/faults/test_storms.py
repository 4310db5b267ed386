"""429 and 5xx storms from each destination, shorter than the retry budget: nothing lost,
nothing duplicated, and no record turned into an exception by the storm."""
from __future__ import annotations

import time

import pytest

from syncapp.models import Flow

from .harness import WORKER_TIMINGS, wait_until
from .hub import health_lights, partner
from .results import case_record

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("fault_db")]

# 429 (Retry-After 1 s) for 3 s, then 503 for 3 s: 6 s in all. The retry budget is four
# backoffs before the fifth attempt, at least 1 + 2 + 4 + 8 = 15 s with base 2 s and full
# jitter (each wait is between half and all of base * 2^(n-1)).
STORM = ((429, 3.0), (503, 3.0))
BUDGET = sum(float(WORKER_TIMINGS["SYNC_BACKOFF_BASE_SECONDS"]) * 2 ** n / 2
             for n in range(int(WORKER_TIMINGS["SYNC_MAX_ATTEMPTS"]) - 1))


@pytest.mark.parametrize("destination", ["dotdigital", "ometria"])
def test_a_429_and_5xx_storm_shorter_than_the_retry_budget_loses_nothing_and_raises_no_exception(
        make_hub, workers, beat, destination):
    assert sum(seconds for _, seconds in STORM) < BUDGET
    hub = make_hub()
    flow, gate, other = ((hub.dd_flow, hub.dd_gate, hub.om_flow) if destination == "dotdigital"
                         else (hub.om_flow, hub.om_gate, hub.dd_flow))
    Flow.objects.filter(pk=other.pk).update(enabled=False)
    gate.storm(*STORM, retry_after=1.0, paths=("/contacts/", "/v2/push"))
    keys = [f"S{i:03d}" for i in range(150)]
    hub.sap.add_business_partners([partner(key) for key in keys])
    workers.start()
    beat.pull(hub.connection.pk)

    lights: set[str] = set()

    def storm_tick() -> None:
        beat.sweep()
        lights.update(health_lights(flow))

    assert wait_until(gate.storm_over, timeout=60, every=0.5, tick=storm_tick), "the storm never met a push"
    over_at = time.monotonic()
    settled = wait_until(lambda: hub.unsettled(flow) == 0, timeout=60, every=0.5, tick=beat.sweep)
    recovery = time.monotonic() - over_at if settled else None
    tally = hub.tally(flow, keys)
    case_record(case=f"5 429+503 storm {sum(s for _, s in STORM):.0f} s ({destination})", tallies=[tally],
                recovery_seconds=recovery, health_during=lights)

    assert gate.storm_answers > 0
    assert settled, f"{hub.unsettled(flow)} rows still unsettled a minute after the storm"
    assert (tally.lost, tally.duplicated, tally.exceptions) == ([], [], {})
    assert tally.at_destination == len(keys)
