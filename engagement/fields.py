"""The engagement measures written back, and the Business Partner user field each goes to.

Each measure has a default user field name (changed per connection in WriteBackSettings)
and the SAP field type the set-up creates it with (UserFieldsMD `Type`, BoFieldTypes).
Descriptions stay within SAP's 30 characters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    key: str
    default_field: str
    label: str
    field_type: str  # db_Alpha, db_Numeric or db_Date
    size: int = 0


MEASURES: tuple[Measure, ...] = (
    Measure("last_open", "U_HubLastOpen", "Last email open", "db_Date"),
    Measure("last_click", "U_HubLastClick", "Last email click", "db_Date"),
    Measure("opens_30", "U_HubOpens30", "Email opens, last 30 days", "db_Numeric", 11),
    Measure("opens_90", "U_HubOpens90", "Email opens, last 90 days", "db_Numeric", 11),
    Measure("clicks_30", "U_HubClicks30", "Email clicks, last 30 days", "db_Numeric", 11),
    Measure("clicks_90", "U_HubClicks90", "Email clicks, last 90 days", "db_Numeric", 11),
    Measure("last_campaign", "U_HubLastCampaign", "Last email campaign", "db_Alpha", 100),
    Measure("email_status", "U_HubEmailStatus", "Email status", "db_Alpha", 20),
)
MEASURES_BY_KEY = {measure.key: measure for measure in MEASURES}
WINDOW_MEASURES = ("opens_30", "opens_90", "clicks_30", "clicks_90")
_FIELD_NAME = re.compile(r"^U_[A-Za-z][A-Za-z0-9_]{0,49}$")


class FieldNamesInvalid(ValueError):
    """The configured field names cannot be used; the message says why, for an admin."""


def field_names(configured: dict | None) -> dict[str, str]:
    """Measure key -> user field name: the configured names over the defaults.
    Raises FieldNamesInvalid for an unknown measure, a name that is not U_..., or a repeat."""
    configured = dict(configured or {})
    unknown = sorted(set(configured) - set(MEASURES_BY_KEY))
    if unknown:
        raise FieldNamesInvalid(f"Unknown engagement measure {unknown[0]!r}; known: {', '.join(MEASURES_BY_KEY)}.")
    names = {measure.key: str(configured.get(measure.key) or measure.default_field) for measure in MEASURES}
    for key, name in names.items():
        if not _FIELD_NAME.match(name):
            raise FieldNamesInvalid(f"The field for {MEASURES_BY_KEY[key].label.lower()} must be a user field "
                                    f"named U_ followed by letters, digits or '_', not {name!r}.")
    lowered = [name.lower() for name in names.values()]
    if len(set(lowered)) != len(lowered):
        raise FieldNamesInvalid("Two engagement measures are given the same user field.")
    return names
