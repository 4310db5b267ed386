"""An ERP that cannot be reached: a connection-level exception owned by the integration admins.

Every pull that fails to reach the ERP (timeouts, refused connections, 5xx after the
client's own retries) opens or refreshes an `erp_unreachable` exception about the whole
connection; its first sighting says since when. Health shows the connection's flows amber
at once and red once the outage is longer than the connection's
`unreachable_alert_minutes`, when the admins are alerted too. The first pull the ERP
answers resolves every such exception of the connection. Each outage, and each refusal of
the hub's credentials, is also a ConnectionIncident from when to when (the health page's
timeline; syncapp.connection_incidents).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from exceptions.models import Stage, SyncException
from exceptions.services import exception_raise, exceptions_resolve

from .connection_incidents import connection_incident_open, connection_incidents_close
from .models import ConnectionIncident

REASON = "erp_unreachable"
AUTH_REASON = "authentication_failed"
# The record key of exceptions about a whole connection (credentials refused, unreachable).
CONNECTION_KEY = "(connection)"
_ACTIVE = (SyncException.Status.OPEN, SyncException.Status.RETRYING)


def connection_unreachable_record(*, connection, entity: str, error: str) -> None:
    """A pull of `entity` (or the connection probe) could not reach the ERP."""
    connection_incident_open(kind=ConnectionIncident.Kind.UNREACHABLE, erp_connection=connection, detail=error)
    exception_raise(connection=connection, entity=entity, record_key=CONNECTION_KEY, stage=Stage.INGEST,
                    reason_code=REASON, detail=error,
                    message=f"The hub cannot reach the ERP ({connection.name}); nothing new is read from it "
                            f"until it answers again. Nothing is lost: reading resumes where it stopped.")


def connection_refused_record(*, connection, entity: str, error: str) -> None:
    """The ERP answered and refused the hub's credentials (a pull of `entity`, or the probe)."""
    connection_reachable_record(connection=connection, credentials_accepted=False)
    connection_incident_open(kind=ConnectionIncident.Kind.CREDENTIALS, erp_connection=connection, detail=error)
    exception_raise(connection=connection, entity=entity, record_key=CONNECTION_KEY, stage=Stage.INGEST,
                    reason_code=AUTH_REASON, detail=error)


def connection_reachable_record(*, connection, credentials_accepted: bool = True) -> None:
    """The ERP answered: every outage exception of the connection is over (and, when it
    took the hub's credentials, its credentials incident too)."""
    connection_incidents_close(erp_connection=connection, kinds=[ConnectionIncident.Kind.UNREACHABLE] + (
        [ConnectionIncident.Kind.CREDENTIALS] if credentials_accepted else []))
    entities = list(SyncException.objects.filter(
        connection=connection, flow__isnull=True, record_key=CONNECTION_KEY, reason_code=REASON,
        status__in=_ACTIVE).values_list("entity", flat=True).distinct())
    for entity in entities:
        exceptions_resolve(connection=connection, entity=entity, record_keys=[CONNECTION_KEY], stages=[Stage.INGEST])


@dataclass(frozen=True)
class Outage:
    connection_id: int
    since: datetime
    alert_minutes: int

    def over_threshold(self, now: datetime) -> bool:
        return now - self.since > timedelta(minutes=self.alert_minutes)


def erp_outages() -> dict[int, Outage]:
    """Connections the hub cannot reach now, with since when (one query)."""
    rows = (SyncException.objects.filter(flow__isnull=True, record_key=CONNECTION_KEY, reason_code=REASON,
                                         status__in=_ACTIVE)
            .values("connection_id", "connection__unreachable_alert_minutes").order_by()
            .annotate(since=Min("first_seen")))
    return {row["connection_id"]: Outage(row["connection_id"], row["since"],
                                         row["connection__unreachable_alert_minutes"]) for row in rows}


def outage_text(outage: Outage, now: datetime | None = None) -> str:
    minutes = max(0, int(((now or timezone.now()) - outage.since).total_seconds() // 60))
    return f"ERP unreachable for {minutes} min" if minutes else "ERP unreachable"
