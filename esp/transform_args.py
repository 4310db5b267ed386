"""A transform's argument as the mapping editor shows it: proper inputs, not raw JSON.

Each transform that takes an argument names the input that edits it (`ARG_INPUTS`):
a date format, one value, a list of replacements (one `ERP value = destination value`
a line), or the part of a name. `arg_from_inputs` turns what was typed back into the
argument `esp.transforms` checks; `inputs_from_arg` goes the other way for the form's
initial values. A transform added later without an entry here falls back to JSON.

Values are read as JSON when they are a JSON scalar (true, false, null, 12, "12") and
as plain text otherwise, so `EXPLICITLY_OPTEDIN` needs no quotes and `true` is a yes/no.
"""
from __future__ import annotations

import json
from typing import Any

from esp.transforms import MAP_DEFAULT_KEY, TRANSFORMS

FORMAT, VALUE, PAIRS, PART, JSON = "arg_format", "arg_value", "arg_pairs", "arg_part", "arg_json"
ARG_INPUTS = {"date": FORMAT, "default": VALUE, "map": PAIRS, "name_part": PART}
ALL_INPUTS = (FORMAT, VALUE, PAIRS, PART, JSON)
OTHERWISE = "*"  # the key of the replacement used for any value not listed
EMPTY_KEY = '""'
DATE_FORMATS = ("YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY", "YYYYMMDD")


class ArgInputError(ValueError):
    """What was typed cannot be an argument; `input_name` is the input to mark."""

    def __init__(self, message: str, *, input_name: str) -> None:
        super().__init__(message)
        self.input_name = input_name


def input_for(transform_name: str) -> str | None:
    """The input that edits this transform's argument, None when it takes none."""
    transform = TRANSFORMS.get(transform_name)
    if transform is None or not transform.takes_arg:
        return None
    return ARG_INPUTS.get(transform_name, JSON)


def value_text(value: Any) -> str:
    """A value as typed: text plain unless it would read back as something else."""
    if isinstance(value, str):
        try:
            reads_as = json.loads(value)
        except ValueError:
            return value
        return json.dumps(value) if reads_as != value or value != value.strip() else value
    return json.dumps(value)


def value_parse(text: str) -> Any:
    text = text.strip()
    if not text:
        return ""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (str, int, float, bool)) else text


def pairs_text(arg: Any) -> str:
    if not isinstance(arg, dict):
        return ""
    lines = []
    for key, value in arg.items():
        shown = OTHERWISE if key == MAP_DEFAULT_KEY else (EMPTY_KEY if key == "" else key)
        lines.append(f"{shown} = {value_text(value)}")
    return "\n".join(lines)


def pairs_parse(text: str) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise ArgInputError(f"Line {number} ({line.strip()!r}) has no '='; write one replacement a line: "
                                "ERP value = destination value.", input_name=PAIRS)
        key = key.strip()
        key = MAP_DEFAULT_KEY if key == OTHERWISE else ("" if key == EMPTY_KEY else key)
        if key in pairs:
            raise ArgInputError(f"Line {number} replaces {key or 'an empty value'} a second time.", input_name=PAIRS)
        pairs[key] = value_parse(value)
    return pairs


def inputs_from_arg(transform_name: str, arg: Any) -> dict[str, str]:
    """Initial values of the inputs for a saved argument."""
    name = input_for(transform_name)
    if name is None or arg is None:
        return {}
    if name == PAIRS:
        return {PAIRS: pairs_text(arg)}
    if name == VALUE:
        return {VALUE: value_text(arg)}
    if name == JSON:
        return {JSON: json.dumps(arg)}
    return {name: str(arg)}


def arg_from_inputs(transform_name: str, inputs: dict[str, str]) -> Any:
    """The argument for `transform_name` from the typed inputs (only its own input is
    read); None for a transform without one. Raises ArgInputError."""
    name = input_for(transform_name)
    if name is None:
        return None
    text = inputs.get(name) or ""
    if name == PAIRS:
        return pairs_parse(text) or None
    if name == VALUE:
        return value_parse(text)
    if name == JSON:
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as error:
            raise ArgInputError(f"Not valid JSON: {error}", input_name=JSON) from error
    return text.strip() or None
