"""manage.py sync: pull, plan and push in the foreground, with a progress bar.

Each pass reads every source entity of a connection through one source adapter, so one
ERP session serves the whole pass (SAP B1: one login), and closes it when the pulls are
done (SAP B1: /Logout), before the pushes.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from tqdm import tqdm

from exceptions.services import open_exceptions
from syncapp import services
from syncapp.entities import flow_entity, source_order
from syncapp.locks import PullInProgress
from syncapp.management.secrets import secrets_required
from syncapp.models import Flow, OutboxItem, OutboxStatus, RunTrigger
from syncapp.services import connection_pull, flow_push


class Command(BaseCommand):
    help = "Pull changes from the ERP and push them to the destinations until the outbox is drained."

    def add_arguments(self, parser):
        parser.add_argument("--flow", action="append", dest="flows", metavar="NAME",
                            help="Only this flow (repeatable). Default: every enabled flow.")
        parser.add_argument("--once", action="store_true",
                            help="One pass: pull once, then push until the outbox is drained (waiting out "
                                 "retries that back off) and stop.")
        parser.add_argument("--interval", type=float, default=60.0,
                            help="Seconds between passes when running continuously.")
        parser.add_argument("--no-progress", action="store_true")

    @secrets_required
    def handle(self, *args, flows=None, once=False, interval=60.0, no_progress=False, **options):
        queryset = Flow.objects.select_related("connection", "destination")
        if flows:
            selected = list(queryset.filter(name__in=flows))
            missing = set(flows) - {f.name for f in selected}
            if missing:
                raise CommandError(f"Unknown flow(s): {', '.join(sorted(missing))}")
        else:
            selected = list(queryset.filter(enabled=True))
        if not selected:
            raise CommandError("No flow to run. Create one in the admin or with apply_config.")
        while True:
            self._pass(selected, progress=not no_progress, drain=once)
            if once:
                return
            time.sleep(interval)

    def _pass(self, flows: list[Flow], *, progress: bool, drain: bool) -> None:
        sources = {(flow.connection, source) for flow in flows for source in flow_entity(flow.entity).triggers}
        with _source_adapters() as adapter_of:
            for connection, entity in sorted(sources, key=lambda s: (s[0].name, source_order(s[1]))):
                try:
                    with tqdm(desc=f"pull {connection.name} {entity}", unit="rec", disable=not progress) as bar:
                        run = connection_pull(connection=connection, entity=entity, adapter=adapter_of(connection),
                                              progress=bar.update, trigger=RunTrigger.PERSON)
                except PullInProgress as busy:
                    self.stdout.write(self.style.WARNING(f"pull {connection.name}: skipped. {busy}"))
                    continue
                self.stdout.write(
                    f"pull {connection.name}: read {run.records_read}, changed {run.records_changed}, "
                    f"queued {run.records_planned}, unchanged {run.records_unchanged}, "
                    f"exceptions {run.records_failed}" + (f", stopped: {run.error}" if run.error else ""))
        for flow in flows:
            self._push(flow, progress=progress)
            # Rows backing off after a transient failure: wait for them, so "drained"
            # means every row ended accepted or as an exception.
            said = False
            while drain and (wait := self._next_retry_in(flow)) is not None:
                if not said or wait > 1:  # once, not every second of a validation wait
                    self.stdout.write(f"push {flow.name}: waiting {wait:.0f} s for records backing off "
                                      "or awaiting the destination's validation")
                    said = True
                time.sleep(wait)
                self._push(flow, progress=progress, quiet=True)
        self._summary(flows)

    def _push(self, flow: Flow, *, progress: bool, quiet: bool = False) -> None:
        pending = OutboxItem.objects.filter(flow=flow, status=OutboxStatus.PENDING).count()
        with tqdm(total=pending, desc=f"push {flow.name}", unit="rec", disable=not progress or quiet) as bar:
            run = flow_push(flow=flow, progress=lambda s: bar.update(s.claimed), trigger=RunTrigger.PERSON)
        if quiet and not (run.records_accepted or run.records_failed or run.records_retried):
            return  # a confirmation round that decided nothing yet
        self.stdout.write(
            f"push {flow.name}: accepted {run.records_accepted}, failed {run.records_failed}, "
            f"retrying later {run.records_retried}, API calls {run.api_calls}")

    @staticmethod
    def _next_retry_in(flow: Flow) -> float | None:
        from django.db.models import Min
        from django.utils import timezone

        soonest = OutboxItem.objects.filter(flow=flow, status=OutboxStatus.PENDING).aggregate(
            at=Min("not_before"))["at"]
        if soonest is None and not OutboxItem.objects.filter(flow=flow, status=OutboxStatus.PENDING).exists():
            # Sent but not validated yet (Ometria): ask again shortly.
            if OutboxItem.objects.filter(flow=flow, status=OutboxStatus.SUBMITTED).exists():
                return 1.0
            return None
        return max(0.0, (soonest - timezone.now()).total_seconds()) if soonest else 0.0

    def _summary(self, flows: list[Flow]) -> None:
        states = dict(OutboxItem.objects.filter(flow__in=flows).values_list("status").annotate(n=Count("id")))
        waiting = states.get(OutboxStatus.PENDING, 0)
        opened = open_exceptions().filter(flow__in=flows).count()
        self.stdout.write(self.style.SUCCESS(
            f"summary: {states.get(OutboxStatus.ACCEPTED, 0)} accepted, {waiting} waiting to retry, "
            f"{states.get(OutboxStatus.HELD, 0)} held, {opened} open exceptions"))


@contextmanager
def _source_adapters() -> Iterator:
    """`adapter_of(connection)`: one source adapter per connection for the whole pass,
    made on first use, each closed at the end however the pass ends."""
    adapters: dict = {}

    def adapter_of(connection):
        if connection.pk not in adapters:
            # Through the engine's own name for the registry: the one seam tests replace.
            adapters[connection.pk] = services.source_adapter_for(connection)
        return adapters[connection.pk]

    try:
        yield adapter_of
    finally:
        for adapter in adapters.values():
            close = getattr(adapter, "close", None)
            if close is not None:
                close()
