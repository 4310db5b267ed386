"""Saving the mapping set of one destination and entity, as the mapping editor submits it."""
from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from esp.replanning import flows_replan_after_commit


class MappingSaveConflict(ValueError):
    """The database refused the set (e.g. two rows swapping their target names)."""


@dataclass(frozen=True)
class MappingSaveResult:
    created: int
    changed: int
    deleted: int
    replanned_flow_ids: list[int]

    @property
    def total(self) -> int:
        return self.created + self.changed + self.deleted


def flows_shaped_by(*, destination, entity: str):
    """The flows whose payloads these mappings make."""
    from syncapp.models import Flow

    return Flow.objects.filter(destination=destination, entity=entity).select_related("connection", "destination")


def mapping_set_save(*, formset) -> MappingSaveResult:
    """Apply a valid formset in one transaction (deletions first, so a freed target name
    can be reused), then re-plan the flows the mappings shape once it commits. Every
    row saved is audited by the audit app's signals, with the request's user."""
    deleted = [form.instance for form in formset.forms
               if form.instance.pk is not None and form.cleaned_data.get("DELETE")]
    try:
        with transaction.atomic():
            for mapping in deleted:
                mapping.delete()
            created = changed = 0
            for form in formset.kept_forms():
                is_new = form.instance.pk is None
                if is_new or form.has_changed():
                    form.mapping().save()
                    created, changed = created + is_new, changed + (not is_new)
            flow_ids: list[int] = []
            if created or changed or deleted:
                flow_ids = flows_replan_after_commit(flows_shaped_by(destination=formset.destination,
                                                                     entity=formset.entity))
    except IntegrityError as error:
        raise MappingSaveConflict(
            "The mappings could not be saved as one change: two rows would hold the same destination field "
            "at once (for example two rows swapping their names). Rename one row first, save, then the other."
        ) from error
    return MappingSaveResult(created, changed, len(deleted), flow_ids)
