"""Who owns a mapped field: the ERP or the destination (issue 15). Configuration, kept on
each FieldMapping (`owner`); everything that sends, checks or writes back a field asks here.

- ERP-owned (master data, the hub's figures): the planner sends it on every change, and a
  drift check puts it back when someone edits it at the destination.
- Destination-owned (consent, engagement): what people and contacts change there. The
  planner sends only its starting value, with a contact the destination does not hold yet
  (consent given at the till), and never for a contact whose consent the destination
  withdrew (consent/). Consent withdrawn in the ERP goes too (syncapp/planning_owned.py:
  the ERP may restrict, never grant). A drift check leaves it alone; a write-back may copy it to the
  ERP's user field (`source_field`), and never writes an ERP-owned field.

A field no mapping names (a vendor field the adapter sets itself, or a payload older than
the mapping) is owned as its name says: `default_owner`, which also gives new mappings
their owner.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from esp.consent_values import CONSENT_FRAGMENTS, plain_name

ERP = "erp"
DESTINATION = "destination"
OWNERS = {ERP: "ERP", DESTINATION: "Destination"}

# Name fragments of fields the destination owns; matched without case, '_' or '-'.
DESTINATION_FRAGMENTS = (*CONSENT_FRAGMENTS, "subscri", "preference", "engagement", "suppress",
                         "bounce", "complain", "lastopen", "lastclick", "opened", "clicked")
# What a destination-owned field may do to the value it carries between the two sides: a
# write-back reverses these; any other transform computes an ERP value for sending.
WRITE_BACK_TRANSFORMS = ("none", "map")


def default_owner(field: str) -> str:
    """The owner a field's name suggests: consent and engagement the destination's, the rest the ERP's
    (MARKETINGCONSENT, marketing_optin, timestamp_unsubscribed, LASTOPENED... in any vendor's spelling)."""
    plain = plain_name(field)
    return DESTINATION if any(fragment in plain for fragment in DESTINATION_FRAGMENTS) else ERP


def _destination_and_entity(destination: Any, entity: str | None) -> tuple[Any, str]:
    # A flow stands for its destination and entity.
    if hasattr(destination, "destination_id") and hasattr(destination, "entity"):
        return destination.destination_id, entity or destination.entity
    return getattr(destination, "pk", destination), entity or "customers"


def owners_of(*, destination: Any, entity: str | None = None) -> dict[str, str]:
    """Configured owners of one destination's (or flow's) mapped fields, by lower-cased target."""
    from esp.models import FieldMapping

    account_id, entity = _destination_and_entity(destination, entity)
    return {target.lower(): owner for target, owner in FieldMapping.objects.filter(
        destination_id=account_id, entity=entity).values_list("target_field", "owner")}


def field_owner(*, owners: dict[str, str], field: str) -> str:
    """ERP or DESTINATION for one target field, given `owners_of` its destination."""
    return owners.get(field.lower()) or default_owner(field)


def fields_owned_by(*, destination: Any, owner: str, entity: str | None = None) -> list:
    """The enabled mappings of a destination (an EspAccount, its id, or a Flow) that `owner`
    owns, in sending order. The write-back asks for DESTINATION: each row's `target_field` is
    read at the destination and written to its `source_field` (always a user field, U_*)."""
    from esp.models import FieldMapping

    if owner not in OWNERS:
        raise ValueError(f"owner must be one of {', '.join(OWNERS)}, not {owner!r}")
    account_id, entity = _destination_and_entity(destination, entity)
    return list(FieldMapping.objects.filter(destination_id=account_id, entity=entity, enabled=True,
                                            owner=owner).order_by("position", "id"))


def owner_or_default(owner: str | None, target_field: str) -> str:
    """The owner chosen on a form, or the one the target's name suggests when left empty."""
    return owner or default_owner(target_field)


def owner_field():
    """The owner's form field: left "by its name", a new mapping takes `default_owner`."""
    from django import forms

    return forms.ChoiceField(required=False, choices=[("", "By its name"), *OWNERS.items()],
                             help_text="ERP: sent, and put back when changed there. Destination: only the starting "
                                       "value is sent, and consent withdrawn in the ERP; the destination's value is "
                                       "otherwise never overwritten.")


def destination_owned_targets(mappings: Iterable) -> frozenset[str]:
    """The target fields of `mappings` that the destination owns (the planner's per-page set)."""
    return frozenset(m.target_field for m in mappings if m.owner == DESTINATION)


# ---------------------------------------------------------------- refusing conflicts


def ownership_problems(mapping: Any) -> dict[str, str]:
    """Why one mapping's owner does not fit the mapping itself, by model field name."""
    from esp.mapping import UDF_PATTERN, source_label
    from esp.transforms import TRANSFORMS

    owner = mapping.owner or ""
    if owner not in OWNERS:
        return {"owner": "Choose who owns the field: ERP or Destination."}
    if owner != DESTINATION:
        return {}
    target, source = mapping.target_field or "this field", mapping.source_field or ""
    if source and not UDF_PATTERN.fullmatch(source):
        return {"owner": (f"{target} cannot be the destination's: it is filled from {source_label(source)}, which "
                          "the ERP owns (master data or a figure the hub computes), and a write-back would "
                          "overwrite it. Fill a destination-owned field from a user field (U_...), or make it "
                          "the ERP's.")}
    if mapping.transform not in WRITE_BACK_TRANSFORMS:
        transform = TRANSFORMS.get(mapping.transform)
        label = transform.label if transform else mapping.transform
        return {"transform": (f"“{label}” is an ERP transform, but {target} is the destination's: its value is "
                              "written back to the ERP as the destination holds it. Use “As is” or “Replace "
                              "values”, or make the field the ERP's.")}
    return {}


def owner_clash(mapping: Any, others: Iterable) -> str | None:
    """Why `mapping` conflicts with another mapping of its destination and entity: one ERP
    field both sent as the ERP's and written back as the destination's. None when it fits."""
    if not mapping.source_field:
        return None
    for other in others:
        if other is mapping or (mapping.pk is not None and other.pk == mapping.pk):
            continue
        if other.source_field == mapping.source_field and other.owner != mapping.owner:
            return (f"{mapping.source_field} also fills {other.target_field}, owned by the "
                    f"{OWNERS.get(other.owner, other.owner)}: one ERP field cannot be both sent from the ERP and "
                    "written back from the destination. Give both rows the same owner.")
    return None
