"""A backfill in a process of its own (`manage.py backfill`) runs at a lower CPU priority.

On a host it shares with the workers, the pulls and pushes of new orders and dispatches
then get the cores first and the backfill takes what they leave; on an idle host it runs
as fast as before. A peak run on two cores: bench/README.md, "Eleventh session".
`SYNC_BACKFILL_NICE` is the step (0 keeps the process's priority)."""
from __future__ import annotations

import logging
import os

from django.conf import settings

logger = logging.getLogger(__name__)


def backfill_yields_cpu() -> int:
    """Lower this process's CPU priority by SYNC_BACKFILL_NICE; the niceness it runs at."""
    step = int(settings.SYNC_BACKFILL_NICE)
    if step <= 0:
        return os.nice(0)
    try:
        return os.nice(step)
    except OSError as error:  # a platform that refuses: the backfill still runs, at full priority
        logger.warning("Could not lower the backfill's CPU priority: %s", error)
        return os.nice(0)
