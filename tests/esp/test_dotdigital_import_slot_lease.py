"""An insight import keeps its slot for as long as dotdigital says it runs: forgotten while
it still ran (900 s after it was sent, the push's polling deadline), it let a push send a
sixth import, which dotdigital refuses with 429 (five at once per account)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import redis

from esp.dotdigital import import_slots
from syncapp.adapters import SubmittedItem, TransportError
from syncapp.models import Priority
from syncapp.ratelimit import calls_for

from .dotdigital_support import FakeClock, world
from .test_dotdigital_insight import insight_calls, products

IMPORTS = ("PUT", "/insightData/v3/import")


@pytest.fixture
def slots_on_the_sandbox_clock(monkeypatch):
    """The slots' leases on the fake wall clock, so hours pass in no time."""
    def use(clock) -> None:
        monkeypatch.setattr(import_slots, "time", SimpleNamespace(time=clock))
    return use


def imports_sent(w) -> list[int]:
    return [status for method, path, status in insight_calls(w) if (method, path) == IMPORTS]


def test_five_imports_still_running_after_their_pushes_stopped_polling_keep_a_sixth_from_being_sent(
        slots_on_the_sandbox_clock):
    with world(import_delay_seconds=100_000) as w:
        slots_on_the_sandbox_clock(w.clock)
        dest = w.destination(poll_deadline=60, poll_max_wait=30)
        with calls_for(Priority.URGENT):
            for n in range(5):
                assert {r.outcome for r in dest.push("products", products(f"SKU-{n}"))} == {"submitted"}
            w.clock.sleep(900)  # past the old lapse; every import still runs at dotdigital

            with pytest.raises(TransportError) as refused:
                dest.push("products", products("SKU-6"))

        assert refused.value.reason_code == "too_many_imports" and refused.value.transient
        assert imports_sent(w) == [202] * 5  # no sixth import, so no 429


def test_an_import_found_running_by_a_confirm_keeps_its_slot_and_one_nobody_sees_lapses(
        slots_on_the_sandbox_clock):
    with world(import_delay_seconds=100_000) as w:
        slots_on_the_sandbox_clock(w.clock)
        dest = w.destination(poll_deadline=60, poll_max_wait=30)
        batch = products("SKU-1")
        [result] = dest.push("products", batch)
        import_id = result.remote_id
        submitted = [SubmittedItem("SKU-1", "", import_id, datetime.now(UTC) - timedelta(hours=1), batch[0].fields)]

        w.clock.sleep(3000)
        assert dest.confirm("products", submitted) == []  # still running
        w.clock.sleep(3000)  # over an hour since it was sent, under an hour since it was seen

        assert dest.insight.slots.active() == [import_id]
        w.clock.sleep(import_slots.SLOT_LEASE_SECONDS + 1)  # nobody asked: a worker that died holding it
        assert dest.insight.slots.active() == []


@pytest.fixture(params=["in the process", "in Redis"])
def slots(request, slots_on_the_sandbox_clock):
    clock = FakeClock()
    slots_on_the_sandbox_clock(clock)
    client = redis.Redis.from_url(request.getfixturevalue("redis_url")) if request.param == "in Redis" else None
    return import_slots.ImportSlots(f"lease-test-{request.param}", redis_client=client), clock


def test_a_slot_seen_running_keeps_its_place_oldest_first_and_one_unseen_for_the_lease_lapses(slots):
    slots, clock = slots
    if slots.redis is None:
        import_slots._local.pop(slots.key, None)
    slots.take("first")
    clock.sleep(10)
    slots.take("second")
    clock.sleep(3000)
    slots.still_running("first")

    assert slots.active() == ["first", "second"]  # the oldest sent is asked about first
    clock.sleep(import_slots.SLOT_LEASE_SECONDS - 3000 + 1)
    assert slots.active() == ["first"]  # "second" was last seen over the lease ago
    slots.free("first")  # another worker read it finished
    slots.still_running("first")  # a status read made before that one answers late: it does not come back
    assert slots.active() == []


def test_an_import_registered_before_leases_were_kept_lapses_as_its_old_age_said(redis_url, slots_on_the_sandbox_clock):
    clock = FakeClock()
    slots_on_the_sandbox_clock(clock)
    slots = import_slots.ImportSlots("lease-test-legacy", redis_client=redis.Redis.from_url(redis_url))
    slots.redis.zadd(slots.key, {"old": clock() - import_slots.SLOT_LEASE_SECONDS - 1, "recent": clock() - 60})
    slots.take("new")

    assert slots.active() == ["recent", "new"]
