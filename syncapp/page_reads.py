"""Reads of the mirror that the flows of one page share.

A page of orders or deliveries is planned by every flow it touches (the orders flows of
two destinations, the dispatch signals), and each asked the mirror the same questions:
the page's orders and lines, what was delivered, what was refunded; the customers flows
of a page or of a figures chunk, the same customers' figures. Inside
`page_reads_shared` each such read is made once and its answer handed to every flow
that asks. Planning writes no mirror rows, so within the page's transaction the
answer cannot go stale; outside the block (a person's retry) every read is made anew.
Answers are shared, not copied: a planner must not change what it was handed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_answers: ContextVar[dict | None] = ContextVar("page_reads", default=None)


@contextmanager
def page_reads_shared() -> Iterator[None]:
    token = _answers.set({})
    try:
        yield
    finally:
        _answers.reset(token)


def read_shared(read: Callable, /, **arguments):
    """`read(**arguments)`, made once per page however many flows ask for it."""
    answers = _answers.get()
    if answers is None:
        return read(**arguments)
    key = (read, *sorted((name, _hashable(value)) for name, value in arguments.items()))
    if key not in answers:
        # The arguments are kept with the answer: an argument known by its identity (the rows
        # ingest wrote) must outlive the block, or another object could take its id.
        answers[key] = (arguments, read(**arguments))
    return answers[key][1]


def _hashable(value):
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(sorted(value))
    if isinstance(value, dict):
        return ("same object", id(value))
    return value
