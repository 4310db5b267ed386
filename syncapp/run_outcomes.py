"""Row-level outcomes of runs: what each run did with each record, kept for a while.

Written set-based, one INSERT per planned page (for every flow it planned) and one per
pushed batch, never a statement per record: the hot path (issue 12) pays one COPY more
per batch. Pruned by `run_outcomes_prune` (a periodic task): a run older than
SYNC_RUN_OUTCOME_DAYS keeps its counts and loses its rows.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .bulksql import bulk_insert
from .logging import redact_text
from .models import RunOutcome, SyncRun, SyncRunOutcome

_FIELDS = ["run", "flow", "record_key", "outcome", "answer", "payload_digest"]
ANSWER_CHARS = 300
DIGEST_CHARS = 16  # 64 bits of the payload hash: enough to tell one record's versions apart


def plan_outcomes_record(*, run: SyncRun | None, planned: Iterable[tuple]) -> None:
    """Count what planning did, per (flow, PlanResult), into the run and keep each record's
    outcome: queued, refused (its exception says why), waiting (held for its customer or a
    person's decision) or skipped by policy. Unchanged records are counted, not listed."""
    if run is None:
        return
    rows = []
    for flow, result in planned:
        run.records_planned += len(result.queued)
        run.records_unchanged += len(result.unchanged)
        run.records_failed += len(result.failed)
        run.records_waiting += len(result.held)
        for outcome, keys in ((RunOutcome.PLANNED, result.queued), (RunOutcome.REFUSED, result.failed),
                              (RunOutcome.WAITING, result.held), (RunOutcome.SKIPPED, result.skipped)):
            rows += [(run.pk, flow.pk, key, outcome, "", "") for key in keys]
    bulk_insert(SyncRunOutcome, _FIELDS, rows)


def push_outcomes_record(*, run_id: int | None, flow, outcomes: Iterable[tuple]) -> None:
    """Keep each pushed record's outcome, from (outbox row, RunOutcome, PushResult or None):
    the destination's short answer (redacted: finance reads runs) and the payload's digest."""
    if run_id is None:
        return
    bulk_insert(SyncRunOutcome, _FIELDS, [
        (run_id, flow.pk, row.record_key, outcome, _answer(outcome, result, row), row.payload_hash[:DIGEST_CHARS])
        for row, outcome, result in outcomes])


def _answer(outcome: str, result, row) -> str:
    if result is None:
        return "The destination gave no answer for this record."
    if outcome == RunOutcome.ACCEPTED:
        remote_id = result.remote_id or row.remote_id
        return f"id {remote_id}"[:ANSWER_CHARS] if remote_id else ""
    if outcome == RunOutcome.SUBMITTED:
        return f"receipt {result.remote_id}"[:ANSWER_CHARS] if result.remote_id else ""
    text = " ".join(part for part in (result.reason_code, result.message) if part)
    return redact_text(text)[:ANSWER_CHARS]


def run_outcomes_prune(*, older_than: timedelta | None = None, now=None) -> int:
    """Drop the row-level outcomes of runs started more than `older_than` ago (default
    SYNC_RUN_OUTCOME_DAYS) and mark those runs summarised; their counts stay. Two set
    statements per slice of runs, however many rows they held. Returns the runs pruned."""
    now = now or timezone.now()
    cutoff = now - (older_than if older_than is not None else timedelta(days=settings.SYNC_RUN_OUTCOME_DAYS))
    pruned = 0
    while True:
        # Slices keep each transaction (and its locks) short on a backlog of many old runs.
        ids = list(SyncRun.objects.filter(started_at__lt=cutoff, outcomes_pruned_at__isnull=True)
                   .exclude(status=SyncRun.Status.RUNNING).order_by("started_at")
                   .values_list("id", flat=True)[:500])
        if not ids:
            return pruned
        with transaction.atomic():
            SyncRunOutcome.objects.filter(run_id__in=ids).delete()
            SyncRun.objects.filter(id__in=ids).update(outcomes_pruned_at=now)
        pruned += len(ids)
