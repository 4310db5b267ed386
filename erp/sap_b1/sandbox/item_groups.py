"""Item groups (OITB, `ItemGroups`) in the sandbox: the company's product categories.

As the metadata says: the key `Number` is an Edm.Int32 (so `ItemGroups(100)`, unquoted),
not writable; `GroupName` is required and writable (a PATCH renames the group); the type
has no UpdateDate/UpdateTime, so a reader takes the whole set (paged like any
collection). A new company holds group 100 "Items", as SAP B1 creates it.

`ItemGroupHooks` is mixed into `SapB1Sandbox`; it relies on the sandbox's `_lock`,
`_generation` and `item_groups` dict (keyed by str(Number), like every resource's rows).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from erp.sap_b1.sandbox.errors import SandboxError

# Properties this sandbox keeps on an ItemGroup (both exist on SAPB1.ItemGroups).
ITEM_GROUP_PROPERTIES = frozenset(("Number", "GroupName"))
DEFAULT_GROUPS = ({"Number": 100, "GroupName": "Items"},)
_KEYED = re.compile(r"^/ItemGroups\((-?\d+)\)$")


class ItemGroupHooks:
    """Test hooks and by-key routes for ItemGroups."""

    item_groups: dict[str, dict[str, Any]]

    def add_item_groups(self, groups: Iterable[dict[str, Any]]) -> None:
        """Store groups as given (test hook; malformed values too)."""
        with self._lock:
            for group in groups:
                self.item_groups[str(group.get("Number"))] = dict(group)
            self._generation += 1

    def rename_item_group(self, number: int, name: str) -> None:
        """Test hook: as a person renaming the group in SAP."""
        with self._lock:
            self.item_groups[str(number)]["GroupName"] = name
            self._generation += 1

    def _route_item_group(self, method: str, path: str, body) -> tuple[int, list, Any] | None:
        """GET or PATCH `ItemGroups(<Number>)`; None when `path` is not one."""
        keyed = _KEYED.match(path)
        if keyed is None:
            return None
        number = keyed.group(1)
        with self._lock:
            if number not in self.item_groups:
                raise SandboxError(404, -2028, "No matching records found (ODBC -2028)")
            if method == "GET":
                return 200, [], {"odata.metadata": "/b1s/v1/$metadata#ItemGroups/@Element"} | self.item_groups[number]
        if method != "PATCH":
            raise SandboxError(405, -1000, f"Method {method} is not allowed on '{path[1:]}'")
        fields = body()
        if not isinstance(fields, dict) or set(fields) - ITEM_GROUP_PROPERTIES:
            raise SandboxError(400, -1000, "Property not found on SAPB1.ItemGroups")
        if "Number" in fields:
            raise SandboxError(400, -1000, "Property 'Number' of 'ItemGroups' is read-only")
        name = fields.get("GroupName")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise SandboxError(400, -5002, "Enter a group name (GroupName)")
        if name is not None:
            self.rename_item_group(int(number), name)
        return 204, [], None
