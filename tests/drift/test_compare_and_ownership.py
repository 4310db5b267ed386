"""Field by field: a destination's own spelling of a value is not drift; a different
value is. And who owns a mapped field until issue 15 makes it configuration."""
from __future__ import annotations

import pytest

from syncapp.drift.compare import record_drift, values_equal
from syncapp.drift.ownership import DESTINATION, ERP, field_owner


@pytest.mark.parametrize(("sent", "found"), [
    (3, 3.0), (3, "3.00"), (12.5, "12.50"), (True, "true"), (False, "False"), (None, ""), ("", None),
    ("2026-01-31", "2026-01-31T00:00:00Z"), ("2026-01-31T10:00:00+00:00", "2026-01-31T10:00:00Z"),
    (" Leeds ", "Leeds"), (["a", "b"], ["a", "b"]), ({"x": 1}, {"x": 1}),
])
def test_the_same_value_in_the_destinations_spelling_is_not_drift(sent, found):
    assert values_equal(sent, found)


@pytest.mark.parametrize(("sent", "found"), [
    (3, 4), ("Jane Doe", "Jane Smith"), (True, False), (True, None), ("Gold", ""), ("007", "7"),
    ("2026-01-31", "2026-02-01T00:00:00Z"), ("LS1 4AP", "ls1 4ap"), (["a"], ["a", "b"]), (True, "maybe"),
])
def test_a_different_value_is_drift(sent, found):
    assert not values_equal(sent, found)


def test_only_fields_the_destination_shows_are_compared():
    drifts = record_drift(sent={"FULLNAME": "Ann", "CITY": "Leeds", "HIDDEN": "x"},
                          found={"FULLNAME": "Anne", "CITY": "Leeds"}, owner_of=lambda name: ERP)
    assert [(d.field, d.sent, d.found, d.owner) for d in drifts] == [("FULLNAME", "Ann", "Anne", ERP)]


@pytest.mark.parametrize("field", ["MARKETINGCONSENT", "marketing_optin", "timestamp_unsubscribed", "OPT_IN",
                                   "timestamp_subscribed", "Preference:Newsletter", "LASTOPENED", "last_click_date",
                                   "EMAIL_SUPPRESSED", "hard-bounced"])
def test_consent_and_engagement_fields_belong_to_the_destination(field):
    assert field_owner(destination_kind="dotdigital", entity="customers", field=field) == DESTINATION


@pytest.mark.parametrize("field", ["FULLNAME", "name", "CITY", "LOYALTYTIER", "loyalty_tier", "LIFETIMEVALUE",
                                   "date_of_birth", "country_id", "CUSTOMERGROUP", "ORDERCOUNT"])
def test_every_other_field_belongs_to_the_erp(field):
    assert field_owner(destination_kind="ometria", entity="customers", field=field) == ERP
