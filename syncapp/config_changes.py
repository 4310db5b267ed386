"""What a configuration change is: the field-by-field difference between two exports, the
flows whose payloads it shapes, and how many records each would send again."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from esp.replanning import RULE_ENTITIES

from .entities import flow_entity
from .models import Flow, OutboxItem, OutboxStatus, Priority

# Destination settings that shape payloads (the rest, like calls per minute, only pace them).
_SHAPING_DESTINATION_FIELDS = ("options", "catalog_collection")
_WAITING = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT, OutboxStatus.SUBMITTED)


@dataclass(frozen=True)
class Change:
    """`kind` is added, changed or removed; `path` names the thing and its field."""

    kind: str
    path: str
    before: Any = None
    after: Any = None

    def __str__(self) -> str:
        mark = {"added": "+", "removed": "-", "changed": "~"}[self.kind]
        if self.kind == "changed":
            return f"{mark} {self.path}: {self.before!r} -> {self.after!r}"
        value = self.after if self.kind == "added" else self.before
        return f"{mark} {self.path}: {value!r}"


def config_diff(before: dict, after: dict) -> list[Change]:
    changes: list[Change] = []
    for section in ("connections", "destinations", "flows", "schedules"):
        _diff_lists(section.rstrip("s"), before.get(section, []), after.get(section, []), changes)
    return changes


def _identity(item: dict) -> str:
    """How a list entry is known across two exports (never its position)."""
    if "name" in item:
        return item["name"]
    if "target_field" in item:
        return f"{item['entity']} {item['target_field']}"
    if "every_minutes" in item:
        return f"{item['connection']} {item['entity']}"
    if "availability" in item:
        return item["channel"] or "(all channels)"
    return repr(item)


def _diff_lists(label: str, before: list, after: list, changes: list[Change]) -> None:
    old = {_identity(item): item for item in before}
    new = {_identity(item): item for item in after}
    for key in old.keys() - new.keys():
        changes.append(Change("removed", f"{label} {key}", before=old[key]))
    for key in new:
        if key not in old:
            changes.append(Change("added", f"{label} {key}", after=new[key]))
        else:
            _diff_values(f"{label} {key}", old[key], new[key], changes)


def _diff_values(path: str, before: Any, after: Any, changes: list[Change]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before.keys() - after.keys():
            changes.append(Change("removed", f"{path}: {key}", before=before[key]))
        for key in after:
            if key not in before:
                changes.append(Change("added", f"{path}: {key}", after=after[key]))
            else:
                _diff_values(f"{path}: {key}", before[key], after[key], changes)
    elif _is_keyed_list(before) and _is_keyed_list(after):
        _diff_lists(path + " /", before, after, changes)
    elif before != after:
        changes.append(Change("changed", path, before=before, after=after))


def _is_keyed_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def flows_changed_by(before: dict, after: dict) -> list[Flow]:
    """The existing flows whose payloads the change shapes, as the browser re-plans them:
    mappings their entity's flows, warehouse and SKU rules product and stock flows,
    order-status names order flows, a changed flow itself."""
    wanted: set[tuple[str, Any]] = set()
    old = {d["name"]: d for d in before.get("destinations", [])}
    for destination in after.get("destinations", []):
        previous = old.get(destination["name"])
        if previous is None:
            continue
        name = destination["name"]
        if any(previous.get(f) != destination.get(f) for f in _SHAPING_DESTINATION_FIELDS):
            wanted.add(("destination", name))
        for entity in _entities_with_changed_mappings(previous.get("mappings", []), destination.get("mappings", [])):
            wanted.add(("destination-entity", (name, entity)))
        if previous.get("warehouse_rules") != destination.get("warehouse_rules"):
            wanted.update(("destination-entity", (name, entity)) for entity in RULE_ENTITIES)
        if previous.get("order_statuses") != destination.get("order_statuses"):
            wanted.add(("destination-entity", (name, "orders")))
    old_connections = {c["name"]: c for c in before.get("connections", [])}
    for connection in after.get("connections", []):
        previous = old_connections.get(connection["name"])
        if previous is not None and previous.get("sku_rule") != connection.get("sku_rule"):
            wanted.update(("connection-entity", (connection["name"], entity)) for entity in RULE_ENTITIES)
    old_flows = {f["name"]: f for f in before.get("flows", [])}
    wanted.update(("flow", f["name"]) for f in after.get("flows", []) if f["name"] in old_flows
                  and old_flows[f["name"]] != f)
    return [flow for flow in Flow.objects.select_related("connection", "destination").order_by("name")
            if _shaped(flow, wanted)]


def _entities_with_changed_mappings(before: list[dict], after: list[dict]) -> set[str]:
    def by_entity(mappings):
        grouped: dict[str, list] = {}
        for mapping in mappings:
            grouped.setdefault(mapping["entity"], []).append(mapping)
        return grouped

    old, new = by_entity(before), by_entity(after)
    return {entity for entity in old.keys() | new.keys() if old.get(entity) != new.get(entity)}


def _shaped(flow: Flow, wanted: set) -> bool:
    destination, connection = flow.destination.name, flow.connection.name
    return (("flow", flow.name) in wanted or ("destination", destination) in wanted
            or ("destination-entity", (destination, flow.entity)) in wanted
            or ("connection-entity", (connection, flow.entity)) in wanted)


def resend_count(flow: Flow, *, page: int = 1000) -> int:
    """Records a re-plan of `flow` would queue that are not already waiting to go: the
    planner's own verdicts. Writes what a re-plan writes: call it inside a transaction
    that is rolled back."""
    waiting = set(OutboxItem.objects.filter(flow=flow, status__in=_WAITING).values_list("record_key", flat=True))
    spec = flow_entity(flow.entity)
    keys = spec.all_keys(connection=flow.connection)
    queued: set[str] = set()
    for start in range(0, len(keys), page):
        result = spec.plan(flow=flow, record_keys=keys[start:start + page], priority=Priority.BACKFILL)
        queued.update(result.queued)
    return len(queued - waiting)
