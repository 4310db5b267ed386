"""Named transforms that shape one ERP value on its way to a destination field.

A `FieldMapping.transform` names one entry of `TRANSFORMS`; its `transform_arg` is
checked by `Transform.validate_arg` when the mapping is saved and handed to
`Transform.apply` for every record. `apply` either returns the shaped value or raises
`TransformError` whose message completes a sentence about the field, in words a
marketer understands: the mapping layer writes "Birthday '31/02/1990' is not a date".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

ISO_DATE_FORMAT = "YYYY-MM-DD"
MAP_DEFAULT_KEY = "__default__"


class TransformError(ValueError):
    """A value a transform cannot shape. `str(error)` reads after the field's name,
    e.g. "'31/02/1990' is not a date"; `value` is the value refused."""

    def __init__(self, message: str, *, value: Any = None) -> None:
        super().__init__(message)
        self.value = value


@dataclass(frozen=True)
class Transform:
    """One named transform.

    `apply(value, arg)` returns the shaped value or raises TransformError; None and ''
    pass through every transform except `default` (emptiness is for the `required`
    flag to judge). `validate_arg(arg)` returns a plain sentence naming what is wrong
    with the argument, or None when it is usable.
    """

    name: str
    label: str
    takes_arg: bool
    help_text: str
    function: Callable[[Any, Any], Any]
    arg_check: Callable[[Any], str | None]

    def validate_arg(self, arg: Any) -> str | None:
        return self.arg_check(arg)

    def apply(self, value: Any, arg: Any = None) -> Any:
        return self.function(value, arg)


def is_empty(value: Any) -> bool:
    """None, '' and whitespace-only text count as empty."""
    return value is None or (isinstance(value, str) and not value.strip())


def _quoted(value: Any) -> str:
    return f"'{value}'"


# ---------------------------------------------------------------- argument checks


def _no_arg(label: str) -> Callable[[Any], str | None]:
    def check(arg: Any) -> str | None:
        if arg in (None, "", {}, []):
            return None
        return f"{label} takes no argument; leave it empty."

    return check


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _check_map_arg(arg: Any) -> str | None:
    if not isinstance(arg, dict) or not arg:
        return 'Give the values to replace as a JSON object, e.g. {"Y": true, "N": false}.'
    bad = [key for key, target in arg.items() if not _scalar(target)]
    if bad:
        return f"Each value must be text, a number, true/false or null; check {', '.join(bad)}."
    return None


def _check_default_arg(arg: Any) -> str | None:
    if is_empty(arg):
        return "Give the value to use when the ERP field is empty."
    if not _scalar(arg):
        return "The default must be text, a number or true/false."
    return None


_DATE_TOKEN = re.compile(r"YYYY|YY|MM|DD")
_DATE_SEPARATORS = set("-/. ")
_STRFTIME = {"YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d"}


def _check_date_arg(arg: Any) -> str | None:
    if arg in (None, ""):
        return None
    problem = (
        "Give the output format with YYYY (or YY), MM and DD, "
        "e.g. YYYY-MM-DD or DD/MM/YYYY; leave it empty for YYYY-MM-DD."
    )
    if not isinstance(arg, str):
        return problem
    rest = _DATE_TOKEN.sub("", arg)
    if not _DATE_TOKEN.search(arg) or any(char not in _DATE_SEPARATORS for char in rest):
        return problem
    return None


# ---------------------------------------------------------------- functions


def _identity(value: Any, arg: Any) -> Any:
    return value


def _trim(value: Any, arg: Any) -> Any:
    # Non-text values (numbers, booleans) have nothing to trim and pass unchanged.
    return value.strip() if isinstance(value, str) else value


def _lower(value: Any, arg: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any, arg: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


_ISO_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: Any) -> date | None:
    """A date from a date, a datetime, an ISO text ('1990-05-01', '1990-05-01T00:00:00Z')
    or SAP's compact 'YYYYMMDD'. Empty gives None; anything else raises TransformError.

    A datetime keeps the calendar date it was written with: SAP sends plain dates as
    midnight UTC, and converting them to another zone would shift birthdays by a day.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TransformError(f"{_quoted(value)} is not a date", value=value)
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if _ISO_DATE_PREFIX.match(text):
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    raise TransformError(f"{_quoted(value)} is not a date", value=value)


@lru_cache(maxsize=64)
def _strftime_pattern(fmt: str) -> str:
    return _DATE_TOKEN.sub(lambda match: _STRFTIME[match.group(0)], fmt)


def _date(value: Any, arg: Any) -> Any:
    parsed = parse_date(value)
    if parsed is None:
        return None if value is None else value
    if arg in (None, "", ISO_DATE_FORMAT):
        return parsed.isoformat()
    return parsed.strftime(_strftime_pattern(arg))


def _map_key(value: Any) -> str:
    # JSON object keys are text: look numbers and booleans up by their JSON spelling.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _map(value: Any, arg: dict[str, Any]) -> Any:
    if value is None or value == "":
        # Empty stays empty unless the map names it: the `default` transform is for that.
        return arg.get("", value)
    key = value if isinstance(value, str) else _map_key(value)
    if key in arg:
        return arg[key]
    return arg.get(MAP_DEFAULT_KEY, value)


def _default(value: Any, arg: Any) -> Any:
    return arg if is_empty(value) else value


_NUMERIC_CODE = re.compile(r"[0-9]+")


def _strip_leading_zeros(value: Any, arg: Any) -> Any:
    if isinstance(value, str) and _NUMERIC_CODE.fullmatch(value):
        return value.lstrip("0") or "0"
    return value


NAME_PARTS = ("first", "last")


def _check_name_part_arg(arg: Any) -> str | None:
    if arg in NAME_PARTS:
        return None
    return 'Choose the part to send: "first" (the first name) or "last" (the last name).'


def split_person_name(text: str) -> tuple[str, str]:
    """(first, last) from a full name as the ERP keeps it: 'Ada Lovelace' and
    'Lovelace, Ada' both give ('Ada', 'Lovelace'); a single word is a first name and
    middle names stay with the last name, as Ometria's own split of `name` does."""
    text = " ".join(text.split())
    if "," in text:
        last, _, first = text.partition(",")
        return first.strip(), last.strip()
    first, _, last = text.partition(" ")
    return first, last


def _name_part(value: Any, arg: Any) -> Any:
    if not isinstance(value, str) or is_empty(value):
        return value
    first, last = split_person_name(value)
    return (first if arg == "first" else last) or None


# ---------------------------------------------------------------- registry


def _transform(
    name: str,
    label: str,
    function: Callable[[Any, Any], Any],
    help_text: str,
    arg_check: Callable[[Any], str | None] | None = None,
) -> Transform:
    return Transform(
        name=name,
        label=label,
        takes_arg=arg_check is not None,
        help_text=help_text,
        function=function,
        arg_check=arg_check or _no_arg(label),
    )


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        _transform("none", "As is", _identity, "Sends the ERP value unchanged."),
        _transform("trim", "Trim spaces", _trim, "Removes spaces before and after the text."),
        _transform("lower", "Lower case", _lower, "Sends the text in lower case."),
        _transform("upper", "Upper case", _upper, "Sends the text in upper case."),
        _transform(
            "date",
            "Date",
            _date,
            "Reads a date and writes it in the format given (YYYY-MM-DD when empty).",
            _check_date_arg,
        ),
        _transform(
            "map",
            "Replace values",
            _map,
            'Replaces ERP values by destination values, e.g. {"Y": true, "N": false}; '
            'values not listed pass unchanged unless "__default__" is given.',
            _check_map_arg,
        ),
        _transform(
            "default",
            "Default when empty",
            _default,
            "Sends the value given when the ERP field is empty.",
            _check_default_arg,
        ),
        _transform(
            "strip_leading_zeros",
            "Strip leading zeros",
            _strip_leading_zeros,
            "Turns numeric codes such as 000123 into 123; other codes pass unchanged.",
        ),
        _transform(
            "name_part",
            "First name / last name from CardName",
            _name_part,
            'Sends the first or the last name of a full name such as CardName ("Ada Lovelace" or '
            '"Lovelace, Ada"); give "first" or "last".',
            _check_name_part_arg,
        ),
    )
}


def transform_choices() -> list[tuple[str, str]]:
    """(name, label) pairs for forms and filters."""
    return [(name, transform.label) for name, transform in TRANSFORMS.items()]
