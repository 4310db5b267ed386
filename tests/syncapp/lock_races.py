"""Tests of lock order and deadlocks: transactions side by side, each on a thread and a database
connection of its own, and a call PostgreSQL fails once as a deadlock's victim."""
from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
from django.db import OperationalError, connections, transaction


def in_transactions_side_by_side(*works: Callable[[], object]) -> list[Exception]:
    """Run each of `works` in a transaction of its own, all at once (they pace each other with
    events); what they raised, a deadlock's victim included."""
    errors: list[Exception] = []

    def run(work: Callable[[], object]) -> None:
        try:
            with transaction.atomic():
                work()
        except Exception as error:  # noqa: BLE001 - returned to the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def deadlock_once(real: Callable, failures: list[int]) -> Callable:
    """`real`, except that its first call fails as PostgreSQL fails a deadlock's victim
    (appending to `failures`)."""

    def deadlocking_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            try:
                raise psycopg.errors.DeadlockDetected("deadlock detected")
            except psycopg.errors.DeadlockDetected as cause:
                raise OperationalError("deadlock detected") from cause
        return real(*args, **kwargs)

    return deadlocking_once
