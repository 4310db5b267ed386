"""A destination that answers 200 and then refuses some records: Ometria's validation after
its answer, dotdigital's import with per-row failures. The refused records are open
exceptions with reasons; the rest are accepted."""
from __future__ import annotations

import time

import pytest

from esp.models import FieldMapping
from syncapp.models import SyncRun

from .harness import wait_until
from .hub import partner
from .results import case_record

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("fault_db")]


def test_records_refused_after_the_answer_are_open_exceptions_and_the_rest_are_accepted(make_hub, workers, beat):
    hub = make_hub()
    FieldMapping.objects.create(destination=hub.om_account, source_field="cellular", target_field="phone_number")
    keys = [f"R{i:03d}" for i in range(40)]
    bad_phone = keys[5:8]  # not E.164: Ometria takes the call, then its validation refuses them
    suppressed = keys[20:23]  # suppressed at dotdigital: the import's report lists them as failures
    hub.sap.add_business_partners([partner(key, Cellular="07700 900456" if key in bad_phone else "+447700900123")
                                   for key in keys])
    for key in suppressed:
        hub.dd.suppress(f"{key.lower()}@example.com")
    workers.start()
    started = time.monotonic()
    beat.pull(hub.connection.pk)

    pulled = SyncRun.objects.filter(kind=SyncRun.Kind.PULL, connection=hub.connection, finished_at__isnull=False)
    settled = wait_until(lambda: pulled.exists() and hub.unsettled() == 0, timeout=90, every=0.5, tick=beat.sweep)
    dd, om = hub.tally(hub.dd_flow, keys), hub.tally(hub.om_flow, keys)
    case_record(case="6 200 then refused (both)", tallies=[dd, om],
                recovery_seconds=time.monotonic() - started if settled else None)

    assert settled, f"{hub.unsettled()} rows still unsettled"
    assert dd.exceptions == dict.fromkeys(suppressed, "contact_suppressed")
    assert set(om.exceptions) == set(bad_phone) and all(om.exceptions.values())
    problems = hub.om_flow.exceptions.filter(record_key__in=bad_phone, status="open")
    assert all("phone_number" in problem.message for problem in problems), [p.message for p in problems]
    for tally, refused in ((dd, suppressed), (om, bad_phone)):
        assert (tally.lost, tally.duplicated) == ([], [])
        assert tally.at_destination == len(keys) - len(refused)
