"""The impact of an unsaved mapping set: how many records each flow it shapes would
re-send, counted by the dry run (esp.dry_run, the planner's own verdicts), and the
fingerprint that lets Save check the impact was seen for exactly this set.

The fingerprint is a keyed hash (the site's secret) of the destination, the entity and
the set as it would be saved, including deletions: any edit after the preview,
even reordering, asks for a new preview before anything is written.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.crypto import salted_hmac

from esp.dry_run import DryRunResult, mapping_dry_run
from esp.mapping import MappingConfigError
from esp.models import FieldMapping

_SALT = "esp.mapping_impact"


@dataclass
class FlowImpact:
    flow: object
    result: DryRunResult | None = None
    problem: str = ""


@dataclass
class MappingImpact:
    flows: list[FlowImpact] = field(default_factory=list)

    @property
    def resend(self) -> int:
        return sum(item.result.resend for item in self.flows if item.result and item.result.available)

    @property
    def failing(self) -> int:
        return sum(item.result.failing for item in self.flows if item.result and item.result.available)


def mapping_impact(*, flows: Iterable, mappings: list[FieldMapping]) -> MappingImpact:
    """Dry-run `mappings` on every flow they shape. Writes nothing."""
    impact = MappingImpact()
    for flow in flows:
        try:
            impact.flows.append(FlowImpact(flow, mapping_dry_run(flow=flow, mappings=mappings)))
        except MappingConfigError as error:
            impact.flows.append(FlowImpact(flow, problem=str(error)))
    return impact


def _row(mapping: FieldMapping) -> list:
    return [mapping.pk, mapping.position, mapping.source_field, mapping.transform, mapping.transform_arg,
            mapping.target_field, mapping.target_type, bool(mapping.required), bool(mapping.enabled)]


def mapping_set_fingerprint(*, destination_id: int, entity: str, mappings: list[FieldMapping],
                            deleted_ids: Iterable[int]) -> str:
    """A keyed hash of the set as it would be saved (rows in sending order, deletions)."""
    text = json.dumps({"destination": destination_id, "entity": entity, "rows": [_row(m) for m in mappings],
                       "deleted": sorted(deleted_ids)}, sort_keys=True, default=str)
    return salted_hmac(_SALT, text).hexdigest()
