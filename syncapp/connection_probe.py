"""The connection probe: is each ERP and destination reachable, and are the hub's credentials valid?

The engine learns most of it on every call (syncapp.connection_incidents); the probe
covers the quiet times. Once a minute (its beat entry) each connection the engine has not
called lately is asked one cheap documented question through its own client and adapter:
SAP B1 a Login (and Logout), dotdigital `GET /v2/account-info`, Ometria `GET
/v2/push/_errors`. It never spends what a push needs: a destination its pushes called in
the last PROBE_QUIET is not asked (they already told), nor one in a 429 storm, and the
question takes a token from the account's shared bucket like any push call. A connection
whose adapter has no `probe` (an ERP that pushes to the hub, SAP ECC) is not asked.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from erp.models import ErpConnection
from erp.registry import source_adapter_class, source_adapter_for
from esp.models import EspAccount
from exceptions.models import SyncException
from exceptions.services import exceptions_resolve_matching
from syncapp.adapters import AuthenticationFailed, TransportError

from .connection_incidents import Kind, connection_incident_open, connection_incidents_close, kind_of_error
from .erp_outages import (
    AUTH_REASON,
    CONNECTION_KEY,
    connection_reachable_record,
    connection_refused_record,
    connection_unreachable_record,
)
from .models import ConnectionCheck, ConnectionIncident, SyncRun

log = logging.getLogger(__name__)

PROBE_QUIET = timedelta(minutes=1)  # heard from within this: not asked
# The entity an ERP outage or refusal found by the probe is filed under (every connection pulls it).
PROBE_ENTITY = "business_partners"


def erp_probes(connection) -> bool:
    return callable(getattr(source_adapter_class(connection.kind), "probe", None))


def connections_probe(*, now: datetime | None = None) -> list[ConnectionCheck]:
    """Probe every connection the engine has not heard from in PROBE_QUIET. Returns the checks made."""
    since = (now or timezone.now()) - PROBE_QUIET
    checks = []
    for connection in ErpConnection.objects.order_by("name"):
        pulled = SyncRun.objects.filter(connection=connection, flow__isnull=True, kind=SyncRun.Kind.PULL,
                                        finished_at__gte=since).exists()
        if erp_probes(connection) and not pulled:
            checks.append(erp_connection_probe(connection=connection))
    storms = set(ConnectionIncident.objects.filter(kind=Kind.RATE_LIMITED, closed_at__isnull=True)
                 .values_list("destination_id", flat=True))
    for account in EspAccount.objects.filter(flows__enabled=True).distinct().order_by("name"):
        pushed = SyncRun.objects.filter(flow__destination=account, kind=SyncRun.Kind.PUSH, finished_at__gte=since,
                                        api_calls__gt=0).exists()
        if account.pk not in storms and not pushed:
            checks.append(destination_probe(account=account))
    return checks


def erp_connection_probe(*, connection, adapter=None) -> ConnectionCheck:
    """Ask the ERP; record what it said as the pulls would (exceptions, incidents)."""
    try:
        adapter = adapter or source_adapter_for(connection)
        try:
            adapter.probe()
        finally:
            close = getattr(adapter, "close", None)
            if close is not None:
                close()
    except (AuthenticationFailed, ImproperlyConfigured) as error:
        message = getattr(error, "message", str(error))
        connection_refused_record(connection=connection, entity=PROBE_ENTITY, error=message)
        return _checked(ok=False, detail=f"credentials refused: {message}", erp_connection=connection)
    except TransportError as error:
        connection_unreachable_record(connection=connection, entity=PROBE_ENTITY, error=error.message)
        return _checked(ok=False, detail=f"unreachable: {error.message}", erp_connection=connection)
    connection_reachable_record(connection=connection)
    exceptions_resolve_matching(
        queryset=SyncException.objects.filter(connection=connection, flow__isnull=True, record_key=CONNECTION_KEY,
                                              reason_code=AUTH_REASON),
        text="Resolved: the ERP accepted the hub's credentials again (connection probe).")
    return _checked(ok=True, erp_connection=connection)


def destination_probe(*, account, adapter=None) -> ConnectionCheck:
    """Ask the destination, through the account's shared token bucket."""
    from .pushing import adapter_for_account

    try:
        (adapter or adapter_for_account(account)).probe()
    except ImproperlyConfigured as error:
        connection_incident_open(kind=Kind.CREDENTIALS, destination=account, detail=str(error))
        return _checked(ok=False, detail=f"credentials missing: {error}", destination=account)
    except TransportError as error:
        kind = kind_of_error(error) or Kind.UNREACHABLE  # its cheap documented call failed: not usable
        connection_incident_open(kind=kind, destination=account, detail=error.message)
        return _checked(ok=False, detail=f"{Kind(kind).label.lower()}: {error.message}", destination=account)
    connection_incidents_close(destination=account, kinds=[Kind.UNREACHABLE, Kind.CREDENTIALS])
    return _checked(ok=True, destination=account)


def _checked(*, ok: bool, detail: str = "", **side) -> ConnectionCheck:
    from .logging import redact_text

    now = timezone.now()
    values = {"checked_at": now, "ok": ok, "detail": redact_text(detail)[:300]}
    if ok:
        values["answered_at"] = now
    check, _ = ConnectionCheck.objects.update_or_create(**side, defaults=values)
    if not ok:
        log.warning("Connection probe: %s %s", next(iter(side.values())), check.detail)
    return check
