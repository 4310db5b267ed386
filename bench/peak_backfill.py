#!/usr/bin/env python
"""The backfill of bench_peak, in a process of its own as `manage.py backfill` would be:
a full read of one entity at backfill priority (`connection_pull(full=True)`), its
figures printed as one JSON line. The environment (database, Redis) is the parent's.

    .venv/bin/python bench/peak_backfill.py CONNECTION_ID [ENTITY]
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str]) -> int:
    import django

    django.setup()
    from erp.models import ErpConnection
    from syncapp.cpu_priority import backfill_yields_cpu
    from syncapp.models import Priority
    from syncapp.services import connection_pull, source_adapter_for

    backfill_yields_cpu()  # as manage.py backfill does
    connection = ErpConnection.objects.get(pk=int(argv[0]))
    entity = argv[1] if len(argv) > 1 else "orders"
    adapter = source_adapter_for(connection)
    started = time.time()
    try:
        run = connection_pull(connection=connection, entity=entity, adapter=adapter, full=True,
                              priority=Priority.BACKFILL)
    finally:
        adapter.close()
    print(json.dumps({
        "run_id": run.pk, "started": started, "finished": time.time(), "status": run.status, "error": run.error,
        "records_read": run.records_read, "records_changed": run.records_changed,
        "records_planned": run.records_planned, "records_failed": run.records_failed,
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
