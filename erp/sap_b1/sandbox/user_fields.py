"""User-defined fields in the sandbox: `UserFieldsMD` (CUFD) and the checks a PATCH meets.

`UserFieldHooks` is mixed into `SapB1Sandbox`; it relies on its `_lock`, `_generation` and
`resources`. Shapes follow the contract's metadata (EntityType `UserFieldMD`, key
TableName + FieldID; `Type` is `BoFieldTypes`: db_Alpha, db_Memo, db_Numeric, db_Date,
db_Float; `Name` is given without the `U_` the field then carries on its entity).

Business Partner fields (table OCRD) are enforced: a PATCH or POST naming a `U_` field
the company has not defined is refused as SAP refuses any unknown property, and a value
of the wrong type for its field (text in a number, a date that is not yyyy-mm-dd, text
longer than its size) is refused in the v1 error envelope (code -1000; SAP's own wording
for a type error is unconfirmed, so the message is ours). A field created here is usable
at once; a real Service Layer may need a metadata refresh first (contract 1.1).
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from erp.sap_b1.sandbox import query
from erp.sap_b1.sandbox.errors import SandboxError

FIELD_TYPES = {"db_Alpha": "A", "db_Memo": "M", "db_Numeric": "N", "db_Date": "D", "db_Float": "B"}
_BY_VALUE = {value: name for name, value in FIELD_TYPES.items()}
USER_FIELD_PROPERTIES = frozenset(("Name", "Type", "Size", "Description", "SubType", "LinkedTable",
                                   "DefaultValue", "TableName", "FieldID", "EditSize", "Mandatory"))
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T00:00:00(Z)?)?$")
_KEY = re.compile(r"^/UserFieldsMD\(TableName='([^']*)',FieldID=(\d+)\)$")
SUPPORTED_TABLES = ("OCRD",)  # Business Partners; the sandbox keeps other tables' fields fixed
# The demo company's own Business Partner fields.
DEMO_FIELDS = (("LoyaltyTier", "db_Alpha", 50), ("MarketingConsent", "db_Alpha", 10), ("Birthday", "db_Date", 0))


class UserFieldHooks:
    """UserFieldsMD for OCRD, and the user-field checks of Business Partner writes."""

    resources: dict[str, Any]

    def _init_user_fields(self) -> None:
        self.user_fields_md: list[dict[str, Any]] = []
        for name, kind, size in DEMO_FIELDS:
            self._user_field_store({"TableName": "OCRD", "Name": name, "Type": kind, "Size": size})

    # ------------------------------------------------------------ test hooks

    def add_user_field(self, name: str, kind: str = "db_Alpha", size: int = 50, table: str = "OCRD") -> None:
        """Define a user field as an admin would in SAP (`name` without `U_`)."""
        with self._lock:
            self._user_field_store({"TableName": table, "Name": name, "Type": kind, "Size": size})

    def drop_user_field(self, name: str, table: str = "OCRD") -> None:
        """Remove a user field's definition (test hook: a company that never had it)."""
        with self._lock:
            self.user_fields_md = [f for f in self.user_fields_md if (f["TableName"], f["Name"]) != (table, name)]
            self._bp_properties_refresh()

    def user_field_types(self, table: str = "OCRD") -> dict[str, str]:
        """`U_<name>` -> BoFieldTypes member name, for the table's fields."""
        return {f"U_{f['Name']}": f["Type"] for f in self.user_fields_md if f["TableName"] == table}

    # ------------------------------------------------------------ routes

    def _route_user_fields(self, method: str, path: str, params: dict[str, str], body) -> tuple | None:
        if path == "/UserFieldsMD":
            if method == "GET":
                return 200, [], {"odata.metadata": "/b1s/v1/$metadata#UserFieldsMD",
                                 "value": self._user_fields_listed(params)}
            if method == "POST":
                return 201, [], self._user_field_create(body())
            raise SandboxError(405, -1000, f"Method {method} is not allowed on 'UserFieldsMD'")
        keyed = _KEY.match(path)
        if keyed and method == "GET":
            with self._lock:
                for field in self.user_fields_md:
                    if (field["TableName"], field["FieldID"]) == (keyed.group(1), int(keyed.group(2))):
                        return 200, [], dict(field)
            raise SandboxError(404, -2028, "No matching records found (ODBC -2028)")
        return None

    def _user_fields_listed(self, params: dict[str, str]) -> list[dict[str, Any]]:
        try:
            predicate = query.parse_filter(params["$filter"], USER_FIELD_PROPERTIES) if params.get("$filter") else None
        except query.QueryError as error:
            raise SandboxError(400, -1000, str(error)) from None
        with self._lock:
            return [dict(f) for f in self.user_fields_md if predicate is None or predicate(f)]

    def _user_field_create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SandboxError(400, -1000, "The request body must be a JSON object")
        unknown = sorted(set(body) - USER_FIELD_PROPERTIES)
        if unknown:
            raise SandboxError(400, -1000, f"Property '{unknown[0]}' of 'UserFieldMD' is invalid")
        name, table = str(body.get("Name") or ""), str(body.get("TableName") or "")
        if not _NAME.match(name) or name.upper().startswith("U_"):
            raise SandboxError(400, -1000, f"Invalid field name '{name}': give it without 'U_', letters, digits "
                                           "and '_' only")
        if table not in SUPPORTED_TABLES:
            raise SandboxError(400, -1000, f"The sandbox keeps user fields of {', '.join(SUPPORTED_TABLES)} only")
        kind = _BY_VALUE.get(body.get("Type"), body.get("Type") or "db_Alpha")
        if kind not in FIELD_TYPES:
            raise SandboxError(400, -1000, f"Invalid value for property 'Type': {body.get('Type')!r}")
        with self._lock:
            if any((f["TableName"], f["Name"].lower()) == (table, name.lower()) for f in self.user_fields_md):
                raise SandboxError(400, -2035, f"This entry already exists in the following tables: "
                                               f"'User Fields' (CUFD) {table}.U_{name}")
            return dict(self._user_field_store(body | {"Type": kind}))

    # ------------------------------------------------------------ checks

    def _user_field_values_check(self, resource_name: str, fields: dict[str, Any]) -> None:
        """Refuse a value of the wrong type for its Business Partner user field."""
        if resource_name != "BusinessPartners":
            return
        with self._lock:
            defined = {f"U_{f['Name']}": f for f in self.user_fields_md if f["TableName"] == "OCRD"}
        for name, value in fields.items():
            field = defined.get(name)
            if field is None or value is None:
                continue
            why = _type_problem(field, value)
            if why:
                raise SandboxError(400, -1000, f"Value of property '{name}' of 'BusinessPartner' is invalid: {why}")

    # ------------------------------------------------------------ internals

    def _user_field_store(self, body: dict[str, Any]) -> dict[str, Any]:
        table = body["TableName"]
        field_id = sum(1 for f in self.user_fields_md if f["TableName"] == table)
        field = {"TableName": table, "FieldID": field_id, "Name": body["Name"], "Type": body["Type"],
                 "Size": int(body.get("Size") or (11 if body["Type"] == "db_Numeric" else 0)),
                 "Description": str(body.get("Description") or body["Name"]),
                 "SubType": body.get("SubType") or "st_None",
                 "Mandatory": body.get("Mandatory") or "tNO"}
        self.user_fields_md.append(field)
        self._bp_properties_refresh()
        return field

    def _bp_properties_refresh(self) -> None:
        from erp.sap_b1.sandbox.app import BP_PROPERTIES

        bp = self.resources.get("BusinessPartners") if hasattr(self, "resources") else None
        if bp is None:
            return
        names = {f"U_{f['Name']}" for f in self.user_fields_md if f["TableName"] == "OCRD"}
        self.resources["BusinessPartners"] = replace(bp, properties=frozenset((*BP_PROPERTIES, *names)))
        self._generation += 1


def _type_problem(field: dict[str, Any], value: Any) -> str:
    kind, size = field["Type"], int(field.get("Size") or 0)
    if kind in ("db_Alpha", "db_Memo"):
        if not isinstance(value, str):
            return "expected text"
        if kind == "db_Alpha" and size and len(value) > size:
            return f"longer than the field's {size} characters"
    elif kind == "db_Numeric":
        if isinstance(value, bool) or not isinstance(value, int):
            return "expected a whole number"
        if size and len(str(abs(value))) > size:
            return f"more than the field's {size} digits"
    elif kind == "db_Float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "expected a number"
    elif kind == "db_Date":
        if not isinstance(value, str) or not _DATE.match(value):
            return "expected a date (yyyy-mm-dd)"
    return ""
