"""What the mirror can store: checks a canonical source record before ingest writes it.

`records_check(entity=..., records=...)` returns the page with every record the mirror
could not store turned into an unreadable record (`data=None`, a plain `error`, a precise
`reason_code`), so one bad record never fails the bulk write of its page. Limits are read
from the mirror models (a CharField's `max_length`, an IntegerField's range, a
DecimalField's digits), so a migration that widens a column needs no change here.

Text rules, for every string of the canonical data (JSON fields included):

- NUL (U+0000) and lone surrogates (what undecodable bytes from the ERP become, see
  `erp.sap_b1.client`) are always refused, never stripped: PostgreSQL cannot store
  either, and either means the value was damaged on its way out of the ERP (a C-string
  cut, a wrong code page). Stripping would send a silently wrong name to customers; a
  person must look at the record in the ERP.
- Other control characters (C0 except tab, newline and carriage return; DEL; C1) and the
  bidi embedding/override/isolate characters (U+202A-U+202E, U+2066-U+2069, which can
  make a name read backwards in an email) are stripped or refused, by the setting
  SYNC_CONTROL_CHARACTERS ("strip", the default, or "refuse"). In a record's key they are
  always refused: the key must stay exactly as the ERP holds it, to read it back.

The raw payload is kept as the ERP sent it, so it is scanned too (NUL, lone surrogates,
NaN/Infinity cannot be stored as JSON). An unreadable record carries `storable(raw)`, the
raw payload with such characters made visible (NUL as "␀", a lone surrogate as "�"), so
its exception can show the record.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.utils.dateparse import parse_date, parse_datetime

from syncapp.adapters import SourceRecord

from .record_screen import Screen, page_start

INVALID_CHARACTERS = "invalid_characters"
VALUE_TOO_LONG = "value_too_long"
UNREADABLE = "unreadable_record"

_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# SyncException.record_key is 100 characters: a longer key is shortened (and hashed) so
# its exception can still be stored; such a key could not be read back anyway.
_EXCEPTION_KEY_MAX = 100


class RecordProblem(ValueError):
    """Why the mirror cannot store a record, for the person who fixes it in the ERP."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class Shape:
    """How the canonical data of one entity lands in the mirror: the model, the field
    holding the key, data keys named differently from the model's fields, and lists of
    rows stored in a model of their own (document lines, stock levels)."""

    label: str
    model: type[models.Model]
    key_field: str
    renames: dict[str, str] = field(default_factory=dict)
    rows: dict[str, type[models.Model]] = field(default_factory=dict)


def _shapes() -> dict[str, Shape]:
    from .documents import DOCUMENT_MODELS
    from .models import BusinessPartner, Item, ItemGroup, StockLevel, Warehouse

    labels = {"orders": "Sales order", "deliveries": "Delivery", "invoices": "Invoice",
              "credit_notes": "Credit memo", "returns": "Return"}
    shapes = {
        "business_partners": Shape("Business partner", BusinessPartner, "card_code"),
        "items": Shape("Item", Item, "item_code", rows={"stock": StockLevel}),
        "item_stock": Shape("Item", Item, "item_code", rows={"stock": StockLevel}),
        "warehouses": Shape("Warehouse", Warehouse, "code",
                            renames={"warehouse_code": "code", "warehouse_name": "name"}),
        "item_groups": Shape("Item group", ItemGroup, "code"),
    }
    for entity, (model, line_model, _) in DOCUMENT_MODELS.items():
        shapes[entity] = Shape(labels.get(entity, entity), model, "doc_entry", rows={"lines": line_model})
    return shapes


_SHAPES: dict[str, Shape] = {}
_SCREENS: dict[str, Screen] = {}


def shape_for(entity: str) -> Shape | None:
    if not _SHAPES:
        _SHAPES.update(_shapes())
    return _SHAPES.get(entity)


def screen_for(entity: str) -> Screen | None:
    """The fast screen of an entity's shape (erp.record_screen), compiled once."""
    if entity not in _SCREENS:
        shape = shape_for(entity)
        if shape is None:
            return None
        _SCREENS[entity] = Screen(shape)
    return _SCREENS[entity]


def control_characters_policy() -> str:
    policy = settings.SYNC_CONTROL_CHARACTERS
    if policy not in ("strip", "refuse"):
        raise ImproperlyConfigured(f'SYNC_CONTROL_CHARACTERS must be "strip" or "refuse", not {policy!r}.')
    return policy


# ---------------------------------------------------------------- the service


def records_check(*, entity: str, records: Iterable[SourceRecord]) -> list[SourceRecord]:
    """The page with each record the mirror cannot store made unreadable (and every
    unreadable record's raw payload and key made storable); readable records come back
    with their text cleaned by the control-character policy. Never raises for bad data."""
    shape = shape_for(entity)
    policy = control_characters_policy()
    screen = screen_for(entity)
    page_start()
    checked = []
    for record in records:
        if record.data is None:
            checked.append(unreadable(record, record.error or "", record.reason_code or UNREADABLE))
            continue
        if screen is not None and screen.clean(record):  # the usual case: nothing to refuse or clean
            checked.append(record)
            continue
        try:
            data = _checked_data(shape, record, policy) if shape else record.data
        except RecordProblem as problem:
            checked.append(unreadable(record, problem.message, problem.reason_code))
            continue
        checked.append(record if data is record.data else replace(record, data=data))
    return checked


def unreadable(record: SourceRecord, error: str, reason_code: str = UNREADABLE) -> SourceRecord:
    """`record` as an unreadable one whose key, raw payload and error can all be stored."""
    return replace(record, key=storable_key(record.key), raw=storable(record.raw), data=None,
                   error=storable(error), reason_code=reason_code)


def storable(value: Any) -> Any:
    """A copy of a JSON value that PostgreSQL and SQLite can store: NUL shown as "␀", a
    lone surrogate as "�", NaN and Infinity as text."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value.replace("\x00", "\u2400"))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def storable_key(key: str) -> str:
    text = storable(str(key or ""))
    if len(text) <= _EXCEPTION_KEY_MAX:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"{text[:_EXCEPTION_KEY_MAX - 15]}… {digest}"


# ---------------------------------------------------------------- checks


def _checked_data(shape: Shape, record: SourceRecord, policy: str) -> dict[str, Any]:
    name = f"{shape.label} {storable_key(record.key)[:60] or '(no code)'}"
    _scan_raw(name, record.raw)
    _check_key(name, shape, record.key)
    data_key = next((k for k, v in shape.renames.items() if v == shape.key_field), shape.key_field)
    if data_key in record.data and str(record.data[data_key]) != record.key:
        raise RecordProblem(UNREADABLE, f"{name}: its code is not the same in the record and in its key "
                                        f"({_shown(record.data[data_key])}).")
    data = dict(record.data)
    for data_key, value in record.data.items():
        rows_model = shape.rows.get(data_key)
        if rows_model is not None:
            data[data_key] = _checked_rows(name, rows_model, data_key, value, policy)
            continue
        model_field = _field(shape.model, shape.renames.get(data_key, data_key))
        if model_field is None or model_field.name == shape.key_field:
            # Not stored as a column of its own (or the key, checked above): only text rules.
            data[data_key] = _json(name, data_key, value, policy)
        else:
            data[data_key] = _value(name, model_field, value, policy)
    return data


def _checked_rows(name: str, model: type[models.Model], data_key: str, rows: Any, policy: str) -> Any:
    if rows in (None, ""):
        return rows
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise RecordProblem(UNREADABLE, f"{name} has {data_key} the hub cannot read.")
    checked = []
    for number, row in enumerate(rows, start=1):
        where = f"{name}, {data_key.rstrip('s')} {number}"
        checked.append({key: (_value(where, model_field, value, policy)
                              if (model_field := _field(model, key)) else _json(where, key, value, policy))
                        for key, value in row.items()})
    return checked


def _field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return model_field if model_field.concrete and not model_field.is_relation else None


def _label(model_field: models.Field) -> str:
    return str(model_field.verbose_name)


def _value(name: str, model_field: models.Field, value: Any, policy: str) -> Any:
    """`value` as the column can hold it, or RecordProblem."""
    label = _label(model_field)
    if isinstance(model_field, models.JSONField):
        return _json(name, label, value, policy)
    if value is None:
        return None
    if isinstance(model_field, models.CharField | models.TextField):
        if not isinstance(value, str):
            raise RecordProblem(UNREADABLE, f"{name}: the {label} is not text ({_shown(value)}).")
        text = _text(name, label, value, policy)
        limit = model_field.max_length
        if limit and len(text) > limit:
            raise RecordProblem(VALUE_TOO_LONG, f"{name}: the {label} is {len(text):,} characters; the hub keeps "
                                                f"at most {limit:,}. Shorten it in the ERP, then press Retry.")
        return text
    if isinstance(model_field, models.BooleanField):
        return value
    if isinstance(model_field, models.DecimalField):
        return _decimal(name, label, model_field, value)
    if isinstance(model_field, models.IntegerField):
        return _integer(name, label, model_field, value)
    if isinstance(model_field, models.FloatField):
        return _float(name, label, value)
    if isinstance(model_field, models.DateTimeField):
        moment = value if isinstance(value, datetime) else _parsed(parse_datetime, value)
        if moment is None:
            raise RecordProblem(UNREADABLE, f"{name}: the {label} is not a date and time ({_shown(value)}).")
        return value
    if isinstance(model_field, models.DateField):
        if value == "":
            return value
        day = value if isinstance(value, date) else _parsed(parse_date, str(value)[:10])
        if day is None:
            raise RecordProblem(UNREADABLE, f"{name}: the {label} is not a date ({_shown(value)}).")
        return value
    return value


def _parsed(parse, value: Any) -> Any:
    try:
        return parse(str(value))
    except ValueError:  # well formed but impossible, e.g. 2026-13-45
        return None


def _integer(name: str, label: str, model_field: models.Field, value: Any) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
        raise RecordProblem(UNREADABLE, f"{name}: the {label} is not a whole number ({_shown(value)}).")
    low, high = _integer_range(model_field)
    if not low <= value <= high:
        raise RecordProblem(UNREADABLE, f"{name}: the {label} ({_shown(value)}) is larger than the hub can store.")
    return int(value)


def _integer_range(model_field: models.Field) -> tuple[int, int]:
    if isinstance(model_field, models.BigIntegerField):
        return -(2 ** 63), 2 ** 63 - 1
    if isinstance(model_field, models.SmallIntegerField):
        return -(2 ** 15), 2 ** 15 - 1
    return -(2 ** 31), 2 ** 31 - 1


def _decimal(name: str, label: str, model_field: models.DecimalField, value: Any) -> Any:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not number.is_finite():
        raise RecordProblem(UNREADABLE, f"{name}: the {label} is not a number ({_shown(value)}). "
                                        "Correct it in the ERP, then press Retry.")
    if abs(number) >= Decimal(10) ** (model_field.max_digits - model_field.decimal_places):
        raise RecordProblem(UNREADABLE, f"{name}: the {label} ({_shown(value)}) is larger than the hub can store.")
    return value


def _float(name: str, label: str, value: Any) -> Any:
    try:
        ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(float(value))
    except OverflowError:
        ok = False
    if not ok:
        raise RecordProblem(UNREADABLE, f"{name}: the {label} is not a number ({_shown(value)}).")
    return value


def _json(name: str, label: str, value: Any, policy: str) -> Any:
    """A JSON value with the text rules applied to every string (keys included)."""
    if isinstance(value, str):
        return _text(name, label, value, policy)
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordProblem(UNREADABLE, f"{name}: the {label} holds a value that is not a number ({value}).")
    if isinstance(value, dict):
        return {_text(name, label, str(k), policy): _json(name, f"{label} {storable(str(k))}", v, policy)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(name, label, v, policy) for v in value]
    return value


def _text(name: str, label: str, text: str, policy: str) -> str:
    problem = _unstorable(text)
    if problem:
        raise RecordProblem(INVALID_CHARACTERS, f"{name}: the {label} contains {problem}. Correct it in the ERP, "
                                                "then press Retry.")
    if _CONTROL.search(text):
        if policy == "refuse":
            found = sorted({f"U+{ord(c):04X}" for c in _CONTROL.findall(text)})
            raise RecordProblem(INVALID_CHARACTERS, f"{name}: the {label} contains invisible control characters "
                                                    f"({', '.join(found)}). Remove them in the ERP, then press Retry.")
        return _CONTROL.sub("", text)
    return text


def _unstorable(text: str) -> str:
    if "\x00" in text:
        return "a character the hub cannot store (NUL, an invisible 'null' character)"
    if _SURROGATES.search(text):
        return "bytes that are not valid text (invalid UTF-8), so a character was lost on the way from the ERP"
    return ""


def _check_key(name: str, shape: Shape, key: str) -> None:
    key_field = shape.model._meta.get_field(shape.key_field)
    if not str(key or "").strip():
        raise RecordProblem(UNREADABLE, f"{name} has no code, so it cannot be matched to anything.")
    if isinstance(key_field, models.IntegerField):
        try:
            number = int(key)
        except (TypeError, ValueError):
            number = None
        if number is None or not str(key).strip().lstrip("-").isdigit():
            raise RecordProblem(UNREADABLE, f"{name}: its number is not a whole number.")
        _integer(name, _label(key_field), key_field, number)
        return
    problem = _unstorable(key) or ("invisible control characters" if _CONTROL.search(key) else "")
    if problem:
        raise RecordProblem(INVALID_CHARACTERS, f"{name}: the {_label(key_field)} contains {problem}. "
                                                "Correct it in the ERP.")
    if key_field.max_length and len(key) > key_field.max_length:
        raise RecordProblem(VALUE_TOO_LONG, f"{name}: the {_label(key_field)} is {len(key):,} characters; the "
                                            f"hub keeps at most {key_field.max_length:,}.")


def _scan_raw(name: str, raw: Any, path: str = "") -> None:
    """Refuse a raw payload that cannot be stored as JSON, naming the ERP's own field."""
    if isinstance(raw, str):
        problem = _unstorable(raw)
        if problem:
            raise RecordProblem(INVALID_CHARACTERS, f"{name}: {path or 'a value'} in the ERP contains {problem}. "
                                                    "Correct it in the ERP, then press Retry.")
    elif isinstance(raw, float) and not math.isfinite(raw):
        raise RecordProblem(UNREADABLE, f"{name}: {path or 'a value'} in the ERP is not a number ({raw}).")
    elif isinstance(raw, dict):
        for key, value in raw.items():
            _scan_raw(name, str(key), path or "a field name")
            _scan_raw(name, value, f"{path}.{key}" if path else str(key))
    elif isinstance(raw, list | tuple):
        for number, value in enumerate(raw, start=1):
            _scan_raw(name, value, f"{path} line {number}")


def _shown(value: Any) -> str:
    """A value as a message may show it: short, storable."""
    text = storable(repr(value))
    return text if len(text) <= 60 else f"{text[:57]}..."
