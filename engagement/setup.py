"""The write-back's set-up: each engagement user field exists on Business Partners (OCRD)
with the right type, created through the Service Layer's `UserFieldsMD` when missing
(contract: EntityType UserFieldMD; `Name` without `U_`, `Type` a BoFieldTypes member).

A field that exists with another type is not changed (SAP cannot change a field's type
in place, and it may hold a company's data): the set-up refuses it with the reason.
"""
from __future__ import annotations

from .fields import MEASURES_BY_KEY

TABLE = "OCRD"
# BoFieldTypes members by their database value, for a Service Layer answering values.
_TYPE_NAMES = {"A": "db_Alpha", "M": "db_Memo", "N": "db_Numeric", "D": "db_Date", "B": "db_Float"}


class SetupRefused(Exception):
    """A user field cannot be used as it is in SAP: `field` names it, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def user_fields_ensure(*, client, names: dict[str, str]) -> list[str]:
    """Check every engagement field and create the missing ones; returns those created.
    Raises SetupRefused for a field of another type, TransportError when SAP refuses."""
    held = {}
    for page in client.get_pages("UserFieldsMD", {"$filter": f"TableName eq '{TABLE}'",
                                                  "$select": "TableName,FieldID,Name,Type,Size"}):
        held.update({f"u_{str(row.get('Name') or '').lower()}": row for row in page.rows})
    created = []
    for key, name in names.items():
        measure = MEASURES_BY_KEY[key]
        row = held.get(name.lower())
        if row is None:
            body = {"TableName": TABLE, "Name": name[2:], "Type": measure.field_type,
                    "Description": measure.label[:30]}
            if measure.size:
                body["Size"] = measure.size
            client.post("UserFieldsMD", body)
            created.append(name)
            continue
        kind = _TYPE_NAMES.get(row.get("Type"), row.get("Type"))
        if kind != measure.field_type:
            raise SetupRefused(name, f"The user field {name} exists in SAP as {kind}, but {measure.label.lower()} "
                                     f"needs {measure.field_type}. Give the measure another field name in the "
                                     "write-back settings, or change the field in SAP.")
    return created
