"""Fixtures of the identity tests: a clock the throttles read, and fresh subjects.

Throttle counters live in the shared cache (Redis under REDIS_URL), which outlives a test's
transaction and a test run: each test uses its own usernames and addresses instead.
"""
import itertools
import uuid

import pytest

_addresses = itertools.count(1)


@pytest.fixture
def clock(monkeypatch):
    """`clock.advance(seconds)` moves the time every throttle reads; no sleeping."""
    import time

    class Clock:
        def __init__(self) -> None:
            self.at = time.time()

        def __call__(self) -> float:
            return self.at

        def advance(self, seconds: float) -> None:
            self.at += seconds

    fake = Clock()
    monkeypatch.setattr("accounts.throttle.now", fake)
    return fake


@pytest.fixture
def fresh():
    """`fresh.name()` and `fresh.address()`: a username and a client address no other test used."""
    run = uuid.uuid4().int

    class Fresh:
        def name(self, stem: str = "user") -> str:
            return f"{stem}-{uuid.uuid4().hex[:10]}"

        def address(self) -> str:
            n = (run + next(_addresses)) % (2**24)
            return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    return Fresh()
