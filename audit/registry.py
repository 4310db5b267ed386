"""Which models are configuration, and so audited: one entry per model.

`parent` names the foreign key of the object a change is shown under (a field mapping
appears on its destination's page); `ignored` fields change on their own (a schedule's
last run) and never make an entry; `concealed` fields (a password hash) show only as
"(changed)", never their value; `many` names many-to-many fields whose changes are entries
too (a user's groups). Another room adds its configuration model with
`audit_register` in its AppConfig.ready, before the audit app connects (or after:
`audit_connect` may be called again).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AuditedModel:
    label: str  # "app_label.ModelName"
    parent: str = ""
    ignored: frozenset[str] = frozenset()
    concealed: frozenset[str] = frozenset()
    many: tuple[str, ...] = ()


AUDITED: dict[str, AuditedModel] = {}


def audit_register(label: str, *, parent: str = "", ignored: tuple[str, ...] = (), concealed: tuple[str, ...] = (),
                   many: tuple[str, ...] = ()) -> None:
    AUDITED[label.lower()] = AuditedModel(label=label, parent=parent, ignored=frozenset(ignored),
                                          concealed=frozenset(concealed), many=tuple(many))


def audited(model) -> AuditedModel | None:
    return AUDITED.get(model._meta.label_lower)


# Connections, destinations, flows (their duplicate-email policy included), schedules,
# mappings and rules.
audit_register("erp.ErpConnection")
audit_register("esp.EspAccount")
audit_register("syncapp.Flow")
audit_register("esp.FieldMapping", parent="destination")
audit_register("esp.SkuRule", parent="connection")
audit_register("sap_ecc.EccInbound", parent="connection")  # which partner an ECC connection takes IDocs from
audit_register("esp.WarehouseRule", parent="destination")
audit_register("esp.OrderStatusMapping", parent="destination")
# Beat writes the run bookkeeping back into the task row on every run.
audit_register("django_celery_beat.PeriodicTask",
               ignored=("last_run_at", "total_run_count", "date_changed", "no_changes"))
audit_register("django_celery_beat.IntervalSchedule")
audit_register("django_celery_beat.CrontabSchedule")
