"""The compiled mapping (esp.mapping_compiled) gives exactly what the steps give, on any record."""
from __future__ import annotations

from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esp.default_mappings import DEFAULT_CUSTOMER_MAPPINGS
from esp.mapping import compile_mappings
from esp.models import FieldMapping

# The defaults, and every transform, type and the required flag on fields of each kind.
EXTRA = [
    {"source_field": "card_name", "target_field": "FIRSTNAME", "transform": "name_part", "transform_arg": "first",
     "required": True},
    {"source_field": "email", "target_field": "EMAILLOWER", "transform": "lower", "required": True},
    {"source_field": "ship_to.street", "target_field": "STREET", "transform": "default", "transform_arg": "n/a"},
    {"source_field": "ship_to.city", "target_field": "SHIPCITY", "required": True},
    {"source_field": "bill_to.name", "target_field": "BILLNAME", "target_type": "Numeric"},
    {"source_field": "U_Points", "target_field": "POINTS", "target_type": "Numeric", "required": True},
    {"source_field": "U_Optin", "target_field": "OPTIN", "target_type": "Boolean"},
    {"source_field": "U_Since", "target_field": "SINCE", "transform": "date", "transform_arg": "DD/MM/YYYY"},
    {"source_field": "group_code", "target_field": "GROUPTEXT", "transform": "map",
     "transform_arg": {"100": "Retail", "__default__": "Other"}},
]
PLAN = compile_mappings([FieldMapping(**{"transform": "none", "target_type": "String", "required": False,
                                         "enabled": True, **fields})
                         for fields in (*DEFAULT_CUSTOMER_MAPPINGS, *EXTRA)])

anything = st.one_of(st.none(), st.text(max_size=12), st.integers(-5, 200), st.floats(allow_nan=True),
                     st.booleans(), st.sampled_from(["", "  ", "Y", "N", "yes", "2026-02-30", "2026-11-20", "12.5",
                                                     "Ada Lovelace", "100"]))
address = st.one_of(anything, st.dictionaries(
    st.sampled_from(["address_type", "city", "zip_code", "country", "street", "address_name"]),
    st.one_of(anything, st.sampled_from(["bill_to", "ship_to"])), max_size=6))
record = st.builds(
    lambda values, addresses, udfs, missing: SimpleNamespace(**{
        name: value for name, value in {**values, "addresses": addresses, "udfs": udfs}.items()
        if name not in missing}),
    st.fixed_dictionaries({name: anything for name in (
        "card_code", "card_name", "card_type", "email", "group_code", "currency", "cellular", "order_count",
        "first_order_date", "last_order_date", "lifetime_value", "average_order_value", "last_dispatch_date",
        "last_return_date")}),
    st.one_of(anything, st.lists(address, max_size=4)),
    st.one_of(anything, st.dictionaries(st.sampled_from(["U_LoyaltyTier", "U_MarketingConsent", "U_Birthday",
                                                          "U_Points", "U_Optin", "U_Since"]), anything)),
    st.sets(st.sampled_from(["card_name", "addresses", "udfs", "order_count"])),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record)
def test_the_compiled_mapping_equals_the_steps(row):
    assert PLAN.apply(row) == PLAN.apply_stepwise(row)


def test_a_dict_record_goes_step_by_step_and_maps_the_same():
    row = SimpleNamespace(card_code="C1", card_name=" Ada Lovelace ", addresses=[
        {"address_type": "bill_to", "city": " Leeds ", "zip_code": "ls1 1aa"}], udfs={"U_MarketingConsent": "Y"})
    assert PLAN.apply(vars(row)) == PLAN.apply(row)
    assert PLAN.apply(row).fields["CITY"] == "Leeds"
