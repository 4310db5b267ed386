"""Export and apply configuration as a reviewable file.

Everything an admin edits in the browser: connections (with their SKU rule and a kind's
own settings), destinations (field mappings, warehouse rules, order-status names), flows
and pull schedules, keyed by name. Secrets are referenced by environment variable name
only; nothing secret is written. An apply re-plans the flows its changes shape, as the
browser does when the same change is saved there.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import PeriodicTask

from erp.models import ErpConnection
from erp.registry import source_adapter_class
from esp.models import EspAccount, FieldMapping, options_problems
from esp.ownership import default_owner, owner_clash, ownership_problems
from esp.replanning import flows_replan_after_commit

from .bulk_window import bulk_hours_parse
from .config_changes import Change, config_diff, flows_changed_by, resend_count
from .config_rules import (
    RuleError,
    order_statuses_export,
    order_statuses_replace,
    sku_rule_export,
    sku_rule_replace,
    warehouse_rules_export,
    warehouse_rules_replace,
)
from .models import Flow
from .schedules import PULL_TASK, schedule_pull

CONNECTION_FIELDS = ["kind", "base_url", "company_db", "username", "password_env", "verify_tls",
                     "page_size", "delta_overlap_minutes", "timeout_seconds", "unreachable_alert_minutes",
                     "user_fields", "item_user_fields", "company_email_as_contact"]
DESTINATION_FIELDS = ["kind", "region", "base_url", "api_user", "password_env", "calls_per_minute", "bulk_hours",
                      "catalog_collection", "options"]
FLOW_FIELDS = ["entity", "enabled", "include_leads", "duplicate_policy", "channel", "dispatch_per_shipment",
               "lag_alert_minutes", "error_rate_alert_percent"]
MAPPING_FIELDS = ["entity", "source_field", "transform", "transform_arg", "target_field", "target_type",
                  "required", "enabled", "position", "owner"]


class ConfigError(ValueError):
    """The file names something that does not exist or is not allowed."""


def _pick(obj, names: list[str]) -> dict:
    return {name: getattr(obj, name) for name in names}


def config_export() -> dict:
    schedules = []
    for task in PeriodicTask.objects.filter(task=PULL_TASK).select_related("interval"):
        connection_id, entity = json.loads(task.args or "[null, null]")
        connection = ErpConnection.objects.filter(pk=connection_id).first()
        if connection and task.interval:
            schedules.append({"connection": connection.name, "entity": entity,
                              "every_minutes": task.interval.every, "enabled": task.enabled})
    return {
        "version": 1,
        "connections": [_connection_export(c) for c in ErpConnection.objects.order_by("name")],
        "destinations": [
            {"name": d.name, **_pick(d, DESTINATION_FIELDS),
             "mappings": [_pick(m, MAPPING_FIELDS) for m in d.mappings.all()],
             "warehouse_rules": warehouse_rules_export(d),
             "order_statuses": order_statuses_export(d)}
            for d in EspAccount.objects.order_by("name").prefetch_related("mappings")
        ],
        "flows": [
            {"name": f.name, "connection": f.connection.name, "destination": f.destination.name,
             **_pick(f, FLOW_FIELDS)}
            for f in Flow.objects.order_by("name").select_related("connection", "destination")
        ],
        "schedules": sorted(schedules, key=lambda item: (item["connection"], item["entity"])),  # not by row id
    }


def _connection_export(connection: ErpConnection) -> dict:
    """A connection's fields, and the settings its kind keeps apart (an ECC's partner)."""
    item = {"name": connection.name, **_pick(connection, CONNECTION_FIELDS),
            "sku_rule": sku_rule_export(connection)}
    own = getattr(source_adapter_class(connection.kind), "settings_export", None)
    if own is not None:
        item["source_settings"] = own(connection)
    from engagement.config import writeback_export  # the engagement write-back's own settings (issue 15)

    if (writeback := writeback_export(connection)) is not None:
        item["engagement_writeback"] = writeback
    return item


def _refuse_secrets(section: str, item: dict) -> None:
    for key in item:
        if key in {"password", "secret", "api_key", "token"}:
            raise ConfigError(f"{section} {item.get('name')!r}: put secrets in an environment variable "
                              f"and name it in password_env, not in the file ({key!r}).")


def _mappings_replace(account: EspAccount, mappings: list[dict]) -> int:
    """Make the destination's mappings the file's list. A row is matched by entity and
    target field and saved in place (one by one, so the audit trail sees each change and
    an unchanged row records nothing); rows the file no longer lists are deleted."""
    wanted = {}
    for m in mappings:
        mapping = FieldMapping(destination=account, **{k: m[k] for k in MAPPING_FIELDS if k in m})
        if "owner" not in m:  # a file written before owners were configuration
            mapping.owner = default_owner(mapping.target_field)
        wanted[(mapping.entity, mapping.target_field)] = mapping
    for mapping in wanted.values():  # conflicting ownership is refused here as in the editor
        same_entity = [m for m in wanted.values() if m.entity == mapping.entity]
        problem = next(iter(ownership_problems(mapping).values()), None) or owner_clash(mapping, same_entity)
        if problem:
            raise ConfigError(f"Destination {account.name!r}, mapping {mapping.target_field}: {problem}")
    existing = {(m.entity, m.target_field): m for m in account.mappings.all()}
    for key, stale in existing.items():
        if key not in wanted:
            stale.delete()
    for key, mapping in wanted.items():
        if key in existing:
            mapping.pk, mapping._state.adding = existing[key].pk, False
        mapping.save()
    return len(mappings)


@transaction.atomic
def config_apply(data: dict) -> dict[str, int]:
    """Create or update everything the file names (by name), in one transaction. Returns
    counts per kind. A destination's mappings, warehouse rules and order-status names, and
    a connection's SKU rule, are replaced by the file's when the file has them. The flows
    the changes shape are re-planned once it commits (unchanged payloads cost nothing)."""
    before = config_export()
    counts = _apply(data)
    flows_replan_after_commit(flows_changed_by(before, config_export()))
    return counts


@dataclass
class ConfigPlan:
    """What applying a file would change, worked out by applying it and rolling back."""

    changes: list[Change]
    resend: dict[str, int]  # flow name -> records that would be sent again


def config_plan(data: dict) -> ConfigPlan:
    """Apply the file in a transaction that is always rolled back: the changes are exactly
    what an apply would make, and the re-send counts are the planner's own verdicts."""
    with transaction.atomic():
        before = config_export()
        _apply(data)
        after = config_export()
        plan = ConfigPlan(changes=config_diff(before, after),
                          resend={flow.name: resend_count(flow) for flow in flows_changed_by(before, after)})
        transaction.set_rollback(True)
    return plan


def _apply(data: dict) -> dict[str, int]:
    if data.get("version") != 1:
        raise ConfigError("Unknown configuration version; expected version: 1.")
    counts = {"connections": 0, "destinations": 0, "mappings": 0, "flows": 0, "schedules": 0}
    for item in data.get("connections", []):
        _refuse_secrets("Connection", item)
        connection, _ = ErpConnection.objects.update_or_create(
            name=item["name"], defaults={k: item[k] for k in CONNECTION_FIELDS if k in item})
        if "sku_rule" in item:
            _rules(f"Connection {item['name']!r}", sku_rule_replace, connection, item["sku_rule"])
        if "source_settings" in item:
            apply_own = getattr(source_adapter_class(connection.kind), "settings_apply", None)
            if apply_own is None:
                raise ConfigError(f"Connection {item['name']!r}: a {connection.kind} connection has no "
                                  "source settings.")
            try:
                apply_own(connection, item["source_settings"])
            except ValueError as error:
                raise ConfigError(f"Connection {item['name']!r}: {error}") from error
        if "engagement_writeback" in item:
            from engagement.config import writeback_apply

            try:
                writeback_apply(connection, item["engagement_writeback"])
            except ValueError as error:
                raise ConfigError(f"Connection {item['name']!r}: {error}") from error
        counts["connections"] += 1
    for item in data.get("destinations", []):
        _refuse_secrets("Destination", item)
        current = EspAccount.objects.filter(name=item["name"]).values_list("kind", flat=True).first()
        problems = options_problems(item.get("kind") or current or "dotdigital", item.get("options") or {})
        try:
            bulk_hours_parse(item.get("bulk_hours", ""))
        except ValidationError as error:
            problems["bulk_hours"] = " ".join(error.messages)
        if problems:
            raise ConfigError(f"Destination {item['name']!r}: {' '.join(problems.values())}")
        account, _ = EspAccount.objects.update_or_create(
            name=item["name"], defaults={k: item[k] for k in DESTINATION_FIELDS if k in item})
        counts["destinations"] += 1
        if "mappings" in item:
            counts["mappings"] += _mappings_replace(account, item["mappings"])
        if "warehouse_rules" in item:
            _rules(f"Destination {item['name']!r}", warehouse_rules_replace, account, item["warehouse_rules"] or [])
        if "order_statuses" in item:
            _rules(f"Destination {item['name']!r}", order_statuses_replace, account, item["order_statuses"] or {})
    for item in data.get("flows", []):
        try:
            connection = ErpConnection.objects.get(name=item["connection"])
            destination = EspAccount.objects.get(name=item["destination"])
        except (ErpConnection.DoesNotExist, EspAccount.DoesNotExist) as error:
            raise ConfigError(f"Flow {item['name']!r} names an unknown connection or destination.") from error
        Flow.objects.update_or_create(name=item["name"], defaults={
            "connection": connection, "destination": destination,
            **{k: item[k] for k in FLOW_FIELDS if k in item}})
        counts["flows"] += 1
    for item in data.get("schedules", []):
        connection = ErpConnection.objects.filter(name=item["connection"]).first()
        if connection is None:
            raise ConfigError(f"Schedule names unknown connection {item['connection']!r}.")
        task = schedule_pull(connection=connection, entity=item.get("entity", "business_partners"),
                             every_minutes=int(item.get("every_minutes", 2)))
        if task.enabled != item.get("enabled", True):
            task.enabled = item.get("enabled", True)
            task.save(update_fields=["enabled"])
        counts["schedules"] += 1
    return counts


def _rules(owner: str, replace, target, rules) -> None:
    try:
        replace(target, rules)
    except RuleError as error:
        raise ConfigError(f"{owner}: {error}") from error
