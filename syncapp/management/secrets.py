"""Commands that talk to the ERP or a destination need the connections' secrets in their
environment, as the workers have them: a missing one is a one-line refusal naming the
variable, not a traceback."""
from __future__ import annotations

from functools import wraps

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError


def secrets_required(handle):
    """Wrap a command's `handle`: a secret missing from the environment ends it with a CommandError."""

    @wraps(handle)
    def wrapped(self, *args, **options):
        try:
            return handle(self, *args, **options)
        except ImproperlyConfigured as missing:
            raise CommandError(f"{missing} Export it in this shell as the workers have it "
                               "(README, \"Configuration\").") from missing

    return wrapped
