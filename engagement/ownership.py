"""Which Business Partner fields the ERP owns, so the write-back never writes one.

The single place the write-back asks. The ERP owns every field the hub reads from SAP
(the connection's `user_fields`, part of each partner's mirror and content hash) and
every field an ERP-owned mapping sends (field ownership, `esp.ownership`). An engagement
field in either set would be both written back and sent out again: refused at set-up.
"""
from __future__ import annotations

from esp.ownership import ERP, fields_owned_by


def erp_owned_fields(*, connection) -> set[str]:
    """Lower-cased names of the Business Partner fields the ERP owns on this connection."""
    from syncapp.models import Flow

    owned = {str(name).lower() for name in (connection.user_fields or [])}
    for flow in Flow.objects.filter(connection=connection).select_related("destination"):
        owned |= {m.source_field.lower() for m in fields_owned_by(destination=flow, owner=ERP)}
    return owned


def ownership_conflicts(*, connection, names: dict[str, str]) -> dict[str, str]:
    """User field -> why the write-back may not write it (in words for an admin)."""
    owned = erp_owned_fields(connection=connection)
    read = {str(name).lower() for name in (connection.user_fields or [])}
    conflicts = {}
    for name in names.values():
        if name.lower() in read:
            conflicts[name] = (f"{name} is one of the fields the hub reads from SAP for connection {connection.name} "
                               "(its user fields), so the ERP owns it: writing engagement there would send it "
                               "back out as a change of the customer.")
        elif name.lower() in owned:
            conflicts[name] = (f"{name} is sent to a marketing platform by an ERP-owned field mapping, so the "
                               "ERP owns it and the write-back will not write it.")
    return conflicts
