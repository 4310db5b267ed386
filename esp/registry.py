"""Destination adapters by account kind: one entry per ESP package.

The account model's kind choices come from here, so a new ESP is its package plus
one line below.
"""
from django.utils.module_loading import import_string

DESTINATION_ADAPTERS = {
    "dotdigital": "esp.dotdigital.adapter.DotdigitalDestination",
    "ometria": "esp.ometria.adapter.OmetriaDestination",
}
_LABELS = {"dotdigital": "dotdigital", "ometria": "Ometria"}


def destination_kind_choices() -> list[tuple[str, str]]:
    return [(kind, _LABELS.get(kind, kind)) for kind in DESTINATION_ADAPTERS]


def destination_adapter_class(kind: str):
    return import_string(DESTINATION_ADAPTERS[kind])


def destination_does(kind: str, capability: str) -> bool:
    """A capability a destination's adapter declares as a class attribute (say
    `merges_orders_by_id`); False for an unknown kind or one not declared."""
    try:
        return bool(getattr(destination_adapter_class(kind), capability, False))
    except (KeyError, ImportError):
        return False


def destination_record_view(kind: str, entity: str):
    """What a destination of `kind` receives of a planned `entity` record, as a function of
    the PushItem, when its adapter narrows the engine's payload (`record_view`); else None."""
    try:
        view = getattr(destination_adapter_class(kind), "record_view", None)
    except (KeyError, ImportError):
        return None
    return view(entity) if view else None


def destination_adapter_for(account, throttle):
    return destination_adapter_class(account.kind)(account, throttle)
