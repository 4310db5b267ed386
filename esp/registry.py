"""Destination adapters by account kind: one entry per ESP package."""
from django.utils.module_loading import import_string

DESTINATION_ADAPTERS = {
    "dotdigital": "esp.dotdigital.adapter.DotdigitalDestination",
}


def destination_adapter_class(kind: str):
    return import_string(DESTINATION_ADAPTERS[kind])


def destination_adapter_for(account, throttle):
    return destination_adapter_class(account.kind)(account, throttle)
