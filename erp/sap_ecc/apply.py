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
    waiting = set(Idoc.objects.filter(connection=connection, status__in=Idoc.OPEN)
                  .values_list("entity", flat=True).distinct())
    if waiting & {"items", "item_stock"}:
        waiting.add("warehouses")  # the plants and storage locations stock IDocs (and MATMAS) name
    for entity in APPLY_ORDER:
        if entity not in waiting:
            continue
        try:
            runs.append(connection_pull(connection=connection, entity=entity))
        except PullInProgress as busy:
            log.info("%s; the run in progress or the next one applies the rest", busy)
    return runs
