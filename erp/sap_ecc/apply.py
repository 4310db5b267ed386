"""Apply what is stored: each entity's open IDocs through the engine's pull, master data first."""
from __future__ import annotations

import logging

from syncapp.locks import PullInProgress

from .families import APPLY_ORDER
from .models import Idoc

log = logging.getLogger(__name__)


def idocs_apply(connection) -> list:
    """Apply every open IDoc of the connection, entity by entity in APPLY_ORDER; the runs."""
    from syncapp.services import connection_pull

    runs = []
    for entity in APPLY_ORDER:
        wanted = "item_stock" if entity == "warehouses" else entity
        if not Idoc.objects.filter(connection=connection, entity=wanted, status__in=Idoc.OPEN).exists():
            continue
        try:
            runs.append(connection_pull(connection=connection, entity=entity))
        except PullInProgress as busy:
            log.info("%s; the run in progress or the next one applies the rest", busy)
    return runs
