"""A flow's field mappings as one Python function, for records read by attribute.

`MappingPlan.apply` runs for every record planned, thousands a second in a load. Step by
step it costs five calls a field (the getter, the getter's lookup, the transform, the type,
the loop), about half of which only read a value. This writes the plan out as the source
of one function: plain attribute reads, each address type and the UDFs looked up once per
record, no call for an "As is" transform. It gives exactly what the steps give (the same
values, the same problems, in the same order): the generated code calls the steps' own
transforms and type functions, and tests compare the two on odd records.

Records that are dicts (a SourceRecord's data) go step by step, as before.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from esp.transforms import TransformError, _identity, is_empty


def _first_address(addresses: Any, address_type: str) -> dict | None:
    """The first address of `address_type` (as the address getters find it), else None."""
    if not isinstance(addresses, list):
        return None
    for address in addresses:
        if isinstance(address, dict) and address.get("address_type") == address_type:
            return address
    return None


def compile_apply(steps: Sequence[Any], result_class: type, problem_class: type) -> Callable[[Any], Any]:
    """The function `record -> result_class(fields, problems)` doing what `steps` do in turn.

    Each step names its source field (`source`): a mirror field (read by attribute), an
    address part (`ADDRESS_FIELDS`) or a UDF (`U_...`, from `record.udfs`)."""
    from .mapping import ADDRESS_FIELDS, mirror_fields

    names: dict[str, Any] = {"TransformError": TransformError, "is_empty": is_empty, "Result": result_class,
                             "Problem": problem_class, "_first_address": _first_address}
    head = ["def apply(record):", "    fields = {}", "    problems = []"]
    body: list[str] = []
    addresses: dict[str, str] = {}  # address type -> the local holding that address
    udfs = False
    for index, step in enumerate(steps):
        source = step.source
        if source in mirror_fields():
            read = f"getattr(record, {source!r}, None)"
        elif source in ADDRESS_FIELDS:
            address_type, key, _ = ADDRESS_FIELDS[source]
            local = addresses.setdefault(address_type, f"address_{len(addresses)}")
            read = f"({local}.get({key!r}) if {local} is not None else None)"
        else:  # a UDF (compile_mappings let nothing else through)
            udfs = True
            read = f"(udfs.get({source!r}) if udfs is not None else None)"
        names.update({f"t{index}": step.transform, f"a{index}": step.arg, f"c{index}": step.coerce,
                      f"target{index}": step.target, f"label{index}": step.label})
        shaped = read if step.transform is _identity else f"t{index}({read}, a{index})"
        body += ["    try:",
                 f"        value = c{index}({shaped})",
                 "    except TransformError as exc:",
                 f"        problems.append(Problem(target{index}, 'transform_failed', f'{{label{index}}} {{exc}}'))",
                 "    else:"]
        if step.required:
            body += ["        if is_empty(value):",
                     f"            problems.append(Problem(target{index}, 'required_field_empty', "
                     f"f'{{label{index}}} is empty, and {{target{index}}} must have a value'))",
                     "        else:",
                     f"            fields[target{index}] = value"]
        else:
            body.append(f"        fields[target{index}] = value")
    if addresses:
        head.append("    all_addresses = getattr(record, 'addresses', None)")
        head += [f"    {local} = _first_address(all_addresses, {address_type!r})"
                 for address_type, local in addresses.items()]
    if udfs:
        head += ["    udfs = getattr(record, 'udfs', None)", "    udfs = udfs if isinstance(udfs, dict) else None"]
    source_code = "\n".join([*head, *body, "    return Result(fields, problems)"])
    # Admins' text (field names, labels, arguments) is never part of the code: names are
    # written as Python literals (repr) and everything else is passed in `names`.
    exec(compile(source_code, "<field mappings>", "exec"), names)
    return names["apply"]
