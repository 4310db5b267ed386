"""Shared pieces of the dotdigital tests: a fake clock, a recording throttle, and a
sandbox served over a real socket with an account pointed at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from esp.dotdigital.adapter import DotdigitalDestination
from esp.dotdigital.client import DotdigitalClient
from esp.dotdigital.sandbox import DEMO_API_USER, DotdigitalSandbox, build_demo_sandbox
from esp.models import EspAccount
from syncapp.sandbox_server import RunningSandbox, serve_in_thread

PASSWORD = os.environ["TEST_DOTDIGITAL_PASSWORD"]


class FakeClock:
    """Wall time that only moves when somebody sleeps: waits cost nothing."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class RecordingThrottle:
    acquired: int = 0
    deferred: list[float] = field(default_factory=list)

    def acquire(self, cost: int = 1) -> None:
        self.acquired += cost

    def defer(self, seconds: float) -> None:
        self.deferred.append(seconds)


def account_for(server: RunningSandbox, **overrides: object) -> EspAccount:
    values = {
        "name": "dd-test",
        "kind": "dotdigital",
        "region": "r1",
        "base_url": server.url + "/{region}",
        "api_user": DEMO_API_USER,
        "password_env": "TEST_DOTDIGITAL_PASSWORD",
    }
    values.update(overrides)
    return EspAccount(**values)


@contextmanager
def running(sandbox: DotdigitalSandbox) -> Iterator[RunningSandbox]:
    server = serve_in_thread(sandbox)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class World:
    """A sandbox on a socket, its fake clock, and a destination adapter pointed at it."""

    sandbox: DotdigitalSandbox
    server: RunningSandbox
    clock: FakeClock
    throttle: RecordingThrottle

    def destination(self, **options: object) -> DotdigitalDestination:
        options.setdefault("poll_initial_wait", 1.0)
        options.setdefault("poll_wait_per_contact", 0.0)
        options.setdefault("sleep", self.clock.sleep)
        options.setdefault("clock", self.clock)
        account = account_for(self.server, **options.pop("account", {}))  # type: ignore[arg-type]
        # Attributes the model may not have yet (e.g. catalog_collection), set as plain ones.
        for name, value in dict(options.pop("attrs", {})).items():  # type: ignore[call-overload]
            setattr(account, name, value)
        return DotdigitalDestination(account, self.throttle, **options)  # type: ignore[arg-type]

    def client(self, *, region: str = "r1", password: str = PASSWORD, **options: object):
        options.setdefault("sleep", self.clock.sleep)
        options.setdefault("clock", self.clock)
        return DotdigitalClient(
            f"{self.server.url}/{region}",
            DEMO_API_USER,
            password,
            throttle=self.throttle,
            **options,  # type: ignore[arg-type]
        )


@contextmanager
def world(**sandbox_options: object) -> Iterator[World]:
    clock = FakeClock()
    sandbox_options.setdefault("import_delay_seconds", 3.0)
    sandbox = build_demo_sandbox(PASSWORD, clock=clock, **sandbox_options)
    with running(sandbox) as server:
        yield World(sandbox, server, clock, RecordingThrottle())
