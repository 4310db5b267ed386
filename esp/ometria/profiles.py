"""Reading a contact back from Ometria's profiles, in the hub's mapped field names.

Ometria keeps contact listings but serves only profiles (its clusters of listings) for
reading; the profiles endpoint's path is UNCONFIRMED (client.profiles, esp-apis.md 2.5).
A profile carries the documented fields (id, email, phone_number, customer_id,
firstname, lastname, gender, country, marketing_optin, timezone, date_of_birth,
lifecycle_status, is_email_valid, properties), so only mapped fields that land in one
of them can be compared; the others are left out, never reported as drift.

`contact_record` (payloads.py) is the way there; this is the way back:
- a mapped `name` was split into firstname / lastname: the profile's pair is compared
  with the split of what was sent, and joined again when it differs;
- `marketing_optin` was normalised (yes/no to Ometria's enum): compared the same way;
- `country_id` is the profile's `country`;
- any other mapped name went into `properties`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .payloads import CONTACT_FIELDS, FULL_NAME, marketing_optin

# Contact fields a profile shows, by the listing's name for them.
PROFILE_NAMES = {"phone_number": "phone_number", "firstname": "firstname", "lastname": "lastname",
                 "gender": "gender", "marketing_optin": "marketing_optin", "timezone": "timezone",
                 "date_of_birth": "date_of_birth", "country_id": "country"}


def profile_of_contact(profiles: list[dict[str, Any]], customer_id: str) -> dict[str, Any] | None:
    """The profile holding the hub's listing: the one with its customer id (Ometria
    clusters by customer id first); None when no profile has it."""
    return next((p for p in profiles if str(p.get("customer_id") or "") == customer_id), None)


def _split_name(value: Any) -> tuple[str | None, str | None]:
    first, _, rest = str(value or "").strip().partition(" ")
    return first or None, rest.strip() or None


def contact_fields_from_profile(profile: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's values of the mapped fields in `sent` (the fields the hub pushed),
    by the same names; fields a profile does not show are left out."""
    properties = profile.get("properties") or {}
    found: dict[str, Any] = {}
    for name, value in sent.items():
        if name == FULL_NAME:
            if not value or "firstname" in sent or "lastname" in sent:
                continue  # not sent (payloads.contact_record): empty, or mapped firstname/lastname win
            held = (profile.get("firstname") or None, profile.get("lastname") or None)
            found[name] = value if held == _split_name(value) else " ".join(part for part in held if part) or None
        elif name == "marketing_optin":
            wanted, held = marketing_optin(value)[0], profile.get("marketing_optin")
            if wanted is None:
                continue  # consent unknown in the ERP is not sent: Ometria's own stands
            found[name] = value if wanted == held else held
        elif name in CONTACT_FIELDS:
            if name in PROFILE_NAMES:
                found[name] = profile.get(PROFILE_NAMES[name])
        else:
            found[name] = properties.get(name)
    return found
