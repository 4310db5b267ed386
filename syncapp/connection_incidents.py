"""Connections in trouble, from when to when: what the engine learns on every call.

A pull that cannot reach the ERP, a push whose destination times out or refuses the
hub's credentials, a push still refused with 429 after the client's own bounded waits
(a 429 storm), and the connection probe's findings all open (or refresh) a
ConnectionIncident; the first call that goes through closes it. Opening one alerts the
integration admins at once (exceptions.alerts says what and to whom); the health page
reads the open ones for each connection's status and every one for its timeline.
"""
from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from syncapp.adapters import AuthenticationFailed, PushResult, TransportError

from .incidents import alerts_now
from .models import ConnectionIncident

log = logging.getLogger(__name__)

Kind = ConnectionIncident.Kind
RATE_REASONS = {"rate_limited", "queue_full"}  # the clients' reason codes for a 429 they could not wait out
UNREACHABLE_REASONS = {"timeout", "connection_error"}


def _side(erp_connection, destination) -> dict:
    if (erp_connection is None) == (destination is None):
        raise ValueError("an incident is about one ERP connection or one destination account")
    return {"erp_connection": erp_connection} if erp_connection is not None else {"destination": destination}


def connection_incident_open(*, kind: str, erp_connection=None, destination=None, detail: str = "") -> bool:
    """Open the incident of this kind for the connection, or note it is still going on.
    True when it is new (the admins are alerted then)."""
    from .logging import redact_text

    side, now = _side(erp_connection, destination), timezone.now()
    detail = redact_text(detail)[:2000]
    current = ConnectionIncident.objects.filter(kind=kind, closed_at__isnull=True, **side)
    if current.update(last_seen_at=now, seen=F("seen") + 1, **({"detail": detail} if detail else {})):
        return False
    try:
        with transaction.atomic():
            ConnectionIncident.objects.create(kind=kind, detail=detail, opened_at=now, last_seen_at=now, **side)
    except IntegrityError:  # another worker opened it first
        return False
    log.error("Connection incident opened: %s, %s (%s)", next(iter(side.values())), Kind(kind).label, detail)
    alerts_now()
    return True


def connection_incidents_close(*, erp_connection=None, destination=None, kinds=tuple(Kind.values)) -> int:
    """The connection answered: close its open incidents of these kinds (one UPDATE over
    the open ones, usually none)."""
    side = _side(erp_connection, destination)
    closed = ConnectionIncident.objects.filter(kind__in=list(kinds), closed_at__isnull=True, **side).update(
        closed_at=timezone.now())
    if closed:
        log.warning("Connection incident closed: %s (%s)", next(iter(side.values())), ", ".join(kinds))
        alerts_now()
    return closed


def kind_of_error(error: TransportError) -> str | None:
    """Which trouble of the connection an error is: refused credentials, a 429 storm, or
    unreachable (a timeout, a refused connection, a 5xx after the client's retries); None
    for an answer that is about the request, not the connection (a malformed body)."""
    if isinstance(error, AuthenticationFailed) or error.reason_code == "authentication_failed":
        return Kind.CREDENTIALS
    if error.status == 429 or error.reason_code in RATE_REASONS:
        return Kind.RATE_LIMITED
    if error.reason_code in UNREACHABLE_REASONS or error.status == 408 or (error.status or 0) >= 500:
        return Kind.UNREACHABLE
    return None


def destination_push_record(*, account, error: TransportError | None, results: list[PushResult]) -> None:
    """What one push batch taught about its destination: a batch-wide error about the
    connection opens the matching incident (a record refused for its own sake does not);
    a batch the destination took any record of closes them all."""
    if error is not None:
        if kind := kind_of_error(error):
            connection_incident_open(kind=kind, destination=account, detail=error.message)
        return
    if refused := next((result for result in results if result.category == "authentication_failed"), None):
        connection_incident_open(kind=Kind.CREDENTIALS, destination=account, detail=refused.message)
    elif any(result.outcome in ("accepted", "submitted") for result in results):
        connection_incidents_close(destination=account)


def incidents_open_by_connection() -> tuple[dict[int, list[ConnectionIncident]], dict[int, list[ConnectionIncident]]]:
    """Open incidents by ERP connection id and by destination account id (one query)."""
    erp: dict[int, list[ConnectionIncident]] = {}
    destinations: dict[int, list[ConnectionIncident]] = {}
    for incident in ConnectionIncident.objects.filter(closed_at__isnull=True).order_by("opened_at"):
        if incident.erp_connection_id:
            erp.setdefault(incident.erp_connection_id, []).append(incident)
        else:
            destinations.setdefault(incident.destination_id, []).append(incident)
    return erp, destinations
