"""The named transforms, one value at a time."""

from datetime import UTC, date, datetime

import pytest

from esp.transforms import TRANSFORMS, TransformError, transform_choices


def apply(name, value, arg=None):
    return TRANSFORMS[name].apply(value, arg)


def test_every_transform_has_a_label_and_a_help_text():
    assert set(TRANSFORMS) == {
        "none",
        "trim",
        "lower",
        "upper",
        "date",
        "map",
        "default",
        "strip_leading_zeros",
        "name_part",
    }
    for transform in TRANSFORMS.values():
        assert transform.label and transform.help_text
    assert ("map", "Replace values") in transform_choices()


def test_none_sends_the_value_as_it_is():
    assert apply("none", "  Acme  ") == "  Acme  "
    assert apply("none", None) is None


def test_trim_removes_surrounding_spaces_and_leaves_other_values_alone():
    assert apply("trim", "  Acme Ltd \t") == "Acme Ltd"
    assert apply("trim", 42) == 42
    assert apply("trim", None) is None


def test_lower_and_upper_change_the_case_of_text_only():
    assert apply("lower", "Gold") == "gold"
    assert apply("upper", "sw1a 1aa") == "SW1A 1AA"
    assert apply("upper", 7) == 7
    assert apply("lower", None) is None


def test_text_transforms_take_no_argument():
    assert TRANSFORMS["trim"].validate_arg(None) is None
    assert TRANSFORMS["trim"].validate_arg("") is None
    assert "takes no argument" in TRANSFORMS["upper"].validate_arg("x")
    assert not TRANSFORMS["trim"].takes_arg
    assert TRANSFORMS["map"].takes_arg


@pytest.mark.parametrize(
    "value",
    [
        date(1990, 5, 1),
        datetime(1990, 5, 1, 0, 0, tzinfo=UTC),
        "1990-05-01",
        "1990-05-01T00:00:00Z",
        "1990-05-01T00:00:00",
        "19900501",
        19900501,
        " 1990-05-01 ",
    ],
)
def test_date_reads_the_forms_sap_sends_and_writes_iso_by_default(value):
    assert apply("date", value) == "1990-05-01"


def test_date_keeps_the_calendar_day_written_whatever_the_offset():
    assert apply("date", "1990-05-01T23:30:00-05:00") == "1990-05-01"


def test_date_writes_the_format_given():
    assert apply("date", "1990-05-01T00:00:00Z", "DD/MM/YYYY") == "01/05/1990"
    assert apply("date", "19900501", "YYYYMMDD") == "19900501"
    assert apply("date", "1990-05-01", "YYYY-MM-DD") == "1990-05-01"


def test_date_leaves_empty_values_empty():
    assert apply("date", None) is None
    assert apply("date", "") == ""


@pytest.mark.parametrize("value", ["31/02/1990", "1990-02-31", "19900231", "soon", 3.5, True])
def test_date_refuses_what_is_not_a_date_in_plain_words(value):
    with pytest.raises(TransformError) as caught:
        apply("date", value)
    assert str(caught.value) == f"'{value}' is not a date"
    assert caught.value.value == value


def test_date_argument_must_be_a_format_of_year_month_and_day():
    check = TRANSFORMS["date"].validate_arg
    assert check(None) is None
    assert check("DD.MM.YY") is None
    assert check("%d/%m/%Y") is not None
    assert check("tomorrow") is not None
    assert check(12) is not None


def test_map_replaces_listed_values():
    arg = {"Y": True, "N": False}
    assert apply("map", "Y", arg) is True
    assert apply("map", "N", arg) is False


def test_map_passes_unlisted_values_unchanged_without_a_default():
    assert apply("map", "maybe", {"Y": True}) == "maybe"


def test_map_uses_the_default_for_unlisted_values_when_given():
    assert apply("map", "maybe", {"Y": True, "__default__": False}) is False


def test_map_finds_numbers_and_booleans_by_their_json_spelling():
    assert apply("map", 100, {"100": "Retail"}) == "Retail"
    assert apply("map", True, {"true": "Active"}) == "Active"


def test_map_leaves_empty_values_empty_unless_the_map_names_them():
    assert apply("map", None, {"Y": True, "__default__": False}) is None
    assert apply("map", "", {"": "Unknown"}) == "Unknown"


def test_map_argument_must_be_a_non_empty_object_of_plain_values():
    check = TRANSFORMS["map"].validate_arg
    assert check({"Y": True}) is None
    assert check(None) is not None
    assert check({}) is not None
    assert check(["Y", "N"]) is not None
    assert "check Y" in check({"Y": {"nested": 1}})


def test_default_fills_empty_values_only():
    assert apply("default", None, "None") == "None"
    assert apply("default", "   ", "None") == "None"
    assert apply("default", "Gold", "None") == "Gold"
    assert apply("default", 0, 5) == 0


def test_default_argument_must_be_given():
    check = TRANSFORMS["default"].validate_arg
    assert check("Bronze") is None
    assert check(0) is None
    assert check(None) is not None
    assert check("") is not None
    assert check({"a": 1}) is not None


def test_strip_leading_zeros_shortens_numeric_codes_only():
    assert apply("strip_leading_zeros", "000123") == "123"
    assert apply("strip_leading_zeros", "0") == "0"
    assert apply("strip_leading_zeros", "0000") == "0"
    assert apply("strip_leading_zeros", "A0012") == "A0012"
    assert apply("strip_leading_zeros", "-012") == "-012"
    assert apply("strip_leading_zeros", 123) == 123
    assert apply("strip_leading_zeros", None) is None
