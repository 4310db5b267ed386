"""`{% customer_consent exception as consent %}`: the consent history of the customer an
exception is about, for the exception's record page (None for other records)."""
from __future__ import annotations

from django import template

from ..selectors import consent_history, consent_states

register = template.Library()


@register.simple_tag
def customer_consent(exception):
    if exception.entity != "customers" or not exception.connection_id or not exception.record_key:
        return None
    ids = {"connection_id": exception.connection_id, "card_code": str(exception.record_key)}
    return {"states": consent_states(**ids), "history": consent_history(**ids), **ids}
