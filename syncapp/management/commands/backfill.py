"""manage.py backfill --entity orders --since DATE: send history at the lowest priority."""
from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from syncapp import services
from syncapp.cpu_priority import backfill_yields_cpu
from syncapp.entities import FLOW_ENTITIES, flow_entity
from syncapp.locks import PullInProgress
from syncapp.management.secrets import secrets_required
from syncapp.models import Flow, Priority, RunTrigger
from syncapp.services import connection_pull, plan_run, records_replan


class Command(BaseCommand):
    help = ("Re-read an entity in full from the ERP and queue what the destinations lack, at backfill "
            "priority: the workers send it after every new order, delivery or routine change. --since limits "
            "which mirrored documents are checked again; anything the full read finds changed is queued too, "
            "since the scheduled delta would not see it again.")

    def add_arguments(self, parser):
        parser.add_argument("--entity", required=True, choices=sorted(FLOW_ENTITIES))
        parser.add_argument("--since", type=date.fromisoformat, help="Only documents dated on or after (YYYY-MM-DD).")
        parser.add_argument("--flow", action="append", dest="flows", metavar="NAME")
        parser.add_argument("--no-progress", action="store_true")

    @secrets_required
    def handle(self, *args, entity, since=None, flows=None, no_progress=False, **options):
        selected = Flow.objects.filter(entity=entity, enabled=True).select_related("connection", "destination")
        if flows:
            selected = selected.filter(name__in=flows)
        selected = list(selected)
        if not selected:
            raise CommandError(f"No enabled {entity} flow to backfill.")
        spec = flow_entity(entity)
        backfill_yields_cpu()  # the workers' new orders and dispatches get the cores first
        for connection in {flow.connection for flow in selected}:
            adapter = services.source_adapter_for(connection)  # one session for the whole read (SAP B1: one login)
            try:
                with tqdm(desc=f"read {connection.name} {spec.source_entity}", unit="rec",
                          disable=no_progress) as bar:
                    run = connection_pull(connection=connection, entity=spec.source_entity, full=True,
                                          priority=Priority.BACKFILL, progress=bar.update, adapter=adapter,
                                          trigger=RunTrigger.BACKFILL)
            except PullInProgress as busy:
                raise CommandError(f"{busy} Run the backfill again when it has finished.") from busy
            finally:
                close = getattr(adapter, "close", None)
                if close is not None:
                    close()  # SAP B1: /Logout, so the session does not hold a licence until it times out
            self.stdout.write(f"read {run.records_read}, changed {run.records_changed}"
                              + (f", stopped: {run.error}" if run.error else ""))
        for flow in selected:
            keys = self._keys(spec, flow, since)
            queued = 0
            # The re-plan is a run of its own (Runs page: trigger "backfill"), its records' outcomes with it.
            with plan_run(flow_id=flow.pk, connection=flow.connection, trigger=RunTrigger.BACKFILL) as run, \
                    tqdm(total=len(keys), desc=f"plan {flow.name}", unit="rec", disable=no_progress) as bar:
                for start in range(0, len(keys), 1000):
                    chunk = keys[start:start + 1000]
                    queued += len(records_replan(flow=flow, record_keys=chunk, priority=Priority.BACKFILL,
                                                 run=run).queued)
                    bar.update(len(chunk))
            self.stdout.write(self.style.SUCCESS(
                f"{flow.name}: {len(keys)} records checked, {queued} queued at backfill priority "
                "(records the destination already has cost nothing)"))

    @staticmethod
    def _keys(spec, flow, since) -> list[str]:
        from django.utils.module_loading import import_string

        model = import_string(spec.mirror_model)
        records = model.objects.filter(connection=flow.connection)
        if since is not None and hasattr(model, "doc_date"):
            records = records.filter(doc_date__gte=since)
        return [str(key) for key in records.order_by(spec.mirror_key).values_list(spec.mirror_key, flat=True)]
