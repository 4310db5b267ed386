"""Source adapters by connection kind: one entry per ERP package."""
from django.utils.module_loading import import_string

SOURCE_ADAPTERS = {
    "sap_b1": "erp.sap_b1.adapter.SapB1Source",
}


def source_adapter_for(connection):
    return import_string(SOURCE_ADAPTERS[connection.kind])(connection)
