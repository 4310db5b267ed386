"""Source adapters by connection kind: one entry per ERP package."""
from django.utils.module_loading import import_string

SOURCE_ADAPTERS = {
    "sap_b1": "erp.sap_b1.adapter.SapB1Source",
    "sap_ecc": "erp.sap_ecc.adapter.EccSource",
}


def source_adapter_for(connection):
    return import_string(SOURCE_ADAPTERS[connection.kind])(connection)


def source_adapter_class(kind: str):
    return import_string(SOURCE_ADAPTERS[kind])


def pushing_kinds() -> list[str]:
    """Kinds whose ERP pushes its records to the hub (their adapters read the hub's store)."""
    return [kind for kind in SOURCE_ADAPTERS if getattr(source_adapter_class(kind), "pushes", False)]
