"""The fast screen never lets through a record the precise checks would refuse or clean:
whatever it passes, the precise checks pass unchanged. Bad records still get their plain reason."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erp.record_checks import RecordProblem, _checked_data, records_check, screen_for, shape_for
from erp.record_screen import raw_json
from syncapp.adapters import SourceRecord

any_text = st.text(st.characters(exclude_categories=()), max_size=60)  # surrogates, NUL, bidi, C1
odd_numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2 ** 70), 2 ** 70),
                        st.decimals(allow_nan=False, places=8, max_value=10 ** 15, min_value=-(10 ** 15)))
odd = st.one_of(any_text, odd_numbers, st.sampled_from(
    ["2026-13-45", "x" * 60, "x" * 201, "Jane\u202eDoe", "Jane\x85Doe", "a\\u0000b", "12,99", "\u0667"]))
# Mostly values a clean record holds, so that many records do pass the screen.
plausible = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 10 ** 6), st.floats(-1e6, 1e6, allow_nan=False),
    st.text(st.characters(exclude_categories=("Cc", "Cs", "Cf")), max_size=30),
    st.sampled_from(["2026-11-22", "2026-11-22T10:00:00+00:00", "", "a\tb\nc", "Caf\u00e9"]))
scalars = st.one_of(plausible, plausible, plausible, odd)
names = st.text(st.characters(exclude_categories=("Cc", "Cs", "Cf")), min_size=1, max_size=12)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.lists(inner, max_size=3), st.tuples(inner),
    st.dictionaries(st.one_of(names, names, names, any_text, st.integers()), inner, max_size=3)), max_leaves=6)

GOOD_PARTNER = {"card_code": "C1", "card_name": "Jane Doe", "card_type": "customer", "email": "jane@example.com",
                "email_normalised": "jane@example.com", "phone1": "", "group_code": 100, "valid": True,
                "addresses": [{"street": "1 High St", "city": "London", "address_type": "bill_to"}],
                "udfs": {"U_Tier": "Gold"}, "source_updated_at": datetime(2026, 11, 22, tzinfo=UTC)}
GOOD_LINE = {"line_num": 0, "item_code": "1001", "description": "Mug", "quantity": 2.0, "price": 9.5,
             "line_total": 19.0, "warehouse_code": "01", "line_status": "open", "base_type": None,
             "base_entry": None, "base_line": None}
GOOD_ORDER = {"doc_entry": 7, "doc_num": 1007, "card_code": "C1", "num_at_card": "WEB-7", "doc_date": "2026-11-20",
              "currency": "GBP", "doc_total": 22.8, "vat_total": 3.8, "status": "open", "cancelled": False,
              "source_updated_at": datetime(2026, 11, 20, tzinfo=UTC), "lines": [GOOD_LINE]}


def _record(entity: str, key, data: dict, raw) -> SourceRecord:
    return SourceRecord(entity=entity, key=key, version="v", data=data, raw=raw)


def _precise(entity: str, record: SourceRecord):
    try:
        return _checked_data(shape_for(entity), record, "strip")
    except RecordProblem as problem:
        return problem


partners = st.builds(
    lambda key, changes, raw: ("business_partners", key, GOOD_PARTNER | changes, raw),
    st.one_of(st.just("C1"), st.just("C1"), st.just("C1"), any_text),
    st.dictionaries(st.sampled_from([*GOOD_PARTNER, "unknown_field"]), json_values, max_size=3),
    st.dictionaries(st.one_of(names, names, names, any_text), json_values, max_size=3))
orders = st.builds(
    lambda key, changes, line_changes, raw: ("orders", key, GOOD_ORDER | changes | {
        "lines": [GOOD_LINE | line_changes] if "lines" not in changes else changes["lines"]}, raw),
    st.one_of(st.just("7"), st.just("7"), st.just("7"), st.sampled_from(["-7", "07", "99999999999", "\u0667"]),
              any_text),
    st.dictionaries(st.sampled_from([*GOOD_ORDER, "doc_due_date"]), json_values, max_size=3),
    st.dictionaries(st.sampled_from(list(GOOD_LINE)), json_values, max_size=3),
    st.dictionaries(st.one_of(names, names, names, any_text), json_values, max_size=3))

# Values of the right kind, at and around the limits the mirror holds (most pass the screen).
texts = st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
                  st.integers(195, 205).map(lambda n: "\u00e9" * n), st.integers(248, 256).map(lambda n: "x" * n))
near_limits = st.one_of(st.integers(2 ** 31 - 2, 2 ** 31 + 1), st.integers(-(2 ** 31) - 1, -(2 ** 31) + 1),
                        st.floats(9.99e12, 1.01e13), st.floats(-1.01e13, -9.99e12), st.just(10 ** 13),
                        st.just(10 ** 13 - 1), st.just(1e13), st.floats(-1e3, 1e3))
typed = st.one_of(
    st.builds(lambda name, email, group, key: ("business_partners", "C1", GOOD_PARTNER | {
        "card_name": name, "email": email, "group_code": group, "addresses": [{key: name}]}, {"CardName": name}),
        texts, texts, near_limits, texts),
    st.builds(lambda total, num, quantity, text: ("orders", "7", GOOD_ORDER | {
        "doc_total": total, "doc_num": num, "num_at_card": text,
        "lines": [GOOD_LINE | {"quantity": quantity, "description": text}]}, {"NumAtCard": text}),
        near_limits, near_limits, near_limits, texts))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.one_of(partners, orders, typed))
def test_what_the_screen_passes_the_precise_checks_pass_unchanged(case):
    entity, key, data, raw = case
    record = _record(entity, key, data, raw)
    if screen_for(entity).clean(record):
        checked = _precise(entity, record)
        assert not isinstance(checked, RecordProblem), checked.message
        assert checked == data
        assert type(checked.get("lines")) is type(data.get("lines"))


def test_a_clean_page_passes_as_it_is_and_its_raw_text_is_kept_for_storage():
    record = _record("orders", "7", GOOD_ORDER, {"DocEntry": 7, "Comments": "Caf\u00e9"})
    [checked] = records_check(entity="orders", records=[record])
    assert checked is record
    assert raw_json(record.raw) == '{"DocEntry":7,"Comments":"Caf\u00e9"}'


@pytest.mark.parametrize(("entity", "key", "data", "raw"), [
    ("business_partners", "C1", GOOD_PARTNER | {"card_name": "Jane\x07Doe"}, {}),  # stripped by the precise path
    ("business_partners", "C1", GOOD_PARTNER | {"email": "a" * 255}, {}),
    ("business_partners", "C1", GOOD_PARTNER, {"CardName": "Jos\udce9"}),
    ("business_partners", "C1", GOOD_PARTNER, {"Figure": float("nan")}),
    ("business_partners", "C1", GOOD_PARTNER, {"Note": "a\x00b"}),
    ("orders", "7", GOOD_ORDER | {"doc_total": "12.50"}, {}),  # a number as text: the precise path decides
    ("orders", "7", GOOD_ORDER | {"doc_date": "2026-13-45"}, {}),
    ("orders", "7", GOOD_ORDER | {"lines": [GOOD_LINE | {"quantity": float("inf")}]}, {}),
    ("orders", "7", GOOD_ORDER | {"doc_entry": 8}, {}),
    ("orders", "99999999999", GOOD_ORDER | {"doc_entry": 99999999999}, {}),
])
def test_the_screen_hands_anything_doubtful_to_the_precise_checks(entity, key, data, raw):
    assert not screen_for(entity).clean(_record(entity, key, data, raw))
