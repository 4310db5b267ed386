"""Reading consent: what the planner must not override, and what a person reads."""
from __future__ import annotations

from collections.abc import Iterable

from syncapp.bulksql import any_of

from .models import ConsentEvent, ConsentState


def withdrawn_keys(*, flow, keys: Iterable[str]) -> set[str]:
    """Which of `keys` (CardCodes of the flow's connection) withdrew consent at the flow's
    destination. One query for a whole page of keys: the planner asks once per page."""
    keys = list(keys)
    if not keys:
        return set()
    return set(ConsentState.objects.filter(any_of("card_code", keys), destination_id=flow.destination_id,
                                           connection_id=flow.connection_id).values_list("card_code", flat=True))


def consent_states(*, connection_id: int, card_code: str) -> list[ConsentState]:
    return list(ConsentState.objects.filter(connection_id=connection_id, card_code=card_code)
                .select_related("destination").order_by("destination__name"))


def consent_history(*, connection_id: int, card_code: str, limit: int = 50) -> list[ConsentEvent]:
    """The partner's consent changes at every destination, newest first."""
    return list(ConsentEvent.objects.filter(connection_id=connection_id, card_code=card_code)
                .select_related("destination")[:limit])
