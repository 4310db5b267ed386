"""Mapping Business Partners to destination fields, validating mappings, the defaults."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from esp import registry
from esp.default_mappings import DEFAULT_CUSTOMER_MAPPINGS, mappings_install_defaults
from esp.mapping import (
    ADDRESS_FIELDS,
    MappingConfigError,
    UnknownSourceField,
    compile_mappings,
    field_specs,
    mapping_apply,
    mapping_validate,
    mappings_for,
    source_value,
)
from esp.models import FieldMapping
from syncapp.adapters import FieldSpec
from tests.factories import BusinessPartnerFactory, EspAccountFactory, FieldMappingFactory


class RefusingLongNames:
    """Plays a destination adapter whose field names stop at 20 characters."""

    @staticmethod
    def field_name_problem(name: str) -> str | None:
        if len(name) > 20:
            return f"{name} is longer than 20 characters"
        return None


class WithoutNamingRules:
    """A destination adapter that has no `field_name_problem` yet."""


@pytest.fixture
def refusing_adapter(monkeypatch):
    monkeypatch.setitem(
        registry.DESTINATION_ADAPTERS, "dotdigital", "tests.esp.test_mapping.RefusingLongNames"
    )


def mapping(source_field, target_field, **kwargs):
    return FieldMapping(source_field=source_field, target_field=target_field, **kwargs)


def default_mappings():
    return [
        FieldMapping(position=index, **{"transform": "none", **default})
        for index, default in enumerate(DEFAULT_CUSTOMER_MAPPINGS)
    ]


def partner(**kwargs):
    values = {
        "card_code": "C00042",
        "card_name": "  Jane Smith ",
        "card_type": "customer",
        "cellular": "07700 900123",
        "group_code": 100,
        "currency": "gbp",
        "addresses": [
            {
                "address_name": "Home",
                "address_type": "ship_to",
                "city": "Leeds",
                "zip_code": "ls1 4ap",
            },
            {
                "address_name": "Billing",
                "address_type": "bill_to",
                "street": "10 Downing Street",
                "city": "London",
                "zip_code": "sw1a 2aa",
                "county": "Greater London",
                "country": "gb",
            },
            {"address_name": "Old", "address_type": "bill_to", "city": "York"},
        ],
        "udfs": {"U_LoyaltyTier": "Gold", "U_MarketingConsent": "Y", "U_Birthday": "19900501"},
        "source_updated_at": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    }
    values.update(kwargs)
    return BusinessPartnerFactory.build(**values)


# ---------------------------------------------------------------- source values


def test_source_value_reads_mirror_fields_by_name():
    bp = partner()
    assert source_value(bp, "card_code") == "C00042"
    assert source_value(bp, "group_code") == 100


def test_source_value_reads_user_defined_fields_from_the_udfs():
    bp = partner()
    assert source_value(bp, "U_LoyaltyTier") == "Gold"
    assert source_value(bp, "U_NotThere") is None


def test_source_value_reads_the_first_address_of_the_type_asked():
    bp = partner()
    assert source_value(bp, "bill_to.city") == "London"
    assert source_value(bp, "ship_to.zip_code") == "ls1 4ap"
    assert source_value(bp, "bill_to.county") == "Greater London"
    assert source_value(bp, "ship_to.country") is None


def test_source_value_reads_none_when_the_partner_has_no_address_of_the_type():
    assert source_value(partner(addresses=[]), "bill_to.city") is None
    assert source_value(partner(addresses="garbled"), "bill_to.city") is None


def test_source_value_reads_plain_dicts_like_mirror_rows():
    record = {"card_code": "C1", "udfs": {"U_Tier": "A"}, "addresses": []}
    assert source_value(record, "card_code") == "C1"
    assert source_value(record, "U_Tier") == "A"


@pytest.mark.parametrize(
    "name", ["raw", "content_hash", "id", "connection", "cardname", "bill_to.moon"]
)
def test_source_value_refuses_fields_a_partner_does_not_offer(name):
    with pytest.raises(UnknownSourceField):
        source_value(partner(), name)


def test_address_fields_cover_both_address_types():
    assert {"bill_to.zip_code", "ship_to.zip_code", "bill_to.street"} <= set(ADDRESS_FIELDS)


# ---------------------------------------------------------------- applying


def test_default_mappings_shape_a_partner_with_udfs_and_addresses():
    result = mapping_apply(mappings=default_mappings(), record=partner())
    assert result.problems == []
    assert result.fields == {
        "CARDCODE": "C00042",
        "FULLNAME": "Jane Smith",
        "CUSTOMERTYPE": "customer",
        "CUSTOMERGROUP": 100,
        "CURRENCY": "GBP",
        "MOBILE": "07700 900123",
        "CITY": "London",
        "POSTCODE": "SW1A 2AA",
        "COUNTRY": "GB",
        "LOYALTYTIER": "Gold",
        "MARKETINGCONSENT": True,
        "BIRTHDAY": "1990-05-01",
        # No order figures on this partner: planning attaches them from the order mirror.
        "ORDERCOUNT": None, "FIRSTORDERDATE": None, "LASTORDERDATE": None, "LIFETIMEVALUE": None,
        "AVGORDERVALUE": None, "LASTDISPATCHDATE": None, "LASTRETURNDATE": None,
        "FIRSTPURCHASECAT": None, "MOSTPURCHASEDCAT": None, "CATEGORIESBOUGHT": None,
    }
    json.dumps(result.fields)


def test_empty_optional_fields_are_sent_as_none_or_their_default():
    bp = partner(udfs={}, addresses=[], group_code=None)
    result = mapping_apply(mappings=default_mappings(), record=bp)
    assert result.problems == []
    assert result.fields["LOYALTYTIER"] is None  # issue 14: never the literal word "None"
    assert result.fields["MARKETINGCONSENT"] is None
    assert result.fields["BIRTHDAY"] is None
    assert result.fields["CITY"] is None
    assert result.fields["CUSTOMERGROUP"] is None


def test_required_field_left_empty_is_a_problem_not_an_exception():
    result = mapping_apply(mappings=default_mappings(), record=partner(card_code="  "))
    assert [(p.target_field, p.reason_code) for p in result.problems] == [
        ("CARDCODE", "required_field_empty")
    ]
    assert "CARDCODE" not in result.fields
    assert not result.ok


def test_a_value_a_transform_refuses_is_a_problem_named_in_plain_words():
    bp = partner(udfs={"U_Birthday": "31/02/1990"})
    result = mapping_apply(mappings=default_mappings(), record=bp)
    (problem,) = result.problems
    assert problem.target_field == "BIRTHDAY"
    assert problem.reason_code == "transform_failed"
    assert problem.message == "Birthday '31/02/1990' is not a date"
    assert "BIRTHDAY" not in result.fields
    assert result.fields["CARDCODE"] == "C00042"


def test_values_are_shaped_to_the_target_type():
    mappings = [
        mapping("U_Points", "POINTS", target_type="Numeric"),
        mapping("U_Spend", "SPEND", target_type="Numeric"),
        mapping("U_Ratio", "RATIO", target_type="Numeric"),
        mapping("U_Vip", "VIP", target_type="Boolean"),
        mapping("frozen", "FROZEN", target_type="Boolean"),
        mapping("source_updated_at", "UPDATED", target_type="Date"),
        mapping("U_Spend", "SPENDTEXT"),
        mapping("valid", "VALIDTEXT"),
    ]
    bp = partner(
        udfs={
            "U_Points": " 120 ",
            "U_Spend": Decimal("19.50"),
            "U_Ratio": Decimal(3),
            "U_Vip": "yes",
        }
    )
    result = mapping_apply(mappings=mappings, record=bp)
    assert result.problems == []
    assert result.fields == {
        "POINTS": 120,
        "SPEND": 19.5,
        "RATIO": 3,
        "VIP": True,
        "FROZEN": False,
        "UPDATED": "2024-03-01T09:30:00+00:00",
        "SPENDTEXT": "19.50",
        "VALIDTEXT": "true",
    }


def test_a_value_that_does_not_fit_the_target_type_is_a_problem():
    mappings = [
        mapping("U_Points", "POINTS", target_type="Numeric"),
        mapping("U_Vip", "VIP", target_type="Boolean"),
    ]
    result = mapping_apply(
        mappings=mappings, record=partner(udfs={"U_Points": "lots", "U_Vip": "maybe"})
    )
    assert [(p.target_field, p.message) for p in result.problems] == [
        ("POINTS", "Points 'lots' is not a number"),
        ("VIP", "Vip 'maybe' is not yes or no"),
    ]


@pytest.mark.parametrize("value", ["NaN", " inf ", "-Infinity", float("nan"), float("-inf"), Decimal("NaN")])
def test_a_number_that_is_not_finite_is_a_problem_not_a_nan_in_the_payload(value):
    """A UDF holding "NaN" parsed as a float and went out as NaN, which is not JSON: a
    destination would refuse the whole batch for one record (found by test_mapping_compiled)."""
    result = mapping_apply(mappings=[mapping("U_Points", "POINTS", target_type="Numeric")],
                           record=partner(udfs={"U_Points": value}))
    assert [(p.target_field, p.message) for p in result.problems] == [("POINTS", f"Points '{value}' is not a number")]
    assert "POINTS" not in result.fields


def test_disabled_mappings_are_not_applied():
    mappings = [mapping("card_code", "CARDCODE"), mapping("card_name", "NAME", enabled=False)]
    assert mapping_apply(mappings=mappings, record=partner()).fields == {"CARDCODE": "C00042"}


def test_a_mapping_that_cannot_run_stops_the_plan_loudly():
    with pytest.raises(MappingConfigError) as caught:
        compile_mappings(
            [mapping("cardname", "NAME"), mapping("card_code", "C", transform="rot13")]
        )
    assert set(caught.value.problems) == {"NAME", "C"}


def test_a_compiled_plan_maps_every_partner_of_a_page():
    # Its speed is measured in bench/bench_hotpath.py, not here.
    plan = compile_mappings(default_mappings())
    records = [partner(card_code=f"C{n:05d}") for n in range(500)]
    results = [plan.apply(record) for record in records]
    assert all(result.ok for result in results)
    assert mapping_apply(mappings=plan, record=records[0]).fields["CARDCODE"] == "C00000"


# ---------------------------------------------------------------- selectors


@pytest.mark.django_db
def test_mappings_for_lists_enabled_mappings_by_position():
    account = EspAccountFactory()
    third = FieldMappingFactory(destination=account, position=2)
    first = FieldMappingFactory(destination=account, position=0)
    second = FieldMappingFactory(destination=account, position=0)
    FieldMappingFactory(destination=account, position=1, enabled=False)
    FieldMappingFactory(position=0)
    assert mappings_for(destination=account, entity="customers") == [first, second, third]


def test_field_specs_name_each_target_once_with_its_type():
    mappings = [
        mapping("group_code", "CUSTOMERGROUP", target_type="Numeric"),
        mapping("card_name", "FULLNAME"),
        mapping("card_name", "OLDNAME", enabled=False),
    ]
    assert field_specs(mappings) == [
        FieldSpec("CUSTOMERGROUP", "Numeric"),
        FieldSpec("FULLNAME", "String"),
    ]


# ---------------------------------------------------------------- validation


@pytest.mark.django_db
def test_validate_accepts_a_sound_mapping(refusing_adapter):
    account = EspAccountFactory()
    candidate = mapping("U_Birthday", "BIRTHDAY", transform="date", destination=account)
    assert mapping_validate(mapping=candidate) == {}


@pytest.mark.django_db
def test_validate_names_an_unknown_source_field():
    candidate = mapping("cardname", "NAME", destination=EspAccountFactory())
    assert "cardname" in mapping_validate(mapping=candidate)["source_field"]


@pytest.mark.django_db
def test_validate_names_an_unknown_transform():
    candidate = mapping("card_name", "NAME", transform="rot13", destination=EspAccountFactory())
    assert "rot13" in mapping_validate(mapping=candidate)["transform"]


@pytest.mark.django_db
def test_validate_names_a_bad_transform_argument():
    candidate = mapping(
        "U_MarketingConsent",
        "CONSENT",
        transform="map",
        transform_arg="Y=true",
        destination=EspAccountFactory(),
    )
    assert "JSON object" in mapping_validate(mapping=candidate)["transform_arg"]


@pytest.mark.django_db
def test_validate_refuses_a_non_iso_date_layout_for_a_date_field():
    account = EspAccountFactory()
    as_date = mapping(
        "U_Birthday",
        "BIRTHDAY",
        transform="date",
        transform_arg="DD/MM/YYYY",
        target_type="Date",
        destination=account,
    )
    as_text = mapping(
        "U_Birthday",
        "BIRTHDAYTEXT",
        transform="date",
        transform_arg="DD/MM/YYYY",
        destination=account,
    )
    assert "YYYY-MM-DD" in mapping_validate(mapping=as_date)["transform_arg"]
    assert mapping_validate(mapping=as_text) == {}


@pytest.mark.django_db
def test_validate_passes_on_the_destinations_refusal_of_a_long_name(refusing_adapter):
    candidate = mapping("card_name", "A" * 21, destination=EspAccountFactory())
    assert mapping_validate(mapping=candidate) == {
        "target_field": f"{'A' * 21} is longer than 20 characters"
    }


@pytest.mark.django_db
def test_validate_skips_the_name_check_when_the_adapter_has_none(monkeypatch):
    monkeypatch.setitem(
        registry.DESTINATION_ADAPTERS, "dotdigital", "tests.esp.test_mapping.WithoutNamingRules"
    )
    candidate = mapping("card_name", "A" * 21, destination=EspAccountFactory())
    assert mapping_validate(mapping=candidate) == {}


@pytest.mark.django_db
def test_validate_refuses_a_target_already_mapped_for_the_destination(refusing_adapter):
    existing = FieldMappingFactory(source_field="card_name", target_field="FULLNAME")
    candidate = mapping("card_code", "fullname", destination=existing.destination)
    assert "already filled from card_name" in mapping_validate(mapping=candidate)["target_field"]
    assert mapping_validate(mapping=existing) == {}
    elsewhere = mapping("card_code", "FULLNAME", destination=EspAccountFactory())
    assert mapping_validate(mapping=elsewhere) == {}


# ---------------------------------------------------------------- defaults


def test_default_targets_are_names_dotdigital_accepts():
    for default in DEFAULT_CUSTOMER_MAPPINGS:
        assert len(default["target_field"]) <= 20
        assert default["target_field"].replace("_", "").isalnum()


@pytest.mark.django_db
def test_default_mappings_are_all_valid(refusing_adapter):
    account = EspAccountFactory()
    mappings_install_defaults(destination=account)
    for installed in FieldMapping.objects.filter(destination=account):
        assert mapping_validate(mapping=installed) == {}, installed


@pytest.mark.django_db
def test_installing_defaults_twice_creates_them_once():
    account = EspAccountFactory()
    assert mappings_install_defaults(destination=account) == len(DEFAULT_CUSTOMER_MAPPINGS)
    assert mappings_install_defaults(destination=account) == 0
    assert FieldMapping.objects.filter(destination=account).count() == len(
        DEFAULT_CUSTOMER_MAPPINGS
    )


@pytest.mark.django_db
def test_installing_defaults_keeps_a_marketers_own_mapping_of_the_same_target():
    account = EspAccountFactory()
    own = FieldMappingFactory(
        destination=account, source_field="U_Tier", target_field="loyaltytier", position=500
    )
    created = mappings_install_defaults(destination=account)
    assert created == len(DEFAULT_CUSTOMER_MAPPINGS) - 1
    own.refresh_from_db()
    assert own.source_field == "U_Tier"
    positions = list(
        FieldMapping.objects.filter(destination=account)
        .exclude(pk=own.pk)
        .values_list("position", flat=True)
    )
    assert min(positions) > 500
    plan = compile_mappings(mappings_for(destination=account, entity="customers"))
    assert plan.targets[0] == "loyaltytier"
