"""Ometria's read-only profiles, as the sandbox serves them.

UNCONFIRMED: the path and its parameter. Ometria's reference lists a profiles read
endpoint (docs.ometria.com/reference/get_profiles-1, replicated by Daasity), but its
exact path was not retrievable; `GET /v2/profiles?email=` is what public code calls
(esp-apis.md 2.5). The answer's envelope is unconfirmed too: a JSON array here (the
client also reads `{"data": [...]}`).

Ometria clusters contact listings into profiles by `customer_id`, then email
(OM-CONTACTS). The profile fields are the documented list: id, email, phone_number,
customer_id, firstname, lastname, gender, country, marketing_optin, timezone,
date_of_birth, lifecycle_status, is_email_valid, properties. A profile shows the most
recently stored listing of its cluster (the sandbox keeps no per-field history), with
the properties of every listing merged, newest last.
"""
from __future__ import annotations

import hashlib
from typing import Any

PROFILES_PATH = "/v2/profiles"
PROFILE_FIELDS = ("email", "phone_number", "customer_id", "firstname", "lastname", "gender", "marketing_optin",
                  "timezone", "date_of_birth")


def _cluster(listing: dict[str, Any]) -> str:
    customer = str(listing.get("customer_id") or "")
    return f"customer:{customer}" if customer else f"email:{str(listing.get('email') or '').strip().lower()}"


def profile_id(cluster: str) -> str:
    return "prf_" + hashlib.sha256(cluster.encode()).hexdigest()[:16]


def profiles_for_email(contacts: dict[tuple[str, str], dict[str, Any]], email: str) -> list[dict[str, Any]]:
    """The profiles holding a listing with this email (compared without case)."""
    wanted = email.strip().lower()
    clusters: dict[str, list[dict[str, Any]]] = {}
    for listing in contacts.values():  # insertion order: the newest stored listing last
        clusters.setdefault(_cluster(listing), []).append(listing)
    found = []
    for cluster, listings in clusters.items():
        if not any(str(listing.get("email") or "").strip().lower() == wanted for listing in listings):
            continue
        latest = listings[-1]
        profile: dict[str, Any] = {"id": profile_id(cluster)}
        profile.update({name: latest.get(name) for name in PROFILE_FIELDS})
        profile["country"] = latest.get("country_id")  # the listing's country_id is the profile's country
        profile["lifecycle_status"] = "customer" if latest.get("customer_id") else "subscriber"
        profile["is_email_valid"] = True
        properties: dict[str, Any] = {}
        for listing in listings:
            properties.update(listing.get("properties") or {})
        profile["properties"] = properties
        found.append(profile)
    return found
