"""Ometria sandbox: plays the Data API push endpoint for demos and tests (see app.py,
state.py and rules.py)."""

from __future__ import annotations

from typing import Any

from .app import Exchange, OmetriaSandbox


def build_demo_sandbox(api_key: str, **options: Any) -> OmetriaSandbox:
    """The demo account: one API key, Ometria's documented limits."""
    return OmetriaSandbox(api_keys=[api_key], **options)


__all__ = ["Exchange", "OmetriaSandbox", "build_demo_sandbox"]
