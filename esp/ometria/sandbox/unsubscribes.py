"""Unsubscribes at the Ometria sandbox, and `GET /v2/unsubscribes` that lists them [OM-UNSUB].

A contact unsubscribing (a link, the preference centre, the app) is stored opted out, and
no longer forced in: a later push decides by Ometria's precedence (state.consent), so a push
with `@force_optin` and EXPLICITLY_OPTEDIN subscribes them again. Each unsubscribe is listed
as `{email_address, profile_id, reason, timestamp, type}`, filtered by `since`, `before` and
`type`; opt-outs pushed through the API are not listed, as documented. Ometria documents no
paging here: the whole list is one answer.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

UNSUBSCRIBES_PATH = "/v2/unsubscribes"
TYPES = ("preferences_centre", "app", "list_unsubscribe", "link_unsubscribe")


def unsubscribe(state, record_id: str, collection: str, now: float, *, kind: str = "link_unsubscribe",
                reason: str = "") -> dict[str, Any]:
    if kind not in TYPES:
        raise ValueError(f"type is one of {', '.join(TYPES)}")
    key = (collection, record_id)
    stored = state.contacts[key]
    stored["marketing_optin"] = "EXPLICITLY_OPTEDOUT"
    state.forced_optin.discard(key)
    state.unsubscribes.append({"email_address": stored.get("email"), "profile_id": record_id,
                               "reason": reason or kind.replace("_", " "), "timestamp": _iso(now), "type": kind,
                               "at": now})
    return dict(stored)


def unsubscribes_listed(state, query: dict[str, list[str]]) -> list[dict[str, Any]]:
    from .app import SandboxError

    try:
        since = _moment((query.get("since") or [""])[0])
        before = _moment((query.get("before") or [""])[0])
    except ValueError as error:
        raise SandboxError(400, f"Payload invalid: {error}") from error
    kind = (query.get("type") or [""])[0]
    return [{k: v for k, v in entry.items() if k != "at"} for entry in state.unsubscribes
            if (since is None or entry["at"] >= since) and (before is None or entry["at"] < before)
            and (not kind or entry["type"] == kind)]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _moment(text: str) -> float | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
