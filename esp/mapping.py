"""Field mappings: which ERP value lands in which destination field, and how it is shaped.

Selectors: `mappings_for`, `source_value`, `field_specs`. Services: `compile_mappings`
(once per batch) and `mapping_apply` (per record), `mapping_validate` (for forms and
the API). The engine compiles the mappings of a flow once and calls `plan.apply(record)`
for every Business Partner: nothing in that path touches the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from erp.models import BusinessPartner
from esp.models import FieldMapping
from esp.ownership import owner_clash, ownership_problems
from esp.registry import destination_adapter_class
from esp.transforms import ISO_DATE_FORMAT, TRANSFORMS, TransformError, is_empty
from syncapp.adapters import FieldSpec

# ---------------------------------------------------------------- source fields

# The mirror's addresses (as ingest stores them): `address_type` tells billing from
# delivery addresses; the parts use the mirror's own key names.
ADDRESS_TYPES: dict[str, str] = {"bill_to": "Billing", "ship_to": "Delivery"}
ADDRESS_PARTS: dict[str, tuple[str, str]] = {
    "name": ("address_name", "address name"),
    "street": ("street", "street"),
    "block": ("block", "block"),
    "building": ("building_floor_room", "building"),
    "city": ("city", "city"),
    "zip_code": ("zip_code", "postcode"),
    "county": ("county", "county"),
    "state": ("state", "state"),
    "country": ("country", "country"),
}
# The one list of address source fields: "bill_to.city" -> (address type, mirror key, label).
ADDRESS_FIELDS: dict[str, tuple[str, str, str]] = {
    f"{prefix}.{part}": (prefix, key, f"{type_label} {part_label}")
    for prefix, type_label in ADDRESS_TYPES.items()
    for part, (key, part_label) in ADDRESS_PARTS.items()
}
UDF_PATTERN = re.compile(r"U_[A-Za-z0-9_]+")
# Not mappable as such: internal bookkeeping, and containers reached through their parts.
_NOT_MAPPABLE = {"id", "connection", "raw", "content_hash", "addresses", "udfs"}


class UnknownSourceField(ValueError):
    """The source field names nothing a Business Partner holds."""


class MappingConfigError(ValueError):
    """A mapping that cannot run (unknown source or transform, bad argument).

    Raised by `compile_mappings`: configuration is fixed by a person, so the flow stops
    loudly instead of sending half-shaped contacts. `problems` maps target -> message.
    """

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        details = "; ".join(f"{target}: {message}" for target, message in problems.items())
        super().__init__(f"Field mappings cannot run: {details}")


@cache
def mirror_fields() -> dict[str, str]:
    """Business Partner fields mappable by name -> a label for messages; the customer
    figures derived from orders (planning attaches them to each partner) count too."""
    from erp.customer_figures import FIGURES

    fields = {
        f.name: str(f.verbose_name).capitalize()
        for f in BusinessPartner._meta.concrete_fields
        if f.name not in _NOT_MAPPABLE
    }
    return fields | FIGURES


def source_field_names() -> list[str]:
    """Every fixed source field name, for help texts; `U_*` fields come on top."""
    return [*mirror_fields(), *ADDRESS_FIELDS]


def source_field_problem(source_field: str) -> str | None:
    """A plain sentence when `source_field` names nothing mappable, else None."""
    if source_field in mirror_fields() or source_field in ADDRESS_FIELDS:
        return None
    if UDF_PATTERN.fullmatch(source_field):
        return None
    return (
        f"'{source_field}' is not a Business Partner field. Use a field such as card_name, "
        "a user-defined field such as U_LoyaltyTier, or an address part such as bill_to.city."
    )


def source_label(source_field: str) -> str:
    """How messages name a source field: 'Card name', 'Billing postcode', 'Birthday'."""
    if source_field in ADDRESS_FIELDS:
        return ADDRESS_FIELDS[source_field][2]
    if source_field in mirror_fields():
        return mirror_fields()[source_field]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", source_field.removeprefix("U_"))
    return words.replace("_", " ").strip().capitalize()


def _part(container: Any, name: str) -> Any:
    # Records are mirror rows; plain dicts with the same names (SourceRecord.data) work too.
    if type(container) is dict:
        return container.get(name)
    return getattr(container, name, None)


def source_getter(source_field: str) -> Callable[[Any], Any]:
    """A function reading `source_field` from a record; raises UnknownSourceField.

    The getters never raise on odd data: a missing UDF, no address of the type or a
    malformed address list reads as None.
    """
    if source_field in mirror_fields():
        return lambda record: _part(record, source_field)
    if source_field in ADDRESS_FIELDS:
        address_type, key, _ = ADDRESS_FIELDS[source_field]

        def address_part(record: Any) -> Any:
            addresses = _part(record, "addresses")
            if not isinstance(addresses, list):
                return None
            for address in addresses:
                if isinstance(address, dict) and address.get("address_type") == address_type:
                    return address.get(key)
            return None

        return address_part
    if UDF_PATTERN.fullmatch(source_field):

        def udf(record: Any) -> Any:
            udfs = _part(record, "udfs")
            return udfs.get(source_field) if isinstance(udfs, dict) else None

        return udf
    raise UnknownSourceField(source_field_problem(source_field))


def source_value(record: Any, source_field: str) -> Any:
    """The value of `source_field` in `record`: a mirror field (`card_name`), a UDF
    (`U_Birthday`, from `record.udfs`) or an address part (`bill_to.city`, from the
    first address of that type). Raises UnknownSourceField for anything else."""
    return source_getter(source_field)(record)


# ---------------------------------------------------------------- selectors


def mappings_for(*, destination: Any, entity: str) -> list[FieldMapping]:
    """The enabled mappings of one destination and entity, by position then id."""
    return list(
        FieldMapping.objects.filter(destination=destination, entity=entity, enabled=True).order_by(
            "position", "id"
        )
    )


def field_specs(mappings: Iterable[FieldMapping]) -> list[FieldSpec]:
    """The destination fields the enabled mappings write to, once each, in order."""
    specs: dict[str, FieldSpec] = {}
    for mapping in mappings:
        if mapping.enabled and mapping.target_field not in specs:
            specs[mapping.target_field] = FieldSpec(
                name=mapping.target_field, type=mapping.target_type
            )
    return list(specs.values())


# ---------------------------------------------------------------- target types

_TRUE_WORDS = {"true", "t", "yes", "y", "1"}
_FALSE_WORDS = {"false", "f", "no", "n", "0"}


def _as_string(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _as_numeric(value: Any) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, Decimal) and value.is_finite():
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                pass
            else:
                if math.isfinite(number):  # "NaN" and "inf" parse, but no destination takes them as numbers
                    return number
    raise TransformError(f"'{value}' is not a number", value=value)


def _as_boolean(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if not word:
            return None
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise TransformError(f"'{value}' is not yes or no", value=value)


def _as_date(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, str):
        return value if value.strip() else None
    raise TransformError(f"'{value}' is not a date", value=value)


# Values leave as JSON: dates as ISO text, Decimals as numbers (or text for String fields).
_COERCE: dict[str, Callable[[Any], Any]] = {
    FieldMapping.FieldType.STRING: _as_string,
    FieldMapping.FieldType.NUMERIC: _as_numeric,
    FieldMapping.FieldType.BOOLEAN: _as_boolean,
    FieldMapping.FieldType.DATE: _as_date,
}

# ---------------------------------------------------------------- applying


@dataclass(frozen=True, slots=True)
class MappingProblem:
    """Why one field of one record could not be filled.

    `reason_code` is 'required_field_empty' or 'transform_failed' (which also covers a
    value that does not fit the target type, e.g. text in a Numeric field)."""

    target_field: str
    reason_code: str
    message: str


@dataclass(slots=True)
class MappingResult:
    """The mapped values (JSON-ready, by target field) and the problems met.

    A field with a problem is left out of `fields`, so it is never sent half-shaped;
    an empty value of a non-required field is kept as None."""

    fields: dict[str, Any] = field(default_factory=dict)
    problems: list[MappingProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class _Step:
    target: str
    label: str
    read: Callable[[Any], Any]
    transform: Callable[[Any, Any], Any]
    arg: Any
    coerce: Callable[[Any], Any]
    required: bool
    source: str = ""  # the source field `read` reads


class MappingPlan:
    """Mappings compiled once: getters, transforms and arguments resolved and checked.

    `apply(record)` never raises for bad data and touches no database. A record read by
    attribute (a mirror row) goes through the plan written out as one function
    (`esp.mapping_compiled`, made at its first use); a dict goes step by step."""

    def __init__(self, steps: Sequence[_Step]) -> None:
        self._steps = tuple(steps)
        self._compiled: Callable[[Any], MappingResult] | None = None

    @property
    def targets(self) -> list[str]:
        return [step.target for step in self._steps]

    def apply(self, record: Any) -> MappingResult:
        if type(record) is dict:
            return self.apply_stepwise(record)
        if self._compiled is None:
            from .mapping_compiled import compile_apply

            self._compiled = compile_apply(self._steps, MappingResult, MappingProblem)
        return self._compiled(record)

    def apply_stepwise(self, record: Any) -> MappingResult:
        """`apply`, one step after the other (what the compiled function must equal)."""
        fields: dict[str, Any] = {}
        problems: list[MappingProblem] = []
        for step in self._steps:
            try:
                value = step.coerce(step.transform(step.read(record), step.arg))
            except TransformError as exc:
                problems.append(
                    MappingProblem(step.target, "transform_failed", f"{step.label} {exc}")
                )
                continue
            if step.required and is_empty(value):
                problems.append(
                    MappingProblem(
                        step.target,
                        "required_field_empty",
                        f"{step.label} is empty, and {step.target} must have a value",
                    )
                )
                continue
            fields[step.target] = value
        return MappingResult(fields, problems)


def compile_mappings(mappings: Iterable[FieldMapping]) -> MappingPlan:
    """A plan for the enabled `mappings`, in the order given.

    Raises MappingConfigError when one cannot run (unknown source field or transform,
    bad argument); `mapping_validate` keeps such mappings out through the admin."""
    steps: list[_Step] = []
    problems: dict[str, str] = {}
    for mapping in mappings:
        if not mapping.enabled:
            continue
        transform = TRANSFORMS.get(mapping.transform)
        try:
            read = source_getter(mapping.source_field)
        except UnknownSourceField as exc:
            problems[mapping.target_field] = str(exc)
            continue
        if transform is None:
            problems[mapping.target_field] = f"'{mapping.transform}' is not a transform"
            continue
        arg_problem = transform.validate_arg(mapping.transform_arg)
        if arg_problem:
            problems[mapping.target_field] = arg_problem
            continue
        steps.append(
            _Step(
                target=mapping.target_field,
                label=source_label(mapping.source_field),
                read=read,
                transform=transform.function,
                arg=mapping.transform_arg,
                coerce=_COERCE.get(mapping.target_type, _as_string),
                required=mapping.required,
                source=mapping.source_field,
            )
        )
    if problems:
        raise MappingConfigError(problems)
    return MappingPlan(steps)


def mapping_apply(*, mappings: Iterable[FieldMapping] | MappingPlan, record: Any) -> MappingResult:
    """Map one record. Pass a compiled plan when mapping many records: compiling costs
    more than applying. Bad data gives problems, never an exception; bad mappings raise
    MappingConfigError (see `compile_mappings`)."""
    plan = mappings if isinstance(mappings, MappingPlan) else compile_mappings(mappings)
    return plan.apply(record)


# ---------------------------------------------------------------- validation


def _adapter_rule(kind: str, name: str) -> Callable | None:
    """The destination adapter's own check `name` (a static function), or None."""
    try:
        adapter_class = destination_adapter_class(kind)
    except (ImportError, KeyError):
        # A destination package without an adapter yet has no rules to apply.
        return None
    return getattr(adapter_class, name, None)


def _destination_refusal(kind: str, target_field: str) -> str | None:
    check = _adapter_rule(kind, "field_name_problem")
    return check(target_field) if check else None


def payload_size_check(*, kind: str) -> Callable[[Mapping[str, Any]], str | None]:
    """The check telling why the destination of `kind` would not take a record's mapped
    values whole (a value or record over its documented size), in words for the person
    who fixes it, else None. Looked up once per plan, applied to each record."""
    return _adapter_rule(kind, "payload_size_problem") or (lambda fields: None)


def mapping_validate(*, mapping: FieldMapping) -> dict[str, str]:
    """Problems with one (unsaved or saved) mapping, by model field name: unknown source
    field, unknown transform, unusable transform argument, a target name the
    destination refuses, a target already used by another mapping of the same
    destination and entity (compared case-insensitively, as destinations do), an owner
    that does not fit (esp.ownership: a destination-owned field filled from master data
    or through an ERP transform, one ERP field with two owners).
    Empty when the mapping can be saved."""
    problems: dict[str, str] = {}
    source_problem = source_field_problem(mapping.source_field or "")
    if source_problem:
        problems["source_field"] = source_problem
    transform = TRANSFORMS.get(mapping.transform)
    if transform is None:
        known = ", ".join(TRANSFORMS)
        problems["transform"] = f"'{mapping.transform}' is not a transform; use one of {known}."
    else:
        arg_problem = transform.validate_arg(mapping.transform_arg)
        if arg_problem:
            problems["transform_arg"] = arg_problem
        elif (
            transform.name == "date"
            and mapping.target_type == FieldMapping.FieldType.DATE
            and mapping.transform_arg not in (None, "", ISO_DATE_FORMAT)
        ):
            # Destinations read Date fields as ISO dates; other layouts only fit text.
            problems["transform_arg"] = (
                f"A Date field takes {ISO_DATE_FORMAT}; leave the format empty, "
                "or send this layout to a String field."
            )
    for name, problem in ownership_problems(mapping).items():
        problems.setdefault(name, problem)
    target = (mapping.target_field or "").strip()
    if not target:
        problems["target_field"] = "Name the destination field."
        return problems
    if mapping.destination_id is None:
        return problems
    same_source = FieldMapping.objects.filter(destination_id=mapping.destination_id, entity=mapping.entity,
                                              source_field=mapping.source_field).exclude(pk=mapping.pk)
    clash_of_owners = owner_clash(mapping, same_source)
    if clash_of_owners:
        problems.setdefault("owner", clash_of_owners)
    refusal = _destination_refusal(mapping.destination.kind, target)
    if refusal:
        problems["target_field"] = refusal
        return problems
    clash = (
        FieldMapping.objects.filter(
            destination_id=mapping.destination_id,
            entity=mapping.entity,
            target_field__iexact=target,
        )
        .exclude(pk=mapping.pk)
        .first()
    )
    if clash is not None:
        problems["target_field"] = (
            f"{clash.target_field} is already filled from {clash.source_field} "
            f"for {mapping.entity} in {mapping.destination}."
        )
        if clash.owner != mapping.owner:
            problems["target_field"] += " One destination field has one owner."
    return problems
