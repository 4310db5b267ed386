"""Two or more transactions at once, for tests of lock order: each runs on a thread and a
database connection of its own."""
from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections, transaction


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
