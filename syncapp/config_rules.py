"""The rules an admin edits in the browser, in the configuration file: warehouse rules and
order-status names per destination, the SKU rule per connection.

Each is exported in a stable order and applied with replace semantics (the file's list is
the whole list), row by row so the audit trail records exactly what changed.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError

from esp.models import OrderStatusMapping, SkuRule, WarehouseRule

WAREHOUSE_RULE_FIELDS = ["channel", "included_warehouses", "excluded_warehouses", "availability",
                         "low_stock_threshold"]
SKU_RULE_FIELDS = ["trim", "strip_leading_zeros", "case", "prefix_map", "suffix_map"]


class RuleError(ValueError):
    """A rule in the file that the hub would refuse in the browser too."""


def warehouse_rules_export(destination) -> list[dict]:
    return [{name: getattr(rule, name) for name in WAREHOUSE_RULE_FIELDS}
            for rule in destination.warehouse_rules.order_by("channel")]


def order_statuses_export(destination) -> dict[str, str]:
    """Only the names the admin set; the adapter's defaults stay defaults."""
    return dict(destination.order_statuses.order_by("erp_status").values_list("erp_status", "destination_status"))


def sku_rule_export(connection) -> dict | None:
    rule = SkuRule.objects.filter(connection=connection).first()
    return None if rule is None else {name: getattr(rule, name) for name in SKU_RULE_FIELDS}


def warehouse_rules_replace(destination, rules: list[dict]) -> None:
    wanted = {}
    for item in rules:
        rule = WarehouseRule(destination=destination, **{k: item[k] for k in WAREHOUSE_RULE_FIELDS if k in item})
        _valid(rule, f"Warehouse rule {rule.channel or '(all channels)'!r}", exclude=["destination"])
        wanted[rule.channel] = rule
    existing = {rule.channel: rule for rule in destination.warehouse_rules.all()}
    for channel, stale in existing.items():
        if channel not in wanted:
            stale.delete()
    for channel, rule in wanted.items():
        current = existing.get(channel)
        if current is None:
            rule.save()
        elif _differs(current, rule, WAREHOUSE_RULE_FIELDS):
            rule.pk, rule._state.adding = current.pk, False
            rule.save()


def order_statuses_replace(destination, statuses: dict[str, str]) -> None:
    known = set(OrderStatusMapping.ErpStatus.values)
    unknown = sorted(set(statuses) - known)
    if unknown:
        raise RuleError(f"Order statuses: {', '.join(unknown)} is not an ERP order state "
                        f"(one of {', '.join(sorted(known))}).")
    existing = {row.erp_status: row for row in destination.order_statuses.all()}
    for erp_status, stale in existing.items():
        if erp_status not in statuses:
            stale.delete()
    for erp_status, name in statuses.items():
        if not str(name or "").strip():
            raise RuleError(f"Order status {erp_status!r}: the destination's name for it is empty.")
        current = existing.get(erp_status)
        if current is None:
            OrderStatusMapping.objects.create(destination=destination, erp_status=erp_status,
                                              destination_status=name)
        elif current.destination_status != name:
            current.destination_status = name
            current.save()


def sku_rule_replace(connection, rule: dict | None) -> None:
    current = SkuRule.objects.filter(connection=connection).first()
    if rule is None:
        if current is not None:
            current.delete()
        return
    wanted = SkuRule(connection=connection, **{k: rule[k] for k in SKU_RULE_FIELDS if k in rule})
    _valid(wanted, "SKU rule", exclude=["connection"])
    if current is None:
        wanted.save()
    elif _differs(current, wanted, SKU_RULE_FIELDS):
        wanted.pk, wanted._state.adding = current.pk, False
        wanted.save()


def _differs(current, wanted, names: list[str]) -> bool:
    return any(getattr(current, name) != getattr(wanted, name) for name in names)


def _valid(instance, label: str, *, exclude: list[str]) -> None:
    try:
        instance.full_clean(exclude=exclude, validate_unique=False)
    except ValidationError as error:
        problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
        raise RuleError(f"{label}: {problems}") from error
