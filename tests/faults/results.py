"""What each fault case saw, printed as one table at the end of the run.

A case records its row before it asserts, so a failing case still shows its figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from .hub import Tally


@dataclass
class CaseResult:
    case: str
    expected: int
    at_destination: int
    lost: int
    duplicated: int
    resent: int
    exceptions: int
    recovery_seconds: float | None
    health_during: str  # the lights health showed while the fault lasted ("-" when not sampled)


RESULTS: list[CaseResult] = []
COLUMNS = ("case", "expected", "at dest", "lost", "dup", "resent", "exceptions", "recovery s", "health during")


def case_record(*, case: str, tallies: list[Tally], recovery_seconds: float | None = None,
                health_during: set[str] | None = None) -> CaseResult:
    """Add one row: the tallies of every flow the case checked, summed."""
    result = CaseResult(
        case=case, expected=sum(t.expected for t in tallies), at_destination=sum(t.at_destination for t in tallies),
        lost=sum(len(t.lost) for t in tallies), duplicated=sum(len(t.duplicated) for t in tallies),
        resent=sum(t.resent for t in tallies), exceptions=sum(len(t.exceptions) for t in tallies),
        recovery_seconds=recovery_seconds,
        health_during="/".join(sorted(health_during)) if health_during else "-")
    RESULTS.append(result)
    return result


def results_table(results: list[CaseResult]) -> str:
    """A plain-text box, one line a case."""
    rows = [COLUMNS] + [(
        r.case, str(r.expected), str(r.at_destination), str(r.lost), str(r.duplicated), str(r.resent),
        str(r.exceptions), "-" if r.recovery_seconds is None else f"{r.recovery_seconds:.1f}", r.health_during)
        for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(row) -> str:
        return "|" + "|".join(f" {cell:<{w}} " if i == 0 else f" {cell:>{w}} "
                              for i, (cell, w) in enumerate(zip(row, widths, strict=True))) + "|"

    return "\n".join([rule, line(rows[0]), rule, *(line(row) for row in rows[1:]), rule])
