"""Contact persons in the sandbox: BusinessPartner.ContactEmployees (SAPB1.ContactEmployee).

As the Service Layer keeps them: a collection inside the Business Partner, each person
numbered by `InternalCode` (OCPR.CntctCode, one series for the whole company database,
never reused) and carrying its partner's `CardCode`. A PATCH of ContactEmployees updates
the persons it names by InternalCode and adds those without one; with
`B1S-ReplaceCollectionsOnPatch: true` the list sent replaces the old one, which is how a
person is deleted. Either way the partner's UpdateDate/UpdateTime are stamped.
"""
from __future__ import annotations

from typing import Any

from erp.sap_b1.sandbox.errors import SandboxError

# The ContactEmployee properties this sandbox keeps (all on SAPB1.ContactEmployee).
CONTACT_PROPERTIES = frozenset({
    "CardCode", "Name", "Position", "Phone1", "Phone2", "MobilePhone", "E_Mail", "InternalCode", "Title",
    "Active", "FirstName", "MiddleName", "LastName", "BlockSendingMarketingContent",
})
_DEFAULTS = {"Active": "tYES", "BlockSendingMarketingContent": "tNO"}
_YES_NO = {"Y": "tYES", "N": "tNO"}


class ContactEmployees:
    """Numbers and merges one sandbox's contact persons."""

    def __init__(self) -> None:
        self._next_code = 1

    def numbered(self, card_code: str, persons: Any) -> list[dict[str, Any]]:
        """The persons of a new or replaced list, each with its InternalCode and defaults."""
        rows = _rows(persons)
        given = [row["InternalCode"] for row in rows if isinstance(row.get("InternalCode"), int)]
        self._next_code = max(self._next_code, max(given, default=0) + 1)  # codes a test chose itself
        return [self._person(card_code, row, {}) for row in rows]

    def merged(self, card_code: str, current: list[dict[str, Any]], persons: Any) -> list[dict[str, Any]]:
        """A PATCH without replace: update by InternalCode, add the rest."""
        by_code = {row["InternalCode"]: row for row in current}
        for row in _rows(persons):
            code = row.get("InternalCode")
            if code is not None and code not in by_code:
                raise SandboxError(400, -2028, f"Contact employee {code} not found for '{card_code}'")
            if code is None:
                added = self._person(card_code, row, {})
                by_code[added["InternalCode"]] = added
            else:
                by_code[code] = self._person(card_code, row, by_code[code])
        return list(by_code.values())

    def _person(self, card_code: str, row: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        unknown = set(row) - CONTACT_PROPERTIES
        if unknown:
            raise SandboxError(400, -1000, f"Property '{sorted(unknown)[0]}' of 'ContactEmployee' is invalid")
        values = {name: _YES_NO.get(value, value) if isinstance(value, str) else value for name, value in row.items()}
        person = _DEFAULTS | old | values | {"CardCode": card_code}
        if person.get("InternalCode") is None:
            person["InternalCode"], self._next_code = self._next_code, self._next_code + 1
        return person


def _rows(persons: Any) -> list[dict[str, Any]]:
    if not isinstance(persons, list) or not all(isinstance(row, dict) for row in persons):
        raise SandboxError(400, -1000, "ContactEmployees must be a collection of ContactEmployee")
    return persons
