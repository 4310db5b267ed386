"""The sandbox's one error type, answered as the Service Layer's v1 error envelope."""
from __future__ import annotations


class SandboxError(Exception):
    """Answered as {"error": {"code": code, "message": {"lang": "en-us", "value": ...}}}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def envelope(code: int, message: str) -> dict:
    """The Service Layer's v1 error body."""
    return {"error": {"code": code, "message": {"lang": "en-us", "value": message}}}
