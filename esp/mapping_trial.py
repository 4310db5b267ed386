"""Run a set of field mappings, saved or not, over mirror records without writing anything.

The mapping editor's preview and dry run both ask "what would planning send for this
record under these mappings?". The answer must be the planner's own, so the per-record
rules (who is eligible, a usable email, the mapped fields, the payload hash) come from
syncapp.planning and syncapp.outbox; this module only leaves out the writes.

One trial kind per mapped entity, in TRIALS; only customers have field mappings today.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

from django.db.models import Q

from erp.models import BusinessPartner
from esp.mapping import ADDRESS_FIELDS, UDF_PATTERN, compile_mappings
from esp.models import FieldMapping
from syncapp.outbox import PlannedRecord, records_as_sent
from syncapp.planning import eligible_card_types, partner_email_problem, partners_attach_figures
from syncapp.planning_owned import owned_fields_strip


@dataclass(frozen=True)
class RecordOutcome:
    """What planning would do with one record: send `payload` (hash `payload_hash`),
    fail with `problem`, or skip it (not sent by this flow at all)."""

    key: str
    identifier: str = ""
    payload: dict | None = None
    payload_hash: str = ""
    problem: str = ""
    skipped: bool = False
    left_out: tuple[str, ...] = ()  # mapped, but the destination's value stands (syncapp.planning_owned)

    @property
    def sendable(self) -> bool:
        return self.payload is not None


@dataclass(frozen=True)
class RecordChoice:
    key: str
    label: str


class CustomerTrial:
    """Business Partners of one flow, mapped as `syncapp.planning.flow_plan` maps them.

    Duplicate-email groups are settled by conflicts, not by mappings: a partner held by
    one keeps its outbox row `held`, and the dry run reports it apart.
    """

    key_label = "CardCode"

    def __init__(self, *, flow, mappings: Iterable[FieldMapping]) -> None:
        mappings = list(mappings)
        self.flow, self.mappings = flow, mappings
        self.plan = compile_mappings(mappings)  # raises MappingConfigError for unusable rows
        self.types = eligible_card_types(flow)
        self.columns = _columns_read(mappings)

    def records(self):
        return BusinessPartner.objects.filter(connection_id=self.flow.connection_id).defer("raw")

    def batches(self, size: int) -> Iterator[dict[str, SimpleNamespace]]:
        """Every partner of the connection, `size` at a time in CardCode order (the
        unique index's order, so each batch is one range read). Plain rows rather than
        model instances: the mapping reads them alike, at a fraction of the cost."""
        names = self.columns
        last = None
        while True:
            rows = self.records().order_by("card_code")
            if last is not None:
                rows = rows.filter(card_code__gt=last)
            batch = {row[0]: SimpleNamespace(**dict(zip(names, row, strict=True)))
                     for row in rows.values_list(*names)[:size]}
            if not batch:
                return
            last = next(reversed(batch))
            yield batch

    def load(self, key: str) -> BusinessPartner | None:
        return self.records().filter(card_code=key).first()

    def search(self, text: str, *, limit: int = 20) -> list[RecordChoice]:
        """Partners whose CardCode starts with, or whose name or email contains, `text`."""
        text = text.strip()
        if not text:
            return []
        found = self.records().filter(
            Q(card_code__istartswith=text) | Q(card_name__icontains=text) | Q(email_normalised__contains=text.lower())
        ).order_by("card_code")[:limit]
        return [RecordChoice(p.card_code, f"{p.card_code} · {p.card_name} · {p.email}") for p in found]

    def run(self, partners: dict[str, BusinessPartner | SimpleNamespace]) -> dict[str, RecordOutcome]:
        """Outcomes by CardCode. Attaches the order figures to the partners, and leaves out
        what the destination owns and consent the ERP may not grant, as planning does."""
        partners_attach_figures(self.flow, partners)
        outcomes: dict[str, RecordOutcome] = {}
        planned: list[PlannedRecord] = []
        for key, partner in partners.items():
            if partner.card_type not in self.types:
                outcomes[key] = RecordOutcome(key, skipped=True,
                                              problem=f"A {partner.card_type} is not sent by this flow.")
                continue
            reason = partner_email_problem(partner)
            if reason:
                outcomes[key] = RecordOutcome(key, problem=f"{reason.replace('_', ' ')}: {partner.email!r}")
                continue
            mapped = self.plan.apply(partner)
            if mapped.problems:
                outcomes[key] = RecordOutcome(key, problem="; ".join(p.message for p in mapped.problems))
                continue
            planned.append(PlannedRecord(key=key, identifier=partner.email.strip(), payload=mapped.fields))
        mapped_names = {record.key: list(record.payload) for record in planned}
        owned_fields_strip(flow=self.flow, mappings=self.mappings, planned=planned, partners=partners,
                           record_withdrawals=False)
        # Hashed as the outbox hashes them, so "would send" means what planning would do.
        for record in records_as_sent(flow=self.flow, records=planned):
            left_out = tuple(name for name in mapped_names[record.key] if name not in record.payload)
            outcomes[record.key] = RecordOutcome(record.key, record.identifier, record.payload, record.payload_hash,
                                                 left_out=left_out)
        return outcomes


# What every customer plan reads besides the mapped fields: the key, eligibility, the identifier.
_ALWAYS_READ = ("card_code", "card_type", "email")


def _columns_read(mappings: list[FieldMapping]) -> list[str]:
    """The mirror columns the mappings read (addresses and udfs as whole JSON columns)."""
    columns = {f.name for f in BusinessPartner._meta.concrete_fields}
    needed = dict.fromkeys(_ALWAYS_READ)
    for mapping in mappings:
        source = mapping.source_field
        if source in ADDRESS_FIELDS:
            needed["addresses"] = None
        elif UDF_PATTERN.fullmatch(source):
            needed["udfs"] = None
        elif source in columns:
            needed[source] = None
    return list(needed)


TRIALS = {"customers": CustomerTrial}


def trial_for(*, flow, mappings: Iterable[FieldMapping]) -> CustomerTrial | None:
    """The trial of the flow's entity, or None when that entity has no mapped payloads."""
    kind = TRIALS.get(flow.entity)
    return kind(flow=flow, mappings=mappings) if kind else None
