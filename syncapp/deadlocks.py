"""Writing again a transaction PostgreSQL chose as a deadlock's victim: the cycle is gone once
it rolled back, and the work it held (a page read, a batch the destination accepted) is
too dear to drop for an accident of timing."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")
DEADLOCK_RETRIES = 3


def is_deadlock(error: Exception) -> bool:
    """PostgreSQL broke a lock cycle by failing this transaction (SQLSTATE 40P01)."""
    cause = error.__cause__ or error
    return getattr(cause, "sqlstate", None) == "40P01" or getattr(cause, "pgcode", None) == "40P01"


def again_on_deadlock(write: Callable[[], T], *, what: str) -> T:
    """Run `write` (one `transaction.atomic()` block: a savepoint inside a caller's
    transaction) and, should it be a deadlock's victim, run it again, up to DEADLOCK_RETRIES
    times."""
    attempt = 0
    while True:
        try:
            return write()
        except OperationalError as error:
            if not is_deadlock(error) or attempt == DEADLOCK_RETRIES:
                raise
            attempt += 1
            log.info("%s was a deadlock's victim; writing it again", what)
