"""What a mapped consent field says, whatever the vendor calls it (issue 15).

A field whose name says consent (MARKETINGCONSENT, marketing_optin...) either grants
consent (yes, true, EXPLICITLY_OPTEDIN) or withdraws it (no, false, EXPLICITLY_OPTEDOUT);
anything else (empty, NOT_SPECIFIED) says nothing. The planner lets a withdrawal through
always and a grant only with a contact's first push (syncapp/planning_owned.py); each
destination adapter expresses a withdrawal its vendor's way (dotdigital: the email channel
unsubscribed; Ometria: marketing_optin EXPLICITLY_OPTEDOUT).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

GRANT = "grant"
WITHDRAW = "withdraw"

CONSENT_FRAGMENTS = ("consent", "optin", "optout")
YES = frozenset({"y", "yes", "true", "1", "t"})
NO = frozenset({"n", "no", "false", "0", "f"})
_GRANTS = YES | {"explicitly_optedin", "subscribed", "optedin"}
_WITHDRAWALS = NO | {"explicitly_optedout", "unsubscribed", "optedout"}
_SEPARATORS = re.compile(r"[_\-\s]")


def plain_name(name: str) -> str:
    """A field name without case, '_' or '-', for matching name fragments."""
    return _SEPARATORS.sub("", name or "").lower()


@lru_cache(maxsize=4096)  # asked for every field of every planned record; the names are few
def is_consent_field(name: str) -> bool:
    """Whether a target field's name says it carries marketing consent (any vendor's spelling)."""
    plain = plain_name(name)
    return any(fragment in plain for fragment in CONSENT_FRAGMENTS)


def consent_intent(value: Any) -> str | None:
    """GRANT, WITHDRAW, or None when the value says neither."""
    if isinstance(value, bool):
        return GRANT if value else WITHDRAW
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip().lower()
    if text in _GRANTS:
        return GRANT
    if text in _WITHDRAWALS:
        return WITHDRAW
    return None


def withdraws_consent(fields: Mapping[str, Any]) -> bool:
    """Whether any consent field among `fields` withdraws consent."""
    return any(is_consent_field(name) and consent_intent(value) == WITHDRAW for name, value in fields.items())
