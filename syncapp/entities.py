"""Flow entities: what each reads from the mirror and how it is planned.

One entry per entity, so a new kind of record (products, orders) is one planner and
one line here; pull, retry and the commands find it through this registry.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class FlowEntity:
    """`source_entity` holds this flow's records (retry re-reads it); a change to any of
    `triggers` re-plans the same keys; `planner` is the dotted path of the plan service
    (`(*, flow, record_keys, force, priority, rows) -> PlanResult`)."""

    name: str
    source_entity: str
    triggers: tuple[str, ...]
    planner: str
    mirror_model: str
    mirror_key: str
    replan_all_on: tuple[str, ...] = ()  # a change here re-plans every record (e.g. warehouses)
    # (connection, entity, keys) -> this flow's keys, for triggers keyed differently (a delivery -> its order)
    key_mapper: str = ""
    # The entity whose records must reach the destination first (an order's customer), and
    # (flow, customer_keys) -> keys of this flow waiting for them.
    waits_for: str = ""
    waiting: str = ""
    # Signal flows key each signal "<source key>:<what>:<n>"; retry works on the source key.
    signal_keys: bool = False
    # Records of this flow that live outside the mirror model (the orders flow: a web shop's
    # provisional orders, "web:<reference>"): (connection, keys) -> those of them that exist.
    extra_records: str = ""

    def source_keys(self, keys: list[str]) -> list[str]:
        if not self.signal_keys:
            return list(keys)
        return sorted({key.split(":", 1)[0] for key in keys})

    def keys_for(self, *, connection, entity: str, keys: list[str]) -> list[str]:
        if entity == self.source_entity or not self.key_mapper:
            return keys
        return import_string(self.key_mapper)(connection=connection, entity=entity, keys=keys)

    @property
    def plan(self) -> Callable:
        return import_string(self.planner)

    def keys_in_mirror(self, *, connection, keys: list[str]) -> set[str]:
        """The given keys the hub holds a record for, as strings (an integer key such as a
        DocEntry compares with the outbox's text keys)."""
        model = import_string(self.mirror_model)
        mirror_keys = list(keys)
        if model._meta.get_field(self.mirror_key).get_internal_type() == "IntegerField":
            mirror_keys = [key for key in keys if str(key).isdigit()]
        found = {str(value) for value in model.objects.filter(
            connection=connection, **{f"{self.mirror_key}__in": mirror_keys}).values_list(self.mirror_key, flat=True)}
        if self.extra_records:
            found |= set(import_string(self.extra_records)(connection=connection, keys=keys))
        return found

    def all_keys(self, *, connection) -> list[str]:
        model = import_string(self.mirror_model)
        return list(model.objects.filter(connection=connection).values_list(self.mirror_key, flat=True))


FLOW_ENTITIES: dict[str, FlowEntity] = {
    "customers": FlowEntity(
        name="customers", source_entity="business_partners",
        # Documents move the customer figures (order count, lifetime value, ...); a renamed
        # item group, the category figures of those who bought from it.
        triggers=("business_partners", "orders", "deliveries", "credit_notes", "returns", "item_groups"),
        planner="syncapp.planning.flow_plan", mirror_model="erp.models.BusinessPartner", mirror_key="card_code",
        key_mapper="syncapp.figures.customers_touched",  # once per pull, at its end
        extra_records="erp.contact_persons.contact_persons_held",  # B2B buyers, "C001#3"
    ),
    "products": FlowEntity(
        name="products", source_entity="items", triggers=("items", "item_stock", "warehouses", "item_groups"),
        planner="syncapp.planning_products.products_plan", mirror_model="erp.models.Item", mirror_key="item_code",
        replan_all_on=("warehouses",), key_mapper="syncapp.planning_products.products_touched",
    ),
    "orders": FlowEntity(
        name="orders", source_entity="orders",
        triggers=("orders", "deliveries", "invoices", "credit_notes", "returns", "item_groups"),
        planner="syncapp.planning_orders.orders_plan", mirror_model="erp.models.SalesOrder", mirror_key="doc_entry",
        key_mapper="syncapp.planning_orders.orders_touched", waits_for="customers",
        waiting="syncapp.planning_orders.orders_waiting_for",
        extra_records="syncapp.planning_orders.provisional_orders_held",
    ),
    "dispatch_events": FlowEntity(
        name="dispatch_events", source_entity="orders", triggers=("orders", "deliveries"),
        planner="syncapp.planning_dispatch.dispatch_events_plan", mirror_model="erp.models.SalesOrder",
        mirror_key="doc_entry", key_mapper="syncapp.planning_orders.orders_touched", waits_for="customers",
        waiting="syncapp.planning_orders.orders_waiting_for", signal_keys=True,
    ),
    "stock_events": FlowEntity(
        name="stock_events", source_entity="items", triggers=("items", "item_stock", "warehouses"),
        planner="syncapp.planning_stock_events.stock_events_plan", mirror_model="erp.models.Item",
        mirror_key="item_code", replan_all_on=("warehouses",), signal_keys=True,
    ),
}


# The order a pass reads source entities in: what others refer to comes first
# (warehouses before the stock that sits in them, items before their stock poll).
SOURCE_ORDER = ("warehouses", "item_groups", "business_partners", "items", "item_stock", "orders", "deliveries",
                "invoices", "credit_notes", "returns")


def source_order(entity: str) -> int:
    return SOURCE_ORDER.index(entity) if entity in SOURCE_ORDER else len(SOURCE_ORDER)


def flow_entity(name: str) -> FlowEntity:
    return FLOW_ENTITIES[name]


def source_entity_of(name: str) -> str:
    """The source entity of a flow entity; a source entity name is returned as is."""
    entity = FLOW_ENTITIES.get(name)
    return entity.source_entity if entity else name
