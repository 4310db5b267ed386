"""The Ometria client: auth header, array bodies, 429s by cause, typed errors, the 60 KB check."""
from __future__ import annotations

import pytest
import requests

from esp.ometria.client import QUEUE_WAIT, OmetriaClient, RecordTooLarge
from esp.ometria.sandbox import build_demo_sandbox
from syncapp.adapters import AuthenticationFailed, TransportError
from syncapp.sandbox_server import serve_in_thread
from tests.esp.dotdigital_support import FakeClock, RecordingThrottle

KEY = "client-test-key"


@pytest.fixture
def world():
    clock = FakeClock()
    sandbox = build_demo_sandbox(KEY, clock=clock, validation_delay=1.0)
    server = serve_in_thread(sandbox)
    yield sandbox, server, clock
    server.stop()


def client_for(server, clock, key=KEY, **options):
    options.setdefault("throttle", RecordingThrottle())
    return OmetriaClient(server.url, key, sleep=clock.sleep, **options)


def contact(cid="C1", **fields):
    return {"@type": "contact", "@collection": "customers", "id": cid, "email": f"{cid.lower()}@example.com",
            **fields}


def test_a_push_sends_the_key_and_an_array_and_reads_the_receipt(world):
    sandbox, server, clock = world
    client = client_for(server, clock)
    answer = client.push([contact("C1"), contact("C2")])
    assert (answer.status, answer.accepted, answer.rejected) == ("OK", 2, 0) and answer.request_id
    exchange = sandbox.exchanges[-1]
    assert exchange.request_body.startswith(b"[")
    assert client.queue.limit == 50_000 and client.queue.queued == 2
    assert client.calls == 1 and client.throttle.acquired == 1


def test_a_refused_key_is_an_authentication_failure(world):
    _, server, clock = world
    with pytest.raises(AuthenticationFailed) as caught:
        client_for(server, clock, key="wrong").push([contact()])
    assert caught.value.status == 403 and "not authorised" in caught.value.message


def test_a_record_over_60_kb_is_refused_before_any_call(world):
    sandbox, server, clock = world
    client = client_for(server, clock)
    with pytest.raises(RecordTooLarge) as caught:
        client.push([contact("C1"), contact("C2", properties={"notes": "é" * 20_000})])
    assert caught.value.permanent and "Record is too large" in caught.value.message and "KB" in caught.value.message
    assert sandbox.exchanges == [] and client.calls == 0


def test_calls_ometria_would_refuse_for_their_shape_are_never_made(world):
    _, server, clock = world
    client = client_for(server, clock)
    with pytest.raises(ValueError):
        client.push([contact(f"C{i}") for i in range(101)])
    with pytest.raises(ValueError):
        client.push([contact(), {"@type": "order", "id": "1"}])
    assert client.calls == 0


def test_a_rate_429_holds_back_the_whole_account_briefly_then_goes_through(world):
    sandbox, server, clock = world
    sandbox.push_limiter.rate = 4  # the real limit, against a clock that only moves when waited for
    throttle = RecordingThrottle()
    client = client_for(server, clock, throttle=throttle)
    for n in range(8):
        client.push([contact(f"C{n}")])
    # Four back to back, the fifth refused; a second's wait buys the next four.
    assert client.rate_limited == 1 and throttle.deferred == [1.0] and clock.sleeps == [1.0]
    assert sandbox.calls(status=200) == 8 and client.calls == 9


def test_after_an_idle_spell_the_accounts_bucket_never_lets_more_than_4_calls_into_a_second(world):
    from esp.ometria.adapter import OmetriaDestination
    from syncapp.ratelimit import LocalTokenBucket

    sandbox, server, clock = world
    sandbox.push_limiter.rate = 4

    def eight_calls(burst: int) -> int:
        clock.sleep(10)  # idle: a bucket banks what its burst allows
        bucket = LocalTokenBucket(240, burst=burst, clock=clock, sleep=clock.sleep)
        client = client_for(server, clock, throttle=bucket)
        for n in range(8):
            client.push([contact(f"C{n}")])
        return client.rate_limited

    assert eight_calls(burst=4) > 0  # 4 at once, then one every 0.25 s: 7 in the first second
    assert eight_calls(burst=OmetriaDestination.default_limits.burst) == 0
    assert OmetriaDestination.default_limits.burst == 1


def test_a_push_answer_carries_the_queue_its_records_joined(world):
    sandbox, server, clock = world
    sandbox.pause_validation()
    client = client_for(server, clock)
    client.push([contact(f"C{i}") for i in range(30)])
    answer = client.push([contact(f"D{i}") for i in range(20)])
    assert (answer.queue.limit, answer.queue.queued) == (50_000, 50)


def test_a_full_queue_waits_longer_and_ends_transient_if_it_stays_full(world):
    sandbox, server, clock = world
    sandbox.queue_limit = 150
    sandbox.pause_validation()
    throttle = RecordingThrottle()
    client = client_for(server, clock, throttle=throttle, max_rate_limit_waits=2)
    client.push([contact(f"C{i}") for i in range(100)])
    with pytest.raises(TransportError) as caught:
        client.push([contact(f"D{i}") for i in range(100)])
    error = caught.value
    assert error.transient and error.reason_code == "queue_full" and error.status == 429
    assert throttle.deferred == [QUEUE_WAIT, QUEUE_WAIT * 2] and error.retry_after == QUEUE_WAIT * 4
    assert client.queue.remaining == 50


def test_a_queue_that_drains_lets_the_push_through(world):
    sandbox, server, clock = world
    sandbox.queue_limit = 150
    client = client_for(server, clock)
    client.push([contact(f"C{i}") for i in range(100)])  # validated a second later; the queue wait is longer
    answer = client.push([contact(f"D{i}") for i in range(100)])
    assert answer.accepted == 100 and client.rate_limited == 1


def test_the_errors_list_is_read_through_its_own_allowance(world):
    _, server, clock = world
    push_throttle, read_throttle = RecordingThrottle(), RecordingThrottle()
    client = client_for(server, clock, throttle=push_throttle, read_throttle=read_throttle)
    client.push([contact("C1", email="not-an-email")])
    clock.sleep(2)
    assert client.push_errors() == [{"error_message": "not a valid value", "error_path": "contact[C1] > email"}]
    assert (push_throttle.acquired, read_throttle.acquired) == (1, 1)


class BrokenSession(requests.Session):
    def __init__(self, failure):
        super().__init__()
        self.failure = failure

    def request(self, method, url, **kwargs):
        if isinstance(self.failure, Exception):
            raise self.failure
        response = requests.Response()
        response.status_code, response._content = self.failure, b'{"status": "ERROR", "message": "boom"}'
        return response


@pytest.mark.parametrize("failure", [requests.Timeout("slow"), requests.ConnectionError("reset"), 502, 503])
def test_timeouts_unreachable_and_5xx_are_transient(failure):
    client = OmetriaClient("http://ometria.invalid", KEY, throttle=RecordingThrottle(),
                           session=BrokenSession(failure))
    with pytest.raises(TransportError) as caught:
        client.push([contact()])
    assert caught.value.transient


def test_other_refusals_are_permanent_with_ometrias_message():
    client = OmetriaClient("http://ometria.invalid", KEY, throttle=RecordingThrottle(), session=BrokenSession(400))
    with pytest.raises(TransportError) as caught:
        client.push([contact()])
    assert caught.value.permanent and "boom" in caught.value.message and caught.value.reason_code == "http_400"
