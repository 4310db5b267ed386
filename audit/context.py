"""Who is changing configuration right now: the request's user, or a named system actor.

A contextvar rather than a thread-local: it follows the code through threads and async
views alike, and `acting_as` nests cleanly (a command calling a service calling save).
"""
from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    """`request` is read lazily: its user is only resolved when something is audited."""

    name: str = ""
    request: Any = None
    change_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def user(self):
        user = getattr(self.request, "user", None)
        return user if user is not None and user.is_authenticated else None

    def label(self) -> str:
        if self.name:
            return self.name
        user = self.user()
        if user is not None:
            return user.get_username()
        return "anonymous" if self.request is not None else _system_label()


_current: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


def _system_label() -> str:
    # `manage.py <command>` with no explicit actor: name the command, as apply_config does.
    if len(sys.argv) > 1 and sys.argv[0].endswith(("manage.py", "django-admin")):
        return f"system:{sys.argv[1]}"
    return "system"


def current_actor() -> Actor:
    return _current.get() or Actor()


@contextmanager
def acting_as(name: str) -> Iterator[Actor]:
    """Attribute every change inside the block to `name`, e.g. "system:apply_config"."""
    actor = Actor(name=name)
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


@contextmanager
def acting_for_request(request) -> Iterator[Actor]:
    actor = Actor(request=request)
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
