"""Pacing at the destinations' documented limits: no call is spent on a 429 the hub could
have seen coming. dotdigital says how much of the minute is left (X-RateLimit-Remaining /
-Reset); Ometria counts calls per second by arrival, which the network can delay."""
from __future__ import annotations

import itertools
import os
import threading
import time
import uuid

import pytest
import requests

from esp.dotdigital.client import DotdigitalClient
from esp.dotdigital.sandbox import DEMO_API_USER
from esp.dotdigital.sandbox import build_demo_sandbox as build_dotdigital_sandbox
from esp.models import EspAccount
from esp.ometria.adapter import OmetriaDestination, data_api_throttle
from esp.ometria.client import OmetriaClient
from esp.ometria.confirm import ErrorLedger
from esp.ometria.sandbox import build_demo_sandbox
from syncapp.adapters import PushItem
from syncapp.ratelimit import LocalTokenBucket, throttle_for
from syncapp.sandbox_server import serve_in_thread

from .dotdigital_support import PASSWORD, running, world

os.environ.setdefault("TEST_OMETRIA_API_KEY", "sandbox-ometria-key")
OM_KEY = os.environ["TEST_OMETRIA_API_KEY"]
WINDOW_START = 1_699_999_980.0  # dotdigital's sandbox counts whole minutes; this one starts here


# ---------------------------------------------------------------- dotdigital


@pytest.mark.parametrize("reset_header", ["seconds", "epoch"])
def test_a_dotdigital_client_that_sees_none_remaining_waits_for_the_reset_before_its_next_call(reset_header):
    with world(calls_per_minute=3, reset_header=reset_header) as w:
        w.clock.now = WINDOW_START + 10  # the allowance comes back in 50 s
        client = w.client()
        for _ in range(3):
            client.list_data_fields()
        assert (client.rate_limit.remaining, client.rate_limit.reset) == (0, 50.0)

        client.list_data_fields()

        assert [status for _, _, status in w.sandbox.call_log] == [200, 200, 200, 200]  # not one 429
        assert len(w.clock.sleeps) == 1 and w.clock.now >= WINDOW_START + 60  # it went in the next minute
        assert w.throttle.deferred and w.throttle.deferred[0] >= 50.0  # the other workers were told too


def test_another_worker_waits_for_the_reset_through_the_shared_bucket():
    with world(calls_per_minute=2) as w:
        w.clock.now = WINDOW_START + 30
        bucket = LocalTokenBucket(6000, clock=w.clock, sleep=w.clock.sleep)  # the account's, shared

        def worker() -> DotdigitalClient:
            return DotdigitalClient(f"{w.server.url}/r1", DEMO_API_USER, PASSWORD, throttle=bucket,
                                    sleep=w.clock.sleep, clock=w.clock)

        first = worker()
        first.list_data_fields()
        first.list_data_fields()  # the last call of the minute
        worker().list_data_fields()  # a fresh client knows nothing: the bucket holds it back

        assert [status for _, _, status in w.sandbox.call_log] == [200, 200, 200]
        assert w.clock.now >= WINDOW_START + 60


class AnswerHeldBack:
    """Serves the sandbox, but holds back the answer to its `nth` call once dotdigital has
    counted it, as a slow worker or network does; `counted` is set then."""

    def __init__(self, app, nth: int, seconds: float) -> None:
        self.app, self.nth, self.seconds = app, nth, seconds
        self.counted = threading.Event()
        self._seen = itertools.count(1)

    def __call__(self, environ, start_response):
        answer = self.app(environ, start_response)
        if next(self._seen) == self.nth:
            self.counted.set()
            time.sleep(self.seconds)
        return answer


@pytest.mark.parametrize("shared", ["redis", "embedded"])
def test_a_call_waits_while_the_last_of_the_minute_may_be_spent_by_another_workers_call_still_on_its_way(
        shared, settings, redis_url):
    settings.REDIS_URL = redis_url if shared == "redis" else ""
    # The sandbox's minute ends 4 s from now (its clock runs ahead), so the test waits seconds, not a minute.
    ahead = (56 - time.time() % 60) % 60
    sandbox = build_dotdigital_sandbox(PASSWORD, calls_per_minute=3, clock=lambda: time.time() + ahead)
    held = AnswerHeldBack(sandbox, nth=3, seconds=1.0)
    with running(held) as server:
        account = EspAccount(name=f"dd-{uuid.uuid4().hex[:8]}", kind="dotdigital")
        bucket = throttle_for(account, 35)  # the engine's bucket at the Low tier: ten calls may go back to back

        def worker() -> DotdigitalClient:
            return DotdigitalClient(f"{server.url}/r1", DEMO_API_USER, PASSWORD, throttle=bucket)

        minute = (time.time() + ahead) // 60
        first = worker()
        first.list_data_fields()
        first.list_data_fields()  # one call of the minute left
        last = threading.Thread(target=worker().list_data_fields)
        last.start()
        held.counted.wait(5)  # that call has reached dotdigital; its answer is on the way
        worker().list_data_fields()
        last.join()

        went_in = (time.time() + ahead) // 60

    assert [status for _, _, status in sandbox.call_log] == [200, 200, 200, 200]  # not one 429
    assert went_in == minute + 1  # the other worker's call waited for the next minute


# ---------------------------------------------------------------- Ometria


class LateOnTheWire(requests.Session):
    """Holds every fifth push `delay` seconds before it leaves, as a congested network path
    does: that call reaches Ometria late, the ones after it on time. `sent` numbers the
    pushes of every session sharing it."""

    def __init__(self, sent: itertools.count, delay: float = 0.2) -> None:
        super().__init__()
        self.sent, self.delay = sent, delay

    def request(self, method, url, *args, **kwargs):
        if method == "POST" and next(self.sent) % 5 == 0:
            time.sleep(self.delay)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def ometria():
    """Ometria's sandbox on the real clock at its documented limit: at most 4 pushes in any
    second by arrival (50 ms of slack), 4 Data API reads a second beside them."""
    ErrorLedger.forget_all()
    sandbox = build_demo_sandbox(OM_KEY, validation_delay=1.0)
    server = serve_in_thread(sandbox)
    yield sandbox, server
    server.stop()


def account_for(server) -> EspAccount:
    return EspAccount(name=f"pace-{uuid.uuid4().hex[:8]}", kind="ometria", base_url=server.url,
                      password_env="TEST_OMETRIA_API_KEY")


def engine_bucket(account):
    """The bucket the engine gives an Ometria account (syncapp.pushing.adapter_for_flow)."""
    limits = OmetriaDestination.default_limits
    return throttle_for(account, limits.calls_per_minute, burst=limits.burst or None)


def contacts(prefix: str, count: int) -> list[dict]:
    return [{"@type": "contact", "@collection": "customers", "id": f"{prefix}{n}",
             "email": f"{prefix.lower()}{n}@example.com"} for n in range(count)]


def test_an_ometria_push_of_1000_records_makes_exactly_10_calls(ometria, settings):
    settings.REDIS_URL = ""  # the embedded bucket; the Redis one is shown below
    sandbox, server = ometria
    account = account_for(server)
    client = OmetriaClient(server.url, OM_KEY, throttle=engine_bucket(account),
                           read_throttle=data_api_throttle(account), session=LateOnTheWire(itertools.count()))
    destination = OmetriaDestination(account, client.throttle, client=client)
    items = [PushItem(f"C{n}", f"c{n}@example.com", {"name": f"Customer {n}"}) for n in range(1000)]

    results = destination.push("customers", items)

    assert [r.outcome for r in results] == ["submitted"] * 1000
    assert sandbox.calls() == 10 and sandbox.calls(status=429) == 0  # ceil(1000 / 100), none refused
    assert len({r.remote_id for r in results}) == 10


def test_two_workers_bursting_through_one_shared_bucket_never_meet_a_429(ometria, settings, redis_url):
    settings.REDIS_URL = redis_url
    sandbox, server = ometria
    account = account_for(server)
    sent = itertools.count()
    start = threading.Barrier(2)
    clients: list[OmetriaClient] = []

    def worker(name: str) -> None:
        client = OmetriaClient(server.url, OM_KEY, throttle=engine_bucket(account), session=LateOnTheWire(sent))
        clients.append(client)
        start.wait()
        for call in range(6):
            client.push(contacts(f"{name}{call}-", 10))

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sandbox.calls(status=200) == 12 and sandbox.calls(status=429) == 0
    assert [client.rate_limited for client in clients] == [0, 0]


def test_a_call_still_on_the_wire_keeps_its_place_in_the_second_until_its_answer():
    now = [1000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = LocalTokenBucket(240, burst=1, window_calls=4, clock=lambda: now[0], sleep=sleep)
    slow = bucket.acquire(held=True)  # its answer is not back yet
    for _ in range(3):  # 0.25 s apart, each answered at once
        bucket.answered(bucket.acquire(held=True))
    assert now[0] == pytest.approx(1000.75)
    now[0] = 1001.0  # a token is due: a bucket alone would send the fifth now
    bucket.acquire(held=True)
    # The slow call may still arrive any moment, so the fifth waits until the second
    # call's answer is a second old: at most four can then share any one second.
    assert now[0] == pytest.approx(1001.25)
    bucket.answered(slow)
