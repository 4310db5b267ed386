"""Consent at the dotdigital sandbox: contacts unsubscribing, bouncing or complaining, the
suppression list `GET /v2/contacts/suppressed-since/{date}` reads, and the email channel
status an import may set.

Documented choices where dotdigital's docs leave room:
- Unsubscribes, hard bounces and complaints go on the account's one suppression list, each
  `{suppressedContact: ApiContact, dateRemoved, reason}` with `reason` a v2 contact status
  (Unsubscribed, HardBounced, IspComplained...) [V2SW ApiContactSuppression].
- An unsubscribed contact keeps its status through imports that do not name one, and its
  data fields are still updated; a suppressed (bounced, complained) one is not imported (state.py).
- The `channelProperties.email.status` of an import row or a PATCH body (on write: subscribed,
  unsubscribed or suppressed [V3C]) is applied. An unsubscribe or suppression written so is
  listed by suppressed-since, as the contact's own would be. `subscribed` for an unsubscribed
  contact resubscribes it, since `resubscribeOptions.resubscribeWithNoChallenge` defaults to true [V3C]. Every
  resubscription is logged in `AccountState.resubscribed`, so a test can see one happen.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

WRITABLE_STATUSES = ("subscribed", "unsubscribed", "suppressed")
# A written status that withdraws consent -> its v2 reason on the suppression list.
WITHDRAWN_REASONS = {"unsubscribed": "Unsubscribed", "suppressed": "Suppressed"}
# v2 reason -> (contact status, email channel status) at the sandbox.
REASONS = {"Unsubscribed": ("unsubscribed", "unsubscribed"), "HardBounced": ("suppressed", "hardBounced"),
           "IspComplained": ("suppressed", "ispComplained"), "Suppressed": ("suppressed", "suppressed")}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def withdraw(state, email: str, now: float, reason: str) -> dict[str, Any]:
    """The contact unsubscribes (or bounces, or complains) as dotdigital would record it."""
    if reason not in REASONS:
        raise ValueError(f"reason is one of {', '.join(REASONS)}")
    contact = state.contacts.get(email.lower()) or state.new_contact(email, now)
    contact["status"], contact["channelProperties"]["email"]["status"] = REASONS[reason]
    contact["updated"] = iso(now)
    state.suppressions.append({"email": contact["identifiers"]["email"], "at": now, "reason": reason,
                               "contactId": contact["contactId"]})
    return contact


def suppressed_since(state, date: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """`GET /v2/contacts/suppressed-since/{date}?select=&skip=`, oldest first."""
    from .state import SandboxError

    try:
        since = datetime.fromisoformat(date.replace("Z", "+00:00"))
        select = int((query.get("select") or ["1000"])[0])
        skip = int((query.get("skip") or ["0"])[0])
    except ValueError as error:
        raise SandboxError(400, "ERROR_PARAMETER_INVALID", f"Invalid parameter: {error}") from error
    if not 1 <= select <= 1000 or skip < 0:
        raise SandboxError(400, "ERROR_PARAMETER_INVALID", "select must be between 1 and 1000. skip must not be "
                                                          "negative")
    since_ts = (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    rows = [{"suppressedContact": {"id": entry["contactId"], "email": entry["email"], "optInType": "Unknown",
                                   "emailType": "Html", "dataFields": [], "status": entry["reason"]},
             "dateRemoved": iso(entry["at"]), "reason": entry["reason"]}
            for entry in state.suppressions if entry["at"] >= since_ts]
    return rows[skip:skip + select]


def channel_status_problem(row: dict[str, Any]) -> str | None:
    status = _wanted_status(row)
    if status is not None and status not in WRITABLE_STATUSES:
        return f"channelProperties.email.status must be one of {', '.join(WRITABLE_STATUSES)}"
    return None


def channel_status_apply(state, contact: dict[str, Any], row: dict[str, Any], now: float) -> None:
    """Apply the email channel status of an import row or a PATCH body to the contact it
    updated or created. Unsubscribing or suppressing puts the contact on the suppression list,
    as an unsubscribe made by the contact does."""
    status = _wanted_status(row)
    if status is None or status == contact["status"]:
        return
    if status == "subscribed" and contact["status"] == "unsubscribed":
        state.resubscribed.append({"email": contact["identifiers"]["email"], "at": now})
    contact["status"] = contact["channelProperties"]["email"]["status"] = status
    if status in WITHDRAWN_REASONS:
        state.suppressions.append({"email": contact["identifiers"]["email"], "at": now,
                                   "reason": WITHDRAWN_REASONS[status], "contactId": contact["contactId"]})


def _wanted_status(row: dict[str, Any]) -> str | None:
    email = ((row.get("channelProperties") or {}).get("email") or {})
    return email.get("status") if isinstance(email, dict) else None
