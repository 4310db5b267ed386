"""The hot path's JSON encoder writes the stdlib's text byte for byte: stored hashes and the
payloads sent are made from this text, so a single differing character would send every
record again once."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncapp.bulksql import compact_encoder, json_text

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(exclude_categories=()), max_size=30),  # control, bidi, surrogates, astral
    st.decimals(allow_nan=False, places=4, max_value=10 ** 9, min_value=-(10 ** 9)),
    st.datetimes(timezones=st.just(UTC)), st.dates())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), st.floats()),
                    inner, max_size=4)), max_leaves=12)


def _stdlib(value, **options):
    return json.JSONEncoder(default=str, separators=(",", ":"), **options).encode(value)


@settings(max_examples=400, deadline=None)
@given(values)
def test_it_writes_what_the_stdlib_writes_for_any_value(value):
    assert json_text(value) == _stdlib(value)
    assert compact_encoder(ensure_ascii=False)(value) == _stdlib(value, ensure_ascii=False)


@settings(max_examples=200, deadline=None)
@given(values)
def test_without_nan_it_refuses_what_the_stdlib_refuses(value):
    strict = compact_encoder(ensure_ascii=False, allow_nan=False)
    try:
        expected = _stdlib(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        with pytest.raises(ValueError):
            strict(value)
    else:
        assert strict(value) == expected


def test_values_json_cannot_name_are_written_as_their_text_and_reused_encoders_keep_no_state():
    encode = compact_encoder()
    value = {"at": datetime(2026, 12, 5, 9, 30, tzinfo=UTC), "day": date(2026, 12, 5), "total": Decimal("12.50")}
    assert encode(value) == '{"at":"2026-12-05 09:30:00+00:00","day":"2026-12-05","total":"12.50"}'
    with pytest.raises(TypeError):
        encode({("a", "b"): 1})  # a key JSON cannot hold, as the stdlib says
    assert encode([1, {"a": "b"}]) == '[1,{"a":"b"}]'  # the failure left nothing behind
    assert encode("Caf\u00e9") == '"Caf\\u00e9"' and compact_encoder(ensure_ascii=False)("Caf\u00e9") == '"Caf\u00e9"'
