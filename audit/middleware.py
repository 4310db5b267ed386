"""Sets the audit actor to the request's user for the length of the request."""
from __future__ import annotations

from .context import acting_for_request


class AuditActorMiddleware:
    """Place after AuthenticationMiddleware; the user is resolved only if a change is audited."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_for_request(request):
            return self.get_response(request)
