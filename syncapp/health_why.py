"""The health page's "Why" column when no limit is crossed but records still fail.

A flow under its error-rate limit can still have refused records and open exceptions; the
row then says so (the worst current cause: what failed last hour, and the commonest open
reason) instead of showing nothing. One GROUP BY over the open exceptions of all flows.
"""
from __future__ import annotations

from django.db.models import Count

from exceptions.models import SyncException
from exceptions.reasons import reason_for

_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def open_exceptions_by_flow(flow_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
    """Flow -> [(reason_code, open exceptions)], the commonest reason first."""
    found: dict[int, list[tuple[str, int]]] = {flow_id: [] for flow_id in flow_ids}
    rows = (SyncException.objects.filter(flow_id__in=flow_ids, status__in=_ACTIVE).order_by()
            .values("flow_id", "reason_code").annotate(n=Count("*")))
    for row in rows:
        found[row["flow_id"]].append((row["reason_code"], row["n"]))
    for reasons in found.values():
        reasons.sort(key=lambda item: -item[1])
    return found


def rows_explain_failures(rows) -> None:
    """Add to each row's problems what fails now when its limits did not already say why."""
    exceptions = open_exceptions_by_flow([row.flow.pk for row in rows])
    for row in rows:
        reasons = exceptions.get(row.flow.pk, [])
        found = []
        if row.failed_last_hour and not any("failed" in problem for problem in row.problems):
            found.append(f"{plural(row.failed_last_hour, 'record')} failed in the last hour")
        if reasons:
            total = sum(n for _, n in reasons)
            code, n = reasons[0]
            found.append(f"{plural(total, 'open exception')}, most: {reason_for(code).title} ({n:,})")
        row.problems += found
        row.causes = [*getattr(row, "causes", []), *((0, text) for text in found)]  # under every limit: level 0
