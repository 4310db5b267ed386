"""dotdigital sandbox: plays the vendor for demos and tests (see app.py and state.py)."""

from __future__ import annotations

from typing import Any

from .app import DotdigitalSandbox, Exchange
from .state import SandboxError

DEMO_API_USER = "apiuser-demo@apiconnector.com"


def build_demo_sandbox(password: str, **options: Any) -> DotdigitalSandbox:
    """The demo account: one API user in region r1, a few default data fields."""
    return DotdigitalSandbox(api_users={DEMO_API_USER: password}, **options)


__all__ = ["DEMO_API_USER", "DotdigitalSandbox", "Exchange", "SandboxError", "build_demo_sandbox"]
