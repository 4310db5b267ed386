"""Who owns a field a drift check compares: the flow's configured owner (esp.ownership,
issue 15), read once per chunk; a field no mapping names is owned as its name says.
The ERP's fields are put back; the destination's are left alone (raised for marketing).
"""
from __future__ import annotations

from esp.ownership import DESTINATION, ERP, default_owner, owners_of
from esp.ownership import field_owner as configured_owner

__all__ = ["DESTINATION", "ERP", "field_owner", "flow_owners"]


def flow_owners(flow) -> dict[str, str]:
    """The configured owners of the flow's mapped fields, by lower-cased target."""
    return owners_of(destination=flow)


def field_owner(*, destination_kind: str, entity: str, field: str, owners: dict[str, str] | None = None) -> str:
    """ERP or DESTINATION for one target field of one flow's entity: as configured in
    `owners` (`flow_owners`), else as its name says."""
    return configured_owner(owners=owners, field=field) if owners else default_owner(field)
