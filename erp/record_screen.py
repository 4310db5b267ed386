"""The fast screen in front of `erp.record_checks`: proves a record clean, cheaply.

The precise checks walk every value of a record in Python and build a cleaned copy; at
thousands of records a second that walk was most of ingest. Nearly every record is clean,
and for a clean record the precise checks change nothing. So each record is screened
first: `screened(shape, record)` is True only when the precise checks would pass the record
through unchanged (no value refused, none cleaned), and then the record goes on as it is.
Anything the screen is not sure about (a control character, a text near a limit, a number
given as text, a type it does not expect) goes to the precise checks, which decide and
word the reason; the screen never refuses a record itself.

The raw payload is screened through its JSON text (encoded in C, searched with one
regular expression), and that text is kept for the page (`raw_json`), so ingest stores
the payload without encoding it a second time.
"""
from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from django.db import models
from django.utils.dateparse import parse_date, parse_datetime

from syncapp.bulksql import JsonText, compact_encoder, json_text

# Characters the precise checks refuse or strip, in a plain string...
_SUSPECT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# ...and in the JSON text of a raw payload (ensure_ascii=False escapes C0 characters only),
# which is refused for NUL ("\\u0000" in its text; a literal backslash followed by "u0000"
# matches too, and merely takes the precise path) and lone surrogates.
_SURROGATES = re.compile("[\ud800-\udfff]")
_encode_raw = compact_encoder(ensure_ascii=False, allow_nan=False)

Check = Callable[[Any], bool]

# ---------------------------------------------------------------- the raw payload

# The JSON text of each raw payload screened clean, by id, for the last two pages: the one
# being stored and the next, screened ahead of it (syncapp.page_lookahead). The payload
# itself is kept beside its text, so an id can never be mistaken for a later object's.
_RAW_TEXTS: deque[dict[int, tuple[Any, str]]] = deque([{}, {}], maxlen=2)


def page_start() -> None:
    """Forget the raw texts of the page before the previous one (a page's records are alive
    until it is stored, and the next page may be screened meanwhile)."""
    _RAW_TEXTS.append({})


def raw_json(raw: Any) -> JsonText:
    """The raw payload as JSON text for storage: the screen's text when it made one."""
    for texts in (_RAW_TEXTS[-1], _RAW_TEXTS[0]):
        kept = texts.get(id(raw))
        if kept is not None and kept[0] is raw:
            return JsonText(kept[1])
    return json_text(raw)


def _raw_clean(raw: Any) -> bool:
    try:
        text = _encode_raw(raw)
    except (TypeError, ValueError, RecursionError):  # NaN or Infinity (allow_nan=False), a key JSON
        # cannot hold, a structure too deep (or a cycle)
        return False
    # An ASCII text (known without a scan) holds no surrogate.
    if "\\u0000" in text or (not text.isascii() and _SURROGATES.search(text)):
        return False
    _RAW_TEXTS[-1][id(raw)] = (raw, text)
    return True


# ---------------------------------------------------------------- values


def _text_clean(value: Any) -> bool:
    # A printable text holds none of the suspect characters (all are Cc, Cf or Cs); most
    # texts are printable, and isprintable() is cheaper than a regular expression.
    return type(value) is str and (value.isprintable() or not _SUSPECT_TEXT.search(value))


def json_clean(value: Any) -> bool:
    """True when the precise checks' JSON rules (text rules on every string and key, finite
    numbers, str keys, lists not tuples) leave `value` as it is."""
    kind = type(value)
    if kind is str:
        return value.isprintable() or not _SUSPECT_TEXT.search(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _text_clean(key) or not json_clean(item):
                return False
        return True
    if kind is list:
        return all(json_clean(item) for item in value)
    if kind is float:
        return math.isfinite(value)
    return kind is not tuple  # ints, booleans, None and other objects pass the JSON rules unchanged


def _text_check(limit: int | None) -> Check:
    # _text_clean written out: this runs for every text of every record.
    if limit is None:
        return lambda value: value is None or (type(value) is str and (value.isprintable()
                                                                       or not _SUSPECT_TEXT.search(value)))
    return lambda value: value is None or (type(value) is str and len(value) <= limit
                                           and (value.isprintable() or not _SUSPECT_TEXT.search(value)))


def _integer_check(low: int, high: int) -> Check:
    return lambda value: value is None or (type(value) is int and low <= value <= high)


def _decimal_check(bound: int) -> Check:
    # A float compares with an int exactly, and str(float) -> Decimal keeps its side of the bound.
    def check(value: Any) -> bool:
        kind = type(value)
        if kind is float:
            return math.isfinite(value) and -bound < value < bound
        return value is None or (kind is int and -bound < value < bound)

    return check


def _float_check(value: Any) -> bool:
    kind = type(value)
    return value is None or (kind is float and math.isfinite(value)) or (kind is int and -2**53 < value < 2**53)


@lru_cache(maxsize=4096)
def _day_ok(text: str) -> bool:
    try:
        return parse_date(text[:10]) is not None
    except ValueError:
        return False


@lru_cache(maxsize=4096)
def _moment_ok(text: str) -> bool:
    try:
        return parse_datetime(text) is not None
    except ValueError:
        return False


def _date_check(value: Any) -> bool:
    return value is None or value == "" or isinstance(value, date) or (type(value) is str and _day_ok(value))


def _datetime_check(value: Any) -> bool:
    return value is None or isinstance(value, datetime) or (type(value) is str and _moment_ok(value))


def _pass(value: Any) -> bool:
    return True


def field_check(model_field: models.Field) -> Check:
    """The screen for one column, mirroring `record_checks._value`."""
    from .record_checks import _integer_range

    if isinstance(model_field, models.JSONField):
        return json_clean
    if isinstance(model_field, models.CharField | models.TextField):
        return _text_check(model_field.max_length)
    if isinstance(model_field, models.BooleanField):
        return _pass
    if isinstance(model_field, models.DecimalField):
        return _decimal_check(10 ** (model_field.max_digits - model_field.decimal_places))
    if isinstance(model_field, models.IntegerField):
        return _integer_check(*_integer_range(model_field))
    if isinstance(model_field, models.FloatField):
        return _float_check
    if isinstance(model_field, models.DateTimeField):
        return _datetime_check
    if isinstance(model_field, models.DateField):
        return _date_check
    return _pass


# ---------------------------------------------------------------- records


class Screen:
    """The compiled screen of one shape: a check per data key, and per kind of rows."""

    def __init__(self, shape) -> None:
        from .record_checks import _field, _integer_range

        self.shape = shape
        self.data_key = next((k for k, v in shape.renames.items() if v == shape.key_field), shape.key_field)
        self.checks: dict[str, Check] = {}
        self.rows: dict[str, dict[str, Check]] = {}
        for model_field in shape.model._meta.concrete_fields:
            if not model_field.is_relation and model_field.name != shape.key_field:
                self.checks[model_field.name] = field_check(model_field)
        for data_key, model_name in shape.renames.items():
            if model_name in self.checks:  # the data may name the column either way
                self.checks[data_key] = self.checks[model_name]
        for data_key in shape.rows:  # rows come first, as in the precise checks
            self.checks.pop(data_key, None)
        for data_key, rows_model in shape.rows.items():
            self.rows[data_key] = {f.name: field_check(f) for f in rows_model._meta.concrete_fields
                                   if _field(rows_model, f.name) is not None}
        key_field = shape.model._meta.get_field(shape.key_field)
        self.key_is_number = isinstance(key_field, models.IntegerField)
        self.key_high = _integer_range(key_field)[1] if self.key_is_number else 0
        self.key_limit = key_field.max_length or 0

    def _key_clean(self, key: Any) -> bool:
        if type(key) is not str or not key.strip():
            return False
        if self.key_is_number:
            return key.isascii() and key.isdigit() and int(key) <= self.key_high
        return _text_clean(key) and (not self.key_limit or len(key) <= self.key_limit)

    def clean(self, record) -> bool:
        """True when the precise checks would pass `record` through unchanged."""
        data = record.data
        if not self._key_clean(record.key) or (self.data_key in data and str(data[self.data_key]) != record.key):
            return False
        checks, rows = self.checks, self.rows
        for name, value in data.items():
            check = checks.get(name)
            if check is not None:
                if not check(value):
                    return False
            elif name in rows:
                if not self._rows_clean(rows[name], value):
                    return False
            elif not json_clean(value):  # the key itself, or a value kept outside the columns
                return False
        return _raw_clean(record.raw)

    @staticmethod
    def _rows_clean(checks: dict[str, Check], rows: Any) -> bool:
        if rows is None or rows == "":
            return True
        if type(rows) is not list:
            return False
        for row in rows:
            if type(row) is not dict:
                return False
            for name, value in row.items():
                check = checks.get(name)
                if not (check(value) if check is not None else json_clean(value)):
                    return False
        return True
