"""Retry for exceptions of entities the flow engine does not plan itself.

A room that raises exceptions of its own entity (the engagement write-back's
"engagement") registers the dotted path of `(*, connection, record_keys) -> None` here
in its AppConfig.ready; `records_retry` hands such exceptions to it.
"""
from __future__ import annotations

from django.utils.module_loading import import_string

RETRY_HANDLERS: dict[str, str] = {}


def retry_handler_register(entity: str, dotted_path: str) -> None:
    RETRY_HANDLERS[entity] = dotted_path


def retry_handler_for(entity: str):
    path = RETRY_HANDLERS.get(entity)
    return import_string(path) if path else None
