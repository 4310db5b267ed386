"""Duplicate-email conflicts: recording them as planning finds them, resolving them."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import DuplicateEmailConflict

Status = DuplicateEmailConflict.Status
Resolution = DuplicateEmailConflict.Resolution


def conflict_record(*, connection, email_normalised: str, card_codes: Iterable[str],
                    held: bool) -> DuplicateEmailConflict:
    """Note a group sharing an email. `held` (the default policy) keeps it open for a
    person; otherwise the policy decided and the conflict is recorded as resolved.
    A group whose members changed since a person resolved it is opened again."""
    codes = sorted(card_codes)
    conflict, created = DuplicateEmailConflict.objects.get_or_create(
        connection=connection, email_normalised=email_normalised,
        defaults={"card_codes": codes, "status": Status.OPEN if held else Status.RESOLVED},
    )
    if created:
        return conflict
    if sorted(conflict.card_codes) != codes:
        conflict.card_codes = codes
        conflict.status = Status.OPEN if held else Status.RESOLVED
        conflict.resolution, conflict.winner_card_code = "", ""
        conflict.resolved_by, conflict.resolved_at = None, None
        conflict.save()
    return conflict


def conflicts_involving(*, connection, card_codes: Iterable[str]) -> list[DuplicateEmailConflict]:
    wanted = set(card_codes)
    return [c for c in DuplicateEmailConflict.objects.filter(connection=connection, status=Status.OPEN)
            if wanted.intersection(c.card_codes)]


def conflict_dissolve(*, conflict: DuplicateEmailConflict) -> None:
    """The email is no longer shared (a partner's email was corrected): nothing to decide."""
    conflict.status = Status.RESOLVED
    conflict.resolution = ""
    conflict.resolved_at = timezone.now()
    conflict.save(update_fields=["status", "resolution", "resolved_at", "updated_at"])


def conflict_resolve(*, conflict: DuplicateEmailConflict, resolution: str, winner_card_code: str = "",
                     user=None) -> DuplicateEmailConflict:
    """A person decided; the held records are re-planned at once for every flow."""
    from syncapp.services import records_replan_for_connection

    if resolution not in Resolution.values:
        raise ValueError(f"Unknown resolution {resolution!r}.")
    if resolution == Resolution.WINNER and winner_card_code not in conflict.card_codes:
        raise ValueError("The winner must be one of the partners in the conflict.")
    with transaction.atomic():
        conflict.status = Status.RESOLVED
        conflict.resolution = resolution
        conflict.winner_card_code = winner_card_code if resolution == Resolution.WINNER else ""
        conflict.resolved_by = user
        conflict.resolved_at = timezone.now()
        conflict.save()
        records_replan_for_connection(connection=conflict.connection, source_entity="business_partners",
                                      record_keys=conflict.card_codes)
    return conflict
