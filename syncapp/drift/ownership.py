"""Who owns a mapped field: the ERP (the hub may write it back) or the destination (only
people and contacts there change it: consent, subscriptions, engagement).

A stop-gap until field ownership is configuration (issue 15), which replaces
`field_owner` alone: everything else asks it. Until then the ERP owns every field but
those whose name says consent or engagement, in any vendor's spelling
(MARKETINGCONSENT, marketing_optin, timestamp_unsubscribed, LASTOPENED...).
"""
from __future__ import annotations

import re

ERP = "erp"
DESTINATION = "destination"

# Name fragments of fields the destination owns; matched without case, '_' or '-'.
DESTINATION_FRAGMENTS = ("consent", "optin", "optout", "subscri", "preference", "engagement", "suppress",
                         "bounce", "complain", "lastopen", "lastclick", "opened", "clicked")
_SEPARATORS = re.compile(r"[_\-\s]")


def field_owner(*, destination_kind: str, entity: str, field: str) -> str:
    """ERP or DESTINATION for one mapped target field of one flow's entity."""
    plain = _SEPARATORS.sub("", field).lower()
    return DESTINATION if any(fragment in plain for fragment in DESTINATION_FRAGMENTS) else ERP
